//! The `assets` capability: `fetchAsset` for `package://` and `file://` URIs.
//!
//! - A URI must match `asset_uri_allowlist` and must not contain `..` (foxglove_bridge's two
//!   checks), else the viewer gets an error response naming the reason.
//! - `package://pkg/path` resolves through the ament index the same way as message definitions
//!   ([`SchemaStore::prefixes`](crate::schema::SchemaStore::prefixes)): `P/share/pkg/path` of the
//!   first prefix `P` that has the marker `P/share/ament_index/resource_index/packages/pkg`.
//! - `file:///abs/path` reads that path (the default allowlist admits no `file://` URI).
//! - **Symbolic links** are followed only to where the URI could lead anyway: for `package://`,
//!   inside the package's share directory or inside the colcon workspace that holds the prefix
//!   (the parent of its `install/`: `colcon build --symlink-install` links installed files to
//!   `src/` and `build/`); for `file://`, only if the link's final target, as a `file://` URI,
//!   also matches `asset_uri_allowlist`. A link to `/etc/passwd` is refused either way.
//! - Errors never show the robot's file paths, only the URI the viewer sent.
//! - Bounded: a viewer has at most [`MAX_IN_FLIGHT`] requests outstanding; an asset is at most
//!   [`MAX_ASSET_BYTES`]; the bytes of responses read and not yet written are at most
//!   `asset_buffer_limit` over all viewers and a quarter of it per viewer (one asset larger than
//!   that share is served alone). The size is reserved before the file is read; a request
//!   without room waits (it costs nothing meanwhile). At most [`MAX_CONCURRENT_READS`] files are
//!   read at once, on tokio's blocking pool, so a slow disk never stalls the async workers.
//! - The file is read once into one buffer, and the response goes out as its header followed by
//!   that buffer ([`Control::Parts`]): no copy to join them, and the WebSocket writer sends it in
//!   fragments so no per-connection buffer grows to the asset's size.
//! - Every outcome is a Fetch Asset Response (binary 0x04) on the viewer's control queue; a
//!   request refused at once goes on its refusal lane (a burst is summarised, never fatal).
//!
//! Unlike foxglove_bridge (resource_retriever) there is no `http(s)://`: a robot-side proxy to
//! arbitrary URLs is a server-side request forgery risk for little gain.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ClientError, ClientId, Control, Hub, Outbox};
use crate::config::Patterns;
use crate::protocol::binary::fetch_asset_response;

/// Requests one viewer may have outstanding (the Foxglove SDK's limit).
pub const MAX_IN_FLIGHT: usize = 32;
/// Largest asset served, in bytes. Meshes and textures of real robots stay well below.
pub const MAX_ASSET_BYTES: u64 = 64 << 20;
/// Files read at once over all viewers: enough to keep a disk busy, few enough that a burst of
/// mesh requests leaves blocking threads and memory for everything else.
pub const MAX_CONCURRENT_READS: usize = 4;
/// A viewer's share of `asset_buffer_limit`: this fraction of it.
pub const VIEWER_SHARE_DIVISOR: usize = 4;

/// Why an asset could not be served. The text is what the viewer sees in the response; it names
/// the URI, never a path on the robot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    /// More than [`MAX_IN_FLIGHT`] outstanding requests (the SDK's wording, and the limit).
    #[error("Too many concurrent fetch asset requests (at most {MAX_IN_FLIGHT} per viewer)")]
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
    #[error("Asset not found: {0}")]
    NotFound(String),
    /// A symbolic link leading where the URI may not (see the module docs).
    #[error(
        "Asset {0} is a symbolic link to a file outside its package and workspace (or outside \
         asset_uri_allowlist): refused"
    )]
    LinkOutside(String),
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
    /// Any other I/O error (the OS's reason, which names no path).
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

/// Where a URI's file may really be, once symbolic links are followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Within {
    /// A `package://` file: inside the package's share directory or the colcon workspace.
    Package {
        /// `P/share/pkg`.
        share: PathBuf,
        /// The colcon workspace holding `P` (the parent of its `install/`), if any.
        workspace: Option<PathBuf>,
    },
    /// A `file://` file: its real path, as a `file://` URI, must match the allowlist.
    Allowlist,
}

