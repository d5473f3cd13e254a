//! The HTTP/2 connections of one endpoint: opened on demand, multiplexed, another one
//! opened when every open connection carries `max_streams_per_connection` streams (or the
//! upstream's own SETTINGS_MAX_CONCURRENT_STREAMS, if lower), and closed after staying
//! idle. A thread that keeps its own connections (`home_thread`, the gateway's workers)
//! gets a set of its own within the same list.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use h2::client::{Connection, SendRequest};
use h2::{Ping, PingPong};
use http::{Request, Response};
use prometheus_client::metrics::counter::Counter;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};
use yardmaster_core::Body;

use crate::circuit_breaker::{CircuitBreaker, Permit};
use crate::h2_stream::{split_request, with_pump, H2Body, Http2Error, RequestPump};
use crate::home_thread;
use crate::ClusterError;

/// HTTP/2 stream window towards upstreams: 2 MiB lets a large message flow without a
/// WINDOW_UPDATE round trip per 64 KiB, and still bounds what a stalled reader costs.
const STREAM_WINDOW_BYTES: u32 = 2 << 20;
/// Connection window: room for a few streams at full speed.
const CONNECTION_WINDOW_BYTES: u32 = 8 << 20;
/// hyper's HTTP/2 client defaults, kept when hyper was replaced by h2 itself.
const MAX_HEADER_LIST_BYTES: u32 = 16 << 10;
const MAX_SEND_BUFFER_BYTES: usize = 1 << 20;
const INITIAL_MAX_SEND_STREAMS: usize = 100;

/// How connections to the endpoints of one cluster are opened and shared.
#[derive(Debug)]
pub(crate) struct H2Settings {
    pub(crate) connect_timeout: Duration,
    pub(crate) max_streams: usize,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) breaker: Arc<CircuitBreaker>,
    /// The clock origin of idle times.
    pub(crate) epoch: Instant,
    /// The runtime the cluster was built on, which drives every shared live connection
    /// (those not kept by a home thread): one a live call opened from another runtime
    /// must not leave the frames of the calls that share it to that runtime.
    pub(crate) runtime: Option<tokio::runtime::Handle>,
}

/// Which connections a call uses. Live calls share connections driven by the runtime the
/// cluster was built on, except on a thread that keeps its own (`home_thread`);
/// background calls (mirror copies, run on low-priority threads) get connections of
/// their own, driven by the runtime they run on, so a copy's frames neither wait for nor
/// hold up live calls, and cross no threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// A call a client waits for.
    Live = 0,
    /// A call nobody waits for (a mirror copy).
    Background = 1,
}

/// The connections of one endpoint.
///
/// The hot path is one atomic load of the connection list and one atomic add on the
/// chosen connection's stream count; a mutex is taken only to open a connection, so
/// concurrent calls of a lane that all need a new connection open one, not many.
#[derive(Debug)]
pub(crate) struct H2Pool {
    address: SocketAddr,
    settings: Arc<H2Settings>,
    connections: ArcSwap<Vec<Arc<PooledConnection>>>,
    /// Held while opening a connection, one per lane: a copy connecting from a starved
    /// low-priority thread must not keep a live call from opening its connection.
    connecting: [tokio::sync::Mutex<()>; 2],
    opened: Counter,
    connect_errors: Counter,
}

/// One connection: its request handle and the state its driving task shares.
#[derive(Debug)]
pub(crate) struct PooledConnection {
    sender: SendRequest<Bytes>,
    lane: Lane,
    /// The thread that opened and drives this live connection, when that thread keeps
    /// its connections (see `home_thread`); only calls on that thread use it.
    home: Option<u32>,
    state: Arc<ConnectionState>,
    /// Dropped with the last handle of the connection: wakes its task, which then lets
    /// h2 close a connection nobody can use any more.
    _close: oneshot::Sender<()>,
}

/// What a connection's handles and its driving task both see.
#[derive(Debug)]
struct ConnectionState {
    streams: AtomicUsize,
    /// The upstream's SETTINGS_MAX_CONCURRENT_STREAMS as last seen by the task: streams
    /// beyond it would wait inside h2 instead of going to another connection.
    peer_max_streams: AtomicUsize,
    /// When the last stream ended, in milliseconds since the pool's epoch.
    idle_since_ms: AtomicU64,
    /// Set by the task once the connection takes no new streams (GOAWAY, error, closed).
    closed: AtomicBool,
    epoch: Instant,
}

impl PooledConnection {
    fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::Acquire)
    }
}

