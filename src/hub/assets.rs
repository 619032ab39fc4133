//! The `assets` capability: `fetchAsset` for `package://` and `file://` URIs.
//!
//! - A URI must match `asset_uri_allowlist` and must not contain `..` (foxglove_bridge's two
//!   checks), else the viewer gets an error response naming the reason.
//! - `package://pkg/path` resolves through the ament index the same way as message definitions
//!   ([`SchemaStore::prefixes`](crate::schema::SchemaStore::prefixes)): `P/share/pkg/path` of the
//!   first prefix `P` that has the marker `P/share/ament_index/resource_index/packages/pkg`.
//! - `file:///abs/path` reads that path (the default allowlist admits no `file://` URI).
//! - Files are read on tokio's blocking pool, at most [`MAX_CONCURRENT_READS`] at once over all
//!   viewers, so a slow disk never stalls the async workers that move message data; a viewer has
//!   at most [`MAX_IN_FLIGHT`] requests outstanding; an asset is at most [`MAX_ASSET_BYTES`].
//! - Every outcome is a Fetch Asset Response (binary 0x04) on the viewer's control queue.
//!
//! Unlike foxglove_bridge (resource_retriever) there is no `http(s)://`: a robot-side proxy to
//! arbitrary URLs is a server-side request forgery risk for little gain.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::{ClientError, ClientId, Control, Hub};
use crate::protocol::binary::fetch_asset_response;

/// Requests one viewer may have outstanding (the Foxglove SDK's limit).
pub const MAX_IN_FLIGHT: usize = 32;
/// Largest asset served, in bytes. Meshes and textures of real robots stay well below; the cap
/// bounds what 32 outstanding requests can pin in memory per viewer.
pub const MAX_ASSET_BYTES: u64 = 64 << 20;
/// Files read at once over all viewers: enough to keep a disk busy, few enough that a burst of
/// mesh requests leaves blocking threads and memory for everything else.
pub const MAX_CONCURRENT_READS: usize = 4;

/// Why an asset could not be served. The text is what the viewer sees in the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    /// More than [`MAX_IN_FLIGHT`] outstanding requests (the SDK's wording).
    #[error("Too many concurrent fetch asset requests")]
    TooManyInFlight,
    /// The URI does not match `asset_uri_allowlist`.
    #[error("Asset URI not allowed: {0} (asset_uri_allowlist)")]
    NotAllowed(String),
    /// The URI contains `..`.
    #[error("Asset URI must not contain \"..\": {0}")]
    ParentReference(String),
    /// Not `package://` or `file://`, or a malformed one.
    #[error("Unsupported asset URI {uri}: {reason}")]
    BadUri {
        /// The URI.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No prefix has the package.
    #[error("Asset {uri}: package {package} is not on AMENT_PREFIX_PATH")]
    UnknownPackage {
        /// The URI.
        uri: String,
        /// The package.
        package: String,
    },
    /// The file does not exist.
    #[error("Asset not found: {uri} ({path})")]
    NotFound {
        /// The URI.
        uri: String,
        /// Where it was looked for.
        path: String,
    },
    /// A directory or other non-file.
    #[error("Asset {0} is not a regular file")]
    NotAFile(String),
    /// Larger than [`MAX_ASSET_BYTES`].
    #[error("Asset {uri} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The URI.
        uri: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Any other I/O error.
    #[error("Cannot read asset {uri}: {reason}")]
    Io {
        /// The URI.
        uri: String,
        /// Why.
        reason: String,
    },
    /// The blocking read task died or no runtime is running (a bug, not the viewer's fault).
    #[error("Internal server error: asset read failed")]
    Internal,
}

/// Per-hub state of the assets capability.
pub(super) struct Assets {
    /// Outstanding requests per viewer; an entry is removed when it drops to zero, so a viewer
    /// that leaves needs no cleanup here.
    in_flight: Arc<Mutex<HashMap<ClientId, usize>>>,
    reads: Arc<Semaphore>,
}

impl Default for Assets {
    fn default() -> Self {
        Assets {
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            reads: Arc::new(Semaphore::new(MAX_CONCURRENT_READS)),
        }
    }
}

/// Releases one in-flight slot when the request ends, however it ends (a panicking or cancelled
/// task included).
struct Slot {
    in_flight: Arc<Mutex<HashMap<ClientId, usize>>>,
    client: ClientId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock();
        if let Some(n) = map.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.client);
            }
        }
    }
}

/// A response frame that keeps its request's [`Slot`] until the frame is dropped.
struct HeldFrame {
    frame: Bytes,
    _slot: Slot,
}

impl AsRef<[u8]> for HeldFrame {
    fn as_ref(&self) -> &[u8] {
        &self.frame
    }
}

