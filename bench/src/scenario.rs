//! The workloads: what each one sends and what its throughput counts.

use serde::{Deserialize, Serialize};

use crate::settings::Settings;

/// Payload of `unary` and `pingpong` requests.
pub(crate) const SMALL_PAYLOAD_BYTES: usize = 100;
/// Payload of `unary-16k` requests (echoed back, so 16 KiB each way).
pub(crate) const LARGE_PAYLOAD_BYTES: usize = 16 * 1024;
/// Size of each `stream` reply.
pub(crate) const STREAM_REPLY_BYTES: usize = 1024;
/// Replies one `stream` call asks for: enough that call setup is noise next to the
/// messages; calls still open when the window ends are cancelled.
pub(crate) const STREAM_REPLIES_PER_CALL: u32 = 50_000;
/// Path every `http1` request asks for (the demo HTTP upstream describes it as JSON).
pub(crate) const HTTP_PATH: &str = "/bench";
/// Path every `transcode` request posts its JSON to: the Echo `Unary` method.
pub(crate) const JSON_PATH: &str = "/yardmaster.demo.v1.Echo/Unary";
/// Payload of each `bridge-frames` frame (length-prefixed, echoed back).
pub(crate) const FRAME_PAYLOAD_BYTES: usize = 100;
/// Extra targets a `mirror` call is copied to.
pub(crate) const MIRROR_TARGETS: usize = 2;
/// Endpoints a `fanout` call goes to.
pub(crate) const FANOUT_ENDPOINTS: usize = 4;

/// One workload, run against every target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub(crate) enum Scenario {
    /// Unary calls of 100 B each way, `concurrency` in flight.
    Unary,
    /// Unary calls of 16 KiB each way, `concurrency` in flight.
    #[value(name = "unary-16k")]
    #[serde(rename = "unary-16k")]
    Unary16k,
    /// Server streaming: one call per connection, each asking for many 1 KiB replies.
    Stream,
    /// Bidi ping-pong: one call, one message in flight (latency).
    Pingpong,
    /// HTTP/1.1 GET against the demo HTTP upstream, one request in flight per connection.
    Http1,
    /// `unary` through a route that also copies every call to two more clusters.
    Mirror,
    /// `unary` through a route that calls four endpoints and answers with the first reply.
    Fanout,
    /// `unary` as HTTP/JSON through a `transcode` route, next to native gRPC.
    Transcode,
    /// Many idle TCP clients held by a bridge: gateway memory per client.
    #[value(name = "bridge-idle")]
    #[serde(rename = "bridge-idle")]
    BridgeIdle,
    /// Length-prefixed echo frames through a bridge, one in flight per client.
    #[value(name = "bridge-frames")]
    #[serde(rename = "bridge-frames")]
    BridgeFrames,
}

impl Scenario {
    /// Every scenario, in report order.
    pub(crate) const ALL: [Scenario; 10] = [
        Scenario::Unary,
        Scenario::Unary16k,
        Scenario::Stream,
        Scenario::Pingpong,
        Scenario::Http1,
        Scenario::Mirror,
        Scenario::Fanout,
        Scenario::Transcode,
        Scenario::BridgeIdle,
        Scenario::BridgeFrames,
    ];

