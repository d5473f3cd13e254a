//! gRPC workers: the generated tonic `EchoClient` over bare hyper HTTP/2 connections.
//!
//! `tonic::transport::Channel` would add a `tower::Buffer` task hop per call on the
//! client side; a hyper `SendRequest` per connection is the leanest correct gRPC client,
//! which leaves more of the shared CPU to the target being measured.

use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::{BoxFuture, Service};
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::EchoRequest;

use super::args::{LoadArgs, CONNECT_TIMEOUT};
use super::phase::Phase;
use super::tally::Tally;
use crate::scenario::{
    Scenario, LARGE_PAYLOAD_BYTES, SMALL_PAYLOAD_BYTES, STREAM_REPLIES_PER_CALL, STREAM_REPLY_BYTES,
};

/// One HTTP/2 connection as a tower service for tonic.
#[derive(Clone, Debug)]
struct H2Channel {
    sender: SendRequest<tonic::body::Body>,
}

impl Service<Request<tonic::body::Body>> for H2Channel {
    type Response = Response<Incoming>;
    type Error = hyper::Error;
    type Future = BoxFuture<Response<Incoming>, hyper::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.sender.poll_ready(cx)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.sender.send_request(request))
    }
}

type Client = EchoClient<H2Channel>;

/// Opens the connections and spawns the scenario's workers.
pub(super) async fn start(
    scenario: Scenario,
    args: &LoadArgs,
    phase: &Phase,
    workers: &mut JoinSet<Tally>,
) -> Result<(), String> {
    let origin = Uri::try_from(format!("http://{}", args.addr)).map_err(|e| e.to_string())?;
    let connections = match scenario {
        Scenario::Pingpong => 1,
        _ => args.connections.max(1),
    };
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let channel = connect(args.addr).await?;
        clients.push(EchoClient::with_origin(channel, origin.clone()));
    }
    let worker = Worker {
        addr: args.addr,
        origin,
        phase: phase.clone(),
    };
    match scenario {
        Scenario::Unary
        | Scenario::Unary16k
        | Scenario::Mirror
        | Scenario::Fanout
        | Scenario::Transcode => {
            let size = if scenario == Scenario::Unary16k {
                LARGE_PAYLOAD_BYTES
            } else {
                SMALL_PAYLOAD_BYTES
            };
            let payload = Bytes::from(vec![b'x'; size]);
            let callers = args.concurrency.max(1);
            let pace = Pace::new(args.rate, callers);
            for i in 0..callers {
                let client = clients.get(i % connections).cloned();
                let worker = worker.clone();
                let payload = payload.clone();
                let ticks = pace.map(|pace| pace.ticks(i));
                workers.spawn(async move { worker.unary(client, payload, ticks).await });
            }
        }
        Scenario::Stream => {
            for client in clients {
                let worker = worker.clone();
                workers.spawn(async move { worker.stream(Some(client)).await });
            }
        }
        // The HTTP/1.1 and bridge scenarios never get here (see `load::drive`).
        Scenario::Pingpong | Scenario::Http1 | Scenario::BridgeIdle | Scenario::BridgeFrames => {
            let client = clients.pop();
            workers.spawn(async move { worker.pingpong(client).await });
        }
    }
    Ok(())
}

async fn connect(addr: SocketAddr) -> Result<H2Channel, String> {
    h2_connect(addr).await.map(|sender| H2Channel { sender })
}

/// An HTTP/2 (prior knowledge) connection to `addr` without Nagle's delay, its driver
/// spawned, for requests with bodies of type `B`.
pub(super) async fn h2_connect<B>(addr: SocketAddr) -> Result<SendRequest<B>, String>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let handshake = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        // Ends by itself when the target closes the connection or the senders are gone.
        tokio::spawn(connection);
        Ok::<_, String>(sender)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| format!("no HTTP/2 connection to {addr} after {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("connecting to {addr}: {e}"))
}

/// A fixed call rate shared out over the callers: each calls once per `period`, the
/// callers' first calls spread evenly over one period.
#[derive(Clone, Copy, Debug)]
struct Pace {
    start: Instant,
    period: Duration,
    callers: u32,
}

impl Pace {
    fn new(rate: Option<f64>, callers: usize) -> Option<Pace> {
        let rate = rate.filter(|rate| rate.is_finite() && *rate > 0.0)?;
        Some(Pace {
            start: Instant::now(),
            period: Duration::from_secs_f64(callers as f64 / rate),
            callers: u32::try_from(callers).unwrap_or(u32::MAX),
        })
    }

    /// The ticks of caller `index`. A caller whose call outlasts its period calls again
    /// at once (missed ticks burst), so a slow target sees the same offered load.
    fn ticks(self, index: usize) -> Interval {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let offset = self.period * index / self.callers.max(1);
        let mut ticks = tokio::time::interval_at(self.start + offset, self.period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
        ticks
    }
}

/// What every worker of a run shares.
#[derive(Clone, Debug)]
struct Worker {
    addr: SocketAddr,
    origin: Uri,
    phase: Phase,
}

impl Worker {
    /// Replaces a client whose connection the target closed. Errors are already counted.
    async fn reconnect(&self, client: &mut Option<Client>, tally: &mut Tally) {
        match connect(self.addr).await {
            Ok(channel) => *client = Some(EchoClient::with_origin(channel, self.origin.clone())),
            Err(error) => {
                tally.fail(error);
                *client = None;
            }
        }
    }

