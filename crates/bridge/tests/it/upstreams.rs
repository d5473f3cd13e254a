//! gRPC upstreams for the bridge tests, on loopback and killable: a scripted
//! `yardmaster.bridge.v1` upstream, an `upstream.grpc.service` one, and a wrapper that adds
//! `grpc.health.v1.Health/Check`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tonic::{Request, Response, Status, Streaming};
use yardmaster_bridge::compat_pb::upstream_peer_service_server::{
    UpstreamPeerService, UpstreamPeerServiceServer,
};
use yardmaster_bridge::compat_pb::{
    output_stream_request, InputStreamRequest, LiveResult, OutputStreamRequest, ReadyResult,
};
use yardmaster_bridge::pb;
use yardmaster_bridge::pb::bridge_upstream_server::{BridgeUpstream, BridgeUpstreamServer};
use yardmaster_bridge::pb::{gateway_event, upstream_command, GatewayEvent, UpstreamCommand};

/// A gRPC upstream on loopback that can be killed: every connection dies with it.
pub(crate) struct TestUpstream {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TestUpstream {
    /// Serves `service` (a tonic server type) on `127.0.0.1:<ephemeral>`.
    pub(crate) async fn start<S>(service: S) -> TestUpstream
    where
        S: tower::Service<
                http::Request<hyper::body::Incoming>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            // Owned here, so aborting this task closes every connection at once.
            let mut connections = JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let service = TowerToHyperService::new(service.clone());
                connections.spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .http2_only()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        TestUpstream { addr, task }
    }

    /// Kills the upstream: the listener and every connection close at once, mid-stream.
    pub(crate) async fn kill(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `yardmaster.bridge.v1` upstream for tests: sends `ready`, echoes every frame to its
/// client with `ack_seq` in the same `send` (as the reference upstream does), and obeys
/// frames that start with `!`: `!broadcast <all|active|inactive> <text>`, `!close <reason>`,
/// `!flood <count> <bytes>` (sends that many frames of that size to the client). With
/// `hold` set it acknowledges and answers nothing. Counts `opened` events (`resumed` ones
/// also apart) and data frames.
#[derive(Clone, Default)]
pub(crate) struct ScriptedUpstream {
    pub(crate) opened: Arc<AtomicU64>,
    pub(crate) frames: Arc<AtomicU64>,
    pub(crate) resumed: Arc<AtomicU64>,
    pub(crate) hold: Arc<AtomicBool>,
}

type Commands = Pin<Box<dyn Stream<Item = Result<UpstreamCommand, Status>> + Send>>;

fn command(command: upstream_command::Command) -> Result<UpstreamCommand, Status> {
    Ok(UpstreamCommand {
        command: Some(command),
    })
}

impl ScriptedUpstream {
    pub(crate) fn into_server(self) -> BridgeUpstreamServer<ScriptedUpstream> {
        BridgeUpstreamServer::new(self)
    }

    fn answer(&self, data: pb::ClientData) -> Vec<Result<UpstreamCommand, Status>> {
        self.frames.fetch_add(1, Ordering::Relaxed);
        if self.hold.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let send = |payload: Bytes, ack_seq| {
            command(upstream_command::Command::Send(pb::Send {
                client_id: data.client_id.clone(),
                payload,
                ack_seq,
            }))
        };
        let text = String::from_utf8_lossy(&data.payload).into_owned();
        let mut words = text.splitn(3, ' ');
        let ack = command(upstream_command::Command::Ack(pb::Ack {
            client_id: data.client_id.clone(),
            seq: data.seq,
        }));
        match words.next() {
            Some("!broadcast") => {
                let scope = match words.next() {
                    Some("active") => pb::Scope::Active,
                    Some("inactive") => pb::Scope::Inactive,
                    _ => pb::Scope::All,
                };
                let payload = Bytes::from(words.next().unwrap_or_default().to_owned());
                vec![
                    ack,
                    command(upstream_command::Command::Broadcast(pb::Broadcast {
                        scope: scope as i32,
                        payload,
                    })),
                ]
            }
            Some("!close") => vec![
                ack,
                command(upstream_command::Command::Close(pb::Close {
                    client_id: data.client_id.clone(),
                    reason: words.next().unwrap_or_default().to_owned(),
                })),
            ],
            Some("!flood") => {
                let count: usize = words.next().unwrap().parse().unwrap();
                let size: usize = words.next().unwrap().parse().unwrap();
                let mut commands = vec![ack];
                commands.extend((0..count).map(|_| send(Bytes::from(vec![b'x'; size]), 0)));
                commands
            }
            _ => vec![send(data.payload.clone(), data.seq)],
        }
    }
}

#[tonic::async_trait]
impl BridgeUpstream for ScriptedUpstream {
    type BridgeStream = Commands;

    async fn bridge(
        &self,
        request: Request<Streaming<GatewayEvent>>,
    ) -> Result<Response<Commands>, Status> {
        let this = self.clone();
        let ready = command(upstream_command::Command::Ready(pb::Ready {}));
        let replies = request.into_inner().flat_map(move |event| {
            let replies = match event.map(|e| e.event) {
                Ok(Some(gateway_event::Event::Data(data))) => this.answer(data),
                Ok(Some(gateway_event::Event::Opened(opened))) => {
                    this.opened.fetch_add(1, Ordering::Relaxed);
                    if opened.resumed {
                        this.resumed.fetch_add(1, Ordering::Relaxed);
                    }
                    Vec::new()
                }
                Ok(_) => Vec::new(),
                Err(status) => vec![Err(status)],
            };
            stream::iter(replies)
        });
        Ok(Response::new(Box::pin(
            stream::once(async { ready }).chain(replies),
        )))
    }
}

/// An `upstream.grpc.service.UpstreamPeerService` upstream, as the replaced load
/// balancer's upstreams are written: echoes payloads to `client_uuid`, and turns
/// `!broadcast <all|active|inactive> <text>` into a broadcast. `ready` answers what
/// `is_ready` says; `live` answers every ping with `live: true`. Its frame stream sends
/// response headers only with the first frame, as grpcio upstreams do.
#[derive(Clone, Default)]
pub(crate) struct PeerUpstream {
    pub(crate) is_ready: Arc<AtomicBool>,
    pub(crate) ready_calls: Arc<AtomicU64>,
    pub(crate) live_pings: Arc<AtomicU64>,
}

type Outputs = Pin<Box<dyn Stream<Item = Result<OutputStreamRequest, Status>> + Send>>;
type Lives = Pin<Box<dyn Stream<Item = Result<LiveResult, Status>> + Send>>;

#[tonic::async_trait]
impl UpstreamPeerService for PeerUpstream {
    type bidirectionalStreamingStream = Outputs;
    type liveStream = Lives;

    async fn bidirectional_streaming(
        &self,
        request: Request<Streaming<InputStreamRequest>>,
    ) -> Result<Response<Outputs>, Status> {
        // Like grpcio, answer with headers only once there is something to send: the
        // gateway must not wait for them before giving this upstream clients.
        let mut inputs = request.into_inner();
        let first = inputs.message().await?;
        let inputs = stream::iter(first.map(Ok)).chain(inputs);
        let outputs = inputs.map(|input| {
            let input = input?;
            let text = String::from_utf8_lossy(&input.payload).into_owned();
            let mut words = text.splitn(3, ' ');
            let output = if words.next() == Some("!broadcast") {
                use yardmaster_bridge::compat_pb::Broadcast;
                let scope = match words.next() {
                    Some("active") => Broadcast::Active,
                    Some("inactive") => Broadcast::NotActive,
                    _ => Broadcast::All,
                };
                OutputStreamRequest {
                    time: input.time,
                    target: Some(output_stream_request::Target::Broadcast(scope as i32)),
                    payload: Bytes::from(words.next().unwrap_or_default().to_owned()),
                }
            } else {
                OutputStreamRequest {
                    time: input.time,
                    target: Some(output_stream_request::Target::ClientUuid(input.client_uuid)),
                    payload: input.payload,
                }
            };
            Ok(output)
        });
        Ok(Response::new(Box::pin(outputs)))
    }

    async fn ready(&self, _: Request<()>) -> Result<Response<ReadyResult>, Status> {
        self.ready_calls.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(ReadyResult {
            time: String::new(),
            ready: self.is_ready.load(Ordering::Relaxed),
        }))
    }

    async fn live(&self, request: Request<Streaming<()>>) -> Result<Response<Lives>, Status> {
        let pings = self.live_pings.clone();
        let lives = request.into_inner().map(move |ping| {
            ping?;
            pings.fetch_add(1, Ordering::Relaxed);
            Ok(LiveResult {
                time: String::new(),
                live: true,
            })
        });
        Ok(Response::new(Box::pin(lives)))
    }
}

impl PeerUpstream {
    pub(crate) fn into_server(self) -> UpstreamPeerServiceServer<PeerUpstream> {
        UpstreamPeerServiceServer::new(self)
    }
}

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    pub(crate) service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    pub(crate) status: i32,
}

