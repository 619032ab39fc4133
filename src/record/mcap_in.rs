//! Reading a recording through its summary and chunk index, with bounded memory whatever the
//! file's size, for playback and the data backend.
//!
//! A recording is peer-ish input (a file from anywhere, possibly truncated or crafted), so every
//! size is checked before memory is spent and every failure is a [`RecordError`], never a panic:
//!
//! - the summary section may be at most [`MAX_SUMMARY_BYTES`] (checked from the footer before it
//!   is read); a file without a summary (a recording cut short) is refused with the advice to
//!   run `mcap recover`;
//! - every chunk, compressed and decompressed, and every record may be at most
//!   [`MAX_RECORD_BYTES`];
//! - chunks are read one at a time in file order (the index's claims are not trusted for
//!   memory: a crafted index cannot make the reader hold more than one chunk), and messages pass
//!   through a reorder buffer of at most [`REORDER_BYTES`] / [`REORDER_NS`] of log time, which
//!   puts the messages of sequentially written files (ours, rosbag2's: chunks in time order,
//!   small disorder inside a chunk) in exact log-time order. Files whose chunks overlap in time
//!   by more than that are still read, with a warning that the order may be off (`mcap sort`
//!   fixes such files).
//!
//! So a reader holds at most one compressed and one decompressed chunk
//! ([`MAX_RECORD_BYTES`] each), the reorder buffer, and the summary.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use mcap::sans_io::indexed_reader::{IndexedReadEvent, IndexedReader, IndexedReaderOptions};
use mcap::sans_io::summary_reader::{SummaryReadEvent, SummaryReader, SummaryReaderOptions};

use super::RecordError;

/// Largest summary section read.
pub const MAX_SUMMARY_BYTES: u64 = 64 * 1024 * 1024;
/// Largest record or chunk (compressed or not).
pub const MAX_RECORD_BYTES: usize = 128 * 1024 * 1024;
/// Payload bytes the reorder buffer may hold.
pub const REORDER_BYTES: usize = 32 * 1024 * 1024;
/// How far ahead (log time) the reorder buffer reads before releasing a message.
pub const REORDER_NS: u64 = 2_000_000_000;

/// Footer record: opcode, u64 length (20), summary start, summary offset start, CRC.
const FOOTER_LEN: usize = 1 + 8 + 8 + 8 + 4;

/// An opened recording: its summary and time range. Cheap to share.
#[derive(Debug)]
pub struct Recording {
    path: std::path::PathBuf,
    summary: mcap::Summary,
    start: u64,
    end: u64,
}

/// One message read from a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    /// MCAP channel id (see [`Recording::channels`]).
    pub channel_id: u16,
    /// Log time, ns.
    pub log_time: u64,
    /// Publish time, ns.
    pub publish_time: u64,
    /// The payload (copied out of its chunk).
    pub data: Bytes,
}

fn unusable(msg: impl Into<String>) -> RecordError {
    RecordError::Unusable(msg.into())
}

fn io(what: &str, e: std::io::Error) -> RecordError {
    RecordError::Io {
        what: what.to_string(),
        source: e,
    }
}

