//! Mirroring: messages filtered by type to several targets, one responder per type, and
//! copies that never slow or fail the client's call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Semaphore};
use tonic::{Code, Request, Response, Status, Streaming};
use yardmaster_core::grpc_timeout;
use yardmaster_demo::pb::echo_server::{Echo, EchoServer};
use yardmaster_demo::pb::{EchoReply, EchoRequest};
use yardmaster_test_support::{
    eventually_async, RefusingPort, TestGateway, TestUpstream, HANG_LIMIT,
};

/// What a recording upstream saw of one request message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    kind: i32,
    /// The value of `x-yardmaster-mirror`, if the call was a copy.
    mirror: Option<String>,
    /// The value of the client's `x-tenant` metadata.
    tenant: Option<String>,
    /// The time left as `grpc-timeout` told it.
    timeout: Option<Duration>,
}

/// An `Echo` upstream that records every request message it receives, then answers with
/// its name, unless it is stuck (it then never answers).
#[derive(Clone)]
struct Recorder {
    name: String,
    seen: Arc<watch::Sender<Vec<Seen>>>,
    /// When set, calls wait for a permit that is never given: a hung upstream.
    stuck: Option<Arc<Semaphore>>,
}

struct RecordingUpstream {
    addr: SocketAddr,
    seen: watch::Receiver<Vec<Seen>>,
    _stop: oneshot::Sender<()>,
}

impl RecordingUpstream {
    async fn start(name: &str, stuck: bool) -> RecordingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, seen) = watch::channel(Vec::new());
        let recorder = Recorder {
            name: name.to_owned(),
            seen: Arc::new(seen_tx),
            stuck: stuck.then(|| Arc::new(Semaphore::new(0))),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(yardmaster_demo::serve_grpc(
            listener,
            EchoServer::new(recorder),
            async move {
                let _ = stopped.await;
            },
        ));
        RecordingUpstream {
            addr,
            seen,
            _stop: stop,
        }
    }

    /// Waits until `n` messages have arrived, then returns their kinds, sorted.
    async fn kinds(&self, n: usize) -> Vec<i32> {
        let mut watch = self.seen.clone();
        let arrived = tokio::time::timeout(HANG_LIMIT, watch.wait_for(|s| s.len() >= n)).await;
        assert!(
            arrived.is_ok(),
            "{n} messages never arrived: {:?}",
            self.seen()
        );
        let seen = self.seen();
        let mut kinds: Vec<i32> = seen.iter().map(|s| s.kind).collect();
        kinds.sort_unstable();
        kinds
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.borrow().clone()
    }
}

impl Recorder {
    fn record<T>(&self, request: &Request<T>, kind: i32) {
        let text = |key: &str| {
            let value = request.metadata().get(key)?;
            Some(value.to_str().ok()?.to_owned())
        };
        let seen = Seen {
            kind,
            mirror: text("x-yardmaster-mirror"),
            tenant: text("x-tenant"),
            timeout: request
                .metadata()
                .get(grpc_timeout::HEADER)
                .and_then(|v| grpc_timeout::parse(&v.to_str().ok()?.parse().ok()?)),
        };
        self.seen.send_modify(|all| all.push(seen));
    }

    async fn maybe_hang(&self) {
        if let Some(stuck) = &self.stuck {
            let _ = stuck.acquire().await;
        }
    }

    fn reply(&self, received: u32) -> EchoReply {
        EchoReply {
            served_by: self.name.clone(),
            received,
            ..Default::default()
        }
    }
}

type NoReplies = tokio_stream::Empty<Result<EchoReply, Status>>;

#[tonic::async_trait]
impl Echo for Recorder {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        self.record(&request, request.get_ref().kind);
        self.maybe_hang().await;
        Ok(Response::new(self.reply(1)))
    }

    type ServerStreamStream = NoReplies;

    async fn server_stream(&self, _: Request<EchoRequest>) -> Result<Response<NoReplies>, Status> {
        Err(Status::unimplemented(
            "the recorder answers unary and client-streaming calls",
        ))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut received = 0;
        let mut stream = request;
        while let Some(message) = stream.get_mut().message().await? {
            self.record(&stream, message.kind);
            received += 1;
        }
        self.maybe_hang().await;
        Ok(Response::new(self.reply(received)))
    }

    type BidiStream = NoReplies;

    async fn bidi(
        &self,
        _: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<NoReplies>, Status> {
        Err(Status::unimplemented(
            "the recorder answers unary and client-streaming calls",
        ))
    }
}

