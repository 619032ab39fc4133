//! Literal values in interface definitions: constants (`int32 FOO=1`) and defaults
//! (`int32 x 5`, `int32[] a [1, 2]`, `string s "hi"`), as rosidl_adapter reads them.
//!
//! Values become JSON in the codec's shape: integers (including 64-bit) as JSON numbers, floats
//! as numbers, `byte`/`char` as numbers 0..=255, strings as strings.

use serde_json::Value;

use super::types::Primitive;

/// Why a literal was rejected; the caller adds the type and line.
pub(crate) type LiteralError = String;

/// Parse the text of one primitive literal (already trimmed, comment removed).
pub(crate) fn parse_primitive(ty: Primitive, text: &str) -> Result<Value, LiteralError> {
    match ty {
        Primitive::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("{text:?} is not a bool (true/false/1/0)")),
        },
        Primitive::Float32 | Primitive::Float64 => {
            let v: f64 = text
                .parse()
                .map_err(|_| format!("{text:?} is not a floating-point number"))?;
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .ok_or_else(|| format!("{text:?} is not finite; JSON cannot carry it"))
        }
        Primitive::Byte | Primitive::Char | Primitive::Uint8 => int_in(text, 0, u8::MAX as i128),
        Primitive::Int8 => int_in(text, i8::MIN as i128, i8::MAX as i128),
        Primitive::Int16 => int_in(text, i16::MIN as i128, i16::MAX as i128),
        Primitive::Uint16 => int_in(text, 0, u16::MAX as i128),
        Primitive::Int32 => int_in(text, i32::MIN as i128, i32::MAX as i128),
        Primitive::Uint32 => int_in(text, 0, u32::MAX as i128),
        Primitive::Int64 => int_in(text, i64::MIN as i128, i64::MAX as i128),
        Primitive::Uint64 => int_in(text, 0, u64::MAX as i128),
        Primitive::String(bound) | Primitive::WString(bound) => {
            let s = parse_string(text)?;
            if let Some(max) = bound {
                let len = s.chars().count();
                if len > max as usize {
                    return Err(format!(
                        "string of {len} characters exceeds its bound {max}"
                    ));
                }
            }
            Ok(Value::String(s))
        }
    }
}

/// Parse an integer (decimal, or `0x`/`0o`/`0b` as Python's `int(x, 0)` would) within a range.
fn int_in(text: &str, min: i128, max: i128) -> Result<Value, LiteralError> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else {
        (10, lower.as_str())
    };
    // `from_str_radix` accepts a sign of its own; the sign was taken above, so refuse another.
    if body.is_empty() || body.starts_with(['+', '-']) {
        return Err(format!("{text:?} is not an integer"));
    }
    let magnitude =
        i128::from_str_radix(body, radix).map_err(|_| format!("{text:?} is not an integer"))?;
    let v = if neg { -magnitude } else { magnitude };
    if v < min || v > max {
        return Err(format!("{text} is out of range [{min}, {max}]"));
    }
    Ok(if v < 0 {
        // In range of i64 because min >= i64::MIN.
        Value::from(v as i64)
    } else {
        Value::from(v as u64)
    })
}

/// A string literal: quoted with `'` or `"` (escapes processed), or bare (taken as is).
fn parse_string(text: &str) -> Result<String, LiteralError> {
    let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return Ok(text.to_string());
    };
    let inner = text
        .strip_prefix(quote)
        .and_then(|t| t.strip_suffix(quote))
        .filter(|_| text.len() >= 2)
        .ok_or_else(|| format!("unterminated string literal {text}"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            return Err(format!("unescaped {quote} inside string literal {text}"));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some(e @ ('\\' | '\'' | '"')) => out.push(e),
            // Unknown escapes are kept verbatim, as rosidl_adapter keeps them.
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => return Err(format!("string literal {text} ends in a lone backslash")),
        }
    }
    Ok(out)
}

/// Parse an array literal `[a, b, c]` of primitives.
pub(crate) fn parse_array(ty: Primitive, text: &str) -> Result<Vec<Value>, LiteralError> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("array default {text} must be written [a, b, ...]"))?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    split_elements(inner)?
        .into_iter()
        .map(|e| parse_primitive(ty, e.trim()))
        .collect()
}