    /// The name on the command line and in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Unary => "unary",
            Scenario::Unary16k => "unary-16k",
            Scenario::Stream => "stream",
            Scenario::Pingpong => "pingpong",
            Scenario::Http1 => "http1",
            Scenario::Mirror => "mirror",
            Scenario::Fanout => "fanout",
            Scenario::Transcode => "transcode",
            Scenario::BridgeIdle => "bridge-idle",
            Scenario::BridgeFrames => "bridge-frames",
        }
    }

    /// What one operation is, for the throughput column.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Scenario::Unary
            | Scenario::Unary16k
            | Scenario::Mirror
            | Scenario::Fanout
            | Scenario::Transcode => "calls/s",
            Scenario::Stream => "msgs/s",
            Scenario::Pingpong => "round trips/s",
            Scenario::Http1 => "requests/s",
            Scenario::BridgeIdle => "clients",
            Scenario::BridgeFrames => "frames/s",
        }
    }

    /// The operation a CPU figure is divided by.
    pub(crate) fn per(self) -> &'static str {
        match self {
            Scenario::Unary
            | Scenario::Unary16k
            | Scenario::Mirror
            | Scenario::Fanout
            | Scenario::Transcode => "call",
            Scenario::Stream => "msg",
            Scenario::Pingpong => "round trip",
            Scenario::Http1 => "request",
            Scenario::BridgeIdle => "client",
            Scenario::BridgeFrames => "frame",
        }
    }

    /// One line on what the scenario measures, given the run's load shape.
    pub(crate) fn describe(self, settings: Settings) -> String {
        let Settings {
            connections,
            concurrency,
            rate,
            ..
        } = settings;
        match self {
            Scenario::Unary => format!(
                "unary calls, {SMALL_PAYLOAD_BYTES} B payload each way, {concurrency} in \
                 flight over {connections} HTTP/2 connections"
            ),
            Scenario::Unary16k => format!(
                "unary calls, 16 KiB payload each way, {concurrency} in flight over \
                 {connections} HTTP/2 connections"
            ),
            Scenario::Stream => format!(
                "server streaming, {STREAM_REPLY_BYTES} B replies, {connections} calls in flight \
                 (one per connection) of {STREAM_REPLIES_PER_CALL} replies each; messages/s"
            ),
            Scenario::Pingpong => format!(
                "bidi ping-pong, {SMALL_PAYLOAD_BYTES} B each way, one call with one message in \
                 flight; round-trip latency"
            ),
            Scenario::Http1 => format!(
                "HTTP/1.1 GET {HTTP_PATH} (JSON reply from the demo HTTP upstream), \
                 {concurrency} keep-alive connections, one request in flight on each"
            ),
            Scenario::Mirror => format!(
                "{rate:.0} unary calls/s offered ({SMALL_PAYLOAD_BYTES} B, spread over \
                 {concurrency} callers on {connections} connections) through a `mirror` route \
                 that copies every call to {MIRROR_TARGETS} more echo clusters, against \
                 Yardmaster's plain `forward` route at the same rate; the primary's latency is \
                 what the client sees. The copy targets of `mirror ×2` run at the lowest CPU \
                 priority, as if on other hosts; those of `mirror ×2, copy targets sharing \
                 the cores` at normal priority next to the primary's upstream. A fixed rate, because at saturation the copies' CPU \
                 is taken from the primary on a shared machine; calls/s below the offered \
                 rate means the target could not keep up"
            ),
            Scenario::Fanout => format!(
                "{rate:.0} unary calls/s offered, as in `mirror`, through a `fanout` route \
                 (`replies: first`) to {FANOUT_ENDPOINTS} echo endpoints, against Yardmaster's \
                 plain `forward` route to one; each fanned-out call is {FANOUT_ENDPOINTS} \
                 upstream calls"
            ),
            Scenario::Transcode => format!(
                "unary calls as HTTP/JSON: POST {JSON_PATH} with {SMALL_PAYLOAD_BYTES} B of \
                 JSON, {concurrency} in flight over {connections} HTTP/2 connections, through \
                 a `transcode` route (descriptors from the Echo service's descriptor set), \
                 against the same calls as native gRPC ({SMALL_PAYLOAD_BYTES} B payload) \
                 through Yardmaster's `forward` route"
            ),
            Scenario::BridgeIdle => "idle TCP clients held open through a `bridges:` listener \
                 (length-prefixed framing) to the bench's echo bridge upstream; each client \
                 sends one frame and reads its echo, then stays idle through the window; \
                 a fresh Yardmaster per repetition"
                .to_owned(),
            Scenario::BridgeFrames => format!(
                "{FRAME_PAYLOAD_BYTES} B length-prefixed frames echoed back, {concurrency} TCP \
                 clients with one frame in flight each: through the bridge to the echo bridge \
                 upstream, through HAProxy (`mode tcp`) to a plain TCP echo server, and \
                 straight to that server (direct)"
            ),
        }
    }
}
