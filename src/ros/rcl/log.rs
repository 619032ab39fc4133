//! ROS logging (rcutils): console output in ROS's format and, through the handler rcl installs
//! when logging is configured, `/rosout` for the node whose logger name is given.

use std::borrow::Cow;
use std::ffi::CString;

use r2r_rcl::*;

/// Log severities, as rcutils numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// DEBUG.
    Debug,
    /// INFO.
    Info,
    /// WARN.
    Warn,
    /// ERROR.
    Error,
}

impl Severity {
    fn rcutils(self) -> i32 {
        let s = match self {
            Severity::Debug => RCUTILS_LOG_SEVERITY::RCUTILS_LOG_SEVERITY_DEBUG,
            Severity::Info => RCUTILS_LOG_SEVERITY::RCUTILS_LOG_SEVERITY_INFO,
            Severity::Warn => RCUTILS_LOG_SEVERITY::RCUTILS_LOG_SEVERITY_WARN,
            Severity::Error => RCUTILS_LOG_SEVERITY::RCUTILS_LOG_SEVERITY_ERROR,
        };
        s as i32
    }
}

/// Text for C: interior NULs (a topic name from a viewer, say) become U+FFFD instead of cutting
/// the line short.
fn c_text(s: &str) -> CString {
    let s: Cow<'_, str> = if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    };
    CString::new(s.as_bytes()).unwrap_or_default()
}

/// Log one line under `logger` (serialised with node creation and destruction, see
/// [`super::GLOBAL`]).
pub fn log(logger: &str, severity: Severity, file: &str, line: u32, message: &str) {
    let (logger, file, message) = (c_text(logger), c_text(file), c_text(message));
    let function = c_text("");
    let location = rcutils_log_location_t {
        function_name: function.as_ptr(),
        file_name: file.as_ptr(),
        line_number: line as usize,
    };
    let _global = super::GLOBAL.lock();
    // SAFETY: every pointer is a NUL-terminated string alive for the call; the format is a
    // literal "%s" consuming exactly the one string argument passed, so no caller text is ever
    // interpreted as a format. Node set-up and tear-down cannot run meanwhile (`_global`).
    unsafe {
        rcutils_log(
            &location,
            severity.rcutils(),
            logger.as_ptr(),
            c"%s".as_ptr(),
            message.as_ptr(),
        );
    }
}

/// Show `severity` and above for `logger` (the `debug` parameter lowers it to DEBUG).
pub fn set_level(logger: &str, severity: Severity) {
    let logger = c_text(logger);
    // SAFETY: a NUL-terminated name alive for the call; rcutils copies it.
    unsafe {
        rcutils_logging_set_logger_level(logger.as_ptr(), severity.rcutils());
    }
}

/// Whether `logger` shows `severity` (its own level, or the nearest ancestor's, or the default;
/// `--ros-args --log-level` and [`set_level`] set them).
pub fn is_enabled(logger: &str, severity: Severity) -> bool {
    let logger = c_text(logger);
    let _global = super::GLOBAL.lock();
    // SAFETY: a NUL-terminated name alive for the call; rcutils only reads it. Levels are not
    // changed meanwhile (`_global` serialises this with logging and node set-up).
    unsafe { rcutils_logging_logger_is_enabled_for(logger.as_ptr(), severity.rcutils()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_replaced() {
        assert_eq!(c_text("a\0b").as_bytes(), "a\u{FFFD}b".as_bytes());
        assert_eq!(c_text("clean").as_bytes(), b"clean");
    }
}
