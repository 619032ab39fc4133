//! Recordings on the robot: the black box, continuous recording, playback, and the data backend
//! for Foxglove's remote data loader.
//!
//! # Layout
//!
//! - [`ring`]: the black box's memory (last `blackbox_seconds`, bounded by bytes), pure policy.
//! - [`mcap_out`]: the one MCAP writer (ROS 2 profile, zstd chunks, summary and indexes).
//! - [`continuous`]: `record:=true`, rotating files by size and duration on a writer thread.
//! - [`files`]: `recordings_dir`, file names, and peer-given names → paths that never leave it.
//! - [`mcap_in`]: reading a recording through its summary and index with bounded memory.
//! - [`player`]: `--play FILE.mcap` — a recording served as a live graph, with Foxglove's
//!   `playbackControl` (play, pause, seek, speed) and `time`.
//! - [`data_backend`] (+ [`manifest`]): the HTTP endpoint the remote data loader asks for a
//!   manifest and for MCAP of a time range.
//!
//! # How recording hooks into the gateway
//!
//! The [`Recorder`] counts as one more subscriber of every channel whose topic matches
//! `blackbox_topic_whitelist` while the black box or continuous recording is on: the hub keeps
//! those channels' single ROS subscription alive with no viewer, and the router hands each
//! message to a [`Tap`] next to the viewers' outboxes. The tap stores the same shared `Bytes` the
//! viewers get (no copy) in the ring, and queues it for the continuous writer; with recording
//! off there is no tap and the fast path is unchanged. Saving is triggered by the service
//! [`SAVE_SERVICE`] (`std_srvs/srv/Trigger`), which the hub offers both on the gateway's ROS
//! node and to viewers (Foxglove's Service Call panel), answering with the file's name only.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::config::{Config, Patterns};
use crate::hub::ChannelInfo;

pub mod continuous;
pub mod data_backend;
pub mod files;
pub mod manifest;
pub mod mcap_in;
pub mod mcap_out;
pub mod player;
pub mod ring;

pub use files::RecordingsDir;
use mcap_out::{ChannelSpec, Ros2Writer};
use ring::{Entry, Ring};

/// The black box save service on the gateway's node (and offered to viewers).
pub const SAVE_SERVICE: &str = "/foxglove_gateway/save_blackbox";
/// Its type.
pub const SAVE_SERVICE_TYPE: &str = "std_srvs/srv/Trigger";

/// Why a recording operation failed. The text is fit for a viewer: it names files, never paths
/// (except [`RecordError::Io`]'s `what`, which only the robot's log sees).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Reading or writing MCAP failed.
    #[error("MCAP: {0}")]
    Mcap(#[from] mcap::McapError),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (may name a path: for the robot's log).
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A recording name that is not acceptable (see [`files`]); the name is kept for the log
    /// only: a peer is not shown what it sent (it may be a path).
    #[error(
        "invalid recording name: a recording is named by its file name in recordings_dir          (letters, digits, '.', '_', '-'), without a path"
    )]
    BadName(String),
    /// No such recording.
    #[error("no recording named {0:?}")]
    NotFound(String),
    /// The file cannot be used (truncated, no index, over a bound).
    #[error("{0}")]
    Unusable(String),
    /// The black box is off or empty.
    #[error("{0}")]
    Nothing(String),
    /// A save is already running.
    #[error("a black box save is already in progress")]
    Busy,
}

impl RecordError {
    /// The message for a peer: no paths.
    pub fn for_peer(&self) -> String {
        match self {
            RecordError::Io { source, .. } => format!("file error: {source}"),
            other => other.to_string(),
        }
    }
}

/// Where the router hands a recorded channel's messages.
#[derive(Clone)]
pub struct Tap {
    /// The recorder.
    pub recorder: Arc<Recorder>,
    /// The channel the route belongs to.
    pub channel: Arc<ChannelInfo>,
}

impl Tap {
    /// Record one message (called on the backend's thread; never blocks on I/O).
    #[inline]
    pub fn record(&self, log_time: u64, publish_time: u64, payload: &Bytes) {
        self.recorder
            .record(&self.channel, log_time, publish_time, payload);
    }
}

/// A finished black box save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The recording's name (file name without `.mcap`).
    pub name: String,
    /// Messages written.
    pub messages: u64,
    /// Log time of the first and last message of the window.
    pub window: Option<(u64, u64)>,
}

/// The black box and continuous recording of one gateway.
pub struct Recorder {
    topics: Patterns,
    dir: RecordingsDir,
    blackbox_seconds: u64,
    ring: Option<Mutex<Ring>>,
    continuous: Option<continuous::Continuous>,
    saving: AtomicBool,
    recorded: AtomicU64,
}

