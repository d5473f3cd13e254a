//! Serving on an already bound listener: the accept loop shared by both demo upstreams, and
//! [`serve_grpc`], which speaks HTTP/2 with prior knowledge (h2c) as gRPC clients do.

use std::future::Future;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tonic::codegen::{Service, StdError};
use tracing::Instrument;

use crate::pb::echo_server::EchoServer;
use crate::EchoService;

/// Largest gRPC message the echo server decodes or encodes: 256 MiB, so tests and the
/// benchmark can push messages far past tonic's 4 MiB default.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Pause after a failed `accept` (for example out of file descriptors), so the loop does not
/// spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(20);

/// The generated tonic server for `service`, with message limits of [`MAX_MESSAGE_BYTES`].
pub fn echo_server(service: EchoService) -> EchoServer<EchoService> {
    EchoServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Serves the tower `service` (typically [`echo_server`]) over h2c on `listener` until
/// `shutdown` resolves.
///
/// Every connection gets its own task with `TCP_NODELAY` set; accept errors are logged and
/// never end the loop. On shutdown the listener is closed, open connections get a GOAWAY,
/// and the future resolves once their in-flight calls are done. Dropping the future instead
/// aborts every connection at once.
pub async fn serve_grpc<S, B>(listener: TcpListener, service: S, shutdown: impl Future<Output = ()>)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<StdError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<StdError>,
{
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder.timer(TokioTimer::new());
    accept_connections(listener, shutdown, move |io, watcher| {
        let connection = builder.serve_connection(io, TowerToHyperService::new(service.clone()));
        async move {
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "gRPC connection closed with an error");
            }
        }
    })
    .await;
}

/// Accepts connections until `shutdown` resolves, running `serve_connection` for each in a
/// task owned by this future, then drains them gracefully.
pub(crate) async fn accept_connections<F, Fut>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    mut serve_connection: F,
) where
    F: FnMut(TokioIo<TcpStream>, Watcher) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
                    }
                    let span = tracing::debug_span!("connection", %peer);
                    let served = serve_connection(TokioIo::new(stream), graceful.watcher());
                    connections.spawn(served.instrument(span));
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = joined {
                    tracing::error!(%error, "connection task failed");
                }
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
    while let Some(joined) = connections.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "connection task failed");
        }
    }
}
