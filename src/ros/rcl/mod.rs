//! The foreign boundary to ROS 2's C libraries (rcl, rmw, rosidl) through `r2r_rcl`'s
//! bindings. **This is the only module of the crate that contains `unsafe`**: the crate denies
//! `unsafe_code` everywhere else (`lib.rs`).
//!
//! # Why the gateway owns its rcl node instead of using r2r's `Node`
//!
//! A bridge must handle every type installed on the robot, appear in the graph as one node, and
//! never lose a message inside itself. r2r 0.9.7 cannot give us that:
//!
//! - its untyped and raw entry points only know the types generated into the build (every
//!   interface package on `AMENT_PREFIX_PATH` at compile time); a robot's own packages, built
//!   later, cannot be subscribed, published or called;
//! - it keeps `rcl_node_t` and `rcl_context_t` crate-private, so anything r2r lacks (the node
//!   list, service list, subscriber info, `rcl_logging_rosout_init_publisher_for_node` that
//!   Jazzy's client libraries must call, serialized take with message info) needs a *second*
//!   node, which shows up in `ros2 node list` and carries none of the gateway's endpoints;
//! - raw subscriptions feed a ~10-message channel filled with `try_send` (silent drops) and are
//!   only torn down when their next message arrives, so a departed topic stays in the graph.
//!
//! So the gateway creates its context and its one node here, through `r2r_rcl` (the bindings r2r
//! itself uses), and loads type support at runtime the way rclpy and rosbag2 do: the ament index
//! names the package prefix, `lib<pkg>__rosidl_typesupport_c.so` is opened with `libloading` and
//! asked for `rosidl_typesupport_c__get_message_type_support_handle__<pkg>__<kind>__<Type>`.
//! Subscriptions take serialized CDR (no per-type code at all); publishers publish serialized
//! CDR; service clients and servers use the introspection type support only to allocate the
//! request/response structs that rcl's service API insists on, and `rmw_serialize` /
//! `rmw_deserialize` to turn them into CDR and back. What r2r did for us before (parameter
//! services, logging, `/clock`) is small and now lives in the safe backend on top of this
//! module; r2r's build-time code generation is gone with it, so `colcon build` compiles the same
//! thing whatever is sourced.
//!
//! # Rules inside this module
//!
//! - One owner: [`RclNode`] owns the context, the node and every entity created on it, and
//!   finalises them in the right order (entities, rosout publisher, node, guard condition,
//!   context) in `Drop`. Entities are addressed by plain ids, so no entity can outlive its node.
//! - Everything rcl hands out is copied into owned Rust values, and rcl's memory is released, on
//!   every path before a function returns. Messages taken from the middleware become [`Bytes`]
//!   that own their rcutils buffer (freed when the last viewer is done with it).
//! - `RclNode` is used on one thread (the ROS thread) and is deliberately not `Send`; the only
//!   thing other threads get is a [`Waker`], which triggers a guard condition (thread-safe in rcl)
//!   under a lock that shutdown takes before finalising it.
//! - Every `unsafe` block states why it is sound.
//!
//! [`Bytes`]: bytes::Bytes

use std::ffi::{CStr, CString};
use std::os::raw::c_char;

use r2r_rcl::*;

use super::{Durability, Qos, Reliability};

mod graph;
mod log;
mod node;
mod params;
mod typesupport;

pub use graph::{EndpointInfo, NamesAndTypes};
pub use log::{is_enabled, log, set_level, Severity};
pub use node::{
    ClientId, RclNode, Ready, RequestHeader, ServiceId, SubscriptionId, TakenMessage, Waker,
};
pub use node::{EntityError, PublisherId};
pub use typesupport::{TypeSupportError, TypeSupportLibrary};

