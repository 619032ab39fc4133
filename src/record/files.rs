//! `recordings_dir`: where recordings are written, how they are named, and how a name a peer
//! sends is turned into a path without ever leaving the directory.
//!
//! - A recording is a `NAME.mcap` file directly in the directory; `NAME` is made of ASCII
//!   letters, digits, `.`, `_` and `-`, does not start with `.`, and is at most
//!   [`MAX_NAME_LEN`] bytes. Anything else a peer asks for is refused before touching the disk.
//! - A resolved path is canonicalised and must still be inside the canonical directory (a
//!   symlink pointing elsewhere is refused).
//! - Files are written as `NAME.mcap.part` and renamed when complete, so a listing never shows a
//!   half-written recording.
//! - Peers are only ever told names, never the robot's paths.

use std::path::{Path, PathBuf};

use super::RecordError;

/// Longest recording name accepted.
pub const MAX_NAME_LEN: usize = 200;

/// Extension of complete recordings.
pub const EXTENSION: &str = "mcap";

/// Most recordings a listing returns (the data backend's manifest); newest names are kept.
pub const MAX_LISTED: usize = 10_000;

/// The directory to use: `recordings_dir` if set, else `$ROS_HOME/foxglove_gateway/recordings`,
/// else `~/.ros/foxglove_gateway/recordings`, else `./recordings`.
pub fn default_dir(configured: &str) -> PathBuf {
    if !configured.is_empty() {
        return PathBuf::from(configured);
    }
    let ros_home = std::env::var_os("ROS_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ros")));
    match ros_home {
        Some(h) => h.join("foxglove_gateway").join("recordings"),
        None => PathBuf::from("recordings"),
    }
}

/// True if `name` is an acceptable recording name (see the module docs).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The recordings directory, created if missing.
#[derive(Debug, Clone)]
pub struct RecordingsDir {
    dir: PathBuf,
}

impl RecordingsDir {
    /// Use `dir` (created with its parents if missing).
    pub fn open(dir: PathBuf) -> Result<Self, RecordError> {
        std::fs::create_dir_all(&dir).map_err(|e| RecordError::Io {
            what: format!("cannot create recordings_dir {}", dir.display()),
            source: e,
        })?;
        Ok(RecordingsDir { dir })
    }

    /// The directory (for the robot's own logs only).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The existing recording called `name` (without `.mcap`), or why not. Never resolves to
    /// anything outside the directory.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, RecordError> {
        let name = name.strip_suffix(".mcap").unwrap_or(name);
        if !valid_name(name) {
            return Err(RecordError::BadName(name.chars().take(80).collect()));
        }
        let path = self.dir.join(format!("{name}.{EXTENSION}"));
        let not_found = || RecordError::NotFound(name.to_string());
        let real = path.canonicalize().map_err(|_| not_found())?;
        let root = self.dir.canonicalize().map_err(|_| not_found())?;
        if !real.starts_with(&root) || !real.is_file() {
            return Err(RecordError::BadName(name.to_string()));
        }
        Ok(real)
    }

    /// Names of the complete recordings, sorted, at most [`MAX_LISTED`] (the newest by name,
    /// which starts with the time for the gateway's own files).
    pub fn list(&self) -> Result<Vec<String>, RecordError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| RecordError::Io {
            what: "cannot list recordings_dir".into(),
            source: e,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".mcap")?.to_string();
                valid_name(&stem).then_some(stem)
            })
            .collect();
        names.sort();
        if names.len() > MAX_LISTED {
            names.drain(..names.len() - MAX_LISTED);
        }
        Ok(names)
    }

    /// A new file for a recording: `PREFIX_YYYYMMDDTHHMMSSZ[_N]`, created empty as
    /// `NAME.mcap.part`. Returns (name, temporary path, final path).
    pub fn create(
        &self,
        prefix: &str,
        unix_ns: u64,
    ) -> Result<(String, std::fs::File, PathBuf, PathBuf), RecordError> {
        let stamp = file_stamp(unix_ns);
        for n in 0..1000u32 {
            let name = if n == 0 {
                format!("{prefix}_{stamp}")
            } else {
                format!("{prefix}_{stamp}_{n}")
            };
            let done = self.dir.join(format!("{name}.{EXTENSION}"));
            let part = self.dir.join(format!("{name}.{EXTENSION}.part"));
            if done.exists() {
                continue;
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .open(&part)
            {
                Ok(f) => return Ok((name, f, part, done)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(RecordError::Io {
                        what: format!("cannot create a recording in {}", self.dir.display()),
                        source: e,
                    })
                }
            }
        }
        Err(RecordError::Io {
            what: "no free recording name".into(),
            source: std::io::Error::other("1000 recordings with the same second"),
        })
    }
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time in ns (UTC).
pub fn file_stamp(unix_ns: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ns))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("blackbox_20261206T120000Z"));
        assert!(valid_name("run-1.2"));
        for bad in [
            "",
            ".hidden",
            "../etc/passwd",
            "a/b",
            "a\\b",
            "a b",
            "é",
            "a\0b",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(!valid_name(&"a".repeat(MAX_NAME_LEN + 1)));
    }

    #[test]
    fn resolve_stays_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside.mcap");
        std::fs::write(&outside, b"x").unwrap();
        let d = RecordingsDir::open(tmp.path().join("rec")).unwrap();
        std::fs::write(d.path().join("ok.mcap"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, d.path().join("link.mcap")).unwrap();
        assert!(d.resolve("ok").is_ok());
        assert!(d.resolve("ok.mcap").is_ok());
        assert!(matches!(
            d.resolve("../outside"),
            Err(RecordError::BadName(_))
        ));
        assert!(matches!(d.resolve("link"), Err(RecordError::BadName(_))));
        assert!(matches!(
            d.resolve("missing"),
            Err(RecordError::NotFound(_))
        ));
        // Only regular files are listed (the symlink is not).
        assert_eq!(d.list().unwrap(), vec!["ok"]);
    }

    #[test]
    fn create_picks_fresh_names() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RecordingsDir::open(tmp.path().to_path_buf()).unwrap();
        let t = 1_765_000_000_000_000_000;
        let (a, _, pa, fa) = d.create("blackbox", t).unwrap();
        std::fs::rename(&pa, &fa).unwrap();
        let (b, _, _, _) = d.create("blackbox", t).unwrap();
        assert_eq!(a, format!("blackbox_{}", file_stamp(t)));
        assert_eq!(b, format!("{a}_1"));
        assert_eq!(file_stamp(0), "19700101T000000Z");
    }
}