/// The acceptance scenario's four recording upstreams and a gateway routing to them.
struct Acceptance {
    server1: RecordingUpstream,
    mirror1: RecordingUpstream,
    mirror2: RecordingUpstream,
    server2: RecordingUpstream,
    gateway: TestGateway,
}

impl Acceptance {
    /// `mirror1_stuck`: Mirror1 never answers; `extra`: further keys of Mirror1's target.
    async fn start(mirror1_stuck: bool, extra: &str) -> Acceptance {
        Acceptance::start_with(mirror1_stuck, extra, "").await
    }

    /// As `start`, with `top` (top-level keys) put before the configuration.
    async fn start_with(mirror1_stuck: bool, extra: &str, top: &str) -> Acceptance {
        let server1 = RecordingUpstream::start("server1", false).await;
        let mirror1 = RecordingUpstream::start("mirror1", mirror1_stuck).await;
        let mirror2 = RecordingUpstream::start("mirror2", false).await;
        let server2 = RecordingUpstream::start("server2", false).await;
        let yaml = acceptance_yaml(
            server1.addr,
            mirror1.addr,
            mirror2.addr,
            server2.addr,
            extra,
        );
        let gateway = TestGateway::start(&format!("{top}{yaml}")).await;
        Acceptance {
            server1,
            mirror1,
            mirror2,
            server2,
            gateway,
        }
    }
}

/// The acceptance scenario: Server1 takes {1, 2} and answers 2; Mirror1 takes {1, 2, 3};
/// Mirror2 takes {1}; Server2 takes {2, 3} and answers 3. Type 1 has no responder, so the
/// default responder (the first target, Server1) answers it. `extra` is added to Mirror1.
fn acceptance_yaml(
    server1: SocketAddr,
    mirror1: SocketAddr,
    mirror2: SocketAddr,
    server2: SocketAddr,
    extra: &str,
) -> String {
    mirror_yaml(
        &format!(
            r#"
        match: {{ service: yardmaster.demo.v1.Echo }}
        mirror:
          message_type: {{ field: 9 }}
          max_message_bytes: 1024
          targets:
            - {{ cluster: server1, include: [1, 2], responder_for: [2] }}
            - {{ cluster: mirror1, include: [1, 2, 3] {extra} }}
            - {{ cluster: mirror2, include: [1] }}
            - {{ cluster: server2, include: [2, 3], responder_for: [3] }}"#
        ),
        &[
            ("server1", server1),
            ("mirror1", mirror1),
            ("mirror2", mirror2),
            ("server2", server2),
        ],
    )
}

/// A gateway with an admin listener and one route named `typed` (`route`: its keys after
/// the name, indented 8 spaces) on listener `public`, and a cluster of one endpoint per
/// `(name, address)`.
fn mirror_yaml(route: &str, clusters: &[(&str, SocketAddr)]) -> String {
    let clusters: String = clusters
        .iter()
        .map(|(name, addr)| format!("  - {{ name: {name}, endpoints: [{addr}] }}\n"))
        .collect();
    format!(
        r#"
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: typed{route}
clusters:
{clusters}"#
    )
}

/// A mirror route without `message_type` to two clusters of one endpoint each: the first
/// answers, the second gets copies.
fn untyped_yaml(responder: (&str, SocketAddr), copy: (&str, SocketAddr)) -> String {
    mirror_yaml(
        &format!(
            r#"
        mirror:
          targets:
            - {{ cluster: {} }}
            - {{ cluster: {} }}"#,
            responder.0, copy.0
        ),
        &[responder, copy],
    )
}

