//! The HTTP upgrade, done here rather than inside tungstenite so that every byte after the
//! request goes through the incoming meter ([`super::incoming`]), the time it may take is ours
//! to bound, and every refusal is an HTTP status whose body says why:
//!
//! - 400: not a WebSocket upgrade, or no Foxglove subprotocol offered (naming the ones served);
//! - 408: the request did not arrive within `handshake_timeout_ms`;
//! - 431: request headers over [`MAX_REQUEST_BYTES`];
//! - 503: `max_connections` reached ([`refuse_busy`], before anything is read).
//!
//! The request is parsed and answered with tungstenite's own functions, so the upgrade itself
//! behaves exactly as tungstenite's server does.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::machine::TryParse;
use tokio_tungstenite::tungstenite::handshake::server::{create_response, write_response, Request};
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::protocol::{select_subprotocol, SUBPROTOCOLS};

/// Largest upgrade request accepted (browsers send 1–2 KiB; cookies of other apps on the same
/// host can add some).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// How long an error answer may take to write, and how long the connection then lingers reading
/// what the client still sends (so closing does not reset the connection before the answer is
/// read).
const LINGER: Duration = Duration::from_millis(500);

/// An accepted upgrade.
pub struct Upgraded {
    /// The subprotocol chosen (and echoed).
    pub subprotocol: &'static str,
    /// Bytes the client sent after its request (frames it did not wait to send).
    pub surplus: Vec<u8>,
}

/// Read the upgrade request and answer it, all before `deadline`. On refusal the client has
/// been answered (when it still listens) and the error says what happened, for the log.
pub async fn upgrade<S>(
    stream: &mut S,
    deadline: Instant,
    timeout: Duration,
) -> Result<Upgraded, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (size, request) = loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => {
                let why = format!(
                    "the WebSocket handshake did not complete within {} ms (handshake_timeout_ms)",
                    timeout.as_millis()
                );
                answer(stream, 408, "Request Timeout", &why).await;
                return Err(why);
            }
            Ok(Err(e)) => return Err(format!("read failed during the handshake: {e}")),
            Ok(Ok(0)) => return Err("the client closed the connection during the handshake".into()),
            Ok(Ok(n)) => n,
        };
        if buf.len() + n > MAX_REQUEST_BYTES {
            let why = format!("request headers over {MAX_REQUEST_BYTES} bytes");
            answer(stream, 431, "Request Header Fields Too Large", &why).await;
            return Err(why);
        }
        buf.extend_from_slice(&chunk[..n]);
        match Request::try_parse(&buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => continue,
            Err(e) => {
                let why = format!("not a valid WebSocket upgrade request: {e}");
                answer(stream, 400, "Bad Request", &why).await;
                return Err(why);
            }
        }
    };
    let mut response = match create_response(&request) {
        Ok(r) => r,
        Err(e) => {
            let why = format!("not a valid WebSocket upgrade request: {e}");
            answer(stream, 400, "Bad Request", &why).await;
            return Err(why);
        }
    };
    let offered = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let Some(subprotocol) = select_subprotocol(offered) else {
        let why = format!(
            "Missing expected sec-websocket-protocol header: this Foxglove server speaks {}",
            SUBPROTOCOLS.join(", ")
        );
        answer(stream, 400, "Bad Request", &why).await;
        return Err(why);
    };
    response.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(subprotocol),
    );
    let mut out = Vec::with_capacity(256);
    write_response(&mut out, &response).map_err(|e| format!("cannot write the answer: {e}"))?;
    match tokio::time::timeout_at(deadline, stream.write_all(&out)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("write failed during the handshake: {e}")),
        Err(_) => return Err("the handshake answer could not be written in time".into()),
    }
    Ok(Upgraded {
        subprotocol,
        surplus: buf.split_off(size),
    })
}

/// Answer an HTTP error with `why` as the body, then close gently.
async fn answer<S>(stream: &mut S, code: u16, status: &str, why: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let text = error_response(code, status, why);
    let _ = tokio::time::timeout(LINGER, async {
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    // Read what the client still sends for a moment: closing with unread bytes would reset the
    // connection, and the client might lose the answer.
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(LINGER, async {
        let mut total = 0;
        while total < MAX_REQUEST_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

fn error_response(code: u16, status: &str, why: &str) -> String {
    format!(
        "HTTP/1.1 {code} {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{why}",
        why.len()
    )
}

/// Refuse a connection over `max_connections` at once, without a task: answer 503 if the
/// socket takes it now, and close. Whatever of the request already arrived is read first, so the
/// close is not a reset that could swallow the answer.
pub fn refuse_busy(stream: TcpStream, limit: usize) {
    let mut sink = [0u8; 4096];
    for _ in 0..4 {
        match stream.try_read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    let why = format!(
        "Too many connections: this gateway serves at most {limit} at once (max_connections)"
    );
    let _ = stream.try_write(error_response(503, "Service Unavailable", &why).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_complete_http_responses() {
        let r = error_response(503, "Service Unavailable", "full");
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(r.contains("Content-Length: 4\r\n"));
        assert!(r.ends_with("\r\n\r\nfull"));
    }
}
