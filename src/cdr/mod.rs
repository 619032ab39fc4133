//! XCDR1 encoding of ROS 2 messages and schema-driven CDR ⇄ JSON conversion.

// TEMPORARY stand-in until the cdr branch lands.
use crate::schema::ResolvedSchema;

/// A value that does not fit, or bytes that do not decode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CdrError(String);

/// JSON → CDR (with encapsulation header).
pub fn json_to_cdr(
    _schema: &ResolvedSchema,
    _value: &serde_json::Value,
) -> Result<Vec<u8>, CdrError> {
    Err(CdrError("not yet".into()))
}

/// CDR → JSON.
pub fn cdr_to_json(_schema: &ResolvedSchema, _data: &[u8]) -> Result<serde_json::Value, CdrError> {
    Err(CdrError("not yet".into()))
}
