//! Graph queries on the gateway's own node: topics, their publishers and subscribers with QoS,
//! nodes, and the services each node offers. Each call copies rcl's answer into owned values and
//! releases rcl's memory on every path.

use std::collections::BTreeMap;

use r2r_rcl::*;

use super::{c_string, check, from_rmw_qos, join_node_name, names_and_types, owned, strings};
use super::{RclError, RclNode};
use crate::ros::Qos;

/// `name → types`, as rcl lists topics and services.
pub type NamesAndTypes = BTreeMap<String, Vec<String>>;

/// One publisher or subscription on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    /// Fully qualified name of the node that owns it.
    pub node: String,
    /// The type it uses.
    pub type_name: String,
    /// Its QoS.
    pub qos: Qos,
}

/// Which endpoints of a topic.
#[derive(Debug, Clone, Copy)]
enum Side {
    Publishers,
    Subscriptions,
}

impl RclNode {
    /// Every topic with at least one endpoint in the graph (ours included), with its types.
    pub fn topic_names_and_types(&self) -> Result<NamesAndTypes, RclError> {
        // SAFETY: a valid node; the result starts zero-initialised, is copied, and finalised on
        // every path.
        unsafe {
            let mut allocator = rcutils_get_default_allocator();
            let mut nt = rmw_get_zero_initialized_names_and_types();
            let r = rcl_get_topic_names_and_types(self.node_ptr(), &mut allocator, false, &mut nt);
            let result = check("rcl_get_topic_names_and_types", r).map(|()| names_and_types(&nt));
            rcl_names_and_types_fini(&mut nt);
            result
        }
    }

    /// The publishers of `topic`.
    pub fn publishers_of(&self, topic: &str) -> Result<Vec<EndpointInfo>, RclError> {
        self.endpoints(topic, Side::Publishers)
    }

    /// The subscriptions of `topic`.
    pub fn subscriptions_of(&self, topic: &str) -> Result<Vec<EndpointInfo>, RclError> {
        self.endpoints(topic, Side::Subscriptions)
    }

    fn endpoints(&self, topic: &str, side: Side) -> Result<Vec<EndpointInfo>, RclError> {
        let c_topic = c_string("rcl_get_publishers_info_by_topic", topic)?;
        // SAFETY: a valid node and topic string; the array starts zero-initialised, each entry's
        // strings are owned by the array and copied out, and the array is finalised on every
        // path. QoS durations are copied as plain integers (no conversion that could assert).
        unsafe {
            let mut allocator = rcutils_get_default_allocator();
            let mut infos = rmw_get_zero_initialized_topic_endpoint_info_array();
            let (call, r) = match side {
                Side::Publishers => (
                    "rcl_get_publishers_info_by_topic",
                    rcl_get_publishers_info_by_topic(
                        self.node_ptr(),
                        &mut allocator,
                        c_topic.as_ptr(),
                        false,
                        &mut infos,
                    ),
                ),
                Side::Subscriptions => (
                    "rcl_get_subscriptions_info_by_topic",
                    rcl_get_subscriptions_info_by_topic(
                        self.node_ptr(),
                        &mut allocator,
                        c_topic.as_ptr(),
                        false,
                        &mut infos,
                    ),
                ),
            };
            let result = check(call, r).map(|()| {
                let mut out = Vec::new();
                if !infos.info_array.is_null() {
                    for i in 0..infos.size {
                        let info = &*infos.info_array.add(i);
                        let name = owned(info.node_name).unwrap_or_default();
                        let ns = owned(info.node_namespace).unwrap_or_else(|| "/".into());
                        out.push(EndpointInfo {
                            node: join_node_name(&ns, &name),
                            type_name: owned(info.topic_type).unwrap_or_default(),
                            qos: from_rmw_qos(&info.qos_profile),
                        });
                    }
                }
                out
            });
            rmw_topic_endpoint_info_array_fini(&mut infos, &mut allocator);
            result
        }
    }

    /// Fully qualified names of every node in the graph (this one included), sorted, unique.
    pub fn node_names(&self) -> Result<Vec<String>, RclError> {
        // SAFETY: a valid node; both arrays start zeroed, are filled by rcl, copied, and
        // finalised on every path.
        unsafe {
            let mut names = rcutils_get_zero_initialized_string_array();
            let mut namespaces = rcutils_get_zero_initialized_string_array();
            let r = rcl_get_node_names(
                self.node_ptr(),
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
                    .map(|(n, ns)| join_node_name(ns, n))
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

    /// Services offered by one node (fully qualified name): name → types.
    pub fn services_of_node(&self, node_fqn: &str) -> Result<NamesAndTypes, RclError> {
        let (ns, name) = match node_fqn.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((ns, name)) => (ns, name),
            None => ("/", node_fqn),
        };
        let c_ns = c_string("rcl_get_service_names_and_types_by_node", ns)?;
        let c_name = c_string("rcl_get_service_names_and_types_by_node", name)?;
        // SAFETY: valid node and NUL-terminated strings; the result starts zeroed, is copied,
        // and finalised on every path.
        unsafe {
            let mut allocator = rcutils_get_default_allocator();
            let mut nt = rmw_get_zero_initialized_names_and_types();
            let r = rcl_get_service_names_and_types_by_node(
                self.node_ptr(),
                &mut allocator,
                c_name.as_ptr(),
                c_ns.as_ptr(),
                &mut nt,
            );
            let result =
                check("rcl_get_service_names_and_types_by_node", r).map(|()| names_and_types(&nt));
            rcl_names_and_types_fini(&mut nt);
            result
        }
    }
}
