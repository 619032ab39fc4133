//! The Foxglove API client: device info, the remote-sessions watch (server-sent events) and its
//! heartbeat. HTTPS through reqwest with rustls.
//!
//! The device token is sent as `Authorization: DeviceToken …` and nowhere else: it is never
//! part of a URL, a log line, a `Debug` output or an error.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;

use crate::config::Secret;

/// How long short requests (device info, heartbeat) and the watch's connect may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(30);
/// Error bodies larger than this are not parsed.
const MAX_ERROR_BODY: usize = 16 * 1024;
/// A single SSE line longer than this ends the stream (the API sends small events).
pub const MAX_SSE_LINE: usize = 1024 * 1024;

/// `GET /internal/platform/v1/device-info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// Device id.
    pub id: String,
    /// Device name (the default `serverInfo.name`).
    pub name: String,
    /// Project.
    #[serde(default)]
    pub project_id: Option<String>,
}

/// The `hello` event of a watch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    /// The lease this watch holds; heartbeats name it.
    pub watch_lease_id: String,
    /// How long a session waits for a viewer.
    pub device_wait_for_viewer_ms: u64,
    /// How often to heartbeat.
    pub heartbeat_interval_ms: u64,
}

impl Hello {
    /// The heartbeat interval, at least 1 s.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms).max(Duration::from_secs(1))
    }

    /// The viewer wait, at least 5 s.
    pub fn wait_for_viewer(&self) -> Duration {
        Duration::from_millis(self.device_wait_for_viewer_ms).max(Duration::from_secs(5))
    }
}

/// The `wake` event: join this LiveKit room.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Wake {
    /// Correlation id of the remote access session.
    pub remote_access_session_id: Option<String>,
    /// LiveKit server URL.
    pub url: String,
    /// LiveKit access token.
    pub token: Secret,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WakeJson {
    #[serde(default)]
    remote_access_session_id: Option<String>,
    url: String,
    token: String,
}

impl Wake {
    /// Parse the event data.
    pub fn parse(data: &str) -> Result<Wake, ApiError> {
        let w: WakeJson = serde_json::from_str(data)
            .map_err(|e| ApiError::InvalidResponse(format!("wake event: {e}")))?;
        Ok(Wake {
            remote_access_session_id: w.remote_access_session_id,
            url: w.url,
            token: Secret::new(w.token),
        })
    }
}

/// Why an API call failed. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: the device token was rejected.
    #[error("the Foxglove API rejected the device token (401): {0}")]
    Unauthorized(String),
    /// 409: another gateway holds the watch lease.
    #[error("another gateway holds this device's watch lease (409)")]
    Conflict,
    /// 410: the lease is gone.
    #[error("the watch lease is gone (410)")]
    Gone,
    /// A 2xx that is not an event stream (a maintenance page, say).
    #[error("the watch answered with {0:?} instead of text/event-stream")]
    NotEventStream(String),
    /// Any other HTTP error.
    #[error("HTTP {status}: {message}")]
    Status {
        /// Status code.
        status: u16,
        /// The API's error text, if any.
        message: String,
    },
    /// Network, TLS or timeout.
    #[error("request failed: {0}")]
    Transport(String),
    /// A body that does not parse.
    #[error("unexpected response: {0}")]
    InvalidResponse(String),
}

/// One item of an event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// `event:`/`data:` lines ended by a blank line (`event` is `message` if not given).
    Event {
        /// Event name.
        event: String,
        /// Data lines joined by `\n`.
        data: String,
    },
    /// A `:` comment (keep-alive).
    Comment,
}

/// Incremental server-sent-events parser.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    last_was_cr: bool,
    event: String,
    data: Option<String>,
}

impl SseParser {
    /// Feed bytes; complete items are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut VecDeque<SseItem>) -> Result<(), ApiError> {
        for &b in bytes {
            if self.last_was_cr && b == b'\n' {
                self.last_was_cr = false;
                continue;
            }
            self.last_was_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&String::from_utf8_lossy(&line), out);
            } else {
                if self.line.len() >= MAX_SSE_LINE {
                    return Err(ApiError::InvalidResponse(
                        "event stream line too long".into(),
                    ));
                }
                self.line.push(b);
            }
        }
        Ok(())
    }

    fn line_done(&mut self, line: &str, out: &mut VecDeque<SseItem>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                let event = std::mem::take(&mut self.event);
                out.push_back(SseItem::Event {
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        event
                    },
                    data,
                });
            }
            self.event.clear();
            return;
        }
        if line.starts_with(':') {
            out.push_back(SseItem::Comment);
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                let d = self.data.get_or_insert_with(String::new);
                if !d.is_empty() {
                    d.push('\n');
                }
                d.push_str(value);
            }
            _ => {}
        }
    }
}

/// Query parameters of a watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchQuery {
    /// Our protocol version.
    pub protocol_version: String,
    /// The remote access session id seen in the first wake.
    pub remote_access_session_id: Option<String>,
    /// The lease of the previous watch, to take it over.
    pub previous_watch_lease_id: Option<String>,
}

/// An open watch.
pub struct WatchStream {
    response: reqwest::Response,
    parser: SseParser,
    pending: VecDeque<SseItem>,
}

impl WatchStream {
    /// The next item; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<SseItem>, ApiError> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.parser.push(&chunk, &mut self.pending)?,
                Ok(None) => return Ok(None),
                Err(e) => return Err(transport(e)),
            }
        }
    }
}

/// The Foxglove API, authenticated as one device.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

