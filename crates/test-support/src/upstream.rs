//! Upstreams for tests: the demo echo service and HTTP service, killable at will.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::echo_server::EchoServer;
use yardmaster_demo::{EchoService, EchoStats, EchoWithHealth, HealthService};

/// A demo `Echo` gRPC upstream on `127.0.0.1:<ephemeral>`.
pub struct TestUpstream {
    addr: SocketAddr,
    stats: EchoStats,
    health: Option<HealthService>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestUpstream {
    /// Starts an echo upstream that reports `name` as `served_by`.
    pub async fn echo(name: &str) -> TestUpstream {
        TestUpstream::echo_on(name, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`TestUpstream::echo`], bound to `bind` (another loopback address such as
    /// 127.0.0.2, so DNS records can tell upstreams apart on one port).
    pub async fn echo_on(name: &str, bind: SocketAddr) -> TestUpstream {
        let listener = TcpListener::bind(bind).await.expect("binding upstream");
        let addr = listener.local_addr().expect("upstream address");
        let service = EchoService::new(name);
        let stats = service.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(yardmaster_demo::serve_grpc(
            listener,
            yardmaster_demo::echo_server(service),
            async move {
                let _ = stopped.await;
            },
        ));
        TestUpstream {
            addr,
            stats,
            health: None,
            stop: Some(stop),
            task,
        }
    }

    /// Starts an echo upstream that also serves `grpc.health.v1.Health`, answering
    /// `SERVING` when `serving`; steer it with [`TestUpstream::health`].
    pub async fn echo_with_health(name: &str, serving: bool) -> TestUpstream {
        let (listener, addr) = bind_loopback().await;
        let service = EchoService::new(name);
        let stats = service.stats();
        let health = HealthService::new(serving);
        let server = EchoWithHealth::new(yardmaster_demo::echo_server(service), health.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(yardmaster_demo::serve_grpc(listener, server, async move {
            let _ = stopped.await;
        }));
        TestUpstream {
            addr,
            stats,
            health: Some(health),
            stop: Some(stop),
            task,
        }
    }

    /// Starts an echo upstream that also serves server reflection of the echo service's
    /// descriptors: `grpc.reflection.v1`, or only the older `v1alpha` when `v1alpha`.
    pub async fn echo_with_reflection(name: &str, v1alpha: bool) -> TestUpstream {
        let (listener, addr) = bind_loopback().await;
        let service = EchoService::new(name);
        let stats = service.stats();
        let echo = yardmaster_demo::echo_server(service);
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(yardmaster_demo::FILE_DESCRIPTOR_SET);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let task = if v1alpha {
            let reflection = reflection.build_v1alpha().expect("reflection service");
            let server = WithReflection { echo, reflection };
            tokio::spawn(yardmaster_demo::serve_grpc(listener, server, stopped))
        } else {
            let reflection = reflection.build_v1().expect("reflection service");
            let server = WithReflection { echo, reflection };
            tokio::spawn(yardmaster_demo::serve_grpc(listener, server, stopped))
        };
        TestUpstream {
            addr,
            stats,
            health: None,
            stop: Some(stop),
            task,
        }
    }

    /// Starts an echo upstream that waits `delay` before handling each call: an
    /// overloaded process, slow whatever the request asks.
    pub async fn echo_slow(name: &str, delay: std::time::Duration) -> TestUpstream {
        let (listener, addr) = bind_loopback().await;
        let service = EchoService::new(name);
        let stats = service.stats();
        let slow = tower::ServiceBuilder::new()
            .layer_fn(move |inner| Slow { inner, delay })
            .service(yardmaster_demo::echo_server(service));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(yardmaster_demo::serve_grpc(listener, slow, async move {
            let _ = stopped.await;
        }));
        TestUpstream {
            addr,
            stats,
            health: None,
            stop: Some(stop),
            task,
        }
    }

    /// Its health service (only for [`TestUpstream::echo_with_health`]).
    pub fn health(&self) -> &HealthService {
        self.health.as_ref().expect("started with echo_with_health")
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its call counters.
    pub fn stats(&self) -> &EchoStats {
        &self.stats
    }

    /// Kills it like a crashed process: every connection and stream is cut at once.
    pub async fn kill(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Stops it gracefully: GOAWAY, in-flight calls finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// The demo HTTP upstream on `127.0.0.1:<ephemeral>`.
pub struct HttpUpstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpUpstream {
    /// Starts an `HttpForwarder` upstream for the forwarding envelope
    /// ([`yardmaster_demo::HttpEcho`]): it answers with a JSON description of each
    /// request and `x-served-by: <name>`.
    pub async fn forwarder(name: &str) -> HttpUpstream {
        let (listener, addr) = bind_loopback().await;
        let server = yardmaster_demo::HttpEcho::new(name).server();
        let task = tokio::spawn(yardmaster_demo::serve_grpc(
            listener,
            server,
            std::future::pending(),
        ));
        HttpUpstream { addr, task }
    }

    /// Starts the demo HTTP service, reporting `name` as `served_by`.
    pub async fn start(name: &str) -> HttpUpstream {
        let (listener, addr) = bind_loopback().await;
        let task = tokio::spawn(yardmaster_demo::serve_http(
            listener,
            name.to_owned(),
            std::future::pending(),
        ));
        HttpUpstream { addr, task }
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A demo `Echo` client for `addr` over h2c, with message limits raised to 256 MiB.
pub async fn echo_client(addr: SocketAddr) -> EchoClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint URI")
        .connect()
        .await
        .expect("connecting the echo client");
    EchoClient::new(channel)
        .max_decoding_message_size(yardmaster_demo::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(yardmaster_demo::MAX_MESSAGE_BYTES)
}

/// An endpoint that accepts TCP connections and never says a word: a hung process.
pub struct BlackholeUpstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl BlackholeUpstream {
    /// Starts accepting on `127.0.0.1:<ephemeral>`, holding every connection open.
    pub async fn start() -> BlackholeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding blackhole");
        let addr = listener.local_addr().expect("blackhole address");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        BlackholeUpstream { addr, task }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BlackholeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port that refuses every connection, as a crashed process's does: bound, so
/// no other test can take the port while this lives, but never listening.
pub struct RefusingPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl RefusingPort {
    /// Binds `127.0.0.1:<ephemeral>` without listening.
    pub fn bind() -> RefusingPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("refusing port socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("binding refusing port");
        let addr = socket.local_addr().expect("refusing port address");
        RefusingPort {
            _socket: socket,
            addr,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Delays every call of `inner` by `delay`.
#[derive(Clone)]
struct Slow<S> {
    inner: S,
    delay: std::time::Duration,
}

impl<S, R> tower::Service<R> for Slow<S>
where
    S: tower::Service<R> + Clone + Send + 'static,
    S::Future: Send,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let mut inner = self.inner.clone();
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            inner.call(req).await
        })
    }
}

/// A TCP relay in front of an endpoint that can be frozen: from then on it passes no
/// byte either way and closes nothing, like a peer whose host vanished from the network.
pub struct FreezableRelay {
    addr: SocketAddr,
    frozen: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FreezableRelay {
    /// Relays `127.0.0.1:<ephemeral>` to `target`.
    pub async fn start(target: SocketAddr) -> FreezableRelay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding relay");
        let addr = listener.local_addr().expect("relay address");
        let (frozen, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((downstream, _)) = listener.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                let (down_read, down_write) = downstream.into_split();
                let (up_read, up_write) = upstream.into_split();
                pipes.spawn(pipe(down_read, up_write, watch.clone()));
                pipes.spawn(pipe(up_read, down_write, watch.clone()));
            }
        });
        FreezableRelay { addr, frozen, task }
    }

    /// The relay's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops passing bytes, for good.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            _ = frozen.wait_for(|f| *f) => break,
        };
        let Ok(n @ 1..) = read else { return };
        if *frozen.borrow() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    // Frozen: hold both halves open and silent until the relay is dropped.
    std::future::pending::<()>().await;
    drop((from, to));
}

impl Drop for FreezableRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The echo service with a server reflection service beside it.
#[derive(Clone)]
struct WithReflection<R> {
    echo: EchoServer<EchoService>,
    reflection: R,
}

impl<R, B> tower::Service<http::Request<B>> for WithReflection<R>
where
    R: tower::Service<
            http::Request<B>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    R::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path().starts_with("/grpc.reflection.") {
            let mut reflection = self.reflection.clone();
            Box::pin(async move { reflection.call(req).await })
        } else {
            let mut echo = self.echo.clone();
            Box::pin(async move { tower::Service::call(&mut echo, req).await })
        }
    }
}

/// A listener on `127.0.0.1:<ephemeral>` for an upstream, and its address.
async fn bind_loopback() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding upstream");
    let addr = listener.local_addr().expect("upstream address");
    (listener, addr)
}
