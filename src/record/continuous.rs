//! Continuous recording (`record:=true`): every recorded message goes to a file in
//! `recordings_dir`, rotated by size and duration, written by the same ROS 2 MCAP writer as the
//! black box.
//!
//! The backend's thread only queues the shared payload; a dedicated writer thread compresses and
//! writes. The queue is bounded by [`QUEUE_BYTES`] of payload and [`QUEUE_MESSAGES`] messages:
//! when the disk cannot keep up, new messages are dropped, counted, and logged (at most every
//! [`DROP_LOG_INTERVAL`]) rather than growing memory or slowing the robot's data path.

use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::mcap_out::{ChannelSpec, Ros2Writer};
use super::ring::Entry;
use super::{RecordError, RecordingsDir};

/// Payload bytes waiting for the writer before new messages are dropped.
pub const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Messages waiting for the writer before new messages are dropped.
pub const QUEUE_MESSAGES: usize = 65_536;
/// How often at most drops are logged.
pub const DROP_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// When a file is closed and the next one started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Payload bytes per file (0: no size limit).
    pub max_bytes: u64,
    /// Seconds of log time per file (0: no duration limit).
    pub max_seconds: u64,
}

impl Rotation {
    /// True if a file that started at `first` and holds `bytes` must be closed before a message
    /// at `log_time` is written.
    pub fn due(&self, first: u64, log_time: u64, bytes: u64) -> bool {
        (self.max_bytes > 0 && bytes >= self.max_bytes)
            || (self.max_seconds > 0
                && log_time.saturating_sub(first) >= self.max_seconds.saturating_mul(1_000_000_000))
    }
}

struct Shared {
    queued_bytes: AtomicUsize,
    dropped: AtomicU64,
}