/// Answers `grpc.health.v1.Health/Check` with SERVING (1) or NOT_SERVING (2) as `serving`
/// says, and passes every other call to `inner`.
#[derive(Clone)]
pub(crate) struct WithHealth<S> {
    pub(crate) inner: S,
    pub(crate) serving: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Check(bool);

impl tonic::server::UnaryService<HealthCheckRequest> for Check {
    type Response = HealthCheckResponse;
    type Future = std::future::Ready<Result<Response<HealthCheckResponse>, Status>>;

    fn call(&mut self, _: Request<HealthCheckRequest>) -> Self::Future {
        let status = if self.0 { 1 } else { 2 };
        std::future::ready(Ok(Response::new(HealthCheckResponse { status })))
    }
}

type BoxResponse = Pin<
    Box<
        dyn Future<Output = Result<http::Response<tonic::body::Body>, std::convert::Infallible>>
            + Send,
    >,
>;

impl<S> tower::Service<http::Request<hyper::body::Incoming>> for WithHealth<S>
where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxResponse;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<hyper::body::Incoming>) -> BoxResponse {
        if req.uri().path() == "/grpc.health.v1.Health/Check" {
            let check = Check(self.serving.load(Ordering::Relaxed));
            return Box::pin(async move {
                let codec =
                    tonic_prost::ProstCodec::<HealthCheckResponse, HealthCheckRequest>::default();
                Ok(tonic::server::Grpc::new(codec).unary(check, req).await)
            });
        }
        let mut inner = self.inner.clone();
        Box::pin(async move { inner.call(req).await })
    }
}
