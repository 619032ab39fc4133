//! Type support loaded at runtime, the way ROS's own tools do it: the ament index gives the
//! package's install prefix, `lib<pkg>__rosidl_typesupport_c.so` in it gives the type support
//! handle rcl wants, and `lib<pkg>__rosidl_typesupport_introspection_c.so` gives the size and
//! init/fini functions of a message struct where one must be allocated (service requests and
//! responses). Libraries stay loaded while any type from them is in use (each type holds an
//! `Arc` of its library), and forever in practice: they are cached per package.
//!
//! Error texts reach viewers, so they name packages and library *file names*, never paths.

use std::alloc::Layout;
use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use r2r_rcl::*;

use super::{check, RclError};

/// Why a type cannot be used. The text is for a viewer: it names the package to install.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeSupportError {
    /// Not a `pkg/kind/Type` name.
    #[error("{0:?} is not a ROS interface type name")]
    InvalidName(String),
    /// No prefix on `AMENT_PREFIX_PATH` has the package.
    #[error(
        "type {type_name}: package {package} is not installed here (it is not in the ament index \
         of AMENT_PREFIX_PATH). Install it (for a released package: apt install \
         ros-$ROS_DISTRO-{dashed}) or build it in your workspace, source it, and restart the \
         gateway"
    )]
    PackageNotFound {
        /// The type.
        type_name: String,
        /// Its package.
        package: String,
        /// The package name as Debian packages spell it.
        dashed: String,
    },
    /// The package is installed but without the library (only its definitions were installed).
    #[error(
        "type {type_name}: package {package} is installed without its C type support \
         ({library}); rebuild and reinstall {package} (an interface package needs \
         rosidl_default_generators)"
    )]
    LibraryMissing {
        /// The type.
        type_name: String,
        /// Its package.
        package: String,
        /// The library's file name.
        library: String,
    },
    /// The library exists but could not be loaded.
    #[error("type {type_name}: cannot load {library}: {reason}")]
    LoadFailed {
        /// The type.
        type_name: String,
        /// The library's file name.
        library: String,
        /// The loader's reason (paths removed).
        reason: String,
    },
    /// The library does not have the type.
    #[error(
        "type {type_name}: {library} has no such type (is the installed {package} older than the \
         type the graph reports? rebuild {package})"
    )]
    TypeMissing {
        /// The type.
        type_name: String,
        /// Its package.
        package: String,
        /// The library's file name.
        library: String,
    },
    /// The library returned something this code cannot use.
    #[error("type {type_name}: unexpected type support in {library}")]
    Unexpected {
        /// The type.
        type_name: String,
        /// The library's file name.
        library: String,
    },
}

/// Which generated library of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Flavor {
    /// `rosidl_typesupport_c`: the handles rcl and rmw take.
    C,
    /// `rosidl_typesupport_introspection_c`: struct layouts and init/fini.
    Introspection,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::C => "rosidl_typesupport_c",
            Flavor::Introspection => "rosidl_typesupport_introspection_c",
        }
    }
}

/// One loaded type support library.
pub struct TypeSupportLibrary {
    lib: libloading::Library,
    file: String,
}

impl std::fmt::Debug for TypeSupportLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeSupportLibrary")
            .field("file", &self.file)
            .finish()
    }
}

/// `pkg/kind/Type` split; `pkg/Type` (ROS 1 style, as Studio's Teleop panel sends) means msg.
fn split(type_name: &str) -> Result<(&str, &str, &str), TypeSupportError> {
    let bad = || TypeSupportError::InvalidName(type_name.to_string());
    let parts: Vec<&str> = type_name.split('/').collect();
    let (pkg, kind, name) = match parts.as_slice() {
        [p, n] => (*p, "msg", *n),
        [p, k, n] => (*p, *k, *n),
        _ => return Err(bad()),
    };
    // These become parts of a symbol name: keep them to C identifier characters.
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ident(pkg) || !matches!(kind, "msg" | "srv" | "action") || !ident(name) {
        return Err(bad());
    }
    Ok((pkg, kind, name))
}

/// A message type's C handle, valid while `_lib` is loaded.
pub(super) struct MessageType {
    pub(super) name: String,
    pub(super) handle: *const rosidl_message_type_support_t,
    _lib: Arc<TypeSupportLibrary>,
}

