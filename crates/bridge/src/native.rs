//! The bridge's own upstream protocol, `yardmaster.bridge.v1.BridgeUpstream/Connect`:
//! open, data and close events out; ready, send, close, broadcast and ack commands in.

use futures_util::StreamExt;
use tokio::sync::watch;

use crate::close_reason::CloseReason;
use crate::link::{events_until, stopped, Event, Link};
use crate::pb::bridge_upstream_client::BridgeUpstreamClient;
use crate::pb::{self, gateway_event, upstream_command, GatewayEvent, UpstreamCommand};
use crate::registry::{Client, Scope};
use crate::shared::Shared;
use crate::upstream::{Upstream, STOP_GRACE};

/// Runs one stream to the endpoint until it fails or `stop` is set; returns why it ended.
/// On `stop` the stream is half-closed and the upstream gets [`STOP_GRACE`] to finish.
pub(crate) async fn run(
    shared: &Shared,
    upstream: &Upstream,
    stop: &watch::Receiver<bool>,
) -> String {
    let channel = match shared.connect_unless_stopped(upstream, stop).await {
        Ok(channel) => channel,
        Err(reason) => return reason,
    };
    let (guard, events) = shared.upstreams.open_link(upstream);
    let listener = shared.name.to_string();
    let outbound =
        events_until(events, stop.clone()).map(move |event| to_message(event, &listener));
    let mut client = BridgeUpstreamClient::new(channel);
    let opened = tokio::select! {
        opened = client.bridge(outbound) => opened,
        () = stopped(stop) => return "stopped".to_owned(),
    };
    let mut commands = match opened {
        Ok(response) => response.into_inner(),
        Err(status) => return format!("opening the stream: {status}"),
    };
    let serve = async {
        loop {
            match commands.message().await {
                Ok(Some(command)) => handle(shared, guard.link(), command),
                Ok(None) => return "the upstream ended the stream".to_owned(),
                Err(status) => return format!("stream failed: {status}"),
            }
        }
    };
    tokio::pin!(serve);
    tokio::select! {
        ended = &mut serve => return ended,
        () = stopped(stop) => {}
    }
    match tokio::time::timeout(STOP_GRACE, serve).await {
        Ok(ended) => ended,
        Err(_) => format!("stopped; the upstream did not end its stream within {STOP_GRACE:?}"),
    }
}

fn to_message(event: Event, listener: &str) -> GatewayEvent {
    let event = match event {
        Event::Opened { client, resumed } => gateway_event::Event::Opened(pb::ClientOpened {
            client_id: client.id_text.to_string(),
            peer: client.peer.to_string(),
            listener: listener.to_owned(),
            resumed,
        }),
        Event::Data {
            client,
            seq,
            payload,
        } => gateway_event::Event::Data(pb::ClientData {
            client_id: client.id_text.to_string(),
            payload,
            seq,
        }),
        Event::Closed { client_id, reason } => gateway_event::Event::Closed(pb::ClientClosed {
            client_id: client_id.to_string(),
            reason,
        }),
    };
    GatewayEvent { event: Some(event) }
}

/// Carries out one command. Acknowledgements count only from the stream the client is
/// assigned to; sends, closes and broadcasts may name any client of the bridge.
fn handle(shared: &Shared, link: &Link, command: UpstreamCommand) {
    let Some(command) = command.command else {
        return;
    };
    match command {
        upstream_command::Command::Ready(_) => {
            link.mark_ready();
            shared.upstreams.notify();
        }
        upstream_command::Command::Send(send) => {
            let Some(client) = shared.registry.get(&send.client_id) else {
                shared.metrics.unknown_client.inc();
                return;
            };
            if send.ack_seq > 0 {
                ack(link, &client, send.ack_seq);
            }
            shared.deliver(&client, send.payload);
        }
        upstream_command::Command::Ack(ack_command) => {
            if let Some(client) = shared.registry.get(&ack_command.client_id) {
                ack(link, &client, ack_command.seq);
            }
        }
        upstream_command::Command::Close(close) => {
            if let Some(client) = shared.registry.get(&close.client_id) {
                client.close(CloseReason::ByUpstream(close.reason));
            }
        }
        upstream_command::Command::Broadcast(broadcast) => {
            let scope = match pb::Scope::try_from(broadcast.scope) {
                Ok(pb::Scope::Active) => Scope::Active,
                Ok(pb::Scope::Inactive) => Scope::Inactive,
                Ok(pb::Scope::All) | Err(_) => Scope::All,
            };
            shared.registry.broadcast(scope, &broadcast.payload);
        }
    }
}

fn ack(link: &Link, client: &Client, seq: u64) {
    if link.has(client) {
        client.ack(seq);
    }
}
