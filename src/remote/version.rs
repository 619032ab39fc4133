//! Remote-access protocol versions: which viewers we serve, and in which advertise form.

use semver::Version;

/// The protocol version this gateway speaks.
pub const PROTOCOL_VERSION: &str = "2.3.0";
/// Assumed when a viewer does not say (the attribute appeared with 2.3.0).
pub const DEFAULT_VIEWER_VERSION: &str = "2.2.0";

/// A viewer's protocol version, accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerVersion {
    /// As parsed.
    pub version: Version,
}

impl ViewerVersion {
    /// Viewers from 2.3.0 on get the schema-table `advertise`; older ones the inline form.
    pub fn schema_table(&self) -> bool {
        self.version >= Version::new(2, 3, 0)
    }
}

/// A viewer version we cannot serve. The text is what the viewer sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Remote access protocol version {given} is not compatible with this device \
     (supported: {PROTOCOL_VERSION})"
)]
pub struct IncompatibleVersion {
    /// What the viewer sent.
    pub given: String,
}

/// Check the `protocolVersion` attribute: 2.2.0 up to (not including) 3.
pub fn check_version(attribute: Option<&String>) -> Result<ViewerVersion, IncompatibleVersion> {
    let given = attribute.map_or(DEFAULT_VIEWER_VERSION, String::as_str);
    let bad = || IncompatibleVersion {
        given: given.to_string(),
    };
    let version = Version::parse(given.trim()).map_err(|_| bad())?;
    if version.major != 2 || version < Version::new(2, 2, 0) {
        return Err(bad());
    }
    Ok(ViewerVersion { version })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: Option<&str>) -> Result<bool, String> {
        check_version(v.map(str::to_string).as_ref())
            .map(|v| v.schema_table())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn version_window() {
        assert_eq!(check(None), Ok(false));
        assert_eq!(check(Some("2.2.0")), Ok(false));
        assert_eq!(check(Some("2.3.0")), Ok(true));
        assert_eq!(check(Some("2.9.1")), Ok(true));
        assert_eq!(
            check(Some("3.0.0")),
            Err(
                "Remote access protocol version 3.0.0 is not compatible with this device \
                 (supported: 2.3.0)"
                    .into()
            )
        );
        assert!(check(Some("2.1.9")).is_err());
        assert!(check(Some("1.0.0")).is_err());
        assert!(check(Some("banana")).is_err());
        assert!(check(Some("")).is_err());
    }
}
