//! Binary messages: opcodes, layouts, and a bounds-checked reader.

use bytes::{BufMut, Bytes, BytesMut};

use super::ParseError;

/// Server → client binary opcodes.
pub mod server_op {
    /// Message data: u32 subscription id, u64 log time, payload.
    pub const MESSAGE_DATA: u8 = 0x01;
    /// Time: u64 timestamp (ns).
    pub const TIME: u8 = 0x02;
    /// Service call response.
    pub const SERVICE_CALL_RESPONSE: u8 = 0x03;
    /// Fetch asset response.
    pub const FETCH_ASSET_RESPONSE: u8 = 0x04;
    /// Playback state (SDK extension, `playbackControl`).
    pub const PLAYBACK_STATE: u8 = 0x05;
}

/// Playback status in a Playback State.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaybackStatus {
    /// 0.
    Playing = 0,
    /// 1.
    Paused = 1,
    /// 2.
    Buffering = 2,
    /// 3.
    Ended = 3,
}

/// Write a Playback State frame: `0x05 | u8 status | u64 current_time | f32 speed |
/// u8 did_seek | u32 len | request_id`.
pub fn playback_state(
    status: PlaybackStatus,
    current_time: u64,
    speed: f32,
    did_seek: bool,
    request_id: Option<&str>,
) -> Bytes {
    let id = request_id.unwrap_or("");
    let mut buf = BytesMut::with_capacity(19 + id.len());
    buf.put_u8(server_op::PLAYBACK_STATE);
    buf.put_u8(status as u8);
    buf.put_u64_le(current_time);
    buf.put_f32_le(speed);
    buf.put_u8(u8::from(did_seek));
    buf.put_u32_le(id.len() as u32);
    buf.put_slice(id.as_bytes());
    buf.freeze()
}

/// Client → server binary opcodes.
pub mod client_op {
    /// Client message data: u32 client channel id, payload.
    pub const MESSAGE_DATA: u8 = 0x01;
    /// Service call request.
    pub const SERVICE_CALL_REQUEST: u8 = 0x02;
    /// Playback control request (SDK extension; not supported by a live robot).
    pub const PLAYBACK_CONTROL: u8 = 0x03;
}

/// Length of the header in front of the payload in a v1 server MessageData.
pub const MESSAGE_DATA_HEADER_LEN: usize = 1 + 4 + 8;

/// Write a v1 MessageData frame: `0x01 | u32 subscription | u64 log_time | payload`.
///
/// The one copy of the payload a frame forces; everything before this shares `Bytes`.
pub fn message_data(subscription_id: u32, log_time: u64, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(MESSAGE_DATA_HEADER_LEN + payload.len());
    buf.put_u8(server_op::MESSAGE_DATA);
    buf.put_u32_le(subscription_id);
    buf.put_u64_le(log_time);
    buf.put_slice(payload);
    buf.freeze()
}

/// Write a Time frame: `0x02 | u64 timestamp`.
pub fn time(timestamp: u64) -> Bytes {
    let mut buf = BytesMut::with_capacity(9);
    buf.put_u8(server_op::TIME);
    buf.put_u64_le(timestamp);
    buf.freeze()
}

/// Write a Service Call Response frame.
pub fn service_call_response(
    service_id: u32,
    call_id: u32,
    encoding: &str,
    payload: &[u8],
) -> Bytes {
    let mut buf = BytesMut::with_capacity(13 + encoding.len() + payload.len());
    buf.put_u8(server_op::SERVICE_CALL_RESPONSE);
    buf.put_u32_le(service_id);
    buf.put_u32_le(call_id);
    buf.put_u32_le(encoding.len() as u32);
    buf.put_slice(encoding.as_bytes());
    buf.put_slice(payload);
    buf.freeze()
}

