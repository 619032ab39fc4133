//! Viewer requests, dispatched to the hub's handlers. Shared by every transport: only
//! `subscribe`/`unsubscribe` differ between the WebSocket (v1) and remote-access (v2) dialects,
//! so a transport handles those itself and hands everything else to [`handle_request`] and
//! [`handle_binary_request`].

use bytes::Bytes;

use super::{ClientError, ClientId, Hub};
use crate::protocol::client::{ClientBinary, ClientMessage};

/// Refusals reported one by one per incoming message; the rest become one
/// [`ClientError::MoreRefused`]: a subscribe with 50,000 bad ids is one mistake, and the errors
/// of one message must not cost more memory than the message did.
pub const MAX_REFUSALS_PER_MESSAGE: usize = 16;

/// The refusals of one incoming message, at most [`MAX_REFUSALS_PER_MESSAGE`] kept.
#[derive(Default)]
struct Refusals {
    list: Vec<ClientError>,
    more: usize,
}

impl Refusals {
    fn push(&mut self, e: ClientError) {
        if self.list.len() < MAX_REFUSALS_PER_MESSAGE {
            self.list.push(e);
        } else {
            self.more += 1;
        }
    }

    fn check(&mut self, r: Result<(), ClientError>) {
        if let Err(e) = r {
            self.push(e);
        }
    }

    fn into_vec(mut self) -> Vec<ClientError> {
        if self.more > 0 {
            self.list.push(ClientError::MoreRefused(self.more));
        }
        self.list
    }
}

/// Handle one v1 text frame; returns what went wrong, one error per refused request.
pub fn handle_text(hub: &Hub, client: ClientId, text: &str) -> Vec<ClientError> {
    let limit = hub.config().max_incoming_message_size;
    if text.len() > limit {
        return vec![ClientError::TooLarge {
            size: text.len(),
            limit,
        }];
    }
    let msg = match ClientMessage::parse(text) {
        Ok(m) => m,
        Err(e) => return vec![e.into()],
    };
    let mut errors = Refusals::default();
    match msg {
        ClientMessage::Subscribe { subscriptions } => {
            for s in subscriptions {
                errors.check(hub.subscribe(client, u64::from(s.id), s.channel_id));
            }
        }
        ClientMessage::Unsubscribe { subscription_ids } => {
            for id in subscription_ids {
                errors.check(hub.unsubscribe(client, u64::from(id)));
            }
        }
        other => return handle_request(hub, client, other),
    }
    errors.into_vec()
}

/// Handle a parsed request other than `subscribe`/`unsubscribe` (whose shapes are the
/// transport's); returns one error per refused part (at most [`MAX_REFUSALS_PER_MESSAGE`],
/// then a count).
pub fn handle_request(hub: &Hub, client: ClientId, msg: ClientMessage) -> Vec<ClientError> {
    let mut errors = Refusals::default();
    let mut check = |r: Result<(), ClientError>| errors.check(r);
    match msg {
        ClientMessage::Subscribe { .. } | ClientMessage::Unsubscribe { .. } => {
            debug_assert!(false, "subscribe/unsubscribe are the transport's");
        }
        ClientMessage::Advertise { channels } => {
            for ch in channels {
                check(hub.client_advertise(client, ch));
            }
        }
        ClientMessage::Unadvertise { channel_ids } => {
            for id in channel_ids {
                check(hub.client_unadvertise(client, id));
            }
        }
        ClientMessage::GetParameters {
            parameter_names,
            id,
        } => check(hub.get_parameters(client, parameter_names, id)),
        ClientMessage::SetParameters { parameters, id } => {
            for e in hub.set_parameters(client, parameters, id) {
                check(Err(e));
            }
        }
        ClientMessage::SubscribeParameterUpdates { parameter_names } => {
            check(hub.subscribe_parameters(client, parameter_names))
        }
        ClientMessage::UnsubscribeParameterUpdates { parameter_names } => {
            check(hub.unsubscribe_parameters(client, parameter_names))
        }
        ClientMessage::SubscribeConnectionGraph => check(hub.subscribe_connection_graph(client)),
        ClientMessage::UnsubscribeConnectionGraph => {
            check(hub.unsubscribe_connection_graph(client))
        }
        ClientMessage::FetchAsset { uri, request_id } => {
            check(hub.fetch_asset(client, uri, request_id))
        }
    }
    errors.into_vec()
}

/// Handle one binary frame.
pub fn handle_binary(hub: &Hub, client: ClientId, data: Bytes) -> Vec<ClientError> {
    let limit = hub.config().max_incoming_message_size;
    if data.len() > limit {
        return vec![ClientError::TooLarge {
            size: data.len(),
            limit,
        }];
    }
    // On a live robot every playback request gets the same answer, well-formed or not.
    if data.first() == Some(&crate::protocol::binary::client_op::PLAYBACK_CONTROL) && !hub.plays() {
        return vec![ClientError::PlaybackUnsupported];
    }
    match ClientBinary::parse(&data) {
        Err(e) => vec![e.into()],
        Ok(msg) => handle_binary_request(hub, client, msg),
    }
}

/// Handle a parsed binary request (the same in every dialect).
pub fn handle_binary_request(hub: &Hub, client: ClientId, msg: ClientBinary) -> Vec<ClientError> {
    let result = match msg {
        ClientBinary::MessageData {
            channel_id,
            payload,
        } => hub.client_message(client, channel_id, payload),
        ClientBinary::ServiceCallRequest {
            service_id,
            call_id,
            encoding,
            payload,
        } => hub.service_call(client, service_id, call_id, &encoding, payload),
        ClientBinary::PlaybackControl(request) => hub.playback_control(client, request),
    };
    result.err().into_iter().collect()
}