/// The introspection description of a message struct, valid while `_lib` is loaded.
pub(super) struct Members {
    ptr: *const rosidl_typesupport_introspection_c__MessageMembers,
    _lib: Arc<TypeSupportLibrary>,
}

/// A service type: the handle rcl wants, and for each side the C handle (for
/// `rmw_serialize`/`rmw_deserialize`) and the struct description (to allocate one).
pub(super) struct ServiceType {
    pub(super) handle: *const rosidl_service_type_support_t,
    pub(super) request: MessageType,
    pub(super) response: MessageType,
    pub(super) request_members: Members,
    pub(super) response_members: Members,
    _lib: Arc<TypeSupportLibrary>,
}

/// Finds packages through the ament index and caches loaded libraries and types.
pub(super) struct TypeSupports {
    prefixes: Vec<PathBuf>,
    libraries: HashMap<(String, Flavor), Arc<TypeSupportLibrary>>,
    messages: HashMap<String, Rc<MessageType>>,
    services: HashMap<String, Rc<ServiceType>>,
}

impl TypeSupports {
    pub(super) fn new(prefixes: Vec<PathBuf>) -> Self {
        TypeSupports {
            prefixes,
            libraries: HashMap::new(),
            messages: HashMap::new(),
            services: HashMap::new(),
        }
    }

    /// The prefix owning `package` (first on the path wins, as in ament).
    fn prefix_of(&self, package: &str) -> Option<&Path> {
        self.prefixes
            .iter()
            .find(|p| {
                p.join("share/ament_index/resource_index/packages")
                    .join(package)
                    .is_file()
            })
            .map(PathBuf::as_path)
    }

