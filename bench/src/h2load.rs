//! A cross-check of the unary figure with `h2load` (nghttp2), an independent HTTP/2 load
//! generator written in C: if both tools rank and scale the targets alike, neither
//! load generator is what is being measured.
//!
//! h2load posts one pre-framed gRPC message per request (`-d`) with the gRPC headers and
//! counts HTTP 2xx responses as successes; it does not read `grpc-status`, which is why
//! the bench's own generator, which does, is the reference.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};
use prost::Message as _;
use yardmaster_demo::pb::EchoRequest;

use crate::scenario::SMALL_PAYLOAD_BYTES;
use crate::target::{Kind, Target};

/// What h2load measured against one target.
#[derive(Clone, Debug)]
pub(crate) struct H2loadResult {
    pub(crate) kind: Kind,
    pub(crate) rate: f64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    /// Mean request time as h2load prints it (`1.03ms`).
    pub(crate) mean_latency: String,
}

/// The load shape, the same as the bench's `unary` scenario.
#[derive(Clone, Copy, Debug)]
pub(crate) struct H2loadShape {
    pub(crate) connections: usize,
    pub(crate) concurrency: usize,
    pub(crate) warmup_secs: u64,
    pub(crate) duration_secs: u64,
}

/// Runs h2load once against `target` with 100 B unary calls.
pub(crate) fn run(
    h2load: &Path,
    dir: &Path,
    target: &Target,
    shape: H2loadShape,
) -> anyhow::Result<H2loadResult> {
    let data = dir.join("unary-request.bin");
    std::fs::write(&data, framed_request()).context("writing the h2load request body")?;
    let streams = shape.concurrency.div_ceil(shape.connections.max(1)).max(1);
    let output = Command::new(h2load)
        .args(["-c", &shape.connections.max(1).to_string()])
        .args(["-m", &streams.to_string()])
        .args(["-D", &format!("{}s", shape.duration_secs)])
        .arg(format!("--warm-up-time={}s", shape.warmup_secs))
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg("-d")
        .arg(&data)
        .arg(format!(
            "http://{}/yardmaster.demo.v1.Echo/Unary",
            target.grpc
        ))
        .output()
        .context("running h2load")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("h2load failed ({}): {text}", output.status);
    }
    parse(target.kind, &text).with_context(|| format!("reading h2load's output:\n{text}"))
}

/// An `EchoRequest` with a 100 B payload in the gRPC length-prefixed framing.
fn framed_request() -> Vec<u8> {
    let message = EchoRequest {
        payload: vec![b'x'; SMALL_PAYLOAD_BYTES].into(),
        ..EchoRequest::default()
    }
    .encode_to_vec();
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0);
    framed.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    framed.extend_from_slice(&message);
    framed
}

fn parse(kind: Kind, text: &str) -> anyhow::Result<H2loadResult> {
    // finished in 5.00s, 41234.40 req/s, 5.12MB/s
    let rate = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|part| part.strip_suffix(" req/s"))
        .and_then(|n| n.trim().parse().ok())
        .context("no `finished in` line")?;
    // requests: 206172 total, 206236 started, 206172 done, 206172 succeeded, 0 failed, ...
    let requests = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .context("no `requests:` line")?;
    let count = |label: &str| {
        requests
            .split(", ")
            .find(|part| part.ends_with(label))
            .and_then(|part| part.split_whitespace().rev().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
    };
    // time for request:   123us  45.67ms  1.03ms  ...   (min max mean sd +/- sd)
    let mean_latency = text
        .lines()
        .find(|l| l.starts_with("time for request:"))
        .and_then(|l| l.split_whitespace().nth(5))
        .unwrap_or("?")
        .to_owned();
    Ok(H2loadResult {
        kind,
        rate,
        succeeded: count(" succeeded").context("no succeeded count")?,
        failed: count(" failed").unwrap_or(0) + count(" errored").unwrap_or(0),
        mean_latency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rate_counts_and_mean_latency() {
        let text = "\
finished in 5.00s, 41234.40 req/s, 5.12MB/s
requests: 206172 total, 206236 started, 206172 done, 206170 succeeded, 2 failed, 0 errored, 0 timeout
status codes: 206172 2xx, 0 3xx, 0 4xx, 0 5xx
time for request:      123us     45.67ms      1.03ms       512us    71.20%
";
        let result = parse(Kind::Direct, text).unwrap();
        assert_eq!(result.rate, 41234.4);
        assert_eq!(result.succeeded, 206170);
        assert_eq!(result.failed, 2);
        assert_eq!(result.mean_latency, "1.03ms");
    }

    #[test]
    fn frames_the_request_with_a_length_prefix() {
        let framed = framed_request();
        assert_eq!(framed[0], 0);
        let len = u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]]) as usize;
        assert_eq!(len, framed.len() - 5);
        assert_eq!(len, 2 + SMALL_PAYLOAD_BYTES);
    }
}
