//! Graph queries r2r 0.9.7 lacks: the node list, the service list with providers, and the
//! subscribers of a topic. The only `unsafe` in the crate lives here.
//!
//! r2r keeps its `rcl_node_t` and `rcl_context_t` crate-private, so this module initialises its
//! own rcl context (reading `ROS_DOMAIN_ID` and the rmw like any node, but no `--ros-args`) and a
//! hidden node (`_foxglove_gateway_graph`, no `/rosout`) that only asks the graph cache. It is
//! created, used and dropped on the ROS thread, like r2r's node.
//!
//! Every call copies what rcl returns into owned Rust values and releases rcl's memory before
//! returning, on every path.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;

use r2r_rcl::*;

use super::graph::is_hidden;
use super::{GraphSnapshot, ServiceInfo, TopicSubscribers};

/// A graph query that failed; the text names the rcl call and its return code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed (rcl return code {code})")]
pub struct GraphError {
    /// The rcl function.
    pub call: &'static str,
    /// Its return code.
    pub code: i32,
}

fn check(call: &'static str, code: rcl_ret_t) -> Result<(), GraphError> {
    if code == RCL_RET_OK as rcl_ret_t {
        Ok(())
    } else {
        Err(GraphError { call, code })
    }
}

/// Copy a C string rcl handed us; `None` for a null pointer.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string that stays valid for the call.
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
/// `a` must be a valid, initialised `rcutils_string_array_t` (as rcl fills them).
unsafe fn strings(a: &rcutils_string_array_t) -> Vec<String> {
    if a.data.is_null() {
        return Vec::new();
    }
    (0..a.size)
        // SAFETY: `data` holds `size` entries, each null or a NUL-terminated string.
        .filter_map(|i| unsafe { owned(*a.data.add(i)) })
        .collect()
}

/// Copy an rcl names-and-types result to `name → types`.
///
/// # Safety
/// `nt` must have been filled by a successful rcl `get_*_names_and_types*` call.
unsafe fn names_and_types(nt: &rcl_names_and_types_t) -> BTreeMap<String, Vec<String>> {
    // SAFETY: filled by rcl per the contract.
    let names = unsafe { strings(&nt.names) };
    let mut out = BTreeMap::new();
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

fn join(namespace: &str, name: &str) -> String {
    if namespace.ends_with('/') {
        format!("{namespace}{name}")
    } else {
        format!("{namespace}/{name}")
    }
}

/// A hidden rcl node on its own context, for graph queries.
pub struct GraphNode {
    context: Box<rcl_context_t>,
    node: Box<rcl_node_t>,
}

impl GraphNode {
    /// Initialise the context and the hidden node.
    pub fn new() -> Result<GraphNode, GraphError> {
        let name = CString::new("_foxglove_gateway_graph").unwrap_or_default();
        let namespace = CString::new("/").unwrap_or_default();
        // SAFETY: zero-initialised structs are the documented starting state; each init is
        // checked and, on failure, what was initialised so far is finalised before returning.
        // The context and node are boxed so the addresses rcl keeps stay fixed.
        unsafe {
            let mut options = rcl_get_zero_initialized_init_options();
            check(
                "rcl_init_options_init",
                rcl_init_options_init(&mut options, rcutils_get_default_allocator()),
            )?;
            let mut context = Box::new(rcl_get_zero_initialized_context());
            let init = rcl_init(0, std::ptr::null(), &options, context.as_mut());
            rcl_init_options_fini(&mut options);
            if let Err(e) = check("rcl_init", init) {
                rcl_context_fini(context.as_mut());
                return Err(e);
            }
            let mut node = Box::new(rcl_get_zero_initialized_node());
            let mut node_options = rcl_node_get_default_options();
            node_options.enable_rosout = false;
            let r = rcl_node_init(
                node.as_mut(),
                name.as_ptr(),
                namespace.as_ptr(),
                context.as_mut(),
                &node_options,
            );
            if let Err(e) = check("rcl_node_init", r) {
                rcl_shutdown(context.as_mut());
                rcl_context_fini(context.as_mut());
                return Err(e);
            }
            Ok(GraphNode { context, node })
        }
    }

    /// Fully qualified names of every node in the graph (this hidden one left out), sorted.
    pub fn node_names(&self) -> Result<Vec<String>, GraphError> {
        // SAFETY: `self.node` is a valid initialised node; the two arrays start zeroed, are
        // filled by rcl, copied, and finalised on every path.
        unsafe {
            let mut names = rcutils_get_zero_initialized_string_array();
            let mut namespaces = rcutils_get_zero_initialized_string_array();
            let r = rcl_get_node_names(
                self.node.as_ref(),
                rcutils_get_default_allocator(),
                &mut names,
                &mut namespaces,
            );
            let result = check("rcl_get_node_names", r).map(|()| {
                let n = strings(&names);
                let ns = strings(&namespaces);
                let mut out: Vec<String> = n
                    .iter()
                    .zip(ns.iter())
                    .filter(|(n, _)| !n.starts_with('_'))
                    .map(|(n, ns)| join(ns, n))
                    .collect();
                out.sort();
                out.dedup();
                out
            });
            rcutils_string_array_fini(&mut names);
            rcutils_string_array_fini(&mut namespaces);
            result
        }
    }

    /// Services provided by one node: name → types.
    pub fn services_of(&self, node_fqn: &str) -> Result<BTreeMap<String, Vec<String>>, GraphError> {
        let (ns, name) = match node_fqn.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((ns, name)) => (ns, name),
            None => ("/", node_fqn),
        };
        let (Ok(ns), Ok(name)) = (CString::new(ns), CString::new(name)) else {
            return Ok(BTreeMap::new());
        };
        // SAFETY: valid node and NUL-terminated strings; the result starts zeroed, is copied,
        // and finalised on every path.
        unsafe {
            let mut allocator = rcutils_get_default_allocator();
            let mut nt = rmw_get_zero_initialized_names_and_types();
            let r = rcl_get_service_names_and_types_by_node(
                self.node.as_ref(),
                &mut allocator,
                name.as_ptr(),
                ns.as_ptr(),
                &mut nt,
            );
            let result =
                check("rcl_get_service_names_and_types_by_node", r).map(|()| names_and_types(&nt));
            rcl_names_and_types_fini(&mut nt);
            result
        }
    }

    /// Nodes subscribed to `topic` (fully qualified, sorted, this hidden one left out).
    pub fn subscribers(&self, topic: &str) -> Result<Vec<String>, GraphError> {
        let Ok(topic) = CString::new(topic) else {
            return Ok(Vec::new());
        };
        // SAFETY: valid node and topic string; the array starts zeroed, is copied (each entry's
        // strings are owned by the array), and finalised on every path.
        unsafe {
            let mut allocator = rcutils_get_default_allocator();
            let mut infos = rmw_get_zero_initialized_topic_endpoint_info_array();
            let r = rcl_get_subscriptions_info_by_topic(
                self.node.as_ref(),
                &mut allocator,
                topic.as_ptr(),
                false,
                &mut infos,
            );
            let result = check("rcl_get_subscriptions_info_by_topic", r).map(|()| {
                let mut out = Vec::new();
                if !infos.info_array.is_null() {
                    for i in 0..infos.size {
                        let info = &*infos.info_array.add(i);
                        let name = owned(info.node_name).unwrap_or_default();
                        let ns = owned(info.node_namespace).unwrap_or_else(|| "/".into());
                        if !name.is_empty() && !name.starts_with('_') {
                            out.push(join(&ns, &name));
                        }
                    }
                }
                out.sort();
                out.dedup();
                out
            });
            rmw_topic_endpoint_info_array_fini(&mut infos, &mut allocator);
            result
        }
    }
}