/// A resolved URI: the path to open and where it may lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The path, as the URI names it (symbolic links not followed yet).
    pub path: PathBuf,
    /// Where the file may really be.
    pub within: Within,
}

/// Per-hub state of the assets capability.
pub(super) struct Assets {
    /// Outstanding requests per viewer; an entry is removed when it drops to zero, so a viewer
    /// that leaves needs no cleanup here.
    in_flight: Arc<Mutex<HashMap<ClientId, usize>>>,
    reads: Arc<Semaphore>,
    /// Bytes of responses held, all viewers (`asset_buffer_limit` permits).
    bytes: Arc<Semaphore>,
    bytes_limit: usize,
    /// Each viewer's share, created on its first request and dropped when it leaves.
    viewer_bytes: Mutex<HashMap<ClientId, Arc<Semaphore>>>,
    viewer_limit: usize,
    /// Bytes of responses read and not yet written (the permits a waiting request has been
    /// given in part do not count: nothing is read for it yet).
    held: Arc<AtomicUsize>,
}

impl Assets {
    /// Budgets for `asset_buffer_limit` bytes.
    pub(super) fn new(buffer_limit: usize) -> Self {
        // Semaphore permits are taken a u32 at a time.
        let bytes_limit = buffer_limit.clamp(1, u32::MAX as usize);
        let viewer_limit = (bytes_limit / VIEWER_SHARE_DIVISOR).max(1);
        Assets {
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            reads: Arc::new(Semaphore::new(MAX_CONCURRENT_READS)),
            bytes: Arc::new(Semaphore::new(bytes_limit)),
            bytes_limit,
            viewer_bytes: Mutex::new(HashMap::new()),
            viewer_limit,
            held: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn viewer_budget(&self, client: ClientId) -> Arc<Semaphore> {
        self.viewer_bytes
            .lock()
            .entry(client)
            .or_insert_with(|| Arc::new(Semaphore::new(self.viewer_limit)))
            .clone()
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

/// What a response holds until it is written: its slot and its bytes of the budgets.
struct Held {
    _slot: Slot,
    _budget: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    bytes: usize,
    held: Arc<AtomicUsize>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// An asset's bytes, keeping what they hold until the last part is written.
struct HeldData {
    data: Vec<u8>,
    _held: Held,
}

impl AsRef<[u8]> for HeldData {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

/// An error response frame, keeping its slot until written.
struct HeldFrame {
    frame: Bytes,
    _slot: Slot,
}

impl AsRef<[u8]> for HeldFrame {
    fn as_ref(&self) -> &[u8] {
        &self.frame
    }
}

/// Reserve `size` bytes of a budget of `limit` (clamped: a larger asset takes it all).
async fn reserve(budget: Arc<Semaphore>, size: u64, limit: usize) -> Option<OwnedSemaphorePermit> {
    let n = size.min(limit as u64) as u32;
    budget.acquire_many_owned(n).await.ok()
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
        let refuse = |e: AssetError| {
            tracing::debug!(client, request_id, error = %e, "asset refused");
            let text = e.to_string();
            let frame = fetch_asset_response(request_id, Err(&text));
            outbox.push_refusal(Control::Binary(frame), &text);
        };
        let target = match resolve(self, &uri) {
            Ok(t) => t,
            Err(e) => {
                refuse(e);
                return Ok(());
            }
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            refuse(AssetError::Internal);
            return Ok(());
        };
        {
            let mut map = self.assets.in_flight.lock();
            let n = map.entry(client).or_insert(0);
            if *n >= MAX_IN_FLIGHT {
                drop(map);
                refuse(AssetError::TooManyInFlight);
                return Ok(());
            }
            *n += 1;
        }
        let slot = Slot {
            in_flight: self.assets.in_flight.clone(),
            client,
        };
        let job = Fetch {
            client,
            request_id,
            uri,
            target,
            allowlist: self.config.asset_uri_allowlist.clone(),
            outbox,
            slot,
            reads: self.assets.reads.clone(),
            global: (self.assets.bytes.clone(), self.assets.bytes_limit),
            viewer: (self.assets.viewer_budget(client), self.assets.viewer_limit),
            held: self.assets.held.clone(),
        };
        runtime.spawn(job.run());
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

    /// Bytes of asset responses held now (read and not yet written), all viewers.
    pub fn asset_bytes_held(&self) -> usize {
        self.assets.held.load(Ordering::Relaxed)
    }

    /// A viewer left: its share of the byte budget goes (requests in flight keep theirs).
    pub(super) fn assets_disconnect(&self, client: ClientId) {
        let mut shares = self.assets.viewer_bytes.lock();
        shares.remove(&client);
        super::shrink_table(&mut shares);
    }
}

/// One accepted request, from reservation to response.
struct Fetch {
    client: ClientId,
    request_id: u32,
    uri: String,
    target: Target,
    allowlist: Patterns,
    outbox: Arc<Outbox>,
    slot: Slot,
    reads: Arc<Semaphore>,
    global: (Arc<Semaphore>, usize),
    viewer: (Arc<Semaphore>, usize),
    held: Arc<AtomicUsize>,
}

impl Fetch {
    async fn run(self) {
        let Fetch {
            client,
            request_id,
            uri,
            target,
            allowlist,
            outbox,
            slot,
            reads,
            global,
            viewer,
            held,
        } = self;
        let fail = |e: AssetError, slot: Slot| {
            tracing::debug!(client, request_id, error = %e, "asset request failed");
            let frame = fetch_asset_response(request_id, Err(&e.to_string()));
            let frame = Bytes::from_owner(HeldFrame { frame, _slot: slot });
            // At most MAX_IN_FLIGHT of these per viewer; a full queue closes it anyway.
            let _ = outbox.push_control(Control::Binary(frame));
        };
        // The size first (a stat, no descriptor held), to reserve it before any byte is read.
        let check = (uri.clone(), target.clone(), allowlist.clone());
        let size = match tokio::task::spawn_blocking(move || {
            check_target(&check.0, &check.1, &check.2).map(|(_, size)| size)
        })
        .await
        {
            Ok(Ok(size)) => size,
            Ok(Err(e)) => return fail(e, slot),
            Err(_) => return fail(AssetError::Internal, slot),
        };
        let Some(mine) = reserve(viewer.0, size, viewer.1).await else {
            return fail(AssetError::Internal, slot);
        };
        let Some(all) = reserve(global.0, size, global.1).await else {
            return fail(AssetError::Internal, slot);
        };
        if outbox.closed().is_some() {
            return; // The viewer left while waiting.
        }
        // The semaphore is never closed, so acquire only fails if that changes.
        let Ok(permit) = reads.acquire_owned().await else {
            return fail(AssetError::Internal, slot);
        };
        let read_uri = uri.clone();
        // Allocated here, on a worker, where it will also be freed once written: memory of a
        // blocking thread's heap would go back to the system only when that thread exits.
        let buffer = Vec::with_capacity(size as usize);
        let read = tokio::task::spawn_blocking(move || {
            read_asset(&read_uri, &target, &allowlist, size, buffer)
        })
        .await;
        drop(permit);
        let data = match read {
            Ok(Ok(data)) => data,
            Ok(Err(e)) => return fail(e, slot),
            Err(_) => return fail(AssetError::Internal, slot),
        };
        let head = fetch_asset_response(request_id, Ok(&[]));
        held.fetch_add(data.len(), Ordering::Relaxed);
        let bytes = data.len();
        let body = Bytes::from_owner(HeldData {
            data,
            _held: Held {
                _slot: slot,
                _budget: (mine, all),
                bytes,
                held,
            },
        });
        let _ = outbox.push_control(Control::Parts { head, body });
    }
}

/// Check `uri` against the configuration and map it to a file path.
fn resolve(hub: &Hub, uri: &str) -> Result<Target, AssetError> {
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
pub fn resolve_uri(uri: &str, prefixes: &[PathBuf]) -> Result<Target, AssetError> {
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
        let share = prefix.join("share").join(package);
        return Ok(Target {
            path: share.join(rel),
            within: Within::Package {
                share,
                workspace: workspace_of(prefix),
            },
        });
    }
    if let Some(rest) = uri.strip_prefix("file://") {
        // `file:///abs` (empty host) or `file://localhost/abs`; any other host is not us.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        let Some(rel) = path.strip_prefix('/') else {
            return Err(bad("expected file:///<absolute path>"));
        };
        let rel = relative_path(rel).ok_or_else(|| bad("invalid file path"))?;
        return Ok(Target {
            path: Path::new("/").join(rel),
            within: Within::Allowlist,
        });
    }
    Err(bad("only package:// and file:// are served"))
}

/// The colcon workspace an install prefix belongs to: the parent of the nearest `install`
/// directory among the prefix and its ancestors (`ws/install` merged, `ws/install/pkg`
/// isolated). `/opt/ros/jazzy` has none.
pub fn workspace_of(prefix: &Path) -> Option<PathBuf> {
    prefix
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "install"))
        .and_then(Path::parent)
        .filter(|w| w.parent().is_some())
        .map(Path::to_path_buf)
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

fn io_error(uri: &str, path: &Path, e: std::io::Error) -> AssetError {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            tracing::debug!(%uri, path = %path.display(), "asset not found");
            AssetError::NotFound(uri.to_string())
        }
        _ => AssetError::Io {
            uri: uri.to_string(),
            reason: e.kind().to_string(),
        },
    }
}

/// Follow symbolic links and apply the policy (module docs); returns the real path and the
/// size of the regular file it names. Blocking.
fn check_target(
    uri: &str,
    target: &Target,
    allowlist: &Patterns,
) -> Result<(PathBuf, u64), AssetError> {
    let io = |e| io_error(uri, &target.path, e);
    let real = std::fs::canonicalize(&target.path).map_err(io)?;
    let allowed = match &target.within {
        Within::Package { share, workspace } => {
            let inside =
                |root: &Path| std::fs::canonicalize(root).is_ok_and(|root| real.starts_with(root));
            inside(share) || workspace.as_deref().is_some_and(inside)
        }
        Within::Allowlist => real
            .to_str()
            .is_some_and(|p| allowlist.matches(&format!("file://{p}"))),
    };
    if !allowed {
        tracing::info!(%uri, "asset refused: symbolic link outside its package or allowlist");
        return Err(AssetError::LinkOutside(uri.to_string()));
    }
    // stat before open: opening a FIFO would block this thread until someone writes to it.
    let meta = std::fs::metadata(&real).map_err(io)?;
    if !meta.is_file() {
        return Err(AssetError::NotAFile(uri.to_string()));
    }
    if meta.len() > MAX_ASSET_BYTES {
        return Err(AssetError::TooLarge {
            uri: uri.to_string(),
            size: meta.len(),
            limit: MAX_ASSET_BYTES,
        });
    }
    Ok((real, meta.len()))
}

/// Read a whole asset whose `size` was reserved into `data`, checking the link policy again at
/// open time. Blocking.
fn read_asset(
    uri: &str,
    target: &Target,
    allowlist: &Patterns,
    size: u64,
    mut data: Vec<u8>,
) -> Result<Vec<u8>, AssetError> {
    let (real, _) = check_target(uri, target, allowlist)?;
    let io = |e| io_error(uri, &target.path, e);
    let file = std::fs::File::open(&real).map_err(io)?;
    data.clear();
    // At most one byte past what was reserved, to notice a file that grew since.
    file.take(size + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > size {
        return Err(AssetError::Io {
            uri: uri.to_string(),
            reason: "the file changed while it was read; ask again".into(),
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix_with(pkgs: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        add_packages(dir.path(), pkgs);
        dir
    }

    fn add_packages(prefix: &Path, pkgs: &[&str]) {
        for p in pkgs {
            let marker = prefix
                .join("share/ament_index/resource_index/packages")
                .join(p);
            std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
            std::fs::write(&marker, "").unwrap();
            std::fs::create_dir_all(prefix.join("share").join(p).join("meshes")).unwrap();
        }
    }

    fn path_of(uri: &str, prefixes: &[PathBuf]) -> PathBuf {
        resolve_uri(uri, prefixes).unwrap().path
    }

    fn allow_all() -> Patterns {
        Patterns::all()
    }

    #[test]
    fn package_uri_resolves_in_the_first_prefix_that_has_the_package() {
        let overlay = prefix_with(&["robot"]);
        let underlay = prefix_with(&["robot", "other"]);
        let prefixes = vec![overlay.path().to_path_buf(), underlay.path().to_path_buf()];
        assert_eq!(
            path_of("package://robot/meshes/a.stl", &prefixes),
            overlay.path().join("share/robot/meshes/a.stl")
        );
        assert_eq!(
            path_of("package://other/meshes/a.stl", &prefixes),
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
            path_of("file:///tmp/x.stl", &prefixes),
            PathBuf::from("/tmp/x.stl")
        );
        assert_eq!(
            path_of("file://localhost/tmp/x.stl", &prefixes),
            PathBuf::from("/tmp/x.stl")
        );
    }

    #[test]
    fn the_workspace_is_the_parent_of_install() {
        assert_eq!(
            workspace_of(Path::new("/home/u/ws/install/robot")),
            Some(PathBuf::from("/home/u/ws"))
        );
        assert_eq!(
            workspace_of(Path::new("/home/u/ws/install")),
            Some(PathBuf::from("/home/u/ws"))
        );
        assert_eq!(workspace_of(Path::new("/opt/ros/jazzy")), None);
        // `/install` itself would make the whole disk the workspace.
        assert_eq!(workspace_of(Path::new("/install/robot")), None);
    }

    /// A file target (no symbolic link policy at play: `Allowlist` with everything allowed).
    fn plain(path: &Path) -> Target {
        Target {
            path: path.to_path_buf(),
            within: Within::Allowlist,
        }
    }

    #[test]
    fn read_refuses_directories_missing_files_and_oversize() {
        let dir = tempfile::tempdir().unwrap();
        let all = allow_all();
        assert!(matches!(
            check_target("u", &plain(dir.path()), &all),
            Err(AssetError::NotAFile(_))
        ));
        let missing = check_target("u", &plain(&dir.path().join("nope")), &all).unwrap_err();
        assert_eq!(missing, AssetError::NotFound("u".into()));
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        // Sparse: no disk space used.
        f.set_len(MAX_ASSET_BYTES + 1).unwrap();
        assert!(matches!(
            check_target("u", &plain(&big), &all),
            Err(AssetError::TooLarge { size, .. }) if size == MAX_ASSET_BYTES + 1
        ));
        let ok = dir.path().join("ok");
        std::fs::write(&ok, b"solid").unwrap();
        assert_eq!(check_target("u", &plain(&ok), &all).unwrap().1, 5);
        assert_eq!(
            read_asset("u", &plain(&ok), &all, 5, Vec::new()).unwrap(),
            b"solid"
        );
        // Grown since its size was reserved.
        assert!(matches!(
            read_asset("u", &plain(&ok), &all, 3, Vec::new()),
            Err(AssetError::Io { .. })
        ));
    }

    #[test]
    fn errors_never_show_a_path_on_the_robot() {
        let p = prefix_with(&["robot"]);
        let prefixes = vec![p.path().to_path_buf()];
        let uri = "package://robot/meshes/missing.stl";
        let target = resolve_uri(uri, &prefixes).unwrap();
        let e = check_target(uri, &target, &allow_all()).unwrap_err();
        let text = e.to_string();
        assert_eq!(text, format!("Asset not found: {uri}"));
        assert!(!text.contains(&*p.path().to_string_lossy()), "{text}");
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_stay_in_the_package_or_the_workspace() {
        use std::os::unix::fs::symlink;
        // A colcon workspace built with --symlink-install: install/<pkg>/share/<pkg>/meshes/*
        // link to src/<pkg>/meshes/*.
        let ws = tempfile::tempdir().unwrap();
        let prefix = ws.path().join("install/robot");
        add_packages(&prefix, &["robot"]);
        let src = ws.path().join("src/robot/meshes");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("base.stl"), b"mesh").unwrap();
        let meshes = prefix.join("share/robot/meshes");
        symlink(src.join("base.stl"), meshes.join("base.stl")).unwrap();
        std::fs::write(meshes.join("local.stl"), b"here").unwrap();
        symlink(meshes.join("local.stl"), meshes.join("alias.stl")).unwrap();
        // A secret outside the workspace, and links to it.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("shadow"), b"secret").unwrap();
        symlink(outside.path().join("shadow"), meshes.join("evil.stl")).unwrap();
        symlink("/etc/passwd", meshes.join("passwd.stl")).unwrap();
        symlink(outside.path(), meshes.join("dir")).unwrap();

        let prefixes = vec![prefix.clone()];
        let all = allow_all();
        let get = |uri: &str| {
            let t = resolve_uri(uri, &prefixes).unwrap();
            check_target(uri, &t, &all).and_then(|(_, n)| read_asset(uri, &t, &all, n, Vec::new()))
        };
        assert_eq!(get("package://robot/meshes/base.stl").unwrap(), b"mesh");
        assert_eq!(get("package://robot/meshes/alias.stl").unwrap(), b"here");
        for uri in [
            "package://robot/meshes/evil.stl",
            "package://robot/meshes/passwd.stl",
            "package://robot/meshes/dir/shadow",
        ] {
            let e = get(uri).unwrap_err();
            assert_eq!(e, AssetError::LinkOutside(uri.into()), "{uri}");
            assert!(!e.to_string().contains("passwd.stl/") && !e.to_string().contains("/etc"));
        }

        // file://: the link's target must itself be allowed.
        let allowed = Patterns::new(
            "asset_uri_allowlist",
            &[format!(
                "file://{}/.*",
                meshes.canonicalize().unwrap().display()
            )],
        )
        .unwrap();
        let file = |name: &str| {
            let uri = format!("file://{}", meshes.join(name).display());
            let t = resolve_uri(&uri, &[]).unwrap();
            check_target(&uri, &t, &allowed).map(|_| ())
        };
        assert!(file("local.stl").is_ok());
        assert!(file("alias.stl").is_ok());
        assert!(matches!(file("evil.stl"), Err(AssetError::LinkOutside(_))));
        assert!(matches!(
            file("passwd.stl"),
            Err(AssetError::LinkOutside(_))
        ));
    }

    /// Asset response messages queued for the viewer, still alive (they hold their slots), as
    /// whole messages.
    fn pop_frames(outbox: &crate::hub::Outbox) -> Vec<Control> {
        let mut out = Vec::new();
        let _ = outbox.pop_batch(&mut out, 1000, usize::MAX);
        out.into_iter()
            .filter_map(|o| match o {
                crate::hub::Outgoing::Control(c @ Control::Binary(_)) => Some(c),
                crate::hub::Outgoing::Control(c @ Control::Parts { .. }) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// (request id, status, error text, data) of a Fetch Asset Response.
    fn parse(c: &Control) -> (u32, u8, String, Vec<u8>) {
        let b: Vec<u8> = match c {
            Control::Binary(b) => b.to_vec(),
            Control::Parts { head, body } => [&head[..], &body[..]].concat(),
            _ => unreachable!(),
        };
        assert_eq!(b[0], 4);
        let id = u32::from_le_bytes(b[1..5].try_into().unwrap());
        let n = u32::from_le_bytes(b[6..10].try_into().unwrap()) as usize;
        let err = String::from_utf8(b[10..10 + n].to_vec()).unwrap();
        (id, b[5], err, b[10 + n..].to_vec())
    }

    fn test_hub(prefix: &Path, buffer: usize) -> Arc<Hub> {
        let schemas = Arc::new(crate::schema::SchemaStore::new(vec![prefix.to_path_buf()]));
        let config = crate::config::Config {
            asset_buffer_limit: buffer,
            ..crate::config::Config::default()
        };
        let (hub, _io, _events) = Hub::new(Arc::new(config), schemas);
        hub
    }

    fn outbox() -> Arc<crate::hub::Outbox> {
        Arc::new(crate::hub::Outbox::new(crate::hub::Limits {
            control_messages: 1000,
            data_messages: 10,
            data_bytes: 1 << 20,
        }))
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !f() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn at_most_32_requests_in_flight_per_viewer_until_written() {
        let prefix = prefix_with(&["robot"]);
        std::fs::write(prefix.path().join("share/robot/meshes/a.stl"), b"mesh").unwrap();
        let hub = test_hub(prefix.path(), 64 << 20);
        let (a, b) = (outbox(), outbox());
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
        let refused: Vec<_> = pop_frames(&a).iter().map(parse).collect();
        assert_eq!(
            refused,
            vec![(
                99,
                1,
                "Too many concurrent fetch asset requests (at most 32 per viewer)".to_string(),
                vec![]
            )]
        );
        // The limit is per viewer: another one is accepted meanwhile.
        hub.fetch_asset(cb, uri(), 7).unwrap();
        assert_eq!(hub.assets_in_flight(cb), 1);

        drop(held);
        let mut frames = Vec::new();
        until("requests never finished", || {
            frames.extend(pop_frames(&a));
            frames.len() >= MAX_IN_FLIGHT
        })
        .await;
        // Answered but not written yet: still in flight, so still refused.
        assert_eq!(hub.assets_in_flight(ca), MAX_IN_FLIGHT);
        hub.fetch_asset(ca, uri(), 100).unwrap();
        assert_eq!(parse(&pop_frames(&a)[0]).0, 100);
        let mut got: Vec<_> = frames.iter().map(parse).collect();
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
        let mut got_b = Vec::new();
        until("request never finished", || {
            got_b.extend(pop_frames(&b).iter().map(parse));
            hub.assets_in_flight(cb) == 0
        })
        .await;
        assert_eq!(got_b, vec![(7, 0, String::new(), b"mesh".to_vec())]);
        assert!(hub.assets.in_flight.lock().is_empty());
    }

    #[tokio::test]
    async fn asset_bytes_are_reserved_before_reading_and_held_until_written() {
        // A 4 MiB budget: 1 MiB per viewer; 600 KiB meshes.
        const MESH: usize = 600 * 1024;
        let prefix = prefix_with(&["robot"]);
        std::fs::write(
            prefix.path().join("share/robot/meshes/a.stl"),
            vec![7u8; MESH],
        )
        .unwrap();
        let hub = test_hub(prefix.path(), 4 << 20);
        let uri = || "package://robot/meshes/a.stl".to_string();
        let viewers: Vec<_> = (0..7).map(|_| outbox()).collect();
        let ids: Vec<_> = viewers.iter().map(|o| hub.connect(o.clone())).collect();

        // Viewer 0 asks for 3 (1.8 MiB > its 1 MiB share): one is read, two wait.
        for id in 0..3 {
            hub.fetch_asset(ids[0], uri(), id).unwrap();
        }
        let mut first = Vec::new();
        until("first response", || {
            first.extend(pop_frames(&viewers[0]));
            !first.is_empty()
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(pop_frames(&viewers[0]).is_empty(), "over its share");
        assert_eq!(hub.asset_bytes_held(), MESH);
        assert_eq!(hub.assets_in_flight(ids[0]), 3);

        // Six other viewers that do not read: the global budget (4 MiB) holds 6 meshes, so five
        // are answered and the last waits.
        for &id in &ids[1..] {
            hub.fetch_asset(id, uri(), 0).unwrap();
        }
        let mut held: Vec<_> = Vec::new();
        until("others answered", || {
            for v in &viewers[1..] {
                held.extend(pop_frames(v));
            }
            held.len() == 5
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for v in &viewers[1..] {
            held.extend(pop_frames(v));
        }
        assert_eq!(held.len(), 5, "over the global budget");
        assert_eq!(hub.asset_bytes_held(), 6 * MESH);

        // Written: the waiting one goes out.
        drop(first);
        until("the last of the others", || {
            for v in &viewers[1..] {
                held.extend(pop_frames(v));
            }
            held.len() == 6
        })
        .await;
        assert!(hub.asset_bytes_held() <= 4 << 20);
        drop(held);
        // And viewer 0's other two, one after the other (its share holds one).
        let mut rest = Vec::new();
        until("viewer 0's second", || {
            rest.extend(pop_frames(&viewers[0]));
            !rest.is_empty()
        })
        .await;
        assert_eq!(parse(&rest[0]).3, vec![7u8; MESH]);
        assert_eq!(hub.asset_bytes_held(), MESH);
        rest.clear();
        until("viewer 0's third", || {
            rest.extend(pop_frames(&viewers[0]));
            !rest.is_empty()
        })
        .await;
        drop(rest);
        until("all released", || hub.asset_bytes_held() == 0).await;
        assert_eq!(hub.assets_in_flight(ids[0]), 0);
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
            check_target("u", &plain(&fifo), &allow_all()),
            Err(AssetError::NotAFile(_))
        ));
    }
}