fn transport(e: reqwest::Error) -> ApiError {
    // Our URLs carry no secrets, but keep errors short and stable.
    ApiError::Transport(e.without_url().to_string())
}

impl ApiClient {
    /// A client for the API at `base` (e.g. `https://api.foxglove.dev`).
    pub fn new(base: &str, token: Secret) -> Result<ApiClient, ApiError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("foxglove_gateway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(API_TIMEOUT)
            .build()
            .map_err(transport)?;
        Ok(ApiClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).header(
            reqwest::header::AUTHORIZATION,
            format!("DeviceToken {}", self.token.expose()),
        )
    }

    /// `GET /internal/platform/v1/device-info`.
    pub async fn device_info(&self) -> Result<DeviceInfo, ApiError> {
        let resp = self
            .get("/internal/platform/v1/device-info")
            .timeout(API_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let resp = check(resp).await?;
        resp.json::<DeviceInfo>()
            .await
            .map_err(|e| ApiError::InvalidResponse(format!("device info: {}", e.without_url())))
    }

    /// Open `GET /internal/platform/v1/remote-sessions/watch`.
    pub async fn watch(&self, query: &WatchQuery) -> Result<WatchStream, ApiError> {
        let mut params = vec![("protocolVersion", query.protocol_version.as_str())];
        if let Some(id) = &query.remote_access_session_id {
            params.push(("remoteAccessSessionId", id));
        }
        if let Some(lease) = &query.previous_watch_lease_id {
            params.push(("previousWatchLeaseId", lease));
        }
        let resp = self
            .get("/internal/platform/v1/remote-sessions/watch")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .query(&params)
            .send()
            .await
            .map_err(transport)?;
        let resp = check(resp).await?;
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !content_type.starts_with("text/event-stream") {
            return Err(ApiError::NotEventStream(content_type));
        }
        Ok(WatchStream {
            response: resp,
            parser: SseParser::default(),
            pending: VecDeque::new(),
        })
    }

    /// `POST /internal/platform/v1/remote-sessions/watch/heartbeat`.
    pub async fn heartbeat(&self, lease: &str) -> Result<(), ApiError> {
        let resp = self
            .http
            .post(format!(
                "{}/internal/platform/v1/remote-sessions/watch/heartbeat",
                self.base
            ))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("DeviceToken {}", self.token.expose()),
            )
            .json(&serde_json::json!({ "watchLeaseId": lease }))
            .timeout(API_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        check(resp).await.map(|_| ())
    }
}

/// Turn an error status into an [`ApiError`], reading `{"error": …}` from small bodies.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response, ApiError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let small = resp
        .content_length()
        .is_some_and(|n| n as usize <= MAX_ERROR_BODY);
    let message = if small {
        let body = resp.bytes().await.unwrap_or_default();
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_string))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Err(match status.as_u16() {
        401 => ApiError::Unauthorized(if message.is_empty() {
            "unauthorized".into()
        } else {
            message
        }),
        409 => ApiError::Conflict,
        410 => ApiError::Gone,
        code => ApiError::Status {
            status: code,
            message,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&str]) -> Vec<SseItem> {
        let mut p = SseParser::default();
        let mut out = VecDeque::new();
        for c in chunks {
            p.push(c.as_bytes(), &mut out).unwrap();
        }
        out.into_iter().collect()
    }

    #[test]
    fn sse_events_comments_and_chunking() {
        let text = ": keep-alive\n\nevent: hello\ndata: {\"a\":1}\n\nevent: wake\r\ndata: x\r\ndata: y\r\n\r\n";
        let want = vec![
            SseItem::Comment,
            SseItem::Event {
                event: "hello".into(),
                data: "{\"a\":1}".into(),
            },
            SseItem::Event {
                event: "wake".into(),
                data: "x\ny".into(),
            },
        ];
        assert_eq!(parse(&[text]), want);
        let bytes: Vec<String> = text.chars().map(|c| c.to_string()).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(parse(&refs), want);
        // an event without data is not dispatched; an unnamed one is "message"
        assert_eq!(
            parse(&["event: x\n\ndata:z\n\n"]),
            vec![SseItem::Event {
                event: "message".into(),
                data: "z".into()
            }]
        );
    }

    #[test]
    fn sse_line_cap() {
        let mut p = SseParser::default();
        let mut out = VecDeque::new();
        let big = vec![b'a'; MAX_SSE_LINE + 1];
        assert!(p.push(&big, &mut out).is_err());
    }

    #[test]
    fn wake_and_client_never_show_tokens() {
        let w = Wake::parse(
            r#"{"url":"wss://lk","token":"jwt-secret-123","remoteAccessSessionId":"ras_1"}"#,
        )
        .unwrap();
        assert_eq!(w.token.expose(), "jwt-secret-123");
        assert!(!format!("{w:?}").contains("jwt-secret-123"));
        let c = ApiClient::new("http://x", Secret::new("fox_dt_secret")).unwrap();
        assert!(!format!("{c:?}").contains("fox_dt_secret"));
        assert!(Wake::parse(r#"{"url":"u"}"#).is_err());
    }

    #[test]
    fn hello_minimums() {
        let h = Hello {
            watch_lease_id: "l".into(),
            device_wait_for_viewer_ms: 10,
            heartbeat_interval_ms: 10,
        };
        assert_eq!(h.heartbeat_interval(), Duration::from_secs(1));
        assert_eq!(h.wait_for_viewer(), Duration::from_secs(5));
    }
}