impl GraphNode {
    /// Fill in the nodes, services (with providers) and subscribers of a snapshot whose topics
    /// are set. A query that fails leaves its part out (logged at debug).
    pub fn fill_snapshot(&self, snapshot: &mut GraphSnapshot, include_hidden: bool) {
        let g = self;
        match g.node_names() {
            Ok(nodes) => snapshot.nodes = nodes,
            Err(e) => tracing::debug!("cannot list nodes: {e}"),
        }
        let mut services: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for node in &snapshot.nodes {
            let Ok(list) = g.services_of(node) else {
                continue;
            };
            for (name, types) in list {
                if !include_hidden && is_hidden(&name) {
                    continue;
                }
                let Some(type_name) = types.into_iter().next() else {
                    continue;
                };
                services
                    .entry(name)
                    .or_insert_with(|| (type_name, Vec::new()))
                    .1
                    .push(node.clone());
            }
        }
        snapshot.services = services
            .into_iter()
            .map(|(name, (type_name, mut providers))| {
                providers.sort();
                providers.dedup();
                ServiceInfo {
                    name,
                    type_name,
                    providers,
                }
            })
            .collect();
        let mut topics: Vec<&str> = snapshot.topics.iter().map(|t| t.name.as_str()).collect();
        topics.dedup();
        snapshot.subscriptions = topics
            .into_iter()
            .filter_map(|t| {
                let nodes = g.subscribers(t).ok()?;
                (!nodes.is_empty()).then(|| TopicSubscribers {
                    topic: t.to_string(),
                    nodes,
                })
            })
            .collect();
    }
}

impl Drop for GraphNode {
    fn drop(&mut self) {
        // SAFETY: both were initialised in `new` and are finalised exactly once, node first.
        unsafe {
            rcl_node_fini(self.node.as_mut());
            rcl_shutdown(self.context.as_mut());
            rcl_context_fini(self.context.as_mut());
        }
    }
}