/// One stream on a pooled connection; the slot is free again when this is dropped.
#[derive(Debug)]
pub(crate) struct StreamGuard(Arc<PooledConnection>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let state = &self.0.state;
        if state.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            let now = millis_since(state.epoch);
            state.idle_since_ms.store(now, Ordering::Relaxed);
        }
    }
}

pub(crate) fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl H2Pool {
    pub(crate) fn new(
        address: SocketAddr,
        settings: Arc<H2Settings>,
        opened: Counter,
        connect_errors: Counter,
    ) -> H2Pool {
        H2Pool {
            address,
            settings,
            connections: ArcSwap::from_pointee(Vec::new()),
            connecting: Default::default(),
            opened,
            connect_errors,
        }
    }

    /// Open connections right now.
    pub(crate) fn open_connections(&self) -> usize {
        self.connections
            .load()
            .iter()
            .filter(|c| !c.is_closed())
            .count()
    }

    /// Sends `req` and waits for the response head, pumping the request body meanwhile
    /// (and afterwards from the response body). A request that a closing connection
    /// (GOAWAY, peer gone) could not take is sent once more on another connection.
    pub(crate) async fn send(
        &self,
        cluster: &Arc<str>,
        req: Request<Body>,
        lane: Lane,
    ) -> Result<(Response<H2Body>, StreamGuard), ClusterError> {
        let mut guard = self.acquire(cluster, lane).await?;
        let mut sender = match guard.0.sender.clone().ready().await {
            Ok(sender) => sender,
            Err(_) => {
                // Retire this connection so the resend cannot pick it again; calls
                // already running on it finish undisturbed.
                self.retire(&guard.0);
                drop(guard);
                guard = self.acquire(cluster, lane).await?;
                guard
                    .0
                    .sender
                    .clone()
                    .ready()
                    .await
                    .map_err(|source| self.stream_error(cluster, source))?
            }
        };
        let (head, body, end_of_stream) = split_request(req);
        let (response, tx) = sender
            .send_request(head, end_of_stream)
            .map_err(|source| self.stream_error(cluster, source))?;
        let mut pump = (!end_of_stream).then(|| RequestPump::new(body, tx));
        let response = with_pump(response, &mut pump)
            .await
            .map_err(|source| self.stream_error(cluster, source))?;
        let (parts, recv) = response.into_parts();
        let body = H2Body::new(recv, pump, &parts.headers);
        Ok((Response::from_parts(parts, body), guard))
    }

    /// Closes connections without streams that have been idle for `idle_timeout`, and
    /// forgets closed ones. Called by the cluster's maintenance task.
    pub(crate) fn close_idle(&self, idle_timeout: Duration) {
        let now = millis_since(self.settings.epoch);
        let idle_ms = u64::try_from(idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let is_stale = |c: &PooledConnection| {
            c.is_closed()
                || (c.state.streams.load(Ordering::Acquire) == 0
                    && now.saturating_sub(c.state.idle_since_ms.load(Ordering::Relaxed)) >= idle_ms)
        };
        if self.connections.load().iter().any(|c| is_stale(c)) {
            // Dropping the last sender of a connection without streams closes it.
            self.connections.rcu(|list| {
                list.iter()
                    .filter(|c| !is_stale(c))
                    .cloned()
                    .collect::<Vec<_>>()
            });
        }
    }

    fn stream_error(&self, cluster: &Arc<str>, source: h2::Error) -> ClusterError {
        ClusterError::Stream {
            cluster: cluster.clone(),
            endpoint: self.address,
            source: Http2Error::new(source),
        }
    }

    fn retire(&self, connection: &Arc<PooledConnection>) {
        self.connections.rcu(|list| {
            list.iter()
                .filter(|c| !Arc::ptr_eq(c, connection))
                .cloned()
                .collect::<Vec<_>>()
        });
    }

    /// A stream slot on an open connection with room, opening a connection if none has.
    async fn acquire(&self, cluster: &Arc<str>, lane: Lane) -> Result<StreamGuard, ClusterError> {
        match self.try_acquire(lane) {
            Some(guard) => Ok(guard),
            // Boxed: connecting is rare, and its future (TCP connect, HTTP/2
            // handshake, timeout) would otherwise make every call's future larger.
            None => Box::pin(self.acquire_by_connecting(cluster, lane)).await,
        }
    }

    /// `acquire`'s slow path: waits for the connect lock and opens a connection unless
    /// another call did meanwhile.
    async fn acquire_by_connecting(
        &self,
        cluster: &Arc<str>,
        lane: Lane,
    ) -> Result<StreamGuard, ClusterError> {
        let _pending = self
            .settings
            .breaker
            .pending()
            .map_err(|o| ClusterError::overloaded(cluster, o))?;
        let _connecting = self.connecting[lane as usize].lock().await;
        // Another call may have connected while this one waited for the lock.
        if let Some(guard) = self.try_acquire(lane) {
            return Ok(guard);
        }
        let permit = match self.settings.breaker.connection() {
            Ok(permit) => permit,
            // At the connection limit, a thread that keeps its own connections borrows
            // one with room from another thread before the call fails.
            Err(overload) => {
                return self
                    .find_stream(lane, Homes::Any)
                    .ok_or_else(|| ClusterError::overloaded(cluster, overload));
            }
        };
        let connection = self.connect(cluster, permit, lane).await.inspect_err(|_| {
            self.connect_errors.inc();
        })?;
        self.opened.inc();
        let connection = Arc::new(connection);
        self.connections.rcu(|list| {
            let mut list: Vec<_> = list.iter().filter(|c| !c.is_closed()).cloned().collect();
            list.push(connection.clone());
            list
        });
        Ok(StreamGuard(connection))
    }

    fn try_acquire(&self, lane: Lane) -> Option<StreamGuard> {
        self.find_stream(lane, Homes::Only(home_of(lane)))
    }

    /// A stream slot on an open connection of `lane` and `homes` with room.
    fn find_stream(&self, lane: Lane, homes: Homes) -> Option<StreamGuard> {
        self.connections.load().iter().find_map(|c| {
            let home_fits = match homes {
                Homes::Only(home) => c.home == home,
                Homes::Any => true,
            };
            if c.lane != lane || !home_fits {
                return None;
            }
            let peer_max = c.state.peer_max_streams.load(Ordering::Relaxed);
            let max = self.settings.max_streams.min(peer_max);
            let streams = &c.state.streams;
            if c.is_closed() || streams.load(Ordering::Relaxed) >= max {
                return None;
            }
            if streams.fetch_add(1, Ordering::AcqRel) < max {
                Some(StreamGuard(c.clone()))
            } else {
                streams.fetch_sub(1, Ordering::AcqRel);
                None
            }
        })
    }

    /// Opens a connection holding one stream slot for the caller.
    async fn connect(
        &self,
        cluster: &Arc<str>,
        permit: Option<Permit>,
        lane: Lane,
    ) -> Result<PooledConnection, ClusterError> {
        let address = self.address;
        let settings = &self.settings;
        let handshake = async {
            let stream = TcpStream::connect(address)
                .await
                .map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            h2::client::Builder::new()
                .initial_max_send_streams(INITIAL_MAX_SEND_STREAMS)
                .initial_window_size(STREAM_WINDOW_BYTES)
                .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
                .max_header_list_size(MAX_HEADER_LIST_BYTES)
                .max_send_buffer_size(MAX_SEND_BUFFER_BYTES)
                .enable_push(false)
                .handshake::<_, Bytes>(stream)
                .await
                .map_err(|e| format!("HTTP/2 handshake: http2 error: {e}"))
        };
        let (sender, mut connection) = tokio::time::timeout(settings.connect_timeout, handshake)
            .await
            .map_err(|_| ClusterError::connect_timeout(cluster, address, settings.connect_timeout))?
            .map_err(|reason| ClusterError::Connect {
                cluster: cluster.clone(),
                endpoint: address,
                reason,
            })?;
        let state = Arc::new(ConnectionState {
            streams: AtomicUsize::new(1),
            peer_max_streams: AtomicUsize::new(connection.max_concurrent_send_streams()),
            idle_since_ms: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            epoch: settings.epoch,
        });
        let keepalive = settings.keepalive_interval.and_then(|interval| {
            let ping_pong = connection.ping_pong()?;
            Some(KeepAlive {
                ping_pong,
                interval,
                timeout: settings.keepalive_timeout,
                sleep: Box::pin(tokio::time::sleep(interval)),
                awaiting_pong: false,
            })
        });
        let (close, closed) = oneshot::channel();
        let driver = Driver {
            connection,
            probe: Some(sender.clone()),
            closed: Some(closed),
            keepalive,
            state: state.clone(),
        };
        let task_state = state.clone();
        // Detached on purpose: the task drives the connection and ends by itself when the
        // peer closes it, when keepalive finds the peer silent, or when the last handle
        // and stream are gone. It holds the connection's circuit breaker permit until then.
        let drive = async move {
            let _permit = permit;
            if let Err(error) = driver.await {
                tracing::debug!(%address, %error, "upstream HTTP/2 connection ended");
            }
            task_state.closed.store(true, Ordering::Release);
        };
        let home = home_of(lane);
        match (lane, home, &settings.runtime) {
            (Lane::Live, None, Some(runtime)) => runtime.spawn(drive),
            _ => tokio::spawn(drive),
        };
        Ok(PooledConnection {
            sender,
            lane,
            home,
            state,
            _close: close,
        })
    }
}

/// Whose connections a call may take a stream on.
#[derive(Clone, Copy)]
enum Homes {
    /// Those of one home (`None`: the shared ones).
    Only(Option<u32>),
    /// Any open connection, wherever it is driven.
    Any,
}

/// Which thread's connections a call on this thread and lane uses: its own on a thread
/// that keeps them, else the ones every such call shares.
fn home_of(lane: Lane) -> Option<u32> {
    match lane {
        Lane::Live => home_thread::current(),
        Lane::Background => None,
    }
}

/// Drives one connection: frames in and out, keepalive PINGs, and noticing when it stops
/// taking new streams.
struct Driver {
    connection: Connection<TcpStream, Bytes>,
    /// A handle only for asking whether the connection still takes streams; dropped when
    /// the pool lets go of the connection, since any handle keeps h2 from closing it.
    probe: Option<SendRequest<Bytes>>,
    /// Resolves when the pool's last handle is dropped.
    closed: Option<oneshot::Receiver<()>>,
    keepalive: Option<KeepAlive>,
    state: Arc<ConnectionState>,
}

/// PINGs every `interval` while streams are open (gRPC servers answer PINGs on idle
/// connections with GOAWAY `too_many_pings`); no PONG within `timeout` ends the
/// connection, failing its streams.
struct KeepAlive {
    ping_pong: PingPong,
    interval: Duration,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    awaiting_pong: bool,
}

/// Why a connection task ended other than by an orderly close.
#[derive(Debug, thiserror::Error)]
enum DriverError {
    #[error("{0}")]
    Http2(#[from] h2::Error),
    #[error("keepalive PING not answered within {0:?}")]
    KeepAliveTimeout(Duration),
}

impl Future for Driver {
    type Output = Result<(), DriverError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some(closed) = this.closed.as_mut() {
            if Pin::new(closed).poll(cx).is_ready() {
                this.closed = None;
                this.probe = None;
                this.state.closed.store(true, Ordering::Release);
            }
        }
        if let Some(keepalive) = this.keepalive.as_mut() {
            let streams = this.state.streams.load(Ordering::Acquire);
            if let Poll::Ready(timeout) = keepalive.poll(cx, streams) {
                return Poll::Ready(Err(DriverError::KeepAliveTimeout(timeout)));
            }
        }
        if let Poll::Ready(result) = Pin::new(&mut this.connection).poll(cx) {
            return Poll::Ready(result.map_err(DriverError::from));
        }
        let peer_max = this.connection.max_concurrent_send_streams();
        this.state
            .peer_max_streams
            .store(peer_max.max(1), Ordering::Relaxed);
        // After a GOAWAY or a connection error h2 refuses new streams: tell the pool now,
        // so new calls go to another connection while this one finishes its streams.
        if let Some(probe) = this.probe.as_mut() {
            if let Poll::Ready(Err(_)) = probe.poll_ready(cx) {
                this.probe = None;
                this.state.closed.store(true, Ordering::Release);
            }
        }
        Poll::Pending
    }
}

impl KeepAlive {
    /// Ready with the timeout when a PING went unanswered.
    fn poll(&mut self, cx: &mut Context<'_>, streams: usize) -> Poll<Duration> {
        loop {
            if self.awaiting_pong {
                if let Poll::Ready(result) = self.ping_pong.poll_pong(cx) {
                    self.awaiting_pong = false;
                    if let Err(error) = result {
                        tracing::debug!(%error, "keepalive PONG");
                    }
                    let next = Instant::now() + self.interval;
                    self.sleep.as_mut().reset(next);
                    continue;
                }
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.awaiting_pong {
                return Poll::Ready(self.timeout);
            }
            let next = if streams > 0 && self.ping_pong.send_ping(Ping::opaque()).is_ok() {
                self.awaiting_pong = true;
                Instant::now() + self.timeout
            } else {
                Instant::now() + self.interval
            };
            self.sleep.as_mut().reset(next);
        }
    }
}