impl Recording {
    /// Open a recording and read its summary.
    pub fn open(path: &Path) -> Result<Arc<Recording>, RecordError> {
        let mut file = File::open(path).map_err(|e| io("cannot open the recording", e))?;
        let size = file
            .metadata()
            .map_err(|e| io("cannot stat the recording", e))?
            .len();
        let min = (mcap::MAGIC.len() * 2 + FOOTER_LEN) as u64;
        if size < min {
            return Err(unusable(format!(
                "not an MCAP file: {size} bytes is shorter than an empty MCAP"
            )));
        }
        let mut head = [0u8; 8];
        file.read_exact(&mut head)
            .map_err(|e| io("cannot read the recording", e))?;
        if head != mcap::MAGIC {
            return Err(unusable("not an MCAP file (bad magic)"));
        }
        let mut tail = [0u8; FOOTER_LEN + 8];
        file.seek(SeekFrom::Start(size - tail.len() as u64))
            .and_then(|_| file.read_exact(&mut tail))
            .map_err(|e| io("cannot read the recording", e))?;
        if &tail[FOOTER_LEN..] != mcap::MAGIC || tail[0] != 0x02 {
            return Err(unusable(
                "the recording is incomplete (no footer: it was cut short); \
                 `mcap recover` can rebuild its index",
            ));
        }
        let summary_start = u64::from_le_bytes(tail[9..17].try_into().unwrap_or([0; 8]));
        if summary_start == 0 {
            return Err(unusable(
                "the recording has no summary/index; `mcap recover` can rebuild it",
            ));
        }
        if summary_start >= size || size - summary_start > MAX_SUMMARY_BYTES {
            return Err(unusable(format!(
                "summary section out of bounds (at most {MAX_SUMMARY_BYTES} bytes)"
            )));
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io("cannot read the recording", e))?;
        let mut reader = SummaryReader::new_with_options(
            SummaryReaderOptions::default()
                .with_file_size(size)
                .with_record_length_limit(MAX_RECORD_BYTES),
        );
        while let Some(event) = reader.next_event() {
            match event? {
                SummaryReadEvent::ReadRequest(n) => {
                    let got = file
                        .read(reader.insert(n))
                        .map_err(|e| io("cannot read the recording", e))?;
                    reader.notify_read(got);
                }
                SummaryReadEvent::SeekRequest(to) => {
                    let pos = file
                        .seek(to)
                        .map_err(|e| io("cannot read the recording", e))?;
                    reader.notify_seeked(pos);
                }
            }
        }
        let summary = reader
            .finish()
            .ok_or_else(|| unusable("the recording has no summary; `mcap recover` can add one"))?;
        if summary.chunk_indexes.is_empty() {
            let count = summary.stats.as_ref().map_or(0, |s| s.message_count);
            if count > 0 {
                return Err(unusable(
                    "the recording is not chunked/indexed; `mcap recover` (or `mcap convert`) \
                     can index it",
                ));
            }
        }
        let (start, end) = match &summary.stats {
            Some(s) if s.message_count > 0 => (s.message_start_time, s.message_end_time),
            _ => summary
                .chunk_indexes
                .iter()
                .fold(None, |acc: Option<(u64, u64)>, c| {
                    Some(match acc {
                        None => (c.message_start_time, c.message_end_time),
                        Some((a, b)) => (a.min(c.message_start_time), b.max(c.message_end_time)),
                    })
                })
                .unwrap_or((0, 0)),
        };
        if overlapping(&summary) {
            tracing::warn!(
                "{}: chunks overlap in time; messages may come out of log-time order",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
        }
        Ok(Arc::new(Recording {
            path: path.to_path_buf(),
            summary,
            start,
            end,
        }))
    }

    /// Log time of the first and last message (equal and 0 for an empty recording).
    pub fn time_range(&self) -> (u64, u64) {
        (self.start, self.end.max(self.start))
    }

    /// Message count from the statistics, if the file has them.
    pub fn message_count(&self) -> Option<u64> {
        self.summary.stats.as_ref().map(|s| s.message_count)
    }

    /// The channels, by MCAP channel id.
    pub fn channels(&self) -> &HashMap<u16, Arc<mcap::Channel<'static>>> {
        &self.summary.channels
    }

