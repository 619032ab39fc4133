//! A raw WebSocket client: the handshake and frames written by hand, so an attack can send
//! exactly what a careless or hostile viewer would (a header declaring 60 MiB, half a request,
//! an unmasked frame) and read exactly what the server answers.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The upgrade request of a Foxglove viewer.
pub const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: foxglove.sdk.v1\r\n\r\n";

/// Opcodes.
pub const TEXT: u8 = 1;
/// Binary.
pub const BINARY: u8 = 2;
/// Continuation.
pub const CONTINUE: u8 = 0;
/// Close.
pub const CLOSE: u8 = 8;
/// Pong.
pub const PONG: u8 = 10;

/// What the server sent back to an upgrade request.
pub enum Upgrade {
    /// 101: a WebSocket now.
    Accepted(Raw),
    /// Any other answer: the whole HTTP response (status line and body).
    Refused(String),
}

/// A connection after the handshake.
pub struct Raw {
    pub tcp: TcpStream,
    buf: BytesMut,
}

/// A frame from the server (its payload shares the read buffer: no copy).
#[derive(Debug)]
pub struct ServerFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: bytes::Bytes,
}

impl Raw {
    /// Connect and upgrade; the HTTP answer if refused.
    pub async fn connect(addr: SocketAddr) -> io::Result<Upgrade> {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        tcp.write_all(UPGRADE.as_bytes()).await?;
        Self::finish(tcp).await
    }

    /// Read the answer to an upgrade request already written.
    pub async fn finish(mut tcp: TcpStream) -> io::Result<Upgrade> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = tcp.read(&mut chunk).await?;
            if n == 0 {
                return Ok(Upgrade::Refused(String::from_utf8_lossy(&buf).into()));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            // The body follows the headers; read what the server sends before it closes.
            let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut buf)).await;
            return Ok(Upgrade::Refused(String::from_utf8_lossy(&buf).into()));
        }
        Ok(Upgrade::Accepted(Raw {
            tcp,
            buf: BytesMut::from(&buf[end..]),
        }))
    }

    /// Connect, expecting to be accepted.
    pub async fn open(addr: SocketAddr) -> io::Result<Raw> {
        match Self::connect(addr).await? {
            Upgrade::Accepted(r) => Ok(r),
            Upgrade::Refused(r) => Err(io::Error::other(format!("refused: {r}"))),
        }
    }

    /// A frame header as a client sends it (masked, with a zero key so the payload is sent
    /// as is).
    pub fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut h = vec![if fin { 0x80 | opcode } else { opcode }];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[0, 0, 0, 0]);
        h
    }

    /// Send a whole frame.
    pub async fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mut f = Self::header(fin, opcode, payload.len() as u64);
        f.extend_from_slice(payload);
        self.tcp.write_all(&f).await
    }

    /// Send a text message.
    pub async fn text(&mut self, text: &str) -> io::Result<()> {
        self.frame(true, TEXT, text.as_bytes()).await
    }

    /// Send a binary message.
    pub async fn binary(&mut self, data: &[u8]) -> io::Result<()> {
        self.frame(true, BINARY, data).await
    }

    /// The next frame from the server; `None` at the end of the connection.
    pub async fn next(&mut self) -> io::Result<Option<ServerFrame>> {
        next_frame(&mut self.tcp, &mut self.buf).await
    }

    /// Split into a frame reader and the writing half.
    pub fn into_split(self) -> (Reader, tokio::net::tcp::OwnedWriteHalf) {
        let (r, w) = self.tcp.into_split();
        (Reader { r, buf: self.buf }, w)
    }

    /// Read until the server closes: its close code and reason, and every status message seen
    /// on the way. `None` for the code if the connection ended without a Close frame.
    pub async fn until_close(&mut self, within: Duration) -> (Option<(u16, String)>, Vec<String>) {
        let mut statuses = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let f = match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Ok(Some(f))) => f,
                _ => return (None, statuses),
            };
            match f.opcode {
                CLOSE => {
                    let code = f
                        .payload
                        .get(..2)
                        .map(|b| u16::from_be_bytes([b[0], b[1]]))
                        .unwrap_or(1005);
                    let reason = String::from_utf8_lossy(f.payload.get(2..).unwrap_or(&[]));
                    return (Some((code, reason.into())), statuses);
                }
                TEXT => {
                    if let Some(s) = status_text(&f.payload) {
                        statuses.push(s);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The reading half of a split connection.
pub struct Reader {
    r: tokio::net::tcp::OwnedReadHalf,
    buf: BytesMut,
}

impl Reader {
    /// The next frame from the server; `None` at the end of the connection.
    pub async fn next(&mut self) -> io::Result<Option<ServerFrame>> {
        next_frame(&mut self.r, &mut self.buf).await
    }
}

async fn next_frame<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
) -> io::Result<Option<ServerFrame>> {
    loop {
        if let Some(frame) = parse(buf) {
            return Ok(Some(frame));
        }
        buf.reserve(64 * 1024);
        if r.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// The JSON of a text frame, if it is one.
pub fn json(f: &ServerFrame) -> Option<serde_json::Value> {
    (f.opcode == TEXT)
        .then(|| serde_json::from_slice(&f.payload).ok())
        .flatten()
}

/// The message of a status (`{"op":"status",...}`), if this text is one.
pub fn status_text(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    (v["op"] == "status").then(|| v["message"].as_str().unwrap_or("").to_string())
}

/// One unmasked server frame taken from the front of `buf`, if it is all there.
fn parse(buf: &mut BytesMut) -> Option<ServerFrame> {
    if buf.len() < 2 {
        return None;
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0f;
    let (len, at) = match buf[1] & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if buf.len() < at + len as usize {
        return None;
    }
    buf.advance(at);
    let payload = buf.split_to(len as usize).freeze();
    Some(ServerFrame {
        fin,
        opcode,
        payload,
    })
}
