//! `tracing` events → rcutils logging under the node's logger, which prints them to the console
//! and publishes them on `/rosout` (where `ros2 launch`, rqt_console and Foxglove's Log panel see
//! them). On Jazzy the node's `/rosout` publisher exists because [`crate::ros::rcl::RclNode`]
//! creates it (rcl no longer does).
//!
//! The layer exists before the node does (the subscriber is installed first thing in `main`), so
//! until [`mark_ready`] names the logger, events are kept in a bounded buffer and replayed then.
//! If startup fails before that, [`flush_to_stderr`] prints what was kept.
//!
//! With this layer installed, rcutils already prints every event to the console; `main` should not
//! add a `fmt` layer in ROS mode or each line appears twice.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::ros::rcl;

/// Events kept before the node exists. Startup logs a handful; the cap only guards memory.
const MAX_PENDING: usize = 1000;

struct Pending {
    level: Level,
    message: String,
    file: String,
    line: u32,
}

#[derive(Default)]
struct State {
    logger: OnceLock<String>,
    pending: Mutex<Vec<Pending>>,
}

/// Show debug-level events (the `debug` parameter), as `--log-level debug` would.
pub(super) fn set_debug(logger: &str) {
    rcl::set_level(logger, rcl::Severity::Debug);
    DEBUG.store(true, Ordering::Relaxed);
}

/// Whether the node's logger shows DEBUG. Debug events pass the process's `tracing` filter (so
/// that `debug:=true` and `--log-level foxglove_gateway:=debug` can show them), and this keeps
/// them from costing more than a load while they are off.
static DEBUG: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread is inside rcutils logging: an event raised from in there (say via a
    /// `log`→`tracing` bridge) must not re-enter rcutils' logging.
    static IN_EMIT: Cell<bool> = const { Cell::new(false) };
}

/// One node per process, so one logger state.
fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(State::default)
}

/// A `tracing_subscriber` layer that forwards events to ROS logging (`/rosout`).
#[derive(Debug, Default, Clone, Copy)]
pub struct RosoutLayer;

impl RosoutLayer {
    /// The layer. Events are buffered until the node is up, then go to `/rosout`.
    pub fn new() -> Self {
        RosoutLayer
    }
}

impl<S: Subscriber> Layer<S> for RosoutLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let st = state();
        // Until the node exists its level is unknown: those few events are kept, and rcutils
        // filters them when they are replayed.
        if *event.metadata().level() > Level::INFO
            && st.logger.get().is_some()
            && !DEBUG.load(Ordering::Relaxed)
        {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let meta = event.metadata();
        let pending = Pending {
            level: *meta.level(),
            message: visitor.finish(),
            file: meta.file().unwrap_or("").to_string(),
            line: meta.line().unwrap_or(0),
        };
        if let Some(logger) = st.logger.get() {
            return emit(logger, &pending);
        }
        let mut q = st.pending.lock();
        // Checked again under the lock: `mark_ready` may have replayed the buffer meanwhile.
        match st.logger.get() {
            Some(logger) => emit(logger, &pending),
            None if q.len() < MAX_PENDING => q.push(pending),
            None => {}
        }
    }
}

/// Name the logger (the node's) and replay what was buffered. Called once the node exists.
pub(super) fn mark_ready(logger: &str) {
    let st = state();
    // Hold the buffer lock while setting the name, so no event can slip into the buffer after it
    // was replayed.
    let mut q = st.pending.lock();
    if rcl::is_enabled(logger, rcl::Severity::Debug) {
        DEBUG.store(true, Ordering::Relaxed);
    }
    let _ = st.logger.set(logger.to_string());
    let logger = st.logger.get().map(String::as_str).unwrap_or(logger);
    for p in q.drain(..) {
        emit(logger, &p);
    }
}

/// Print buffered events to stderr: startup failed before the node existed, and they would
/// otherwise be lost.
pub(super) fn flush_to_stderr() {
    for p in state().pending.lock().drain(..) {
        eprintln!("[{}] {}", p.level, p.message);
    }
}

fn emit(logger: &str, p: &Pending) {
    if IN_EMIT.with(|f| f.replace(true)) {
        // Re-entered from inside rcutils: print rather than deadlock.
        eprintln!("[{}] {}", p.level, p.message);
        return;
    }
    let severity = match p.level {
        Level::ERROR => rcl::Severity::Error,
        Level::WARN => rcl::Severity::Warn,
        Level::INFO => rcl::Severity::Info,
        _ => rcl::Severity::Debug,
    };
    rcl::log(logger, severity, &p.file, p.line, &p.message);
    IN_EMIT.with(|f| f.set(false));
}

/// The event's `message` followed by its other fields as `key=value`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_string()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_then_fields() {
        let v = MessageVisitor {
            message: "subscribed".into(),
            fields: " topic=/scan".into(),
        };
        assert_eq!(v.finish(), "subscribed topic=/scan");
        let v = MessageVisitor {
            message: String::new(),
            fields: " a=1".into(),
        };
        assert_eq!(v.finish(), "a=1");
    }
}