    /// Read messages with `start <= log_time <= end`, in log-time order, optionally only on
    /// the given channel ids.
    pub fn messages(
        self: &Arc<Self>,
        start: u64,
        end: u64,
        channels: Option<&[u16]>,
    ) -> Result<MessageReader, RecordError> {
        let mut options = IndexedReaderOptions::new()
            // One chunk at a time, whatever the index claims (see the module docs).
            .with_order(mcap::sans_io::indexed_reader::ReadOrder::File)
            .with_record_length_limit(MAX_RECORD_BYTES)
            .starting_at(start)
            .ending_at(end);
        if let Some(ids) = channels {
            let topics: Vec<String> = ids
                .iter()
                .filter_map(|id| self.summary.channels.get(id).map(|c| c.topic.clone()))
                .collect();
            options = options.include_topics(topics);
        }
        let reader = IndexedReader::new_with_options(&self.summary, options)?;
        let file = File::open(&self.path).map_err(|e| io("cannot open the recording", e))?;
        Ok(MessageReader {
            file,
            reader,
            buf: Vec::new(),
            only: channels.map(|c| c.to_vec()),
            pending: BinaryHeap::new(),
            pending_bytes: 0,
            newest: 0,
            arrival: 0,
            done: false,
        })
    }
}

/// True if some chunk starts before the previous one (in file order) ended by more than the
/// reorder window: such files may come out of order.
fn overlapping(summary: &mcap::Summary) -> bool {
    let mut chunks: Vec<_> = summary.chunk_indexes.iter().collect();
    chunks.sort_by_key(|c| c.chunk_start_offset);
    let mut end = 0u64;
    for c in chunks {
        if c.message_start_time.saturating_add(REORDER_NS) < end {
            return true;
        }
        end = end.max(c.message_end_time);
    }
    false
}

/// Messages of a time range, read chunk by chunk.
pub struct MessageReader {
    file: File,
    reader: IndexedReader,
    buf: Vec<u8>,
    only: Option<Vec<u16>>,
    /// The reorder buffer: (log time, arrival) → message.
    pending: BinaryHeap<Reverse<(u64, u64, Pending)>>,
    pending_bytes: usize,
    newest: u64,
    arrival: u64,
    done: bool,
}

/// A message in the reorder buffer (ordered by the key beside it only).
#[derive(Debug)]
struct Pending(RecordedMessage);

impl PartialEq for Pending {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl MessageReader {
    /// The next message in log-time order, `None` at the end of the range.
    pub fn next_message(&mut self) -> Result<Option<RecordedMessage>, RecordError> {
        loop {
            let release = match self.pending.peek() {
                Some(Reverse((t, _, _))) => {
                    self.done
                        || self.pending_bytes > REORDER_BYTES
                        || t.saturating_add(REORDER_NS) <= self.newest
                }
                None if self.done => return Ok(None),
                None => false,
            };
            if release {
                if let Some(Reverse((_, _, Pending(m)))) = self.pending.pop() {
                    self.pending_bytes -= m.data.len();
                    return Ok(Some(m));
                }
            }
            match self.read_one()? {
                Some(m) => {
                    self.newest = self.newest.max(m.log_time);
                    self.pending_bytes += m.data.len();
                    self.arrival += 1;
                    self.pending
                        .push(Reverse((m.log_time, self.arrival, Pending(m))));
                }
                None => self.done = true,
            }
        }
    }

