//! `kubernetes://` discovery against a local server that answers EndpointSlice list and
//! watch requests the way the Kubernetes API server does (same paths, same JSON).

use tokio::sync::mpsc;
use yardmaster_dispatch::{ChannelOptions, Dispatcher, KubernetesSource, Target};
use yardmaster_test_support::{endpoint_slice, TestKubernetesApi};

use crate::{assert_left, stream_until_cancelled, upstream, HANG_LIMIT};

/// The list has `a` ready and `b` terminating: only `a` is an endpoint. A watch event
/// makes `b` ready (it joins the subscription), another deletes `a`'s slice (its closure
/// is cancelled with `EndpointLeft` and its stream reset).
#[tokio::test]
async fn endpoint_slices_are_listed_then_watched() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let slices = vec![
        endpoint_slice("users-a", a.addr, true, "8"),
        endpoint_slice("users-b", b.addr, false, "9"),
    ];
    let api = TestKubernetesApi::start(slices, "10").await;
    let config = kube::Config::new(format!("http://{}", api.addr()).parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let target = KubernetesSource::new("users", "shop", None).with_client(client);
    let dispatcher = Dispatcher::from_target(Target::Kubernetes(target), ChannelOptions::default());
    dispatcher.ready(HANG_LIMIT).await.unwrap();
    assert_eq!(dispatcher.endpoints(), [a.addr]);

    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut subscription = dispatcher.fanout_subscribe(stream_until_cancelled(started_tx));
    let first = tokio::time::timeout(HANG_LIMIT, started.recv())
        .await
        .unwrap();
    assert_eq!(first, Some(a.addr));

    api.send("MODIFIED", endpoint_slice("users-b", b.addr, true, "11"));
    let joined = tokio::time::timeout(HANG_LIMIT, started.recv())
        .await
        .unwrap();
    assert_eq!(joined, Some(b.addr));

    api.send("DELETED", endpoint_slice("users-a", a.addr, true, "12"));
    assert_left(&mut subscription, &a).await;
    assert_eq!(dispatcher.endpoints(), [b.addr]);
    assert_eq!(b.stats.cancelled(), 0);
}
