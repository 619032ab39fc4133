//! The node's own parameters: read once at startup, then served back read-only.
//!
//! foxglove_bridge declares its parameters read-only and reads them once; so do we. r2r's
//! derived parameter handler lets a [`r2r::RosParams`] answer `get_parameters` and refuse
//! `set_parameters`, so `ros2 param get /foxglove_gateway port` works and `ros2 param set` says
//! why it cannot.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use r2r::indexmap::IndexMap;
use r2r::{Parameter, ParameterValue};

use super::{from_r2r_value, to_r2r_value};
use crate::config::ParamValue;

/// The parameter values the node serves. Cloneable; `main` may update a value the gateway only
/// learns later (the real `port` after binding port 0, as foxglove_bridge does).
#[derive(Clone)]
pub struct ParamsHandle {
    values: Arc<Mutex<BTreeMap<String, ParamValue>>>,
}

impl ParamsHandle {
    pub(super) fn new(values: BTreeMap<String, ParamValue>) -> Self {
        ParamsHandle {
            values: Arc::new(Mutex::new(values)),
        }
    }

    /// Change the value served for `name` (e.g. `port` once the listener is bound).
    pub fn set(&self, name: &str, value: ParamValue) {
        self.values.lock().insert(name.to_string(), value);
    }

    /// The value served for `name`.
    pub fn get(&self, name: &str) -> Option<ParamValue> {
        self.values.lock().get(name).cloned()
    }

    pub(super) fn ros_params(&self) -> Arc<std::sync::Mutex<dyn r2r::RosParams + Send>> {
        Arc::new(std::sync::Mutex::new(Served(self.clone())))
    }
}

/// The overrides rcl parsed from `--ros-args` (`-p`, `--params-file`, launch `<param>`), as
/// r2r stored them on the node at creation.
pub(super) fn overrides(node: &r2r::Node) -> BTreeMap<String, ParamValue> {
    // A poisoned lock still holds valid data; parameters are plain values.
    let params = match node.params.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    params
        .iter()
        .filter_map(|(k, p)| from_r2r_value(&p.value).map(|v| (k.clone(), v)))
        .collect()
}

const READ_ONLY: &str = "foxglove_gateway reads its parameters once at startup; restart it with \
                         the new value (launch argument, -p or params file)";

struct Served(ParamsHandle);

impl r2r::RosParams for Served {
    fn register_parameters(
        &mut self,
        _prefix: &str,
        _param: Option<Parameter>,
        params: &mut IndexMap<String, Parameter>,
    ) -> r2r::Result<()> {
        // The node's map backs `list_parameters` and answers names we do not serve: a token given
        // with -p must not be readable by every node on the graph.
        params.shift_remove("device_token");
        for (name, value) in self.0.values.lock().iter() {
            params.insert(name.clone(), Parameter::new(to_r2r_value(value)));
        }
        Ok(())
    }

    fn get_parameter(&mut self, name: &str) -> r2r::Result<ParameterValue> {
        self.0
            .get(name)
            .map(|v| to_r2r_value(&v))
            .ok_or_else(|| r2r::Error::InvalidParameterName {
                name: name.to_string(),
            })
    }

    fn set_parameter(&mut self, name: &str, _value: &ParameterValue) -> r2r::Result<()> {
        Err(r2r::Error::ParameterValueConv {
            name: name.to_string(),
            msg: READ_ONLY.into(),
        })
    }

    fn check_parameter(&self, name: &str, _value: &ParameterValue) -> r2r::Result<()> {
        Err(r2r::Error::ParameterValueConv {
            name: name.to_string(),
            msg: READ_ONLY.into(),
        })
    }
}
