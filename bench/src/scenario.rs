//! The workloads: what each one sends and what its throughput counts.

use serde::{Deserialize, Serialize};

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
}

impl Scenario {
    /// Every scenario, in report order.
    pub(crate) const ALL: [Scenario; 5] = [
        Scenario::Unary,
        Scenario::Unary16k,
        Scenario::Stream,
        Scenario::Pingpong,
        Scenario::Http1,
    ];

    /// The name on the command line and in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Unary => "unary",
            Scenario::Unary16k => "unary-16k",
            Scenario::Stream => "stream",
            Scenario::Pingpong => "pingpong",
            Scenario::Http1 => "http1",
        }
    }

    /// What one operation is, for the throughput column.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Scenario::Unary | Scenario::Unary16k => "calls/s",
            Scenario::Stream => "msgs/s",
            Scenario::Pingpong => "round trips/s",
            Scenario::Http1 => "requests/s",
        }
    }

    /// The operation a CPU figure is divided by.
    pub(crate) fn per(self) -> &'static str {
        match self {
            Scenario::Unary | Scenario::Unary16k => "call",
            Scenario::Stream => "msg",
            Scenario::Pingpong => "round trip",
            Scenario::Http1 => "request",
        }
    }

    /// Whether the scenario speaks gRPC (over h2c) rather than HTTP/1.1.
    pub(crate) fn is_grpc(self) -> bool {
        self != Scenario::Http1
    }

    /// One line on what the scenario measures, given the run's load shape.
    pub(crate) fn describe(self, connections: usize, concurrency: usize) -> String {
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
        }
    }
}