fn typed(kind: i32) -> Request<EchoRequest> {
    let mut request = Request::new(EchoRequest {
        kind,
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    request
}

/// Sends unary calls of types 1, 2, 3 and returns who answered each.
async fn call_types_1_2_3(gateway: &TestGateway) -> Vec<String> {
    let mut client = gateway.echo_client().await;
    let mut answered = Vec::new();
    for kind in 1..=3 {
        let call = client.unary(typed(kind));
        let reply = tokio::time::timeout(HANG_LIMIT, call)
            .await
            .expect("call must not wait for any mirror")
            .unwrap_or_else(|s| panic!("type {kind}: {s:?}"));
        answered.push(reply.into_inner().served_by);
    }
    answered
}

/// The value of one sample of `/metrics`, 0 if absent.
async fn metric(gateway: &TestGateway, sample: &str) -> u64 {
    let (_, text) = gateway.admin_get("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0)
}

fn copies(target: &str, outcome: &str) -> String {
    format!(
        "yardmaster_mirror_copies_total{{listener=\"public\",route=\"typed\",target=\"{target}\",outcome=\"{outcome}\"}}"
    )
}

#[tokio::test]
async fn acceptance_each_target_receives_exactly_its_types_and_responders_answer() {
    let Acceptance {
        server1,
        mirror1,
        mirror2,
        server2,
        gateway,
    } = Acceptance::start(false, "").await;

    assert_eq!(
        call_types_1_2_3(&gateway).await,
        ["server1", "server1", "server2"]
    );

    assert_eq!(server1.kinds(2).await, [1, 2]);
    assert_eq!(mirror1.kinds(3).await, [1, 2, 3]);
    assert_eq!(mirror2.kinds(1).await, [1]);
    assert_eq!(server2.kinds(2).await, [2, 3]);
    let ok = copies("mirror1", "ok");
    eventually_async("mirror1's copies counted", || async {
        metric(&gateway, &ok).await == 3
    })
    .await;
    // Nothing more arrived than expected, and only copies carry the mirror header; every
    // target got the client's metadata.
    assert_eq!(server1.seen().len(), 2);
    assert_eq!(mirror2.seen().len(), 1);
    assert!(server1.seen().iter().all(|s| s.mirror.is_none()));
    assert!(mirror1
        .seen()
        .iter()
        .all(|s| s.mirror.as_deref() == Some("typed")));
    let server2_seen = server2.seen();
    let copy_of_2 = server2_seen.iter().find(|s| s.kind == 2).unwrap();
    let answer_to_3 = server2_seen.iter().find(|s| s.kind == 3).unwrap();
    assert_eq!(copy_of_2.mirror.as_deref(), Some("typed"));
    assert_eq!(answer_to_3.mirror, None);
    for upstream in [&server1, &mirror1, &mirror2, &server2] {
        assert!(upstream
            .seen()
            .iter()
            .all(|s| s.tenant.as_deref() == Some("acme")));
    }
    gateway.shutdown().await;
}

/// Copies travel on upstream connections of their own, never on those of answered
/// calls: Server2, which answers type 3 and gets copies of type 2, holds one connection
/// for each and reuses both; Server1 (answers only) and Mirror1 (copies only) hold one.
/// One worker thread, since each worker opens its own connections for answered calls.
#[tokio::test]
async fn copies_and_answered_calls_to_one_target_use_separate_connections() {
    // Kept whole: an upstream dropped out of the struct would stop serving.
    let scenario = Acceptance::start_with(false, "", "workers: 1").await;
    let gateway = &scenario.gateway;
    for _ in 0..2 {
        assert_eq!(
            call_types_1_2_3(gateway).await,
            ["server1", "server1", "server2"]
        );
    }
    assert_eq!(scenario.server2.kinds(4).await, [2, 2, 3, 3]);
    assert_eq!(scenario.mirror1.kinds(6).await, [1, 1, 2, 2, 3, 3]);

    for (cluster, expected) in [("server1", 1), ("server2", 2), ("mirror1", 1)] {
        let status = gateway.cluster_status(cluster).await;
        assert_eq!(
            status["endpoints"][0]["connections"], expected,
            "{cluster}: {status:#}"
        );
    }
    scenario.gateway.shutdown().await;
}

#[tokio::test]
async fn responders_answer_while_a_mirror_is_down_and_its_failures_are_counted() {
    let server1 = RecordingUpstream::start("server1", false).await;
    let mirror2 = RecordingUpstream::start("mirror2", false).await;
    let server2 = RecordingUpstream::start("server2", false).await;
    let down_port = RefusingPort::bind();
    let down = down_port.addr();
    let yaml = acceptance_yaml(server1.addr, down, mirror2.addr, server2.addr, "");
    let gateway = TestGateway::start(&yaml).await;

    assert_eq!(
        call_types_1_2_3(&gateway).await,
        ["server1", "server1", "server2"]
    );
    assert_eq!(server1.kinds(2).await, [1, 2]);
    assert_eq!(mirror2.kinds(1).await, [1]);
    assert_eq!(server2.kinds(2).await, [2, 3]);
    let failed = copies("mirror1", "failed");
    eventually_async("mirror1's failed copies counted", || async {
        metric(&gateway, &failed).await == 3
    })
    .await;
    assert_eq!(metric(&gateway, &copies("mirror1", "ok")).await, 0);
    gateway.shutdown().await;
}

/// Mirror1 hangs and has one queue slot: the first copy takes it forever, the next two
/// are dropped and counted, and the client never waits for any of it.
#[tokio::test]
async fn responders_answer_while_a_mirror_hangs_and_copies_beyond_its_queue_are_dropped() {
    // The upstreams this test does not look at serve until it ends.
    let Acceptance {
        server1: _server1,
        mirror1,
        mirror2: _mirror2,
        server2: _server2,
        gateway,
    } = Acceptance::start(true, ", queue_size: 1").await;

    assert_eq!(
        call_types_1_2_3(&gateway).await,
        ["server1", "server1", "server2"]
    );
    assert_eq!(mirror1.kinds(1).await, [1]);
    assert_eq!(metric(&gateway, &copies("mirror1", "dropped")).await, 2);
    assert_eq!(mirror1.seen().len(), 1);
    gateway.shutdown().await;
}

#[tokio::test]
async fn type_that_no_target_takes_is_refused_with_a_clear_status() {
    let Acceptance {
        server1,
        mirror1,
        mirror2,
        server2,
        gateway,
    } = Acceptance::start(false, "").await;

    let mut client = gateway.echo_client().await;
    let status = tokio::time::timeout(HANG_LIMIT, client.unary(typed(4)))
        .await
        .unwrap()
        .expect_err("no target takes type 4");
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        status.message(),
        "no target of this route takes messages of type 4"
    );
    // A message without the field is type 0, which no target takes either.
    let status = client.unary(EchoRequest::default()).await.unwrap_err();
    assert_eq!(
        status.message(),
        "no target of this route takes messages of type 0"
    );
    for upstream in [&server1, &mirror1, &mirror2, &server2] {
        assert!(upstream.seen().is_empty());
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn oversized_request_message_is_refused_with_resource_exhausted() {
    let server1 = RecordingUpstream::start("server1", false).await;
    // Every target on one upstream: the limit applies before any of them is called.
    let yaml = acceptance_yaml(server1.addr, server1.addr, server1.addr, server1.addr, "");
    let gateway = TestGateway::start(&yaml).await;
    let mut client = gateway.echo_client().await;
    let big = EchoRequest {
        kind: 2,
        payload: vec![7; 2000].into(),
        ..Default::default()
    };
    let status = tokio::time::timeout(HANG_LIMIT, client.unary(big))
        .await
        .unwrap()
        .expect_err("over max_message_bytes");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("over the limit of 1024 bytes"),
        "{status:?}"
    );
    assert!(server1.seen().is_empty());
    gateway.shutdown().await;
}

/// A client stream of types 2, 1, 3, 2: each target sees only the messages its filter
/// passes, in order, and the first message's type (2) picks the responder (Server1).
#[tokio::test]
async fn client_stream_is_filtered_per_message_and_first_type_picks_responder() {
    let Acceptance {
        server1,
        mirror1,
        mirror2,
        server2,
        gateway,
    } = Acceptance::start(false, "").await;

    let messages = [2, 1, 3, 2].map(|kind| EchoRequest {
        kind,
        ..Default::default()
    });
    let mut client = gateway.echo_client().await;
    let call = client.client_stream(tokio_stream::iter(messages));
    let reply = tokio::time::timeout(HANG_LIMIT, call)
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(reply.served_by, "server1");
    assert_eq!(reply.received, 3);

    let order = |upstream: &RecordingUpstream| -> Vec<i32> {
        upstream.seen().iter().map(|s| s.kind).collect()
    };
    server1.kinds(3).await;
    mirror1.kinds(4).await;
    mirror2.kinds(1).await;
    server2.kinds(3).await;
    assert_eq!(order(&server1), [2, 1, 2]);
    assert_eq!(order(&mirror1), [2, 1, 3, 2]);
    assert_eq!(order(&mirror2), [1]);
    assert_eq!(order(&server2), [2, 3, 2]);
    gateway.shutdown().await;
}

const ECHO_PROTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../proto/yardmaster/demo/v1/echo.proto"
);

/// `field_name: kind` is resolved from `echo.proto` at startup; a target sampled at 0 %
/// gets no copy; copies carry the time left of the client's deadline.
#[tokio::test]
async fn field_name_from_proto_files_types_messages_and_copies_keep_the_deadline() {
    let fives = RecordingUpstream::start("fives", false).await;
    let others = RecordingUpstream::start("others", false).await;
    let never = RecordingUpstream::start("never", false).await;
    let yaml = format!(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: by-name
        mirror:
          message_type: {{ field_name: kind, proto_files: ["{ECHO_PROTO}"] }}
          targets:
            - {{ cluster: fives, include: [5] }}
            - {{ cluster: others, exclude: [5] }}
            - {{ cluster: never, sample_percent: 0 }}
clusters:
  - {{ name: fives, endpoints: [{}] }}
  - {{ name: others, endpoints: [{}] }}
  - {{ name: never, endpoints: [{}] }}
"#,
        fives.addr, others.addr, never.addr
    );
    let gateway = TestGateway::start(&yaml).await;
    let mut client = gateway.echo_client().await;
    let mut answered = Vec::new();
    for kind in [5, 6] {
        let mut request = typed(kind);
        request.set_timeout(Duration::from_secs(5));
        let reply = tokio::time::timeout(HANG_LIMIT, client.unary(request))
            .await
            .unwrap()
            .unwrap();
        answered.push(reply.into_inner().served_by);
    }
    assert_eq!(answered, ["fives", "others"]);
    assert_eq!(fives.kinds(1).await, [5]);
    assert_eq!(others.kinds(1).await, [6]);
    assert!(never.seen().is_empty());
    for seen in fives.seen().iter().chain(others.seen().iter()) {
        let left = seen.timeout.expect("grpc-timeout forwarded");
        assert!(left <= Duration::from_secs(5), "{left:?}");
    }
    gateway.shutdown().await;
}

/// With `method: true` the method name is the type, known before any message arrives.
/// The default responder (the first target) does not take `Unary`, so the first target
/// that does answers it.
#[tokio::test]
async fn method_name_types_calls_and_default_responder_yields_to_first_taker() {
    let streams = RecordingUpstream::start("streams", false).await;
    let everything = RecordingUpstream::start("everything", false).await;
    let yaml = format!(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: by-method
        mirror:
          message_type: {{ method: true }}
          targets:
            - {{ cluster: streams, include: [ClientStream] }}
            - {{ cluster: everything }}
clusters:
  - {{ name: streams, endpoints: [{}] }}
  - {{ name: everything, endpoints: [{}] }}
"#,
        streams.addr, everything.addr
    );
    let gateway = TestGateway::start(&yaml).await;
    let mut client = gateway.echo_client().await;
    let unary = client.unary(typed(1)).await.unwrap().into_inner();
    assert_eq!(unary.served_by, "everything");
    let messages = [7, 8].map(|kind| EchoRequest {
        kind,
        ..Default::default()
    });
    let call = client.client_stream(tokio_stream::iter(messages));
    let reply = tokio::time::timeout(HANG_LIMIT, call)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_inner().served_by, "streams");
    assert_eq!(streams.kinds(2).await, [7, 8]);
    assert_eq!(everything.kinds(3).await, [1, 7, 8]);
    let copies: Vec<bool> = everything
        .seen()
        .iter()
        .map(|s| s.mirror.is_some())
        .collect();
    assert_eq!(copies, [false, true, true]);
    gateway.shutdown().await;
}

/// A message over `max_message_bytes` in the middle of a client stream ends the call with
/// RESOURCE_EXHAUSTED, after the responder was already called for the first message.
#[tokio::test]
async fn oversized_message_midstream_ends_the_call_with_resource_exhausted() {
    let server1 = RecordingUpstream::start("server1", false).await;
    let yaml = acceptance_yaml(server1.addr, server1.addr, server1.addr, server1.addr, "");
    let gateway = TestGateway::start(&yaml).await;
    let small = EchoRequest {
        kind: 2,
        ..Default::default()
    };
    let big = EchoRequest {
        kind: 2,
        payload: vec![7; 2000].into(),
        ..Default::default()
    };
    let mut client = gateway.echo_client().await;
    let call = client.client_stream(tokio_stream::iter([small, big]));
    let status = tokio::time::timeout(HANG_LIMIT, call)
        .await
        .unwrap()
        .expect_err("second message is over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("over the limit of 1024 bytes"),
        "{status:?}"
    );
    gateway.shutdown().await;
}

/// Without `message_type` every target gets every message and the first target answers:
/// a bidirectional call streams the responder's replies back, one per message.
#[tokio::test]
async fn bidi_call_streams_the_responders_replies_while_copies_go_elsewhere() {
    let echo = TestUpstream::echo("echo").await;
    let shadow = RecordingUpstream::start("shadow", false).await;
    let yaml = untyped_yaml(("echo", echo.addr()), ("shadow", shadow.addr));
    let gateway = TestGateway::start(&yaml).await;
    let messages = ["a", "b", "c"].map(|message| EchoRequest {
        message: message.into(),
        ..Default::default()
    });
    let mut client = gateway.echo_client().await;
    let call = client.bidi(tokio_stream::iter(messages));
    let mut replies = tokio::time::timeout(HANG_LIMIT, call)
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(reply) = tokio::time::timeout(HANG_LIMIT, replies.message())
        .await
        .unwrap()
        .unwrap()
    {
        got.push((reply.message, reply.served_by));
    }
    assert_eq!(
        got,
        [("a", "echo"), ("b", "echo"), ("c", "echo")].map(|(m, s)| (m.to_owned(), s.to_owned()))
    );
    // The shadow does not implement Bidi: its copy fails, which the client never sees.
    let failed = copies("shadow", "failed");
    eventually_async("the shadow's failed copy counted", || async {
        metric(&gateway, &failed).await == 1
    })
    .await;
    gateway.shutdown().await;
}

/// A copy never outlives the client's deadline: Mirror1 hangs, the call (answered by
/// Server1) has 300 ms, and the copy is cut and counted as a timeout.
#[tokio::test]
async fn copy_to_a_hung_mirror_is_cut_at_the_clients_deadline() {
    // The upstreams this test does not look at serve until it ends.
    let Acceptance {
        server1: _server1,
        mirror1,
        mirror2: _mirror2,
        server2: _server2,
        gateway,
    } = Acceptance::start(true, "").await;

    let mut request = typed(1);
    request.set_timeout(Duration::from_millis(300));
    let mut client = gateway.echo_client().await;
    let reply = tokio::time::timeout(HANG_LIMIT, client.unary(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_inner().served_by, "server1");
    assert_eq!(mirror1.kinds(1).await, [1]);
    let timeout = copies("mirror1", "timeout");
    eventually_async("the hung copy is cut at the deadline", || async {
        metric(&gateway, &timeout).await == 1
    })
    .await;
    gateway.shutdown().await;
}

/// A mirrored request's message is handed to each upstream stream as one chunk, far larger
/// than HTTP/2's initial 64 KiB window: it must still reach the responder and the copy
/// whole (the first chunk is sent before any window is granted, the rest as it opens).
#[tokio::test]
async fn message_larger_than_the_flow_control_window_reaches_responder_and_copy_whole() {
    let primary = TestUpstream::echo("primary").await;
    let copy = TestUpstream::echo("copy").await;
    let yaml = untyped_yaml(("primary", primary.addr()), ("copy", copy.addr()));
    let gateway = TestGateway::start(&yaml).await;
    let payload: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();

    let mut client = gateway.echo_client().await;
    let call = client.unary(EchoRequest {
        payload: payload.clone().into(),
        ..Default::default()
    });
    let reply = tokio::time::timeout(HANG_LIMIT, call)
        .await
        .expect("a large mirrored call must not stall")
        .expect("large mirrored call")
        .into_inner();

    assert_eq!(reply.served_by, "primary");
    assert_eq!(reply.payload.len(), payload.len());
    assert!(reply.payload == payload, "the echoed payload differs");
    let ok = copies("copy", "ok");
    eventually_async("the copy completed", || async {
        metric(&gateway, &ok).await == 1
    })
    .await;
    assert_eq!(copy.stats().calls(), 1);
    assert_eq!(primary.stats().calls(), 1);
    gateway.shutdown().await;
}
