//! What the data backend answers, without I/O: query arguments, RFC 3339 times, and the
//! manifest JSON in the shape of Foxglove's remote data loader (the SDK's
//! `remote_data_loader_backend::Manifest`: camelCase; `topics[]` with `name`, `messageEncoding`,
//! `schemaId`; `schemas[]` with `id`, `name`, `encoding`, base64 `data`; RFC 3339 UTC
//! `startTime`/`endTime`).
//!
//! Query arguments (the loader forwards the user's `ds.*` arguments without the prefix):
//! `recording=NAME` selects one recording; `startTime=`/`endTime=` (RFC 3339) select a time
//! range, over every recording that overlaps it when no name is given. Other arguments are
//! ignored.

use base64::Engine;
use serde::Serialize;

use super::mcap_in::Recording;

/// Longest query string accepted.
pub const MAX_QUERY_LEN: usize = 8 * 1024;
/// Most sources (recordings) in one manifest.
pub const MAX_SOURCES: usize = 1000;

/// The selection a request makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// One recording by name.
    pub recording: Option<String>,
    /// Start of the time range, ns since the epoch.
    pub start: Option<u64>,
    /// End of the time range (inclusive), ns since the epoch.
    pub end: Option<u64>,
}

impl Selection {
    /// Parse a query string; errors say which argument is wrong.
    pub fn parse(query: &str) -> Result<Self, String> {
        if query.len() > MAX_QUERY_LEN {
            return Err(format!("query longer than {MAX_QUERY_LEN} bytes"));
        }
        let mut sel = Selection::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "recording" => sel.recording = Some(v.into_owned()),
                "startTime" => {
                    sel.start = Some(parse_time(&v).map_err(|e| format!("startTime: {e}"))?)
                }
                "endTime" => sel.end = Some(parse_time(&v).map_err(|e| format!("endTime: {e}"))?),
                _ => {}
            }
        }
        if let (Some(s), Some(e)) = (sel.start, sel.end) {
            if s > e {
                return Err("startTime is after endTime".into());
            }
        }
        Ok(sel)
    }

    /// The part of `[first, last]` (a recording's range) this selection asks for, if any.
    pub fn clip(&self, first: u64, last: u64) -> Option<(u64, u64)> {
        let a = self.start.map_or(first, |s| s.max(first));
        let b = self.end.map_or(last, |e| e.min(last));
        (a <= b).then_some((a, b))
    }
}

/// RFC 3339 (UTC, `Z`) of ns since the epoch.
pub fn format_time(ns: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// ns since the epoch of an RFC 3339 time; times before the epoch are refused.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            format!(
                "not an RFC 3339 time ({e}): {:?}",
                s.chars().take(40).collect::<String>()
            )
        })?;
    u64::try_from(t.unix_timestamp_nanos()).map_err(|_| "before 1970".to_string())
}

/// The manifest.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Display name.
    pub name: Option<String>,
    /// The sources.
    pub sources: Vec<Source>,
}

/// One streamed source (one recording, clipped to the selection).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The data endpoint for this source (relative).
    pub url: String,
    /// Unique and changing with the data: name, range and file size.
    pub id: String,
    /// Topics.
    pub topics: Vec<Topic>,
    /// Schemas.
    pub schemas: Vec<Schema>,
    /// RFC 3339.
    pub start_time: String,
    /// RFC 3339.
    pub end_time: String,
}

/// A topic of a source.
#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    /// Topic name.
    pub name: String,
    /// `cdr` for ROS 2.
    pub message_encoding: String,
    /// Schema id (≥ 1); absent for schemaless channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<u16>,
}

/// A schema of a source.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// Id (≥ 1).
    pub id: u16,
    /// ROS type.
    pub name: String,
    /// `ros2msg` / `ros2idl`.
    pub encoding: String,
    /// Base64 of the definition text.
    pub data: String,
}

/// The source for `name` (a recording opened as `rec`, of `size` bytes) clipped to `range`.
pub fn source(name: &str, rec: &Recording, size: u64, range: (u64, u64)) -> Source {
    let mut topics = Vec::new();
    let mut schemas: Vec<Schema> = Vec::new();
    for ch in rec.channels().values() {
        let schema_id = ch.schema.as_ref().map(|s| {
            if !schemas.iter().any(|x| x.id == s.id) {
                schemas.push(Schema {
                    id: s.id,
                    name: s.name.clone(),
                    encoding: s.encoding.clone(),
                    data: base64::engine::general_purpose::STANDARD.encode(&s.data),
                });
            }
            s.id
        });
        let t = Topic {
            name: ch.topic.clone(),
            message_encoding: ch.message_encoding.clone(),
            schema_id: schema_id.filter(|id| *id >= 1),
        };
        if !topics.contains(&t) {
            topics.push(t);
        }
    }
    topics.sort();
    schemas.sort_by_key(|s| s.id);
    let (start, end) = range;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("recording", name)
        .append_pair("startTime", &format_time(start))
        .append_pair("endTime", &format_time(end))
        .finish();
    Source {
        url: format!("/v1/data?{query}"),
        id: format!("{name}-{size}-{start}-{end}"),
        topics,
        schemas,
        start_time: format_time(start),
        end_time: format_time(end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(10_000_000_000), "1970-01-01T00:00:10Z");
        let t = 1_765_022_400_123_456_789;
        assert_eq!(format_time(t), "2025-12-06T12:00:00.123456789Z");
        assert_eq!(parse_time(&format_time(t)).unwrap(), t);
        assert_eq!(
            parse_time("2025-12-06T13:00:00+01:00").unwrap(),
            1_765_022_400_000_000_000
        );
        assert!(parse_time("1969-12-31T23:59:59Z").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn selection() {
        let s = Selection::parse(
            "recording=blackbox_1&startTime=1970-01-01T00%3A00%3A01Z&endTime=1970-01-01T00:00:05Z&flightId=x",
        )
        .unwrap();
        assert_eq!(s.recording.as_deref(), Some("blackbox_1"));
        assert_eq!((s.start, s.end), (Some(1_000_000_000), Some(5_000_000_000)));
        assert_eq!(
            s.clip(0, 3_000_000_000),
            Some((1_000_000_000, 3_000_000_000))
        );
        assert_eq!(s.clip(6_000_000_000, 7_000_000_000), None);
        assert!(
            Selection::parse("startTime=1970-01-01T00:00:05Z&endTime=1970-01-01T00:00:01Z")
                .is_err()
        );
        assert!(Selection::parse("startTime=soon").is_err());
        assert!(Selection::parse(&"a".repeat(MAX_QUERY_LEN + 1)).is_err());
        assert_eq!(Selection::parse("").unwrap(), Selection::default());
    }
}
