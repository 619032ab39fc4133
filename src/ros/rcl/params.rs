//! The node's parameter overrides as rcl parsed them from `--ros-args` (`-p name:=value`,
//! `--params-file`, and what `ros2 launch` passes for `<param>`).

use std::collections::BTreeMap;

use r2r_rcl::*;

use super::{check, owned, strings, RclError, RclNode};
use crate::config::ParamValue;

impl RclNode {
    /// Every override that applies to this node, by parameter name. Wildcard sections (`/**`)
    /// apply first, then sections naming this node, each in the order rcl lists them (later
    /// files win), as in rclcpp.
    pub fn parameter_overrides(&self) -> Result<BTreeMap<String, ParamValue>, RclError> {
        let fqn = self.fully_qualified_name().to_string();
        // SAFETY: the context's global arguments were parsed by `rcl_init`; rcl allocates a
        // params struct (or leaves the pointer null when there are none) that we only read and
        // then finalise on every path.
        unsafe {
            let mut params: *mut rcl_params_t = std::ptr::null_mut();
            check(
                "rcl_arguments_get_param_overrides",
                rcl_arguments_get_param_overrides(&self.context().global_arguments, &mut params),
            )?;
            if params.is_null() {
                return Ok(BTreeMap::new());
            }
            let result = read_params(&*params, &fqn);
            rcl_yaml_node_struct_fini(params);
            Ok(result)
        }
    }
}

/// # Safety
/// `p` must be a params struct filled by rcl.
unsafe fn read_params(p: &rcl_params_t, fqn: &str) -> BTreeMap<String, ParamValue> {
    let mut out = BTreeMap::new();
    if p.node_names.is_null() || p.params.is_null() {
        return out;
    }
    let mut sections: Vec<(bool, usize)> = Vec::new();
    for i in 0..p.num_nodes {
        // SAFETY: `node_names` has `num_nodes` entries.
        let Some(name) = (unsafe { owned(*p.node_names.add(i)) }) else {
            continue;
        };
        if let Some(exact) = node_matches(&name, fqn) {
            sections.push((exact, i));
        }
    }
    // Wildcards first so a section naming the node overrides them.
    sections.sort_by_key(|(exact, i)| (*exact, *i));
    for (_, i) in sections {
        // SAFETY: `params` has `num_nodes` entries.
        let np = unsafe { &*p.params.add(i) };
        if np.parameter_names.is_null() || np.parameter_values.is_null() {
            continue;
        }
        for j in 0..np.num_params {
            // SAFETY: both arrays have `num_params` entries; names are NUL-terminated.
            let (name, value) = unsafe {
                (
                    owned(*np.parameter_names.add(j)),
                    variant(&*np.parameter_values.add(j)),
                )
            };
            if let (Some(name), Some(value)) = (name, value) {
                out.insert(name, value);
            }
        }
    }
    out
}

/// # Safety
/// `v` must be a variant filled by rcl's YAML parser: at most one pointer set, each to a valid
/// value or array of the stated size.
unsafe fn variant(v: &rcl_variant_t) -> Option<ParamValue> {
    // SAFETY (for every dereference below): the pointer is checked non-null and points to what
    // the parser allocated, per this function's contract.
    unsafe {
        if !v.bool_value.is_null() {
            return Some(ParamValue::Bool(*v.bool_value));
        }
        if !v.integer_value.is_null() {
            return Some(ParamValue::Integer(*v.integer_value));
        }
        if !v.double_value.is_null() {
            return Some(ParamValue::Double(*v.double_value));
        }
        if !v.string_value.is_null() {
            return owned(v.string_value).map(ParamValue::String);
        }
        if !v.byte_array_value.is_null() {
            let a = &*v.byte_array_value;
            return Some(ParamValue::ByteArray(slice(a.values, a.size).to_vec()));
        }
        if !v.bool_array_value.is_null() {
            let a = &*v.bool_array_value;
            return Some(ParamValue::BoolArray(slice(a.values, a.size).to_vec()));
        }
        if !v.integer_array_value.is_null() {
            let a = &*v.integer_array_value;
            return Some(ParamValue::IntegerArray(slice(a.values, a.size).to_vec()));
        }
        if !v.double_array_value.is_null() {
            let a = &*v.double_array_value;
            return Some(ParamValue::DoubleArray(slice(a.values, a.size).to_vec()));
        }
        if !v.string_array_value.is_null() {
            return Some(ParamValue::StringArray(strings(&*v.string_array_value)));
        }
    }
    None
}

/// # Safety
/// `p` must be null (then `n` is ignored) or point to `n` initialised values.
unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        // SAFETY: per the contract.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

/// Whether a params-file section name applies to the node `fqn`: `Some(true)` for the node's
/// own name, `Some(false)` for a wildcard match, `None` otherwise. `*` matches one name
/// component and `**` any number of them (rclcpp's rule); a leading `/` is optional.
fn node_matches(section: &str, fqn: &str) -> Option<bool> {
    let norm = |s: &str| s.trim_start_matches('/').to_string();
    let (section, fqn) = (norm(section), norm(fqn));
    if section == fqn {
        return Some(true);
    }
    let pattern: Vec<&str> = section.split('/').collect();
    let name: Vec<&str> = fqn.split('/').collect();
    if !pattern.iter().any(|p| p.contains('*')) {
        return None;
    }
    glob(&pattern, &name).then_some(false)
}

fn glob(pattern: &[&str], name: &[&str]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((&"**", rest)) => (0..=name.len()).any(|k| glob(rest, &name[k..])),
        Some((&p, rest)) => match name.split_first() {
            Some((&n, tail)) => (p == "*" || p == n) && glob(rest, tail),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names() {
        assert_eq!(
            node_matches("/foxglove_gateway", "/foxglove_gateway"),
            Some(true)
        );
        assert_eq!(
            node_matches("foxglove_gateway", "/foxglove_gateway"),
            Some(true)
        );
        assert_eq!(node_matches("/**", "/foxglove_gateway"), Some(false));
        assert_eq!(node_matches("**", "/robot1/foxglove_gateway"), Some(false));
        assert_eq!(node_matches("/*", "/foxglove_gateway"), Some(false));
        assert_eq!(node_matches("/*", "/robot1/foxglove_gateway"), None);
        assert_eq!(
            node_matches("/robot1/*", "/robot1/foxglove_gateway"),
            Some(false)
        );
        assert_eq!(
            node_matches("/**/foxglove_gateway", "/a/b/foxglove_gateway"),
            Some(false)
        );
        assert_eq!(node_matches("/other", "/foxglove_gateway"), None);
        assert_eq!(node_matches("/robot2/*", "/robot1/foxglove_gateway"), None);
    }
}