    fn library(
        &mut self,
        type_name: &str,
        package: &str,
        flavor: Flavor,
    ) -> Result<Arc<TypeSupportLibrary>, TypeSupportError> {
        if let Some(l) = self.libraries.get(&(package.to_string(), flavor)) {
            return Ok(l.clone());
        }
        let prefix = self
            .prefix_of(package)
            .ok_or_else(|| TypeSupportError::PackageNotFound {
                type_name: type_name.to_string(),
                package: package.to_string(),
                dashed: package.replace('_', "-"),
            })?;
        let file = format!("lib{package}__{}.so", flavor.name());
        let path = prefix.join("lib").join(&file);
        if !path.is_file() {
            return Err(TypeSupportError::LibraryMissing {
                type_name: type_name.to_string(),
                package: package.to_string(),
                library: file,
            });
        }
        // SAFETY: this runs the library's initialisers. It is a rosidl-generated type support
        // library of an installed ROS package, found through the ament index exactly as rclpy,
        // rclcpp's generic subscriptions and rosbag2 find and load it; such libraries only
        // register static data. It is kept loaded (cached in `self.libraries` and referenced by
        // every type taken from it) so no handle outlives it.
        let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| {
            TypeSupportError::LoadFailed {
                type_name: type_name.to_string(),
                library: file.clone(),
                reason: e
                    .to_string()
                    .replace(&prefix.display().to_string(), "<prefix>"),
            }
        })?;
        let lib = Arc::new(TypeSupportLibrary { lib, file });
        self.libraries
            .insert((package.to_string(), flavor), lib.clone());
        Ok(lib)
    }

    /// Call `<prefix>__<pkg>__<kind>__<Type>` from the library, a generated function taking no
    /// arguments and returning a pointer to static type support data.
    fn handle<T>(
        &mut self,
        type_name: &str,
        flavor: Flavor,
        symbol_prefix: &str,
        kind: &str,
        name: &str,
    ) -> Result<(*const T, Arc<TypeSupportLibrary>), TypeSupportError> {
        let (package, _, _) = split(type_name)?;
        let lib = self.library(type_name, package, flavor)?;
        let symbol = format!("{symbol_prefix}__{package}__{kind}__{name}\0");
        // SAFETY: rosidl generates these symbols as `const T * f(void)` with C linkage, which is
        // exactly the signature named here; the symbol is looked up by its full generated name,
        // so a different function cannot match. The pointer is only used while `lib` is alive.
        let ptr = unsafe {
            let f: libloading::Symbol<'_, unsafe extern "C" fn() -> *const T> = lib
                .lib
                .get(symbol.as_bytes())
                .map_err(|_| TypeSupportError::TypeMissing {
                    type_name: type_name.to_string(),
                    package: package.to_string(),
                    library: lib.file.clone(),
                })?;
            f()
        };
        if ptr.is_null() {
            return Err(TypeSupportError::Unexpected {
                type_name: type_name.to_string(),
                library: lib.file.clone(),
            });
        }
        Ok((ptr, lib))
    }

    /// A message type (`pkg/msg/Type`, `pkg/Type`, `pkg/srv/Type_Request`,
    /// `pkg/action/Type_FeedbackMessage`, ...).
    pub(super) fn message(&mut self, type_name: &str) -> Result<Rc<MessageType>, TypeSupportError> {
        if let Some(m) = self.messages.get(type_name) {
            return Ok(m.clone());
        }
        let (_, kind, name) = split(type_name)?;
        let (handle, lib) = self.handle::<rosidl_message_type_support_t>(
            type_name,
            Flavor::C,
            "rosidl_typesupport_c__get_message_type_support_handle",
            kind,
            name,
        )?;
        let m = Rc::new(MessageType {
            name: type_name.to_string(),
            handle,
            _lib: lib,
        });
        self.messages.insert(type_name.to_string(), m.clone());
        Ok(m)
    }

    fn members(&mut self, type_name: &str) -> Result<Members, TypeSupportError> {
        let (_, kind, name) = split(type_name)?;
        let (handle, lib) = self.handle::<rosidl_message_type_support_t>(
            type_name,
            Flavor::Introspection,
            "rosidl_typesupport_introspection_c__get_message_type_support_handle",
            kind,
            name,
        )?;
        // SAFETY: `handle` is non-null static data of the loaded library (checked in `handle`).
        let (identifier, data) = unsafe { ((*handle).typesupport_identifier, (*handle).data) };
        // SAFETY: the identifier is a static NUL-terminated string of the library.
        let is_introspection = !identifier.is_null()
            && unsafe { std::ffi::CStr::from_ptr(identifier) }.to_bytes()
                == b"rosidl_typesupport_introspection_c";
        let members = data as *const rosidl_typesupport_introspection_c__MessageMembers;
        // SAFETY: for the introspection identifier, `data` points to the type's static
        // `MessageMembers`; checked non-null before reading it.
        let usable = is_introspection
            && !members.is_null()
            && unsafe { (*members).init_function.is_some() && (*members).fini_function.is_some() };
        if !usable {
            return Err(TypeSupportError::Unexpected {
                type_name: type_name.to_string(),
                library: lib.file.clone(),
            });
        }
        Ok(Members {
            ptr: members,
            _lib: lib,
        })
    }

    /// A service type `pkg/srv/Type`.
    pub(super) fn service(&mut self, type_name: &str) -> Result<Rc<ServiceType>, TypeSupportError> {
        if let Some(s) = self.services.get(type_name) {
            return Ok(s.clone());
        }
        let (_, kind, name) = split(type_name)?;
        if kind != "srv" {
            return Err(TypeSupportError::InvalidName(type_name.to_string()));
        }
        let (handle, lib) = self.handle::<rosidl_service_type_support_t>(
            type_name,
            Flavor::C,
            "rosidl_typesupport_c__get_service_type_support_handle",
            kind,
            name,
        )?;
        let request_name = format!("{type_name}_Request");
        let response_name = format!("{type_name}_Response");
        let request = self.message(&request_name)?;
        let response = self.message(&response_name)?;
        let s = Rc::new(ServiceType {
            handle,
            request: request.duplicate(),
            response: response.duplicate(),
            request_members: self.members(&request_name)?,
            response_members: self.members(&response_name)?,
            _lib: lib,
        });
        self.services.insert(type_name.to_string(), s.clone());
        Ok(s)
    }
}

impl MessageType {
    fn duplicate(&self) -> MessageType {
        MessageType {
            name: self.name.clone(),
            handle: self.handle,
            _lib: self._lib.clone(),
        }
    }
}

/// Alignment for message structs: the strictest any C struct on the platform needs
/// (`max_align_t`), since introspection gives the size but not the alignment.
const MESSAGE_ALIGN: usize = 16;

/// One message struct allocated and initialised through introspection; finalised and freed on
/// drop.
pub(super) struct RosMessage<'a> {
    ptr: NonNull<u8>,
    layout: Layout,
    members: &'a Members,
}

