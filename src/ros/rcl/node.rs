//! [`RclNode`]: the gateway's rcl context and node, every entity on it, its wait set, and the
//! [`Waker`] other threads use to wake it.

use std::collections::BTreeMap;
use std::ffi::{c_void, CString};
use std::os::raw::c_char;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use r2r_rcl::*;

use super::typesupport::{
    borrowed_serialized, check_cdr_header, deserialize, serialize, MessageType, RosMessage,
    SerializedBuffer, ServiceType, TypeSupportError, TypeSupports,
};
use super::{apply_qos, c_string, check, owned, RclError};
use crate::ros::Qos;

// Jazzy's rcl no longer creates the node's `/rosout` publisher in `rcl_node_init`; client
// libraries call these (rclpy's `Node` constructor and destructor do). They are declared in
// `rcl/logging_rosout.h`, which r2r_rcl's bindings do not include.
#[cfg(not(rcl_rosout_in_node_init))]
extern "C" {
    fn rcl_logging_rosout_init_publisher_for_node(node: *mut rcl_node_t) -> rcl_ret_t;
    fn rcl_logging_rosout_fini_publisher_for_node(node: *mut rcl_node_t) -> rcl_ret_t;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);
    };
}
id_type!(
    /// A subscription on the node.
    SubscriptionId
);
id_type!(
    /// A publisher on the node.
    PublisherId
);
id_type!(
    /// A service client on the node.
    ClientId
);
id_type!(
    /// A service server on the node.
    ServiceId
);

/// One message taken from a subscription.
#[derive(Debug, Clone)]
pub struct TakenMessage {
    /// The CDR bytes with their encapsulation header, as the publisher sent them.
    pub payload: Bytes,
    /// The publisher's source timestamp (ns since the epoch), 0 if the middleware gave none.
    pub source_timestamp: i64,
    /// The publisher's sequence number for this message, 0 if the middleware does not report
    /// it.
    pub sequence: u64,
    /// A hash of the publisher's GID: sequence numbers are per publisher.
    pub publisher: u64,
}

/// Identifies a request a service server took, for its response.
#[derive(Clone)]
pub struct RequestHeader(rmw_request_id_t);

impl std::fmt::Debug for RequestHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequestHeader")
            .field(&self.0.sequence_number)
            .finish()
    }
}

/// What a [`RclNode::wait`] found ready.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Subscriptions with messages to take.
    pub subscriptions: Vec<SubscriptionId>,
    /// Clients with responses to take.
    pub clients: Vec<ClientId>,
    /// Services with requests to take.
    pub services: Vec<ServiceId>,
    /// The [`Waker`] was triggered.
    pub woken: bool,
    /// The ROS graph changed (a node, endpoint or service came or went).
    pub graph_changed: bool,
}

/// A guard condition other threads trigger to wake the ROS thread's wait.
struct GuardCell {
    gc: Mutex<Option<Box<rcl_guard_condition_t>>>,
}

// SAFETY: the guard condition is only touched under the mutex: triggered (rcl documents
// `rcl_trigger_guard_condition` as thread-safe, and rmw implementations only set an atomic flag
// and signal a condition variable) or finalised at shutdown, after which it is `None`. The box
// keeps its address fixed while the wait set refers to it.
unsafe impl Send for GuardCell {}
// SAFETY: as above; shared access goes through the mutex.
unsafe impl Sync for GuardCell {}

/// Wakes the ROS thread out of [`RclNode::wait`]. Cheap to clone and to call from any thread;
/// does nothing once the node is gone.
#[derive(Clone)]
pub struct Waker(Arc<GuardCell>);