impl Hub {
    /// Handle `fetchAsset` from `client`: check the URI, then read the file off the async
    /// runtime and queue the response. Returns an error (sent as a status) only when the
    /// capability is not offered; every other failure is an error response to `request_id`.
    pub fn fetch_asset(
        &self,
        client: ClientId,
        uri: String,
        request_id: u32,
    ) -> Result<(), ClientError> {
        if !self.offers("assets") {
            return Err(ClientError::Unsupported("assets"));
        }
        let Some(outbox) = self
            .state
            .lock()
            .clients
            .get(&client)
            .map(|c| c.outbox.clone())
        else {
            return Ok(());
        };
        // `slot`, when given, travels inside the frame: the request counts as in flight until the
        // writer has sent (or the outbox dropped) the response, so 32 requests bound what a
        // viewer that does not read can pin in memory, not just what is being read.
        let respond = move |result: Result<&[u8], AssetError>, slot: Option<Slot>| {
            let frame = match result {
                Ok(data) => fetch_asset_response(request_id, Ok(data)),
                Err(e) => {
                    tracing::debug!(client, request_id, error = %e, "asset refused");
                    fetch_asset_response(request_id, Err(&e.to_string()))
                }
            };
            let frame = match slot {
                Some(slot) => Bytes::from_owner(HeldFrame { frame, _slot: slot }),
                None => frame,
            };
            // A full control queue closes the viewer; nothing more to do here.
            let _ = outbox.push_control(Control::Binary(frame));
        };
        let path = match resolve(self, &uri) {
            Ok(p) => p,
            Err(e) => {
                respond(Err(e), None);
                return Ok(());
            }
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            respond(Err(AssetError::Internal), None);
            return Ok(());
        };
        {
            let mut map = self.assets.in_flight.lock();
            let n = map.entry(client).or_insert(0);
            if *n >= MAX_IN_FLIGHT {
                drop(map);
                respond(Err(AssetError::TooManyInFlight), None);
                return Ok(());
            }
            *n += 1;
        }
        let slot = Slot {
            in_flight: self.assets.in_flight.clone(),
            client,
        };
        let reads = self.assets.reads.clone();
        runtime.spawn(async move {
            // The semaphore is never closed, so acquire only fails if that changes.
            let Ok(permit) = reads.acquire_owned().await else {
                respond(Err(AssetError::Internal), Some(slot));
                return;
            };
            let read_uri = uri.clone();
            let read = tokio::task::spawn_blocking(move || read_asset(&read_uri, &path)).await;
            drop(permit);
            match read {
                Ok(Ok(data)) => respond(Ok(&data), Some(slot)),
                Ok(Err(e)) => respond(Err(e), Some(slot)),
                Err(_) => respond(Err(AssetError::Internal), Some(slot)),
            }
        });
        Ok(())
    }

    /// Requests of `client` outstanding: waiting to be read, being read, or answered but not yet
    /// written to the viewer (for tests and metrics).
    pub fn assets_in_flight(&self, client: ClientId) -> usize {
        self.assets
            .in_flight
            .lock()
            .get(&client)
            .copied()
            .unwrap_or(0)
    }
}

/// Check `uri` against the configuration and map it to a file path.
fn resolve(hub: &Hub, uri: &str) -> Result<PathBuf, AssetError> {
    // `..` first: it is refused whatever the allowlist says (foxglove_bridge checks both).
    if uri.contains("..") {
        return Err(AssetError::ParentReference(uri.to_string()));
    }
    if !hub.config.asset_uri_allowlist.matches(uri) {
        return Err(AssetError::NotAllowed(uri.to_string()));
    }
    resolve_uri(uri, &hub.schemas.prefixes())
}

/// Map an already allowed URI to a path: `package://` through the ament `prefixes`, `file://`
/// as an absolute path.
pub fn resolve_uri(uri: &str, prefixes: &[PathBuf]) -> Result<PathBuf, AssetError> {
    let bad = |reason| AssetError::BadUri {
        uri: uri.to_string(),
        reason,
    };
    if let Some(rest) = uri.strip_prefix("package://") {
        let (package, rel) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected package://<package>/<path>"))?;
        if package.is_empty()
            || !package
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(bad("invalid package name"));
        }
        let rel = relative_path(rel).ok_or_else(|| bad("invalid path inside the package"))?;
        let prefix = prefixes
            .iter()
            .find(|p| {
                p.join("share/ament_index/resource_index/packages")
                    .join(package)
                    .is_file()
            })
            .ok_or_else(|| AssetError::UnknownPackage {
                uri: uri.to_string(),
                package: package.to_string(),
            })?;
        return Ok(prefix.join("share").join(package).join(rel));
    }
    if let Some(rest) = uri.strip_prefix("file://") {
        // `file:///abs` (empty host) or `file://localhost/abs`; any other host is not us.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        let Some(rel) = path.strip_prefix('/') else {
            return Err(bad("expected file:///<absolute path>"));
        };
        let rel = relative_path(rel).ok_or_else(|| bad("invalid file path"))?;
        return Ok(Path::new("/").join(rel));
    }
    Err(bad("only package:// and file:// are served"))
}