impl<'a> RosMessage<'a> {
    /// Allocate and initialise (every field to its default).
    pub(super) fn new(members: &'a Members) -> Result<Self, RclError> {
        // SAFETY: `members.ptr` was checked non-null with init/fini present in `members()`.
        let size = unsafe { (*members.ptr).size_of_ }.max(1);
        let layout = Layout::from_size_align(size, MESSAGE_ALIGN).map_err(|_| RclError {
            call: "message allocation",
            code: RCL_RET_BAD_ALLOC as i32,
            message: format!("message size {size} is not allocatable"),
        })?;
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: `ptr` is a fresh, zeroed, suitably aligned block of `size_of_` bytes, which is
        // what the generated init function initialises; `init_function` is present (checked).
        unsafe {
            if let Some(init) = (*members.ptr).init_function {
                init(
                    ptr.as_ptr() as *mut c_void,
                    rosidl_runtime_c__message_initialization::ROSIDL_RUNTIME_C_MSG_INIT_ALL,
                );
            }
        }
        Ok(RosMessage {
            ptr,
            layout,
            members,
        })
    }

    pub(super) fn as_ptr(&mut self) -> *mut c_void {
        self.ptr.as_ptr() as *mut c_void
    }
}

impl Drop for RosMessage<'_> {
    fn drop(&mut self) {
        // SAFETY: the struct was initialised by `init_function` in `new` and is finalised once
        // here (freeing its strings and sequences), then the block is freed with its layout.
        unsafe {
            if let Some(fini) = (*self.members.ptr).fini_function {
                fini(self.ptr.as_ptr() as *mut c_void);
            }
            std::alloc::dealloc(self.ptr.as_ptr(), self.layout);
        }
    }
}

/// A serialized message buffer allocated by rcutils (what rmw fills); becomes [`Bytes`] without
/// a copy and is freed with rcutils' allocator when the last reference goes.
pub(super) struct SerializedBuffer(rcutils_uint8_array_t);

// SAFETY: the buffer is plain heap memory owned exclusively by this value (no rcl object refers
// to it after the take/serialize call that filled it), and rcutils' default allocator is
// malloc/free, which may be called from any thread.
unsafe impl Send for SerializedBuffer {}

impl SerializedBuffer {
    /// An empty buffer; rmw grows it to the message size.
    pub(super) fn new() -> Result<Self, RclError> {
        // SAFETY: zero-initialised then initialised by rcutils with the default allocator and
        // no initial capacity (buffer null); fini'd in Drop.
        unsafe {
            let mut a = rcutils_get_zero_initialized_uint8_array();
            check(
                "rcutils_uint8_array_init",
                rcutils_uint8_array_init(&mut a, 0, &rcutils_get_default_allocator()),
            )?;
            Ok(SerializedBuffer(a))
        }
    }

    pub(super) fn as_mut_ptr(&mut self) -> *mut rcutils_uint8_array_t {
        &mut self.0
    }

    /// The bytes rmw wrote, owned by the returned `Bytes`.
    pub(super) fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for SerializedBuffer {
    fn as_ref(&self) -> &[u8] {
        if self.0.buffer.is_null() || self.0.buffer_length == 0 {
            return &[];
        }
        // SAFETY: rmw wrote `buffer_length` bytes (≤ capacity) into `buffer`, which this value
        // owns and frees only in Drop.
        unsafe { std::slice::from_raw_parts(self.0.buffer, self.0.buffer_length) }
    }
}

impl Drop for SerializedBuffer {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, finalised exactly once here. A failure leaks at worst.
        unsafe {
            rcutils_uint8_array_fini(&mut self.0);
        }
    }
}

/// A read-only view of `bytes` as an rmw serialized message, for calls that only read it
/// (`rcl_publish_serialized_message`, `rmw_deserialize`). Never finalised: it does not own the
/// memory.
pub(super) fn borrowed_serialized(bytes: &[u8]) -> rcutils_uint8_array_t {
    // SAFETY: a zero-initialised struct is valid; we then point it at memory we do not own and
    // only pass it to functions that take it as `const`.
    let mut a = unsafe { rcutils_get_zero_initialized_uint8_array() };
    a.buffer = bytes.as_ptr() as *mut u8;
    a.buffer_length = bytes.len();
    a.buffer_capacity = bytes.len();
    // SAFETY: returns the default allocator by value.
    a.allocator = unsafe { rcutils_get_default_allocator() };
    a
}