/// Serialises what rcl keeps in process-wide state without locking it: context and node set-up
/// and tear-down (the `/rosout` publishers live in a global table that creating and destroying a
/// node edits) and logging (rcl's `/rosout` handler reads that table). rclcpp and rclpy hold a
/// global logging mutex for the same reason. Reentrant: rcl may log while a node is being
/// created, and a log call may come from the thread that holds the lock.
static GLOBAL: parking_lot::ReentrantMutex<()> = parking_lot::const_reentrant_mutex(());

/// An rcl call that failed: the function, its return code and rcutils' error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed: {message} (rcl return code {code})")]
pub struct RclError {
    /// The rcl/rmw function.
    pub call: &'static str,
    /// Its return code.
    pub code: i32,
    /// rcutils' error string at the time (may be empty).
    pub message: String,
}

/// `Ok` for `RCL_RET_OK`, else the error with rcutils' message (which is then reset, as rcl
/// expects callers to do).
fn check(call: &'static str, code: rcl_ret_t) -> Result<(), RclError> {
    if code == RCL_RET_OK as rcl_ret_t {
        return Ok(());
    }
    Err(RclError {
        call,
        code,
        message: take_error_string(),
    })
}

/// rcutils' thread-local error message, reset afterwards.
fn take_error_string() -> String {
    // SAFETY: both functions only touch rcutils' thread-local error state; the returned struct
    // holds a NUL-terminated copy of the message (rcutils guarantees termination within it).
    unsafe {
        let e = rcutils_get_error_string();
        let text = CStr::from_ptr(e.str_.as_ptr())
            .to_string_lossy()
            .into_owned();
        rcutils_reset_error();
        text
    }
}

/// A C string for rcl from text that may come from a viewer: an interior NUL is refused rather
/// than silently truncating a topic name.
fn c_string(what: &'static str, s: &str) -> Result<CString, RclError> {
    CString::new(s).map_err(|_| RclError {
        call: what,
        code: RCL_RET_INVALID_ARGUMENT as i32,
        message: format!("{s:?} contains a NUL byte"),
    })
}