/// Write a Fetch Asset Response frame: success with data, or an error message.
pub fn fetch_asset_response(request_id: u32, result: Result<&[u8], &str>) -> Bytes {
    let (status, error, data): (u8, &str, &[u8]) = match result {
        Ok(data) => (0, "", data),
        Err(e) => (1, e, &[]),
    };
    let mut buf = BytesMut::with_capacity(10 + error.len() + data.len());
    buf.put_u8(server_op::FETCH_ASSET_RESPONSE);
    buf.put_u32_le(request_id);
    buf.put_u8(status);
    buf.put_u32_le(error.len() as u32);
    buf.put_slice(error.as_bytes());
    buf.put_slice(data);
    buf.freeze()
}

/// A cursor over a binary message that checks the remaining length before every read.
pub struct Reader<'a> {
    what: &'static str,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Read `buf`; `what` names the message in errors.
    pub fn new(what: &'static str, buf: &'a [u8]) -> Self {
        Reader { what, buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(ParseError::Truncated {
                what: self.what,
                need: self.pos.saturating_add(n),
                got: self.buf.len(),
            }),
        }
    }

    /// A u8.
    pub fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Result<u32, ParseError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64, ParseError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A u32-length-prefixed UTF-8 string; the length is checked against what remains before
    /// anything is allocated.
    pub fn string(&mut self) -> Result<&'a str, ParseError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| ParseError::InvalidUtf8(self.what))
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &[u8] = br#"{"key": "value"}"#;

    #[test]
    fn message_data_vector() {
        // reference §12: v1 MessageData (sub 30, logTime 1234)
        let mut want = vec![0x01, 0x1e, 0, 0, 0, 0xd2, 0x04, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(PAYLOAD);
        assert_eq!(message_data(30, 1234, PAYLOAD).as_ref(), want.as_slice());
    }

    #[test]
    fn fetch_asset_error_vector() {
        let want = [
            0x04, 0x0a, 0, 0, 0, 0x01, 0x05, 0, 0, 0, b'o', b'h', b' ', b'n', b'o',
        ];
        assert_eq!(fetch_asset_response(10, Err("oh no")).as_ref(), &want);
    }

    #[test]
    fn playback_state_vectors() {
        // The SDK's snapshots: playing at 12345 ns, speed 1.0, with request id
        // "i-am-a-request"; and paused-with-seek's layout.
        let mut want = vec![
            0x05, 0x00, 0x39, 0x30, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x0e, 0, 0, 0,
        ];
        want.extend_from_slice(b"i-am-a-request");
        assert_eq!(
            playback_state(
                PlaybackStatus::Playing,
                12345,
                1.0,
                false,
                Some("i-am-a-request")
            )
            .as_ref(),
            want.as_slice()
        );
        let f = playback_state(PlaybackStatus::Ended, 12345, 2.0, true, None);
        assert_eq!(
            f.as_ref(),
            &[0x05, 0x03, 0x39, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x01, 0, 0, 0, 0]
        );
    }

    #[test]
    fn time_vector() {
        assert_eq!(time(1).as_ref(), &[2, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn service_response_layout() {
        let f = service_call_response(10, 12, "json", b"{}");
        assert_eq!(&f[..13], &[3, 10, 0, 0, 0, 12, 0, 0, 0, 4, 0, 0, 0]);
        assert_eq!(&f[13..], b"json{}");
    }

    #[test]
    fn reader_rejects_short_and_oversized_lengths() {
        let mut r = Reader::new("x", &[1, 2, 3]);
        assert!(matches!(
            r.u32(),
            Err(ParseError::Truncated {
                need: 4,
                got: 3,
                ..
            })
        ));
        // declared string length far beyond the buffer: error, no allocation
        let mut r = Reader::new("x", &[0xff, 0xff, 0xff, 0xff, b'a']);
        assert!(matches!(r.string(), Err(ParseError::Truncated { .. })));
        let mut r = Reader::new("x", &[1, 0, 0, 0, 0xff]);
        assert_eq!(r.string(), Err(ParseError::InvalidUtf8("x")));
    }
}