/// `rel` as a path of plain names only: no root, no `.`/`..`, no empty segments, no NUL. This is
/// what keeps `package://pkg//etc/passwd` from escaping the package (joining an absolute path
/// replaces the base).
fn relative_path(rel: &str) -> Option<PathBuf> {
    if rel.is_empty() || rel.contains('\0') || rel.split('/').any(str::is_empty) {
        return None;
    }
    let path = PathBuf::from(rel);
    path.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(path)
}

/// Read a whole asset, refusing non-files and anything over [`MAX_ASSET_BYTES`]. Blocking.
fn read_asset(uri: &str, path: &Path) -> Result<Vec<u8>, AssetError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => AssetError::NotFound {
            uri: uri.to_string(),
            path: path.display().to_string(),
        },
        _ => AssetError::Io {
            uri: uri.to_string(),
            reason: e.to_string(),
        },
    };
    // stat before open: opening a FIFO would block this thread until someone writes to it.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(AssetError::NotAFile(uri.to_string()));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let too_large = |size| AssetError::TooLarge {
        uri: uri.to_string(),
        size,
        limit: MAX_ASSET_BYTES,
    };
    if meta.len() > MAX_ASSET_BYTES {
        return Err(too_large(meta.len()));
    }
    // The file may grow between stat and read: read at most one byte past the cap to notice.
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_ASSET_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > MAX_ASSET_BYTES {
        return Err(too_large(data.len() as u64));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix_with(pkgs: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for p in pkgs {
            let marker = dir
                .path()
                .join("share/ament_index/resource_index/packages")
                .join(p);
            std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
            std::fs::write(&marker, "").unwrap();
            std::fs::create_dir_all(dir.path().join("share").join(p).join("meshes")).unwrap();
        }
        dir
    }

    #[test]
    fn package_uri_resolves_in_the_first_prefix_that_has_the_package() {
        let overlay = prefix_with(&["robot"]);
        let underlay = prefix_with(&["robot", "other"]);
        let prefixes = vec![overlay.path().to_path_buf(), underlay.path().to_path_buf()];
        assert_eq!(
            resolve_uri("package://robot/meshes/a.stl", &prefixes).unwrap(),
            overlay.path().join("share/robot/meshes/a.stl")
        );
        assert_eq!(
            resolve_uri("package://other/meshes/a.stl", &prefixes).unwrap(),
            underlay.path().join("share/other/meshes/a.stl")
        );
        // A share directory without the index marker is not a package.
        std::fs::create_dir_all(overlay.path().join("share/ghost")).unwrap();
        assert!(matches!(
            resolve_uri("package://ghost/a.stl", &prefixes),
            Err(AssetError::UnknownPackage { .. })
        ));
    }

    #[test]
    fn malformed_uris_are_refused_before_touching_the_disk() {
        let p = prefix_with(&["robot"]);
        let prefixes = vec![p.path().to_path_buf()];
        for uri in [
            "package://robot//etc/passwd",
            "package:///etc/passwd",
            "package://robot",
            "package://robot/",
            "package://robot/./a.stl",
            "package://ro bot/a.stl",
            "package://robot/a\0.stl",
            "file://host/etc/passwd",
            "file://etc/passwd",
            "file:///",
            "http://example.com/a.stl",
            "a.stl",
        ] {
            assert!(
                matches!(resolve_uri(uri, &prefixes), Err(AssetError::BadUri { .. })),
                "{uri:?} → {:?}",
                resolve_uri(uri, &prefixes)
            );
        }
        assert_eq!(
            resolve_uri("file:///tmp/x.stl", &prefixes).unwrap(),
            PathBuf::from("/tmp/x.stl")
        );
        assert_eq!(
            resolve_uri("file://localhost/tmp/x.stl", &prefixes).unwrap(),
            PathBuf::from("/tmp/x.stl")
        );
    }

    #[test]
    fn read_refuses_directories_missing_files_and_oversize() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_asset("u", dir.path()),
            Err(AssetError::NotAFile(_))
        ));
        assert!(matches!(
            read_asset("u", &dir.path().join("nope")),
            Err(AssetError::NotFound { .. })
        ));
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        // Sparse: no disk space used.
        f.set_len(MAX_ASSET_BYTES + 1).unwrap();
        assert!(matches!(
            read_asset("u", &big),
            Err(AssetError::TooLarge { size, .. }) if size == MAX_ASSET_BYTES + 1
        ));
        let ok = dir.path().join("ok");
        std::fs::write(&ok, b"solid").unwrap();
        assert_eq!(read_asset("u", &ok).unwrap(), b"solid");
    }

    /// Asset response frames queued for the viewer, still alive (they hold their slots).
    fn pop_frames(outbox: &crate::hub::Outbox) -> Vec<Bytes> {
        let mut out = Vec::new();
        let _ = outbox.pop_batch(&mut out, 1000, usize::MAX);
        out.into_iter()
            .filter_map(|o| match o {
                crate::hub::Outgoing::Control(Control::Binary(b)) if b.first() == Some(&4) => {
                    Some(b)
                }
                _ => None,
            })
            .collect()
    }

    /// (request id, status, error text, data) of a Fetch Asset Response.
    fn parse(b: &[u8]) -> (u32, u8, String, Vec<u8>) {
        let id = u32::from_le_bytes(b[1..5].try_into().unwrap());
        let n = u32::from_le_bytes(b[6..10].try_into().unwrap()) as usize;
        let err = String::from_utf8(b[10..10 + n].to_vec()).unwrap();
        (id, b[5], err, b[10 + n..].to_vec())
    }

    #[tokio::test]
    async fn at_most_32_requests_in_flight_per_viewer_until_written() {
        let prefix = prefix_with(&["robot"]);
        std::fs::write(prefix.path().join("share/robot/meshes/a.stl"), b"mesh").unwrap();
        let schemas = Arc::new(crate::schema::SchemaStore::new(vec![prefix
            .path()
            .to_path_buf()]));
        let (hub, _io, _events) = Hub::new(Arc::new(crate::config::Config::default()), schemas);
        let limits = crate::hub::Limits {
            control_messages: 1000,
            data_messages: 10,
            data_bytes: 1 << 20,
        };
        let a = Arc::new(crate::hub::Outbox::new(limits));
        let b = Arc::new(crate::hub::Outbox::new(limits));
        let (ca, cb) = (hub.connect(a.clone()), hub.connect(b.clone()));
        let uri = || "package://robot/meshes/a.stl".to_string();

        // Hold every read permit: requests stay in flight until released.
        let held = hub
            .assets
            .reads
            .clone()
            .acquire_many_owned(MAX_CONCURRENT_READS as u32)
            .await
            .unwrap();
        for id in 0..MAX_IN_FLIGHT as u32 {
            hub.fetch_asset(ca, uri(), id).unwrap();
        }
        assert_eq!(hub.assets_in_flight(ca), MAX_IN_FLIGHT);
        hub.fetch_asset(ca, uri(), 99).unwrap();
        let refused: Vec<_> = pop_frames(&a).iter().map(|f| parse(f)).collect();
        assert_eq!(
            refused,
            vec![(
                99,
                1,
                "Too many concurrent fetch asset requests".to_string(),
                vec![]
            )]
        );
        // The limit is per viewer: another one is accepted meanwhile.
        hub.fetch_asset(cb, uri(), 7).unwrap();
        assert_eq!(hub.assets_in_flight(cb), 1);

        drop(held);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut frames = Vec::new();
        while frames.len() < MAX_IN_FLIGHT {
            assert!(
                tokio::time::Instant::now() < deadline,
                "requests never finished"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            frames.extend(pop_frames(&a));
        }
        // Answered but not written yet: still in flight, so still refused.
        assert_eq!(hub.assets_in_flight(ca), MAX_IN_FLIGHT);
        hub.fetch_asset(ca, uri(), 100).unwrap();
        assert_eq!(parse(&pop_frames(&a)[0]).0, 100);
        let mut got: Vec<_> = frames.iter().map(|f| parse(f)).collect();
        got.sort();
        for (i, (id, status, err, data)) in got.into_iter().enumerate() {
            assert_eq!(
                (id, status, err.as_str(), data.as_slice()),
                (i as u32, 0, "", &b"mesh"[..])
            );
        }
        // Written (dropped): the slots are free again.
        drop(frames);
        assert_eq!(hub.assets_in_flight(ca), 0);
        while hub.assets_in_flight(cb) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "request never finished"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let got: Vec<_> = pop_frames(&b).iter().map(|f| parse(f)).collect();
            if !got.is_empty() {
                assert_eq!(got, vec![(7, 0, String::new(), b"mesh".to_vec())]);
            }
        }
        assert!(hub.assets.in_flight.lock().is_empty());
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.stl");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo");
        assert!(matches!(
            read_asset("u", &fifo),
            Err(AssetError::NotAFile(_))
        ));
    }
}