/// Copy a C string rcl handed us; `None` for a null pointer.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string valid for the duration of the call.
unsafe fn owned(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Copy an rcutils string array.
///
/// # Safety
/// `a` must be an initialised `rcutils_string_array_t` as rcl fills them (`size` entries, each
/// null or NUL-terminated).
unsafe fn strings(a: &rcutils_string_array_t) -> Vec<String> {
    if a.data.is_null() {
        return Vec::new();
    }
    (0..a.size)
        // SAFETY: `data` holds `size` entries per the contract.
        .filter_map(|i| unsafe { owned(*a.data.add(i)) })
        .collect()
}

/// Copy an rcl names-and-types result to `name → types`.
///
/// # Safety
/// `nt` must have been filled by a successful rcl `get_*_names_and_types*` call.
unsafe fn names_and_types(
    nt: &rcl_names_and_types_t,
) -> std::collections::BTreeMap<String, Vec<String>> {
    // SAFETY: filled by rcl per the contract.
    let names = unsafe { strings(&nt.names) };
    let mut out = std::collections::BTreeMap::new();
    for (i, name) in names.into_iter().enumerate() {
        let types = if nt.types.is_null() {
            Vec::new()
        } else {
            // SAFETY: rcl allocates one type array per name, `names.size` of them.
            unsafe { strings(&*nt.types.add(i)) }
        };
        out.insert(name, types);
    }
    out
}

/// `/ns` + `name` → `/ns/name` (`/` + `name` → `/name`).
pub fn join_node_name(namespace: &str, name: &str) -> String {
    if namespace.ends_with('/') {
        format!("{namespace}{name}")
    } else {
        format!("{namespace}/{name}")
    }
}

/// Our QoS onto an rmw profile that starts as rmw's default (so fields this code does not set,
/// and fields a newer distro adds, keep their defaults).
fn apply_qos(profile: &mut rmw_qos_profile_t, q: Qos) {
    profile.history = rmw_qos_history_policy_t::RMW_QOS_POLICY_HISTORY_KEEP_LAST;
    profile.depth = usize::try_from(q.depth.max(1)).unwrap_or(usize::MAX);
    profile.reliability = match q.reliability {
        Reliability::Reliable => rmw_qos_reliability_policy_t::RMW_QOS_POLICY_RELIABILITY_RELIABLE,
        Reliability::BestEffort => {
            rmw_qos_reliability_policy_t::RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT
        }
        Reliability::Unknown => {
            rmw_qos_reliability_policy_t::RMW_QOS_POLICY_RELIABILITY_SYSTEM_DEFAULT
        }
    };
    profile.durability = match q.durability {
        Durability::TransientLocal => {
            rmw_qos_durability_policy_t::RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL
        }
        Durability::Volatile => rmw_qos_durability_policy_t::RMW_QOS_POLICY_DURABILITY_VOLATILE,
        Durability::Unknown => {
            rmw_qos_durability_policy_t::RMW_QOS_POLICY_DURABILITY_SYSTEM_DEFAULT
        }
    };
}

/// An rmw profile as our QoS. Wildcard arms: newer distros add policies (`BEST_AVAILABLE`).
fn from_rmw_qos(p: &rmw_qos_profile_t) -> Qos {
    Qos {
        reliability: match p.reliability {
            rmw_qos_reliability_policy_t::RMW_QOS_POLICY_RELIABILITY_RELIABLE => {
                Reliability::Reliable
            }
            rmw_qos_reliability_policy_t::RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT => {
                Reliability::BestEffort
            }
            #[allow(unreachable_patterns)]
            _ => Reliability::Unknown,
        },
        durability: match p.durability {
            rmw_qos_durability_policy_t::RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL => {
                Durability::TransientLocal
            }
            rmw_qos_durability_policy_t::RMW_QOS_POLICY_DURABILITY_VOLATILE => Durability::Volatile,
            #[allow(unreachable_patterns)]
            _ => Durability::Unknown,
        },
        depth: u32::try_from(p.depth).unwrap_or(u32::MAX),
    }
}

/// The QoS rcl's service clients and servers use by default (`rmw_qos_profile_services_default`:
/// reliable, volatile, keep last 10).
pub fn services_qos() -> Qos {
    Qos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        depth: 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile with every policy at "system default" (all-zero), without calling rcl, so
    /// these tests link without ROS (`scripts/check-ros2.sh`).
    fn default_profile() -> rmw_qos_profile_t {
        // SAFETY: every field is an integer, a `repr(u32)` enum whose 0 is SYSTEM_DEFAULT, a
        // `rmw_time_t` or a bool: all-zero is a valid value for each.
        unsafe { std::mem::zeroed() }
    }

    #[test]
    fn qos_round_trips_through_rmw() {
        for reliability in [Reliability::Reliable, Reliability::BestEffort] {
            for durability in [Durability::TransientLocal, Durability::Volatile] {
                let q = Qos {
                    reliability,
                    durability,
                    depth: 7,
                };
                let mut p = default_profile();
                apply_qos(&mut p, q);
                assert_eq!(from_rmw_qos(&p), q);
            }
        }
        let mut p = default_profile();
        apply_qos(
            &mut p,
            Qos {
                reliability: Reliability::Unknown,
                durability: Durability::Unknown,
                depth: 0,
            },
        );
        assert_eq!(p.depth, 1, "keep_last(0) is never asked for");
        let q = from_rmw_qos(&p);
        assert_eq!(q.reliability, Reliability::Unknown);
        assert_eq!(q.durability, Durability::Unknown);
    }

    #[test]
    fn node_names_join() {
        assert_eq!(join_node_name("/", "talker"), "/talker");
        assert_eq!(join_node_name("/robot1", "talker"), "/robot1/talker");
    }

    #[test]
    fn nul_in_names_is_refused() {
        assert!(c_string("topic", "/a\0b").is_err());
        assert_eq!(c_string("topic", "/ab").unwrap().as_bytes(), b"/ab");
    }
}