impl Waker {
    /// Make the current or next `wait` return with `woken` set.
    pub fn wake(&self) {
        if let Some(gc) = self.0.gc.lock().as_deref() {
            // SAFETY: `gc` is an initialised guard condition (it is removed from the cell before
            // it is finalised); triggering is thread-safe in rcl. A failure cannot be reported
            // to anyone useful here and only means one wake-up is lost to a 1 s timeout.
            unsafe {
                rcl_trigger_guard_condition(gc as *const _ as *mut _);
            }
        }
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

struct Subscription {
    handle: Box<rcl_subscription_t>,
    /// The middleware's "message lost" event, where the rmw supports it.
    lost: Option<Box<rcl_event_t>>,
    _ty: Rc<MessageType>,
}

struct Publisher {
    handle: Box<rcl_publisher_t>,
    _ty: Rc<MessageType>,
}

struct Client {
    handle: Box<rcl_client_t>,
    ty: Rc<ServiceType>,
}

struct Service {
    handle: Box<rcl_service_t>,
    ty: Rc<ServiceType>,
}

/// The wait set and the sizes it was last set up with.
struct WaitSet {
    ws: rcl_wait_set_t,
    sizes: (usize, usize, usize),
}

/// The gateway's context and its one node, with every entity on it. Not `Send`: created, used
/// and dropped on the ROS thread.
pub struct RclNode {
    context: Box<rcl_context_t>,
    node: Box<rcl_node_t>,
    guard: Arc<GuardCell>,
    wait: Option<WaitSet>,
    types: TypeSupports,
    subs: BTreeMap<SubscriptionId, Subscription>,
    pubs: BTreeMap<PublisherId, Publisher>,
    clients: BTreeMap<ClientId, Client>,
    services: BTreeMap<ServiceId, Service>,
    next_id: u64,
    /// Whether we created the node's `/rosout` publisher (and so must destroy it).
    rosout: bool,
    fqn: String,
    logger: String,
    /// Keeps the raw pointer fields from making the type `Send` by accident.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Whether rcl logging was configured (process-wide, once).
static LOGGING: std::sync::Once = std::sync::Once::new();

impl RclNode {
    /// Initialise rcl with the process arguments (`--ros-args` remaps, parameters and log
    /// settings apply as in any node), configure logging (console and `/rosout`), and create the
    /// node `name` in `namespace` (both remappable with `__node`/`__ns`). `prefixes` is the
    /// ament prefix path, for finding type support libraries.
    pub fn new(
        args: &[String],
        name: &str,
        namespace: &str,
        prefixes: Vec<PathBuf>,
    ) -> Result<RclNode, RclError> {
        let c_args: Vec<CString> = args
            .iter()
            .map(|a| c_string("rcl_init", a))
            .collect::<Result<_, _>>()?;
        let argv: Vec<*const c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
        let argc = i32::try_from(argv.len()).unwrap_or(i32::MAX);
        let c_name = c_string("rcl_node_init", name)?;
        let c_ns = c_string("rcl_node_init", namespace)?;
        let _global = super::GLOBAL.lock();

        // SAFETY: the standard rcl start-up sequence. Every struct starts zero-initialised as rcl
        // requires; each step is checked, and on failure whatever was initialised before it is
        // finalised before returning. The context and node are boxed so the addresses rcl keeps
        // (the node refers to its context) stay fixed. `argv` outlives `rcl_init`, which copies
        // what it keeps.
        unsafe {
            let allocator = rcutils_get_default_allocator();
            let mut options = rcl_get_zero_initialized_init_options();
            check(
                "rcl_init_options_init",
                rcl_init_options_init(&mut options, allocator),
            )?;
            let mut context = Box::new(rcl_get_zero_initialized_context());
            let init = rcl_init(argc, argv.as_ptr(), &options, context.as_mut());
            rcl_init_options_fini(&mut options);
            if let Err(e) = check("rcl_init", init) {
                rcl_context_fini(context.as_mut());
                return Err(e);
            }
            let fail = |context: &mut rcl_context_t, e: RclError| {
                rcl_shutdown(context);
                rcl_context_fini(context);
                Err(e)
            };

            let mut logging = Ok(());
            LOGGING.call_once(|| {
                logging = check(
                    "rcl_logging_configure",
                    rcl_logging_configure(&context.global_arguments, &allocator),
                );
            });
            if let Err(e) = logging {
                return fail(context.as_mut(), e);
            }

            let mut node = Box::new(rcl_get_zero_initialized_node());
            let node_options = rcl_node_get_default_options();
            if let Err(e) = check(
                "rcl_node_init",
                rcl_node_init(
                    node.as_mut(),
                    c_name.as_ptr(),
                    c_ns.as_ptr(),
                    context.as_mut(),
                    &node_options,
                ),
            ) {
                return fail(context.as_mut(), e);
            }

            #[cfg(not(rcl_rosout_in_node_init))]
            let rosout = {
                let enabled = rcl_logging_rosout_enabled() && node_options.enable_rosout;
                // A node without /rosout still works; the caller logs to the console anyway.
                enabled
                    && check(
                        "rcl_logging_rosout_init_publisher_for_node",
                        rcl_logging_rosout_init_publisher_for_node(node.as_mut()),
                    )
                    .is_ok()
            };
            #[cfg(rcl_rosout_in_node_init)]
            let rosout = false;

            let mut gc = Box::new(rcl_get_zero_initialized_guard_condition());
            if let Err(e) = check(
                "rcl_guard_condition_init",
                rcl_guard_condition_init(
                    gc.as_mut(),
                    context.as_mut(),
                    rcl_guard_condition_get_default_options(),
                ),
            ) {
                #[cfg(not(rcl_rosout_in_node_init))]
                if rosout {
                    rcl_logging_rosout_fini_publisher_for_node(node.as_mut());
                }
                rcl_node_fini(node.as_mut());
                return fail(context.as_mut(), e);
            }

            let fqn = owned(rcl_node_get_fully_qualified_name(node.as_ref())).unwrap_or_default();
            let logger = owned(rcl_node_get_logger_name(node.as_ref())).unwrap_or_default();
            Ok(RclNode {
                context,
                node,
                guard: Arc::new(GuardCell {
                    gc: Mutex::new(Some(gc)),
                }),
                wait: None,
                types: TypeSupports::new(prefixes),
                subs: BTreeMap::new(),
                pubs: BTreeMap::new(),
                clients: BTreeMap::new(),
                services: BTreeMap::new(),
                next_id: 1,
                rosout,
                fqn,
                logger,
                _not_send: std::marker::PhantomData,
            })
        }
    }

    /// The node's fully qualified name after remapping, e.g. `/foxglove_gateway`.
    pub fn fully_qualified_name(&self) -> &str {
        &self.fqn
    }

    /// The node's logger name (what `/rosout` messages carry in `name`).
    pub fn logger_name(&self) -> &str {
        &self.logger
    }

    /// A handle that wakes [`RclNode::wait`] from any thread.
    pub fn waker(&self) -> Waker {
        Waker(self.guard.clone())
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn node_ptr(&self) -> *const rcl_node_t {
        self.node.as_ref()
    }

    pub(super) fn context(&self) -> &rcl_context_t {
        &self.context
    }

    /// Subscribe to `topic` with `type_name`, taking serialized messages.
    pub fn subscribe(
        &mut self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<SubscriptionId, EntityError> {
        let ty = self.types.message(type_name)?;
        let c_topic = c_string("rcl_subscription_init", topic)?;
        // SAFETY: zero-initialised handle, boxed so its address stays fixed for rcl; default
        // options with our QoS; the type support handle is valid while `ty` (kept with the
        // subscription) keeps its library loaded. Finalised in `unsubscribe` or Drop.
        let handle = unsafe {
            let mut handle = Box::new(rcl_get_zero_initialized_subscription());
            let mut options = rcl_subscription_get_default_options();
            apply_qos(&mut options.qos, qos);
            check(
                "rcl_subscription_init",
                rcl_subscription_init(
                    handle.as_mut(),
                    self.node.as_ref(),
                    ty.handle,
                    c_topic.as_ptr(),
                    &options,
                ),
            )?;
            handle
        };
        // SAFETY: a zero-initialised event on the subscription just created; rmws that do not
        // support the event refuse it, and then nothing was initialised (the error is reset).
        let lost = unsafe {
            let mut ev = Box::new(rcl_get_zero_initialized_event());
            let r = rcl_subscription_event_init(
                ev.as_mut(),
                handle.as_ref(),
                rcl_subscription_event_type_t::RCL_SUBSCRIPTION_MESSAGE_LOST,
            );
            if r == RCL_RET_OK as rcl_ret_t {
                Some(ev)
            } else {
                rcutils_reset_error();
                None
            }
        };
        let id = SubscriptionId(self.next());
        self.subs.insert(
            id,
            Subscription {
                handle,
                lost,
                _ty: ty,
            },
        );
        Ok(id)
    }

    /// Destroy a subscription at once (the reader leaves the graph now).
    pub fn unsubscribe(&mut self, id: SubscriptionId) {
        if let Some(s) = self.subs.remove(&id) {
            fini_subscription(s, self.node.as_mut());
        }
    }

    /// Messages the middleware reports lost on this subscription since the last call (gaps a
    /// best-effort reader saw, samples it rejected); `None` where the rmw cannot tell.
    pub fn take_lost(&mut self, id: SubscriptionId) -> Option<u64> {
        let ev = self.subs.get(&id)?.lost.as_ref()?;
        // SAFETY: a valid message-lost event; rmw writes an `rmw_message_lost_status_t`, the
        // struct documented for this event type.
        unsafe {
            let mut status: rmw_message_lost_status_t = std::mem::zeroed();
            let r = rcl_take_event(
                ev.as_ref(),
                &mut status as *mut rmw_message_lost_status_t as *mut std::ffi::c_void,
            );
            if r != RCL_RET_OK as rcl_ret_t {
                rcutils_reset_error();
                return None;
            }
            Some(status.total_count_change as u64)
        }
    }

    /// Take one serialized message; `None` when the reader is empty.
    pub fn take(&mut self, id: SubscriptionId) -> Result<Option<TakenMessage>, RclError> {
        let Some(s) = self.subs.get(&id) else {
            return Ok(None);
        };
        let mut buf = SerializedBuffer::new()?;
        // SAFETY: a valid subscription; `buf` is an initialised rcutils array that rmw resizes
        // with its own allocator; `info` is plain data rmw fills. No allocation argument.
        let (ret, info) = unsafe {
            let mut info: rmw_message_info_t = std::mem::zeroed();
            let ret = rcl_take_serialized_message(
                s.handle.as_ref(),
                buf.as_mut_ptr(),
                &mut info,
                std::ptr::null_mut(),
            );
            (ret, info)
        };
        if ret == RCL_RET_SUBSCRIPTION_TAKE_FAILED as rcl_ret_t {
            return Ok(None);
        }
        check("rcl_take_serialized_message", ret)?;
        Ok(Some(TakenMessage {
            payload: buf.into_bytes(),
            source_timestamp: info.source_timestamp,
            sequence: info.publication_sequence_number,
            publisher: gid_hash(&info.publisher_gid.data),
        }))
    }

    /// Number of publishers matched with the subscription, if rmw can tell.
    pub fn publisher_count(&self, id: SubscriptionId) -> Option<usize> {
        let s = self.subs.get(&id)?;
        let mut n = 0usize;
        // SAFETY: a valid subscription; `n` is written by rcl.
        let r = unsafe { rcl_subscription_get_publisher_count(s.handle.as_ref(), &mut n) };
        (r == RCL_RET_OK as rcl_ret_t).then_some(n)
    }

    /// Create a publisher of serialized messages.
    pub fn advertise(
        &mut self,
        topic: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<PublisherId, EntityError> {
        let ty = self.types.message(type_name)?;
        let c_topic = c_string("rcl_publisher_init", topic)?;
        // SAFETY: as in `subscribe`, for a publisher.
        let handle = unsafe {
            let mut handle = Box::new(rcl_get_zero_initialized_publisher());
            let mut options = rcl_publisher_get_default_options();
            apply_qos(&mut options.qos, qos);
            check(
                "rcl_publisher_init",
                rcl_publisher_init(
                    handle.as_mut(),
                    self.node.as_ref(),
                    ty.handle,
                    c_topic.as_ptr(),
                    &options,
                ),
            )?;
            handle
        };
        let id = PublisherId(self.next());
        self.pubs.insert(id, Publisher { handle, _ty: ty });
        Ok(id)
    }

    /// Destroy a publisher.
    pub fn unadvertise(&mut self, id: PublisherId) {
        if let Some(mut p) = self.pubs.remove(&id) {
            // SAFETY: initialised in `advertise` on this node, finalised once (removed first).
            unsafe {
                rcl_publisher_fini(p.handle.as_mut(), self.node.as_mut());
            }
        }
    }

    /// Publish CDR bytes (with the encapsulation header) as they are.
    pub fn publish(&mut self, id: PublisherId, cdr: &[u8]) -> Result<(), RclError> {
        let Some(p) = self.pubs.get(&id) else {
            return Ok(());
        };
        check_cdr_header("rcl_publish_serialized_message", cdr)?;
        let msg = borrowed_serialized(cdr);
        // SAFETY: a valid publisher; `msg` points at `cdr` for the duration of the call and rmw
        // only reads it.
        check("rcl_publish_serialized_message", unsafe {
            rcl_publish_serialized_message(p.handle.as_ref(), &msg, std::ptr::null_mut())
        })
    }

    /// Create a client of `service` with `type_name` (`pkg/srv/Type`).
    pub fn create_client(
        &mut self,
        service: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<ClientId, EntityError> {
        let ty = self.types.service(type_name)?;
        let c_name = c_string("rcl_client_init", service)?;
        // SAFETY: as in `subscribe`, for a client; the service type support is valid while `ty`
        // is kept with the client.
        let handle = unsafe {
            let mut handle = Box::new(rcl_get_zero_initialized_client());
            let mut options = rcl_client_get_default_options();
            apply_qos(&mut options.qos, qos);
            check(
                "rcl_client_init",
                rcl_client_init(
                    handle.as_mut(),
                    self.node.as_ref(),
                    ty.handle,
                    c_name.as_ptr(),
                    &options,
                ),
            )?;
            handle
        };
        let id = ClientId(self.next());
        self.clients.insert(id, Client { handle, ty });
        Ok(id)
    }

    /// Destroy a client (requests in flight are forgotten).
    pub fn destroy_client(&mut self, id: ClientId) {
        if let Some(mut c) = self.clients.remove(&id) {
            // SAFETY: initialised in `create_client` on this node, finalised once.
            unsafe {
                rcl_client_fini(c.handle.as_mut(), self.node.as_mut());
            }
        }
    }

    /// Whether a server for the client's service has been discovered (requests sent before are
    /// lost by DDS).
    pub fn server_available(&self, id: ClientId) -> bool {
        let Some(c) = self.clients.get(&id) else {
            return false;
        };
        let mut available = false;
        // SAFETY: valid node and client of that node; `available` is written by rcl.
        let r = unsafe {
            rcl_service_server_is_available(self.node.as_ref(), c.handle.as_ref(), &mut available)
        };
        r == RCL_RET_OK as rcl_ret_t && available
    }

    /// Send a request given as CDR; returns its sequence number (matched by `take_response`).
    pub fn send_request(&mut self, id: ClientId, cdr: &[u8]) -> Result<i64, RclError> {
        let Some(c) = self.clients.get(&id) else {
            return Err(gone("rcl_send_request"));
        };
        let mut request = deserialize(cdr, &c.ty.request, &c.ty.request_members)?;
        let mut seq = 0i64;
        // SAFETY: a valid client; `request` is an initialised struct of the client's request
        // type, which rmw serialises during the call (it may be freed afterwards).
        check("rcl_send_request", unsafe {
            rcl_send_request(c.handle.as_ref(), request.as_ptr(), &mut seq)
        })?;
        Ok(seq)
    }

    /// Take one response: its request's sequence number and the response as CDR.
    pub fn take_response(&mut self, id: ClientId) -> Result<Option<(i64, Bytes)>, RclError> {
        let Some(c) = self.clients.get(&id) else {
            return Ok(None);
        };
        let mut response = RosMessage::new(&c.ty.response_members)?;
        // SAFETY: a valid client; `response` is an initialised struct of the client's response
        // type that rmw fills; `info` is plain data.
        let (ret, info) = unsafe {
            let mut info: rmw_service_info_t = std::mem::zeroed();
            let ret = rcl_take_response_with_info(c.handle.as_ref(), &mut info, response.as_ptr());
            (ret, info)
        };
        if ret == RCL_RET_CLIENT_TAKE_FAILED as rcl_ret_t {
            return Ok(None);
        }
        check("rcl_take_response_with_info", ret)?;
        let cdr = serialize(&mut response, &c.ty.response)?;
        Ok(Some((info.request_id.sequence_number, cdr)))
    }

    /// Offer `service` with `type_name` on this node.
    pub fn create_service(
        &mut self,
        service: &str,
        type_name: &str,
        qos: Qos,
    ) -> Result<ServiceId, EntityError> {
        let ty = self.types.service(type_name)?;
        let c_name = c_string("rcl_service_init", service)?;
        // SAFETY: as in `create_client`, for a service server.
        let handle = unsafe {
            let mut handle = Box::new(rcl_get_zero_initialized_service());
            let mut options = rcl_service_get_default_options();
            apply_qos(&mut options.qos, qos);
            check(
                "rcl_service_init",
                rcl_service_init(
                    handle.as_mut(),
                    self.node.as_ref(),
                    ty.handle,
                    c_name.as_ptr(),
                    &options,
                ),
            )?;
            handle
        };
        let id = ServiceId(self.next());
        self.services.insert(id, Service { handle, ty });
        Ok(id)
    }

    /// Take one request: its header (for the response) and the request as CDR.
    pub fn take_request(
        &mut self,
        id: ServiceId,
    ) -> Result<Option<(RequestHeader, Bytes)>, RclError> {
        let Some(s) = self.services.get(&id) else {
            return Ok(None);
        };
        let mut request = RosMessage::new(&s.ty.request_members)?;
        // SAFETY: a valid service; `request` is an initialised struct of its request type that
        // rmw fills; `info` is plain data.
        let (ret, info) = unsafe {
            let mut info: rmw_service_info_t = std::mem::zeroed();
            let ret = rcl_take_request_with_info(s.handle.as_ref(), &mut info, request.as_ptr());
            (ret, info)
        };
        if ret == RCL_RET_SERVICE_TAKE_FAILED as rcl_ret_t {
            return Ok(None);
        }
        check("rcl_take_request_with_info", ret)?;
        let cdr = serialize(&mut request, &s.ty.request)?;
        Ok(Some((RequestHeader(info.request_id), cdr)))
    }

    /// Answer a request taken with `take_request`; the response is CDR.
    pub fn send_response(
        &mut self,
        id: ServiceId,
        header: &RequestHeader,
        cdr: &[u8],
    ) -> Result<(), RclError> {
        let Some(s) = self.services.get(&id) else {
            return Err(gone("rcl_send_response"));
        };
        let mut response = deserialize(cdr, &s.ty.response, &s.ty.response_members)?;
        let mut request_id = header.0;
        // SAFETY: a valid service; `response` is an initialised struct of its response type,
        // serialised by rmw during the call; `request_id` is a copy rcl may read.
        check("rcl_send_response", unsafe {
            rcl_send_response(s.handle.as_ref(), &mut request_id, response.as_ptr())
        })
    }

    /// Wait until a subscription, client or service has something, the waker is triggered, the
    /// graph changes, or `timeout` passes (`None`: no timeout).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Ready, RclError> {
        let sizes = (self.subs.len(), self.clients.len(), self.services.len());
        let guard = self.guard.gc.lock();
        let Some(gc) = guard.as_deref() else {
            return Ok(Ready::default());
        };
        // SAFETY: the wait set is initialised once on this context and resized when the number
        // of entities changed; every entity added is valid and owned by `self`, and the guard
        // conditions (ours, held locked so shutdown cannot finalise it meanwhile, and the node's
        // graph guard condition) outlive the call. After `rcl_wait`, the arrays hold null for
        // entities that are not ready and the entity's own pointer for those that are, in the
        // order they were added.
        unsafe {
            let allocator = rcutils_get_default_allocator();
            match &mut self.wait {
                None => {
                    let mut ws = rcl_get_zero_initialized_wait_set();
                    check(
                        "rcl_wait_set_init",
                        rcl_wait_set_init(
                            &mut ws,
                            sizes.0,
                            2,
                            0,
                            sizes.1,
                            sizes.2,
                            0,
                            self.context.as_mut(),
                            allocator,
                        ),
                    )?;
                    self.wait = Some(WaitSet { ws, sizes });
                }
                Some(w) if w.sizes != sizes => {
                    check(
                        "rcl_wait_set_resize",
                        rcl_wait_set_resize(&mut w.ws, sizes.0, 2, 0, sizes.1, sizes.2, 0),
                    )?;
                    w.sizes = sizes;
                }
                Some(_) => {}
            }
            let Some(w) = self.wait.as_mut() else {
                return Ok(Ready::default());
            };
            let ws = &mut w.ws;
            check("rcl_wait_set_clear", rcl_wait_set_clear(ws))?;
            let mut order_subs = Vec::with_capacity(sizes.0);
            for (id, s) in &self.subs {
                check(
                    "rcl_wait_set_add_subscription",
                    rcl_wait_set_add_subscription(ws, s.handle.as_ref(), std::ptr::null_mut()),
                )?;
                order_subs.push(*id);
            }
            let mut order_clients = Vec::with_capacity(sizes.1);
            for (id, c) in &self.clients {
                check(
                    "rcl_wait_set_add_client",
                    rcl_wait_set_add_client(ws, c.handle.as_ref(), std::ptr::null_mut()),
                )?;
                order_clients.push(*id);
            }
            let mut order_services = Vec::with_capacity(sizes.2);
            for (id, s) in &self.services {
                check(
                    "rcl_wait_set_add_service",
                    rcl_wait_set_add_service(ws, s.handle.as_ref(), std::ptr::null_mut()),
                )?;
                order_services.push(*id);
            }
            check(
                "rcl_wait_set_add_guard_condition",
                rcl_wait_set_add_guard_condition(ws, gc, std::ptr::null_mut()),
            )?;
            let graph = rcl_node_get_graph_guard_condition(self.node.as_ref());
            if !graph.is_null() {
                check(
                    "rcl_wait_set_add_guard_condition",
                    rcl_wait_set_add_guard_condition(ws, graph, std::ptr::null_mut()),
                )?;
            }
            let timeout_ns = match timeout {
                None => -1,
                Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            };
            // Unlock while waiting so other threads can wake us; the cell stays `Some` because
            // only `Drop` (on this thread) empties it.
            drop(guard);
            let ret = rcl_wait(ws, timeout_ns);
            if ret == RCL_RET_TIMEOUT as rcl_ret_t {
                return Ok(Ready::default());
            }
            check("rcl_wait", ret)?;
            let guards = ready_entries(
                ws.guard_conditions as *const *const c_void,
                &[0usize, 1][..ws.size_of_guard_conditions.min(2)],
            );
            let ready = Ready {
                subscriptions: ready_entries(ws.subscriptions as *const *const c_void, &order_subs),
                clients: ready_entries(ws.clients as *const *const c_void, &order_clients),
                services: ready_entries(ws.services as *const *const c_void, &order_services),
                woken: guards.contains(&0),
                graph_changed: guards.contains(&1),
            };
            Ok(ready)
        }
    }
}

/// Why a subscription, publisher, client or service could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityError {
    /// The type cannot be used (not installed, no library, ...).
    #[error(transparent)]
    Type(#[from] TypeSupportError),
    /// rcl refused (bad name, ...).
    #[error(transparent)]
    Rcl(#[from] RclError),
}

/// The entries of `order` whose slot in a waited-on wait set array is non-null (ready).
///
/// # Safety
/// `ptrs` must be one of the wait set's entity arrays, holding at least `order.len()` entries,
/// added in `order`'s order.
unsafe fn ready_entries<T: Copy>(ptrs: *const *const c_void, order: &[T]) -> Vec<T> {
    order
        .iter()
        .enumerate()
        // SAFETY: `i` < `order.len()` ≤ the array's length, per the contract.
        .filter(|(i, _)| !unsafe { *ptrs.add(*i) }.is_null())
        .map(|(_, id)| *id)
        .collect()
}

/// Finalise a subscription and its event (event first: it refers to the subscription).
fn fini_subscription(mut s: Subscription, node: &mut rcl_node_t) {
    // SAFETY: both were initialised in `subscribe` on this node and are finalised once here,
    // the event before the subscription it was made on.
    unsafe {
        if let Some(mut ev) = s.lost.take() {
            rcl_event_fini(ev.as_mut());
        }
        rcl_subscription_fini(s.handle.as_mut(), node);
    }
}

fn gone(call: &'static str) -> RclError {
    RclError {
        call,
        code: RCL_RET_INVALID_ARGUMENT as i32,
        message: "the entity was destroyed".into(),
    }
}

/// FNV-1a of a GID: a small key for "which publisher" (sequence numbers are per publisher).
fn gid_hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Drop for RclNode {
    fn drop(&mut self) {
        let _global = super::GLOBAL.lock();
        // SAFETY: each entity was initialised on this node and is finalised exactly once, before
        // the node; the wait set before the context it was made on; our guard condition is taken
        // out of its cell under the lock (so no other thread can trigger it any more) and
        // finalised before the context is shut down; the context last. Return codes are ignored:
        // there is nothing left to do about a failed fini at shutdown.
        unsafe {
            let node = self.node.as_mut();
            for (_, s) in std::mem::take(&mut self.subs) {
                fini_subscription(s, node);
            }
            for (_, mut p) in std::mem::take(&mut self.pubs) {
                rcl_publisher_fini(p.handle.as_mut(), node);
            }
            for (_, mut c) in std::mem::take(&mut self.clients) {
                rcl_client_fini(c.handle.as_mut(), node);
            }
            for (_, mut s) in std::mem::take(&mut self.services) {
                rcl_service_fini(s.handle.as_mut(), node);
            }
            if let Some(mut w) = self.wait.take() {
                rcl_wait_set_fini(&mut w.ws);
            }
            #[cfg(not(rcl_rosout_in_node_init))]
            if self.rosout {
                rcl_logging_rosout_fini_publisher_for_node(node);
            }
            let _ = self.rosout;
            rcl_node_fini(node);
            if let Some(mut gc) = self.guard.gc.lock().take() {
                rcl_guard_condition_fini(gc.as_mut());
            }
            rcl_shutdown(self.context.as_mut());
            rcl_context_fini(self.context.as_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gid_hash_distinguishes_publishers() {
        assert_ne!(gid_hash(&[1, 2, 3]), gid_hash(&[1, 2, 4]));
        assert_eq!(gid_hash(&[7; 16]), gid_hash(&[7; 16]));
    }
}