/// The running continuous recorder.
pub struct Continuous {
    tx: Mutex<Option<SyncSender<Entry>>>,
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Continuous {
    /// Start the writer thread.
    pub fn start(dir: RecordingsDir, rotation: Rotation) -> Result<Self, RecordError> {
        let (tx, rx) = sync_channel(QUEUE_MESSAGES);
        let shared = Arc::new(Shared {
            queued_bytes: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || write_loop(rx, dir, rotation, thread_shared))
            .map_err(|e| RecordError::Io {
                what: "cannot start the recorder thread".into(),
                source: e,
            })?;
        Ok(Continuous {
            tx: Mutex::new(Some(tx)),
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queue a message; drops (and counts) it if the writer is behind by a bound.
    pub fn push(&self, entry: Entry) {
        let len = entry.payload.len();
        let queued = self.shared.queued_bytes.fetch_add(len, Ordering::AcqRel);
        let ok = queued + len <= QUEUE_BYTES
            && match self.tx.lock().as_ref().map(|tx| tx.try_send(entry)) {
                Some(Ok(())) => true,
                Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => false,
            };
        if !ok {
            self.shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Messages dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Close the queue, let the writer finish its file, wait for it.
    pub fn stop(&self) {
        self.tx.lock().take();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl Drop for Continuous {
    fn drop(&mut self) {
        self.stop();
    }
}

struct OpenFile {
    name: String,
    writer: Ros2Writer<BufWriter<std::fs::File>>,
    part: PathBuf,
    done: PathBuf,
    first: u64,
}

fn write_loop(rx: Receiver<Entry>, dir: RecordingsDir, rotation: Rotation, shared: Arc<Shared>) {
    let mut file: Option<OpenFile> = None;
    let mut last_drop_log = Instant::now();
    let mut dropped_logged = 0;
    loop {
        let entry = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => {
                report_drops(&shared, &mut last_drop_log, &mut dropped_logged);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        shared
            .queued_bytes
            .fetch_sub(entry.payload.len(), Ordering::AcqRel);
        if let Some(f) = &file {
            if rotation.due(f.first, entry.log_time, f.writer.written().1) {
                if let Some(f) = file.take() {
                    close(f);
                }
            }
        }
        if file.is_none() {
            match open(&dir, entry.log_time) {
                Ok(f) => file = Some(f),
                Err(e) => {
                    tracing::error!("continuous recording: {e}");
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
        }
        if let Some(f) = &mut file {
            let r = f
                .writer
                .channel(&ChannelSpec::from_channel(&entry.channel))
                .and_then(|id| {
                    f.writer
                        .write(id, entry.log_time, entry.publish_time, &entry.payload)
                });
            if let Err(e) = r {
                tracing::error!(file = %f.name, "continuous recording: {e}; starting a new file");
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                file = None;
            }
        }
        report_drops(&shared, &mut last_drop_log, &mut dropped_logged);
    }
    if let Some(f) = file.take() {
        close(f);
    }
}

fn report_drops(shared: &Shared, last: &mut Instant, logged: &mut u64) {
    let dropped = shared.dropped.load(Ordering::Relaxed);
    if dropped > *logged && last.elapsed() >= DROP_LOG_INTERVAL {
        tracing::warn!(
            dropped_total = dropped,
            "continuous recording dropped {} message(s): the disk is not keeping up \
             (queue bounds: {QUEUE_MESSAGES} messages, {QUEUE_BYTES} bytes)",
            dropped - *logged
        );
        *logged = dropped;
        *last = Instant::now();
    }
}

fn open(dir: &RecordingsDir, first: u64) -> Result<OpenFile, RecordError> {
    let (name, f, part, done) = dir.create("recording", crate::ros::now_ns())?;
    let writer = Ros2Writer::new(BufWriter::new(f))?;
    tracing::info!(%name, "continuous recording: new file");
    Ok(OpenFile {
        name,
        writer,
        part,
        done,
        first,
    })
}

fn close(f: OpenFile) {
    let name = f.name.clone();
    let (messages, _) = f.writer.written();
    let r = f.writer.finish().and_then(|out| {
        let file = out.into_inner().map_err(|e| RecordError::Io {
            what: "cannot write".into(),
            source: e.into_error(),
        })?;
        let _ = file.sync_all();
        std::fs::rename(&f.part, &f.done).map_err(|e| RecordError::Io {
            what: "cannot rename".into(),
            source: e,
        })
    });
    match r {
        Ok(()) => tracing::info!(%name, messages, "continuous recording: file complete"),
        Err(e) => tracing::error!(%name, "continuous recording: cannot finish the file: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_rule() {
        let r = Rotation {
            max_bytes: 100,
            max_seconds: 10,
        };
        assert!(!r.due(0, 5_000_000_000, 99));
        assert!(r.due(0, 5_000_000_000, 100));
        assert!(r.due(0, 10_000_000_000, 0));
        let off = Rotation {
            max_bytes: 0,
            max_seconds: 0,
        };
        assert!(!off.due(0, u64::MAX, u64::MAX));
    }

    #[test]
    fn rotates_into_several_complete_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RecordingsDir::open(tmp.path().to_path_buf()).unwrap();
        let c = Continuous::start(
            dir.clone(),
            Rotation {
                max_bytes: 0,
                max_seconds: 1,
            },
        )
        .unwrap();
        let ch = crate::record::ring::tests::channel(1, "/a", false);
        for i in 0..30u64 {
            c.push(Entry {
                channel: ch.clone(),
                log_time: i * 100_000_000,
                publish_time: i * 100_000_000,
                payload: bytes::Bytes::from_static(&[0, 1, 0, 0, 1, 0, 0, 0, b'x', 0]),
            });
        }
        c.stop();
        assert_eq!(c.dropped(), 0);
        let names = dir.list().unwrap();
        assert_eq!(names.len(), 3, "{names:?}");
        let mut total = 0;
        for n in names {
            let bytes = std::fs::read(dir.resolve(&n).unwrap()).unwrap();
            let s = mcap::Summary::read(&bytes).unwrap().unwrap();
            total += s.stats.unwrap().message_count;
        }
        assert_eq!(total, 30);
    }
}
