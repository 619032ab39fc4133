//! The v1 dialect's requests, dispatched to the shared hub handlers.

use bytes::Bytes;

use crate::hub::{ClientError, ClientId, Hub};
use crate::protocol::client::{ClientBinary, ClientMessage};

/// Handle one text frame; returns what went wrong, one error per refused request.
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
    let mut errors = Vec::new();
    let mut check = |r: Result<(), ClientError>| {
        if let Err(e) = r {
            errors.push(e);
        }
    };
    match msg {
        ClientMessage::Subscribe { subscriptions } => {
            for s in subscriptions {
                check(hub.subscribe(client, u64::from(s.id), s.channel_id));
            }
        }
        ClientMessage::Unsubscribe { subscription_ids } => {
            for id in subscription_ids {
                check(hub.unsubscribe(client, u64::from(id)));
            }
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
        ClientMessage::GetParameters { .. }
        | ClientMessage::SetParameters { .. }
        | ClientMessage::SubscribeParameterUpdates { .. }
        | ClientMessage::UnsubscribeParameterUpdates { .. } => {
            check(Err(ClientError::Unsupported("parameters")))
        }
        ClientMessage::SubscribeConnectionGraph | ClientMessage::UnsubscribeConnectionGraph => {
            check(Err(ClientError::Unsupported("connectionGraph")))
        }
        ClientMessage::FetchAsset { .. } => check(Err(ClientError::Unsupported("assets"))),
    }
    errors
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
    let result = match ClientBinary::parse(&data) {
        Err(e) => Err(e.into()),
        Ok(ClientBinary::MessageData {
            channel_id,
            payload,
        }) => hub.client_message(client, channel_id, payload),
        Ok(ClientBinary::ServiceCallRequest { .. }) => Err(ClientError::Unsupported("services")),
        Ok(ClientBinary::PlaybackControl) => Err(ClientError::PlaybackUnsupported),
    };
    result.err().into_iter().collect()
}
