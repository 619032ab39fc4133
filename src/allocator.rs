//! The process's allocator (the binary's only; the library and its tests use the system one):
//! mimalloc, built from its bundled C sources by `libmimalloc-sys`, and the housekeeping that
//! makes it give memory back.
//!
//! Why: after a burst of large buffers (an attack, a big asset, a viewer that stalled on a point
//! cloud) glibc's malloc keeps the freed memory in its heap, because its mmap threshold grows
//! with every large free; the abuse tier measured RSS staying 60 MiB above the baseline 10 s
//! after the attacker left. mimalloc frees to the system after a short delay, but only when
//! the thread owning the memory runs a collection, and after an attack those threads go idle.
//! So every runtime worker collects its own heap when it parks (goes idle): a full collection
//! at most once a second, a light one (free pages handed back to the shared arena, no purge) at
//! most every 10 ms otherwise ([`on_park`]). The light one matters: with no traffic a parked
//! worker may not wake again for minutes, and whatever it freed after its last full collection
//! stayed with it (the abuse tier saw 26 MiB held 40 s after 10,000 viewers left). A task asks
//! for a program-wide collection every second, which purges the arena
//! ([`spawn_housekeeping`]), and idle blocking threads exit after [`BLOCKING_KEEP_ALIVE`].
//! Transparent huge pages are off (`no_thp`): they made an idle gateway's RSS 25 MiB instead of
//! 10.
//!
//! The only `unsafe` of the binary: calls into mimalloc's C API.

use std::cell::Cell;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often freed memory is handed back.
const COLLECT_EVERY: Duration = Duration::from_secs(1);
/// How often a parking worker hands its free pages to the arena between full collections.
const LIGHT_COLLECT_EVERY: Duration = Duration::from_millis(10);
/// How long an idle blocking thread (asset reads) lives; its heap goes back when it exits.
pub const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

thread_local! {
    static LAST_COLLECT: Cell<Option<Instant>> = const { Cell::new(None) };
    static LAST_LIGHT_COLLECT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// True (and `last` set to `now`) when `every` has passed since `last`.
fn due(
    last: &'static std::thread::LocalKey<Cell<Option<Instant>>>,
    now: Instant,
    every: Duration,
) -> bool {
    last.with(|last| {
        let due = last.get().is_none_or(|t| now.duration_since(t) >= every);
        if due {
            last.set(Some(now));
        }
        due
    })
}

/// For the runtime's `on_thread_park`: a worker going idle collects its own heap, fully at most
/// once every [`COLLECT_EVERY`], lightly at most every [`LIGHT_COLLECT_EVERY`] in between.
pub fn on_park() {
    let now = Instant::now();
    if due(&LAST_COLLECT, now, COLLECT_EVERY) {
        collect();
    } else if due(&LAST_LIGHT_COLLECT, now, LIGHT_COLLECT_EVERY) {
        collect_light();
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

/// Hand this thread's free pages back to the shared arena (whose memory the next full
/// collection, on any thread, returns to the system), without purging.
fn collect_light() {
    // SAFETY: as in `collect`; `false` asks for the non-forcing collection.
    unsafe { libmimalloc_sys::mi_collect(false) }
}

/// Return freed memory whose purge delay has passed, program-wide.
fn collect() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time; it
    // only walks mimalloc's own structures (the calling thread's heap and the global arenas).
    unsafe { libmimalloc_sys::mi_collect(true) }
}