    /// Unary calls back to back, or on `ticks` when the load has a fixed rate.
    async fn unary(
        self,
        mut client: Option<Client>,
        payload: Bytes,
        mut ticks: Option<Interval>,
    ) -> Tally {
        let mut tally = Tally::default();
        while let Some(echo) = client.as_mut() {
            if let Some(ticks) = ticks.as_mut() {
                ticks.tick().await;
            }
            let request = EchoRequest {
                payload: payload.clone(),
                ..EchoRequest::default()
            };
            let started = Instant::now();
            let outcome = match echo.unary(request).await {
                Ok(reply) if reply.get_ref().payload.len() == payload.len() => Ok(()),
                Ok(reply) => Err(format!(
                    "reply payload of {} bytes, sent {}",
                    reply.get_ref().payload.len(),
                    payload.len()
                )),
                Err(status) => Err(describe(&status)),
            };
            let failed = outcome.is_err();
            if !tally.record(&self.phase, started, outcome) {
                break;
            }
            if failed {
                self.reconnect(&mut client, &mut tally).await;
            }
        }
        tally
    }

    /// Calls `ServerStream` for many replies again and again, counting each reply.
    async fn stream(self, mut client: Option<Client>) -> Tally {
        let mut tally = Tally::default();
        while let Some(echo) = client.as_mut() {
            let request = EchoRequest {
                count: STREAM_REPLIES_PER_CALL,
                reply_bytes: STREAM_REPLY_BYTES as u32,
                ..EchoRequest::default()
            };
            let mut replies = match echo.server_stream(request).await {
                Ok(response) => response.into_inner(),
                Err(status) => {
                    if !tally.record_message(&self.phase, Err(describe(&status))) {
                        break;
                    }
                    self.reconnect(&mut client, &mut tally).await;
                    continue;
                }
            };
            let mut received = 0_u32;
            let ended = loop {
                let outcome = match replies.message().await {
                    Ok(Some(reply)) if reply.payload.len() == STREAM_REPLY_BYTES => Ok(()),
                    Ok(Some(reply)) => Err(format!("reply of {} bytes", reply.payload.len())),
                    Ok(None) if received == STREAM_REPLIES_PER_CALL => break Ok(()),
                    Ok(None) => Err(format!("stream ended after {received} replies")),
                    Err(status) => Err(describe(&status)),
                };
                received += 1;
                let failed = outcome.is_err();
                if !tally.record_message(&self.phase, outcome) {
                    return tally;
                }
                if failed {
                    break Err(());
                }
            };
            if ended.is_err() {
                self.reconnect(&mut client, &mut tally).await;
            }
        }
        tally
    }

    /// One bidi call, one message in flight: send, wait for its echo, repeat.
    async fn pingpong(self, mut client: Option<Client>) -> Tally {
        let mut tally = Tally::default();
        while let Some(echo) = client.as_mut() {
            match self.one_pingpong_call(echo, &mut tally).await {
                Ok(()) => break,
                Err(error) => {
                    if !tally.record(&self.phase, Instant::now(), Err(error)) {
                        break;
                    }
                    self.reconnect(&mut client, &mut tally).await;
                }
            }
        }
        tally
    }

    /// Runs one bidi call until the window closes (`Ok`) or the call fails.
    async fn one_pingpong_call(&self, echo: &mut Client, tally: &mut Tally) -> Result<(), String> {
        let payload = Bytes::from(vec![b'p'; SMALL_PAYLOAD_BYTES]);
        let (requests, outgoing) = mpsc::channel(1);
        let ping = |index: u32| EchoRequest {
            message: index.to_string(),
            payload: payload.clone(),
            ..EchoRequest::default()
        };
        // The first message goes out with the call, before the response head comes back.
        let mut started = Instant::now();
        requests
            .send(ping(0))
            .await
            .map_err(|_| "request stream closed".to_owned())?;
        let mut replies = echo
            .bidi(ReceiverStream::new(outgoing))
            .await
            .map_err(|status| describe(&status))?
            .into_inner();
        let mut index = 0_u32;
        loop {
            let reply = replies
                .message()
                .await
                .map_err(|status| describe(&status))?
                .ok_or_else(|| format!("bidi call ended after {index} replies"))?;
            let outcome = if reply.message == index.to_string() && reply.payload == payload {
                Ok(())
            } else {
                Err(format!("reply {:?} to ping {index}", reply.message))
            };
            if !tally.record(&self.phase, started, outcome) {
                return Ok(());
            }
            index = index.wrapping_add(1);
            started = Instant::now();
            requests
                .send(ping(index))
                .await
                .map_err(|_| "request stream closed".to_owned())?;
        }
    }
}

fn describe(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}
