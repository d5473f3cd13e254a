//! A reference TCP bridge upstream (`yardmaster.bridge.v1`): echoes every frame back to
//! the client it came from, acknowledging it in the same message. Used by the example,
//! the end-to-end tests and the benchmark.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{stream, Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use yardmaster_bridge::pb::bridge_upstream_server::{BridgeUpstream, BridgeUpstreamServer};
use yardmaster_bridge::pb::{
    gateway_event, upstream_command, GatewayEvent, Ready, Send, UpstreamCommand,
};

/// Counters of an [`EchoUpstream`], shared with its clones.
#[derive(Debug, Default)]
pub struct EchoUpstreamStats {
    /// `opened` events received, `resumed` ones included.
    pub opened: AtomicU64,
    /// `opened` events marked `resumed`.
    pub resumed: AtomicU64,
    /// `data` events received.
    pub frames: AtomicU64,
    /// `closed` events received.
    pub closed: AtomicU64,
}

/// An upstream that sends `Ready`, then answers every data event with a `Send` of the same
/// payload to the same client, carrying `ack_seq`.
#[derive(Clone, Debug, Default)]
pub struct EchoUpstream {
    stats: Arc<EchoUpstreamStats>,
}

impl EchoUpstream {
    /// A new echo upstream with zeroed counters.
    pub fn new() -> EchoUpstream {
        EchoUpstream::default()
    }

    /// Its counters.
    pub fn stats(&self) -> &Arc<EchoUpstreamStats> {
        &self.stats
    }

    /// The tonic service, ready for `Server::add_service`.
    pub fn into_server(self) -> BridgeUpstreamServer<EchoUpstream> {
        BridgeUpstreamServer::new(self)
    }
}

type CommandStream =
    Pin<Box<dyn Stream<Item = Result<UpstreamCommand, Status>> + std::marker::Send>>;

#[tonic::async_trait]
impl BridgeUpstream for EchoUpstream {
    type BridgeStream = CommandStream;

    async fn bridge(
        &self,
        request: Request<Streaming<GatewayEvent>>,
    ) -> Result<Response<CommandStream>, Status> {
        let stats = self.stats.clone();
        let ready = UpstreamCommand {
            command: Some(upstream_command::Command::Ready(Ready {})),
        };
        let replies = request.into_inner().filter_map(move |event| {
            let reply = match event.map(|e| e.event) {
                Ok(Some(gateway_event::Event::Data(data))) => {
                    stats.frames.fetch_add(1, Ordering::Relaxed);
                    Some(Ok(UpstreamCommand {
                        command: Some(upstream_command::Command::Send(Send {
                            client_id: data.client_id,
                            payload: data.payload,
                            ack_seq: data.seq,
                        })),
                    }))
                }
                Ok(Some(gateway_event::Event::Opened(opened))) => {
                    stats.opened.fetch_add(1, Ordering::Relaxed);
                    if opened.resumed {
                        stats.resumed.fetch_add(1, Ordering::Relaxed);
                    }
                    None
                }
                Ok(Some(gateway_event::Event::Closed(_))) => {
                    stats.closed.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Ok(None) => None,
                Err(status) => Some(Err(status)),
            };
            std::future::ready(reply)
        });
        let commands = stream::once(std::future::ready(Ok(ready))).chain(replies);
        Ok(Response::new(Box::pin(commands)))
    }
}