/// Refuse bytes that do not start with a plain CDR encapsulation header (`00 00` big-endian or
/// `00 01` little-endian, then two option bytes). rmw_cyclonedds reads the header without
/// checking the length (and underflows its limit on fewer than 4 bytes); past the header it
/// bounds-checks every read. So nothing shorter or stranger may reach rmw.
pub(super) fn check_cdr_header(call: &'static str, cdr: &[u8]) -> Result<(), RclError> {
    match cdr {
        [0x00, 0x00 | 0x01, _, _, ..] => Ok(()),
        _ => Err(RclError {
            call,
            code: RCL_RET_INVALID_ARGUMENT as i32,
            message: "not CDR: a message starts with the 4-byte header 00 00|01 xx xx".into(),
        }),
    }
}

/// CDR (with its encapsulation header) → a freshly allocated message struct.
pub(super) fn deserialize<'m>(
    cdr: &[u8],
    ty: &MessageType,
    members: &'m Members,
) -> Result<RosMessage<'m>, RclError> {
    check_cdr_header("rmw_deserialize", cdr)?;
    let mut msg = RosMessage::new(members)?;
    let serialized = borrowed_serialized(cdr);
    // SAFETY: `serialized` points at `cdr` for the duration of the call and is only read;
    // `ty.handle` is the C type support of the same type `members` describes; `msg` is an
    // initialised struct of that type, which rmw fills (reallocating its strings/sequences
    // through rosidl's own functions).
    check("rmw_deserialize", unsafe {
        rmw_deserialize(&serialized, ty.handle, msg.as_ptr())
    })?;
    Ok(msg)
}

/// A message struct → CDR.
pub(super) fn serialize(msg: &mut RosMessage<'_>, ty: &MessageType) -> Result<Bytes, RclError> {
    let mut buf = SerializedBuffer::new()?;
    // SAFETY: `msg` is an initialised struct of the type `ty.handle` describes; `buf` is an
    // initialised rcutils array that rmw resizes with its allocator.
    check("rmw_serialize", unsafe {
        rmw_serialize(msg.as_ptr(), ty.handle, buf.as_mut_ptr())
    })?;
    Ok(buf.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cdr_headers_reach_rmw() {
        assert!(check_cdr_header("t", &[0, 1, 0, 0]).is_ok());
        assert!(check_cdr_header("t", &[0, 0, 0, 3, 9]).is_ok());
        for bad in [
            &[][..],
            &[0],
            &[0, 1, 0],
            &[0, 3, 0, 0],
            &[1, 1, 0, 0],
            b"{}  ",
        ] {
            assert!(check_cdr_header("t", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn type_names_split() {
        assert_eq!(
            split("std_msgs/msg/String"),
            Ok(("std_msgs", "msg", "String"))
        );
        assert_eq!(
            split("geometry_msgs/Twist"),
            Ok(("geometry_msgs", "msg", "Twist"))
        );
        assert_eq!(
            split("example_interfaces/srv/AddTwoInts_Request"),
            Ok(("example_interfaces", "srv", "AddTwoInts_Request"))
        );
        for bad in [
            "",
            "a",
            "a/b/c/d",
            "pkg/bogus/T",
            "pk g/msg/T",
            "pkg/msg/T;x",
            "../x/msg/T",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_package_names_what_to_install() {
        let mut ts = TypeSupports::new(vec![PathBuf::from("/nonexistent-prefix")]);
        let e = ts.message("my_robot_msgs/msg/Thing").err().unwrap();
        let text = e.to_string();
        assert!(text.contains("my_robot_msgs"), "{text}");
        assert!(text.contains("ros-$ROS_DISTRO-my-robot-msgs"), "{text}");
        assert!(!text.contains("/nonexistent-prefix"), "no paths: {text}");
    }

    #[test]
    fn package_without_library_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let idx = dir.path().join("share/ament_index/resource_index/packages");
        std::fs::create_dir_all(&idx).unwrap();
        std::fs::write(idx.join("defs_only"), "").unwrap();
        let mut ts = TypeSupports::new(vec![dir.path().to_path_buf()]);
        let e = ts.message("defs_only/msg/T").err().unwrap();
        assert!(matches!(e, TypeSupportError::LibraryMissing { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("libdefs_only__rosidl_typesupport_c.so"),
            "{text}"
        );
        assert!(!text.contains(&dir.path().display().to_string()), "{text}");
    }
}