    /// The next message in file order.
    fn read_one(&mut self) -> Result<Option<RecordedMessage>, RecordError> {
        loop {
            let event = match self.reader.next_event() {
                None => return Ok(None),
                Some(e) => e?,
            };
            match event {
                IndexedReadEvent::ReadChunkRequest { offset, length } => {
                    self.buf.clear();
                    self.buf.resize(length, 0);
                    self.file
                        .seek(SeekFrom::Start(offset))
                        .and_then(|_| self.file.read_exact(&mut self.buf))
                        .map_err(|e| {
                            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                                unusable("the recording is truncated (a chunk is cut short)")
                            } else {
                                io("cannot read the recording", e)
                            }
                        })?;
                    self.reader.insert_chunk_record_data(offset, &self.buf)?;
                }
                IndexedReadEvent::Message { header, data } => {
                    if let Some(only) = &self.only {
                        if !only.contains(&header.channel_id) {
                            continue;
                        }
                    }
                    return Ok(Some(RecordedMessage {
                        channel_id: header.channel_id,
                        log_time: header.log_time,
                        publish_time: header.publish_time,
                        data: Bytes::copy_from_slice(data),
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::mcap_out::{ChannelSpec, Ros2Writer};

    fn write_file(path: &Path, n: u64) {
        let f = std::fs::File::create(path).unwrap();
        let mut w = Ros2Writer::new(std::io::BufWriter::new(f)).unwrap();
        let a = w
            .channel(&ChannelSpec::from_channel(
                &crate::record::ring::tests::channel(1, "/a", false),
            ))
            .unwrap();
        let b = w
            .channel(&ChannelSpec::from_channel(
                &crate::record::ring::tests::channel(2, "/b", false),
            ))
            .unwrap();
        for i in 0..n {
            let payload = vec![(i % 251) as u8; 3000];
            w.write(if i % 2 == 0 { a } else { b }, 1_000 + i * 10, i, &payload)
                .unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn reads_a_range_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.mcap");
        write_file(&p, 2000);
        let r = Recording::open(&p).unwrap();
        assert_eq!(r.time_range(), (1_000, 1_000 + 1999 * 10));
        assert_eq!(r.message_count(), Some(2000));
        let mut m = r.messages(5_000, 6_000, None).unwrap();
        let mut times = Vec::new();
        while let Some(msg) = m.next_message().unwrap() {
            times.push(msg.log_time);
        }
        assert_eq!(
            times,
            (400..=500).map(|i| 1_000 + i * 10).collect::<Vec<_>>()
        );
        let a_id = *r
            .channels()
            .iter()
            .find(|(_, c)| c.topic == "/a")
            .unwrap()
            .0;
        let mut m = r.messages(0, u64::MAX, Some(&[a_id])).unwrap();
        let mut n = 0;
        while let Some(msg) = m.next_message().unwrap() {
            assert_eq!(msg.channel_id, a_id);
            n += 1;
        }
        assert_eq!(n, 1000);
    }

    #[test]
    fn small_disorder_comes_out_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.mcap");
        let f = std::fs::File::create(&p).unwrap();
        let mut w = Ros2Writer::new(std::io::BufWriter::new(f)).unwrap();
        let a = w
            .channel(&ChannelSpec::from_channel(
                &crate::record::ring::tests::channel(1, "/a", false),
            ))
            .unwrap();
        // Two threads' worth of receive times interleaved a little out of order, across chunks.
        let mut times: Vec<u64> = (0..3000u64).map(|i| 1_000_000 * i).collect();
        for pair in times.chunks_mut(2) {
            pair.reverse();
        }
        for t in &times {
            w.write(a, *t, *t, &vec![7u8; 2000]).unwrap();
        }
        w.finish().unwrap();
        let r = Recording::open(&p).unwrap();
        let mut m = r.messages(0, u64::MAX, None).unwrap();
        let mut got = Vec::new();
        while let Some(msg) = m.next_message().unwrap() {
            got.push(msg.log_time);
        }
        times.sort();
        assert_eq!(got, times);
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.mcap");
        write_file(&p, 2000);
        let full = std::fs::read(&p).unwrap();
        // Truncated anywhere, random bytes, garbage with a valid-looking frame: never a panic.
        for cut in [0, 7, 8, 40, 100, full.len() / 2, full.len() - 1] {
            let q = tmp.path().join(format!("cut{cut}.mcap"));
            std::fs::write(&q, &full[..cut]).unwrap();
            assert!(Recording::open(&q).is_err(), "cut at {cut}");
        }
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for round in 0..200 {
            let mut bytes = full.clone();
            for _ in 0..(1 + round % 16) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let i = (rng as usize) % bytes.len();
                bytes[i] = (rng >> 32) as u8;
            }
            let q = tmp.path().join("flip.mcap");
            std::fs::write(&q, &bytes).unwrap();
            if let Ok(r) = Recording::open(&q) {
                let (a, b) = r.time_range();
                if let Ok(mut m) = r.messages(a, b, None) {
                    while let Ok(Some(_)) = m.next_message() {}
                }
            }
        }
    }
}
