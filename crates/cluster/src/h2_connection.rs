//! One multiplexed HTTP/2 connection to an endpoint, opened on first use and reopened
//! when it closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prometheus_client::metrics::counter::Counter;
use tokio::net::TcpStream;
use yardmaster_core::Body;

use crate::ClusterError;

/// HTTP/2 stream window towards upstreams: 2 MiB lets a large message flow without a
/// WINDOW_UPDATE round trip per 64 KiB, and still bounds what a stalled reader costs.
const STREAM_WINDOW_BYTES: u32 = 2 << 20;
/// Connection window: room for a few streams at full speed.
const CONNECTION_WINDOW_BYTES: u32 = 8 << 20;

/// The shared HTTP/2 connection of one endpoint.
///
/// The hot path is one atomic load and an `Arc` clone of the sender; the mutex is taken
/// only to open a connection, so concurrent first calls open one connection, not many.
#[derive(Debug)]
pub(crate) struct H2Connection {
    address: SocketAddr,
    connect_timeout: Duration,
    current: ArcSwapOption<SendRequest<Body>>,
    connecting: tokio::sync::Mutex<()>,
    opened: Counter,
    connect_errors: Counter,
}

impl H2Connection {
    pub(crate) fn new(
        address: SocketAddr,
        connect_timeout: Duration,
        opened: Counter,
        connect_errors: Counter,
    ) -> H2Connection {
        H2Connection {
            address,
            connect_timeout,
            current: ArcSwapOption::empty(),
            connecting: tokio::sync::Mutex::new(()),
            opened,
            connect_errors,
        }
    }

    /// Whether an open connection exists right now.
    pub(crate) fn is_connected(&self) -> bool {
        self.current
            .load()
            .as_deref()
            .is_some_and(|s| !s.is_closed())
    }

    /// Sends `req` and waits for the response head. A request that a closing connection
    /// (GOAWAY, peer gone) never sent is sent once more on a fresh connection.
    pub(crate) async fn send(
        &self,
        cluster: &Arc<str>,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, ClusterError> {
        let current = self.sender(cluster).await?;
        let mut sender = SendRequest::clone(&current);
        match sender.try_send_request(req).await {
            Ok(response) => Ok(response),
            Err(mut error) => match error.take_message() {
                Some(req) => {
                    // Retire this connection so the retry cannot pick it again; calls
                    // already running on it finish undisturbed.
                    self.current.compare_and_swap(&current, None);
                    let mut sender = SendRequest::clone(&*self.sender(cluster).await?);
                    sender
                        .send_request(req)
                        .await
                        .map_err(|source| self.stream_error(cluster, source))
                }
                None => Err(self.stream_error(cluster, error.into_error())),
            },
        }
    }

    fn stream_error(&self, cluster: &Arc<str>, source: hyper::Error) -> ClusterError {
        ClusterError::Stream {
            cluster: cluster.clone(),
            endpoint: self.address,
            source,
        }
    }

    async fn sender(&self, cluster: &Arc<str>) -> Result<Arc<SendRequest<Body>>, ClusterError> {
        if let Some(sender) = self.open_sender() {
            return Ok(sender);
        }
        let _connecting = self.connecting.lock().await;
        // Another call may have connected while this one waited for the lock.
        if let Some(sender) = self.open_sender() {
            return Ok(sender);
        }
        let sender = Arc::new(self.connect(cluster).await.inspect_err(|_| {
            self.connect_errors.inc();
        })?);
        self.opened.inc();
        self.current.store(Some(sender.clone()));
        Ok(sender)
    }

    fn open_sender(&self) -> Option<Arc<SendRequest<Body>>> {
        self.current.load_full().filter(|s| !s.is_closed())
    }

    async fn connect(&self, cluster: &Arc<str>) -> Result<SendRequest<Body>, ClusterError> {
        let address = self.address;
        let handshake = async {
            let stream = TcpStream::connect(address)
                .await
                .map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .initial_stream_window_size(STREAM_WINDOW_BYTES)
                .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
                .handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP/2 handshake: {e}"))
        };
        let (sender, connection) = tokio::time::timeout(self.connect_timeout, handshake)
            .await
            .map_err(|_| ClusterError::connect_timeout(cluster, address, self.connect_timeout))?
            .map_err(|reason| ClusterError::Connect {
                cluster: cluster.clone(),
                endpoint: address,
                reason,
            })?;
        // Detached on purpose: the task drives the connection and ends by itself when the
        // peer closes it or when the last sender and stream are gone.
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%address, %error, "upstream HTTP/2 connection ended");
            }
        });
        Ok(sender)
    }
}
