//! The dispatcher against real tonic echo servers on loopback.

// Helpers outside `#[test]` functions set up and check test worlds: failing loudly is their
// job (clippy's `allow-*-in-tests` only covers the test functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod kubernetes;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_demo::{EchoService, EchoStats};
use yardmaster_dispatch::{
    CancelReason, ChannelOptions, DispatchError, Dispatcher, Outcome, Subscription,
};
use yardmaster_test_support::RefusingPort;

/// Guards against a hang only; tests wait for events, never for time.
pub(crate) const HANG_LIMIT: Duration = Duration::from_secs(10);

/// A demo echo server on `127.0.0.1:<ephemeral>` that reports `name` as `served_by`.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    pub(crate) stats: EchoStats,
    _stop: oneshot::Sender<()>,
}

pub(crate) async fn upstream(name: &str) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = EchoService::new(name);
    let stats = service.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(yardmaster_demo::serve_grpc(
        listener,
        yardmaster_demo::echo_server(service),
        async move {
            let _ = stopped.await;
        },
    ));
    Upstream {
        addr,
        stats,
        _stop: stop,
    }
}

fn hello() -> EchoRequest {
    EchoRequest {
        message: "hello".into(),
        ..Default::default()
    }
}

/// A long server stream: open for the whole test unless cancelled.
fn endless() -> EchoRequest {
    EchoRequest {
        count: 100_000,
        delay_ms: 10,
        ..Default::default()
    }
}

#[tokio::test]
async fn fanout_calls_every_static_endpoint_once() {
    let (a, b, c) = (
        upstream("a").await,
        upstream("b").await,
        upstream("c").await,
    );
    let target = format!("static://{},{},{}", a.addr, b.addr, c.addr);
    let dispatcher = Dispatcher::new(&target, ChannelOptions::default()).unwrap();
    dispatcher.ready(HANG_LIMIT).await.unwrap();
    let outcomes = tokio::time::timeout(
        HANG_LIMIT,
        dispatcher.fanout(|_, channel| async move {
            let reply = EchoClient::new(channel).unary(hello()).await?;
            Ok::<_, tonic::Status>(reply.into_inner().served_by)
        }),
    )
    .await
    .unwrap();
    let mut expected = vec![(a.addr, "a"), (b.addr, "b"), (c.addr, "c")];
    expected.sort();
    let served: Vec<(SocketAddr, String)> = outcomes
        .into_iter()
        .map(|(endpoint, outcome)| match outcome {
            Outcome::Finished(Ok(name)) => (endpoint, name),
            other => panic!("{endpoint}: {other:?}"),
        })
        .collect();
    let expected: Vec<(SocketAddr, String)> = expected
        .into_iter()
        .map(|(a, n)| (a, n.to_owned()))
        .collect();
    assert_eq!(served, expected);
    for upstream in [&a, &b, &c] {
        assert_eq!(upstream.stats.calls(), 1);
    }
}

#[tokio::test]
async fn ready_fails_after_its_timeout_when_no_endpoint_connects() {
    let dead_port = RefusingPort::bind();
    let dead = dead_port.addr();
    let dispatcher =
        Dispatcher::new(&format!("static://{dead}"), ChannelOptions::default()).unwrap();
    let error = dispatcher
        .ready(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(error, DispatchError::NotReady { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!("static://{dead}: no endpoint connected within 200ms")
    );
    // The endpoint is known, but a fan-out skips it while it refuses connections, as the
    // gateway's fan-out skips unhealthy endpoints.
    assert_eq!(dispatcher.endpoints(), [dead]);
    let outcomes = dispatcher
        .fanout(|_, channel| async move { EchoClient::new(channel).unary(hello()).await })
        .await;
    assert!(outcomes.is_empty(), "{outcomes:?}");
}

#[tokio::test]
async fn dns_target_resolves_and_connects() {
    let a = upstream("a").await;
    let target = format!("dns://localhost:{}", a.addr.port());
    let dispatcher = Dispatcher::new(&target, ChannelOptions::default()).unwrap();
    dispatcher.ready(HANG_LIMIT).await.unwrap();
    assert!(
        dispatcher.endpoints().contains(&a.addr),
        "{:?}",
        dispatcher.endpoints()
    );
}

#[tokio::test]
async fn panicking_closure_affects_only_its_endpoint() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let target = format!("static://{},{}", a.addr, b.addr);
    let dispatcher = Dispatcher::new(&target, ChannelOptions::default()).unwrap();
    dispatcher.ready(HANG_LIMIT).await.unwrap();
    let doomed = a.addr;
    let outcomes = dispatcher
        .fanout(move |endpoint, channel| async move {
            assert_ne!(endpoint, doomed, "this closure panics for endpoint a");
            let reply = EchoClient::new(channel).unary(hello()).await?;
            Ok::<_, tonic::Status>(reply.into_inner().served_by)
        })
        .await;
    for (endpoint, outcome) in outcomes {
        match outcome {
            Outcome::Panicked => assert_eq!(endpoint, a.addr),
            Outcome::Finished(Ok(name)) => assert_eq!((endpoint, name.as_str()), (b.addr, "b")),
            other => panic!("{endpoint}: {other:?}"),
        }
    }
}

/// Starts an endless stream per endpoint and reports on `started` once its first reply
/// has arrived.
pub(crate) fn stream_until_cancelled(
    started: mpsc::UnboundedSender<SocketAddr>,
) -> impl Fn(
    SocketAddr,
    yardmaster_dispatch::EndpointChannel,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), tonic::Status>> + Send>>
       + Send
       + Sync
       + 'static {
    move |endpoint, channel| {
        let started = started.clone();
        Box::pin(async move {
            let mut stream = EchoClient::new(channel)
                .server_stream(endless())
                .await?
                .into_inner();
            stream.message().await?;
            let _ = started.send(endpoint);
            while stream.message().await?.is_some() {}
            Ok(())
        })
    }
}