/// Split array elements at commas outside quoted strings.
fn split_elements(inner: &str) -> Result<Vec<&str>, LiteralError> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if (c == '"' || c == '\'') && inner[start..i].trim().is_empty() {
                    quote = Some(c);
                } else if c == ',' {
                    parts.push(&inner[start..i]);
                    start = i + 1;
                }
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated string in array [{inner}]"));
    }
    parts.push(&inner[start..]);
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(format!("empty element in array [{inner}]"));
    }
    Ok(parts)
}

/// Byte offset where an unquoted `#` starts a comment in a value region, if any.
///
/// A quote opens a string only where a literal starts (region start, after `[`, `,` or `=`),
/// so `string s "a#b"` keeps its `#` while `string S=don't # note` still loses its comment.
pub(crate) fn comment_start(region: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut literal_start = true;
    for (i, c) in region.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '#' => return Some(i),
            '"' | '\'' if literal_start => quote = Some(c),
            '[' | ',' | '=' => literal_start = true,
            c if c.is_whitespace() => {}
            _ => literal_start = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_respect_their_ranges() {
        assert_eq!(
            parse_primitive(Primitive::Int8, "-128").unwrap(),
            json!(-128)
        );
        assert!(parse_primitive(Primitive::Int8, "128").is_err());
        assert!(parse_primitive(Primitive::Uint8, "-1").is_err());
        assert_eq!(
            parse_primitive(Primitive::Uint64, "18446744073709551615").unwrap(),
            json!(u64::MAX)
        );
        assert_eq!(
            parse_primitive(Primitive::Int64, "-9223372036854775808").unwrap(),
            json!(i64::MIN)
        );
        assert_eq!(
            parse_primitive(Primitive::Int32, "0x10").unwrap(),
            json!(16)
        );
        assert!(parse_primitive(Primitive::Int32, "--1").is_err());
        assert!(parse_primitive(Primitive::Int32, "1.5").is_err());
        assert!(parse_primitive(Primitive::Char, "256").is_err());
    }

    #[test]
    fn bools_floats_and_strings() {
        assert_eq!(
            parse_primitive(Primitive::Bool, "True").unwrap(),
            json!(true)
        );
        assert_eq!(parse_primitive(Primitive::Bool, "0").unwrap(), json!(false));
        assert!(parse_primitive(Primitive::Bool, "yes").is_err());
        assert_eq!(
            parse_primitive(Primitive::Float32, "1.125").unwrap(),
            json!(1.125)
        );
        assert!(parse_primitive(Primitive::Float64, "nan").is_err());
        let s = Primitive::String(None);
        assert_eq!(
            parse_primitive(s, r#"'Hello\'world!'"#).unwrap(),
            json!("Hello'world!")
        );
        assert_eq!(parse_primitive(s, r#""a\"b""#).unwrap(), json!("a\"b"));
        assert_eq!(
            parse_primitive(s, "bare words").unwrap(),
            json!("bare words")
        );
        assert!(parse_primitive(s, "\"open").is_err());
        assert!(parse_primitive(s, "\"").is_err());
        assert!(parse_primitive(s, r#""a"b""#).is_err());
        assert!(parse_primitive(Primitive::String(Some(2)), "abc").is_err());
    }

    #[test]
    fn arrays_split_outside_quotes() {
        let s = Primitive::String(None);
        assert_eq!(
            parse_array(s, r#"["", "a, b", 'c']"#).unwrap(),
            vec![json!(""), json!("a, b"), json!("c")]
        );
        assert_eq!(
            parse_array(Primitive::Int32, "[1, 2]").unwrap(),
            vec![json!(1), json!(2)]
        );
        assert_eq!(
            parse_array(Primitive::Int32, "[]").unwrap(),
            Vec::<Value>::new()
        );
        assert!(parse_array(Primitive::Int32, "[1,,2]").is_err());
        assert!(parse_array(Primitive::Int32, "1, 2").is_err());
    }

    #[test]
    fn comments_skip_quoted_hashes() {
        assert_eq!(comment_start(r#""a#b" # c"#), Some(6));
        assert_eq!(comment_start("5 # five"), Some(2));
        assert_eq!(comment_start("don't # x"), Some(6));
        assert_eq!(comment_start(r##"["#", '#']"##), None);
        assert_eq!(comment_start("no comment"), None);
    }
}
