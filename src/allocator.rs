//! The process's allocator (the binary's only; the library and its tests use the system one):
//! mimalloc, built from its bundled C sources by `libmimalloc-sys`, and the housekeeping that
//! makes it give memory back.
//!
//! Why: after a burst of large buffers (an attack, a big asset, a viewer that stalled on a point
//! cloud) glibc's malloc keeps the freed memory in its heap, because its mmap threshold grows
//! with every large free; the abuse tier measured RSS staying 60 MiB above the baseline 10 s
//! after the attacker left. mimalloc frees to the system after a short delay, but only when
//! the thread owning the memory runs a collection, and after an attack those threads go idle.
//! So every runtime worker collects its own heap when it parks (goes idle), at most once a
//! second ([`on_park`]), a task asks for a program-wide collection every second
//! ([`spawn_housekeeping`]), and idle blocking threads exit after [`BLOCKING_KEEP_ALIVE`].
//! Transparent huge pages are off (`no_thp`): they made an idle gateway's RSS 25 MiB instead of
//! 10.
//!
//! The only `unsafe` of the binary: one call into mimalloc's C API.

use std::cell::Cell;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often freed memory is handed back.
const COLLECT_EVERY: Duration = Duration::from_secs(1);
/// How long an idle blocking thread (asset reads) lives; its heap goes back when it exits.
pub const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

thread_local! {
    static LAST_COLLECT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// For the runtime's `on_thread_park`: a worker going idle collects its own heap, at most once
/// every [`COLLECT_EVERY`].
pub fn on_park() {
    let now = Instant::now();
    let due = LAST_COLLECT.with(|last| {
        let due = last
            .get()
            .is_none_or(|t| now.duration_since(t) >= COLLECT_EVERY);
        if due {
            last.set(Some(now));
        }
        due
    });
    if due {
        collect();
    }
}

/// Start the collection task on the current runtime.
pub fn spawn_housekeeping() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(COLLECT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            collect();
        }
    });
}

/// Return freed memory whose purge delay has passed, program-wide.
fn collect() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time; it
    // only walks mimalloc's own structures (the calling thread's heap and the global arenas).
    unsafe { libmimalloc_sys::mi_collect(true) }
}