/// An endpoint that leaves mid-call has its closure cancelled with a reason, its stream
/// reset (the upstream sees the cancel), while the other endpoint's closure goes on.
#[tokio::test]
async fn fanout_cancels_the_closure_of_an_endpoint_that_leaves() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let (endpoints, rx) = watch::channel(vec![a.addr, b.addr]);
    let dispatcher = Dispatcher::with_endpoints(rx, ChannelOptions::default());
    dispatcher.ready(HANG_LIMIT).await.unwrap();
    // Discovery publishes the whole list at once, before anything connects.
    let mut both = vec![a.addr, b.addr];
    both.sort();
    assert_eq!(dispatcher.endpoints(), both);
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let fanout = dispatcher.fanout(stream_until_cancelled(started_tx));
    tokio::pin!(fanout);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        tokio::select! {
            outcomes = &mut fanout => panic!("ended early: {outcomes:?}"),
            Some(endpoint) = started.recv() => seen.push(endpoint),
        }
    }
    endpoints.send_replace(vec![b.addr]);
    tokio::select! {
        outcomes = &mut fanout => panic!("ended early: {outcomes:?}"),
        cancelled = tokio::time::timeout(HANG_LIMIT, a.stats.wait_cancelled(1)) => {
            cancelled.expect("a's stream is reset");
        }
    }
    assert_eq!(b.stats.cancelled(), 0);
    endpoints.send_replace(vec![]);
    let outcomes = tokio::time::timeout(HANG_LIMIT, fanout).await.unwrap();
    let reasons: Vec<(SocketAddr, bool)> = outcomes
        .iter()
        .map(|(e, o)| {
            let left = matches!(o, Outcome::Cancelled(CancelReason::EndpointLeft));
            (*e, left)
        })
        .collect();
    let mut expected = vec![(a.addr, true), (b.addr, true)];
    expected.sort();
    assert_eq!(reasons, expected);
}

/// A subscription runs the closure for endpoints that appear later, cancels the closure
/// of one that leaves with [`CancelReason::EndpointLeft`], and cancels everything when
/// dropped.
/// The subscription's next event is `left`'s closure, cancelled because the endpoint left,
/// and `left`'s stream is reset.
pub(crate) async fn assert_left<E: std::fmt::Debug>(
    subscription: &mut Subscription<E>,
    left: &Upstream,
) {
    let event = tokio::time::timeout(HANG_LIMIT, subscription.next_event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.endpoint, left.addr);
    assert!(
        matches!(
            event.outcome,
            Outcome::Cancelled(CancelReason::EndpointLeft)
        ),
        "{event:?}"
    );
    tokio::time::timeout(HANG_LIMIT, left.stats.wait_cancelled(1))
        .await
        .expect("the stream of the endpoint that left is reset");
}

#[tokio::test]
async fn subscription_follows_endpoints_and_stops_when_dropped() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let (endpoints, rx) = watch::channel(vec![a.addr]);
    let dispatcher = Dispatcher::with_endpoints(rx, ChannelOptions::default());
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut subscription = dispatcher.fanout_subscribe(stream_until_cancelled(started_tx));
    let first = tokio::time::timeout(HANG_LIMIT, started.recv())
        .await
        .unwrap();
    assert_eq!(first, Some(a.addr));

    endpoints.send_replace(vec![a.addr, b.addr]);
    let joined = tokio::time::timeout(HANG_LIMIT, started.recv())
        .await
        .unwrap();
    assert_eq!(joined, Some(b.addr));

    endpoints.send_replace(vec![b.addr]);
    assert_left(&mut subscription, &a).await;

    subscription.unsubscribe();
    tokio::time::timeout(HANG_LIMIT, b.stats.wait_cancelled(1))
        .await
        .expect("b's stream is reset when the subscription ends");
}
