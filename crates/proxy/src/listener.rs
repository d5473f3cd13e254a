//! The accept loop of a listener that was already bound: one task per connection, on
//! one of the [`Workers`], HTTP/1.1 and HTTP/2 detected per connection, optional TLS,
//! bounded concurrency and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::edge::EdgeService;
use crate::{Edge, Pipeline, ProxyBody, Workers};

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send an HTTP/1 request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent streams per downstream HTTP/2 connection: well above gRPC clients' usual
/// 100, low enough that one connection cannot monopolise the gateway.
const MAX_CONCURRENT_STREAMS: u32 = 1024;
/// Receive windows advertised to downstream clients (see the upstream side in `cluster`).
const STREAM_WINDOW_BYTES: u32 = 2 << 20;
const CONNECTION_WINDOW_BYTES: u32 = 8 << 20;

/// How a listener serves its connections.
#[derive(Clone)]
pub struct ListenerSettings {
    /// Terminate TLS with this acceptor (ALPN offers h2 and http/1.1).
    pub tls: Option<TlsAcceptor>,
    /// Connections served at once; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// After shutdown begins, how long open connections may finish their requests.
    pub drain_timeout: Duration,
}

/// Accepts connections on `listener` until `shutdown` resolves, serving each on one of
/// `workers`, then stops accepting, asks every connection to finish (HTTP/2 GOAWAY,
/// HTTP/1 close after the current response) and waits up to `drain_timeout` for them.
/// `L` is the edge's protocol layers (see [`Edge::layer`]).
pub async fn serve<L>(
    listener: TcpListener,
    edge: Edge<L>,
    settings: ListenerSettings,
    workers: Workers,
    shutdown: impl Future<Output = ()>,
) where
    L: Layer<Pipeline>,
    L::Service: Service<Request<Incoming>, Response = Response<ProxyBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    <L::Service as Service<Request<Incoming>>>::Future: Send + 'static,
{
    let builder = Arc::new(http_builder());
    let graceful = GracefulShutdown::new();
    let limit = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, client)) => {
                // Leaves this runtime's reactor; the worker registers it with its own.
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::debug!(%error, %client, "handing a connection over failed");
                        continue;
                    }
                };
                let span = tracing::info_span!(
                    target: "yardmaster::connection",
                    "connection",
                    listener = %edge.listener_name(),
                    peer = %client,
                );
                let connection = Connection {
                    service: edge.for_connection(client),
                    connections: edge.connections_gauge().clone(),
                    builder: builder.clone(),
                    watcher: graceful.watcher(),
                    _permit: permit,
                };
                // Owned by `graceful`, which waits for it on shutdown.
                workers.spawn(
                    connection
                        .run(stream, settings.tls.clone())
                        .instrument(span),
                );
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(settings.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(open, "drain timeout passed; closing remaining connections");
    }
}

impl std::fmt::Debug for ListenerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSettings")
            .field("tls", &self.tls.is_some())
            .field("max_connections", &self.max_connections)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES);
    builder
}

/// One accepted connection, served on its own task by `service`.
struct Connection<S> {
    service: EdgeService<S>,
    /// The listener's open-connections gauge.
    connections: Gauge,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
    _permit: OwnedSemaphorePermit,
}

impl<S> Connection<S>
where
    S: Service<Request<Incoming>, Response = Response<ProxyBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    async fn run(self, stream: std::net::TcpStream, tls: Option<TlsAcceptor>) {
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "registering an accepted connection failed");
                return;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "setting TCP_NODELAY failed");
        }
        let gauge = self.connections.clone();
        gauge.inc();
        match tls {
            None => self.serve(TokioIo::new(stream)).await,
            Some(acceptor) => {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => self.serve(TokioIo::new(stream)).await,
                    Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            }
        }
        gauge.dec();
    }

    async fn serve<I>(self, io: I)
    where
        I: Read + Write + Unpin + Send + 'static,
    {
        let connection = self
            .builder
            .serve_connection_with_upgrades(io, self.service)
            .into_owned();
        if let Err(error) = self.watcher.watch(connection).await {
            // Clients that send garbage or vanish end here; they are not our failures.
            tracing::debug!(%error, "downstream connection ended with an error");
        }
    }
}