impl Recorder {
    /// The recorder `config` asks for, or `None` when neither `blackbox_seconds` nor `record` is
    /// set.
    pub fn from_config(config: &Config) -> Result<Option<Arc<Recorder>>, RecordError> {
        if config.blackbox_seconds == 0 && !config.record {
            return Ok(None);
        }
        let dir = RecordingsDir::open(files::default_dir(&config.recordings_dir))?;
        let ring = (config.blackbox_seconds > 0).then(|| {
            Mutex::new(Ring::new(
                config.blackbox_seconds.saturating_mul(1_000_000_000),
                config.blackbox_max_bytes,
            ))
        });
        let continuous = if config.record {
            Some(continuous::Continuous::start(
                dir.clone(),
                continuous::Rotation {
                    max_bytes: config.record_max_file_bytes,
                    max_seconds: config.record_max_file_seconds,
                },
            )?)
        } else {
            None
        };
        tracing::info!(
            dir = %dir.path().display(),
            blackbox_seconds = config.blackbox_seconds,
            blackbox_max_bytes = config.blackbox_max_bytes,
            record = config.record,
            "recording on"
        );
        Ok(Some(Arc::new(Recorder {
            topics: config.blackbox_topic_whitelist.clone(),
            dir,
            blackbox_seconds: config.blackbox_seconds,
            ring,
            continuous,
            saving: AtomicBool::new(false),
            recorded: AtomicU64::new(0),
        })))
    }

    /// True if the channel of `topic` is recorded.
    pub fn wants(&self, topic: &str) -> bool {
        self.topics.matches(topic)
    }

    /// True if the black box is on (the save service is offered).
    pub fn blackbox_on(&self) -> bool {
        self.ring.is_some()
    }

    /// The recordings directory.
    pub fn dir(&self) -> &RecordingsDir {
        &self.dir
    }

    /// Messages handed to the recorder so far.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }

    /// One message of a recorded channel: into the ring, and queued for the continuous writer.
    pub fn record(
        &self,
        channel: &Arc<ChannelInfo>,
        log_time: u64,
        publish_time: u64,
        payload: &Bytes,
    ) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            channel: channel.clone(),
            log_time,
            publish_time,
            payload: payload.clone(),
        };
        if let Some(c) = &self.continuous {
            c.push(entry.clone());
        }
        if let Some(ring) = &self.ring {
            ring.lock().push(entry);
        }
    }

    /// A channel left the graph.
    pub fn channel_removed(&self, channel: u64) {
        if let Some(ring) = &self.ring {
            ring.lock().forget_latched(channel);
        }
    }

    /// Write the black box to a new file in `recordings_dir`. Blocking (file I/O): call it from
    /// a blocking thread. One save at a time.
    pub fn save_blackbox(&self) -> Result<Saved, RecordError> {
        let Some(ring) = &self.ring else {
            return Err(RecordError::Nothing(
                "the black box is off (set blackbox_seconds)".into(),
            ));
        };
        if self.saving.swap(true, Ordering::AcqRel) {
            return Err(RecordError::Busy);
        }
        let result = (|| {
            let (snapshot, evicted) = {
                let r = ring.lock();
                (r.snapshot(), r.evicted_for_bytes())
            };
            if snapshot.window.is_empty() {
                return Err(RecordError::Nothing(format!(
                    "the black box is empty: no message on a recorded topic in the last {} s",
                    self.blackbox_seconds
                )));
            }
            let (name, file, part, done) = self.dir.create("blackbox", crate::ros::now_ns())?;
            let io = |what: &str, source| RecordError::Io {
                what: format!("{what} {}", part.display()),
                source,
            };
            let mut w = Ros2Writer::new(std::io::BufWriter::new(file))?;
            let start = snapshot.window_start().unwrap_or(0);
            for e in snapshot.latched.iter().chain(snapshot.window.iter()) {
                let id = w.channel(&ChannelSpec::from_channel(&e.channel))?;
                // Transient-local messages older than the window are written at its start, so
                // the file's time range is the window while /tf_static and the like are in it.
                w.write(id, e.log_time.max(start), e.publish_time, &e.payload)?;
            }
            let (messages, _) = w.written();
            let window = w.time_range();
            let out = w.finish()?;
            let file = out
                .into_inner()
                .map_err(|e| io("cannot write", e.into_error()))?;
            file.sync_all().map_err(|e| io("cannot sync", e))?;
            std::fs::rename(&part, &done).map_err(|e| io("cannot rename", e))?;
            tracing::info!(%name, messages, evicted_for_bytes = evicted, "black box saved");
            Ok(Saved {
                name,
                messages,
                window,
            })
        })();
        self.saving.store(false, Ordering::Release);
        result
    }

    /// Finish the continuous recording's current file (shutdown). Waits for the writer thread.
    pub fn shutdown(&self) {
        if let Some(c) = &self.continuous {
            c.stop();
        }
    }
}
