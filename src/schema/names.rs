//! Interface type names: `pkg/msg/Type`, `pkg/Type`, `pkg/srv/Type`, `pkg/action/Type`.
//!
//! Name rules follow rosidl_adapter: packages are lower snake case without `__` or a trailing
//! `_`; types start with an upper-case letter and continue with letters and digits. Generated
//! parts (`Type_Request`, `Type_Goal`, ...) add one `_` and a suffix, so types also accept `_`.

use super::SchemaError;

/// Which kind of interface file a type comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InterfaceKind {
    /// `msg/*.msg`.
    Msg,
    /// `srv/*.srv`.
    Srv,
    /// `action/*.action`.
    Action,
}

impl InterfaceKind {
    /// The directory (and name infix) of this kind: `msg`, `srv` or `action`.
    pub fn dir(self) -> &'static str {
        match self {
            InterfaceKind::Msg => "msg",
            InterfaceKind::Srv => "srv",
            InterfaceKind::Action => "action",
        }
    }

    fn from_dir(s: &str) -> Option<Self> {
        match s {
            "msg" => Some(InterfaceKind::Msg),
            "srv" => Some(InterfaceKind::Srv),
            "action" => Some(InterfaceKind::Action),
            _ => None,
        }
    }
}

/// A type name split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeName {
    /// The package, e.g. `geometry_msgs`.
    pub package: String,
    /// The interface kind, e.g. [`InterfaceKind::Msg`].
    pub kind: InterfaceKind,
    /// The type, e.g. `Twist` or `SetBool_Request`.
    pub name: String,
}

impl TypeName {
    /// Parse `pkg/kind/Type`, or `pkg/Type` which means `pkg/msg/Type`.
    pub fn parse(s: &str) -> Result<Self, SchemaError> {
        let bad = || SchemaError::InvalidTypeName(s.to_string());
        let parts: Vec<&str> = s.split('/').collect();
        let (package, kind, name) = match parts.as_slice() {
            [p, n] => (*p, InterfaceKind::Msg, *n),
            [p, k, n] => (*p, InterfaceKind::from_dir(k).ok_or_else(bad)?, *n),
            _ => return Err(bad()),
        };
        if !valid_package_name(package) || !valid_type_name(name) {
            return Err(bad());
        }
        Ok(TypeName {
            package: package.to_string(),
            kind,
            name: name.to_string(),
        })
    }

    /// The normalised full name `pkg/kind/Type`.
    pub fn full(&self) -> String {
        format!("{}/{}/{}", self.package, self.kind.dir(), self.name)
    }
}

/// Normalise a message type name: `pkg/Type` and `pkg/msg/Type` both give `pkg/msg/Type`;
/// `pkg/srv/Type_Request` and other generated parts are kept as they are.
pub fn normalize_type_name(s: &str) -> Result<String, SchemaError> {
    TypeName::parse(s).map(|t| t.full())
}

/// `^[a-z][a-z0-9_]*$` without `__` and without a trailing `_` (rosidl's package rule).
pub(crate) fn valid_package_name(s: &str) -> bool {
    valid_lower_snake(s)
}

/// Field names follow the same rule as packages.
pub(crate) fn valid_field_name(s: &str) -> bool {
    valid_lower_snake(s)
}

fn valid_lower_snake(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && !s.contains("__")
        && !s.ends_with('_')
}

/// `^[A-Z]([A-Z0-9_]?[A-Z0-9]+)*$`: upper snake case, no `__`, no trailing `_`.
pub(crate) fn valid_constant_name(s: &str) -> bool {
    matches!(s.chars().next(), Some('A'..='Z'))
        && s.chars().all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'))
        && !s.contains("__")
        && !s.ends_with('_')
}

/// An upper-case letter, then letters, digits and (for generated parts) underscores.
pub(crate) fn valid_type_name(s: &str) -> bool {
    matches!(s.chars().next(), Some('A'..='Z'))
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_short_and_long_forms() {
        assert_eq!(
            normalize_type_name("std_msgs/Header").unwrap(),
            "std_msgs/msg/Header"
        );
        assert_eq!(
            normalize_type_name("std_msgs/msg/Header").unwrap(),
            "std_msgs/msg/Header"
        );
        assert_eq!(
            normalize_type_name("std_srvs/srv/SetBool_Request").unwrap(),
            "std_srvs/srv/SetBool_Request"
        );
        for bad in [
            "Header",
            "a/b/c/D",
            "std_msgs/foo/Header",
            "Std/Header",
            "a__b/X",
            "a_/X",
            "a/x",
            "",
            "a/",
        ] {
            assert!(normalize_type_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_rules() {
        assert!(valid_field_name("x"));
        assert!(valid_field_name("frame_id2"));
        assert!(!valid_field_name("Frame"));
        assert!(!valid_field_name("a__b"));
        assert!(!valid_field_name("a_"));
        assert!(!valid_field_name("_a"));
        assert!(valid_constant_name("FOO_1"));
        assert!(!valid_constant_name("Foo"));
        assert!(!valid_constant_name("FOO_"));
        assert!(!valid_constant_name("FOO__BAR"));
    }
}
