//! Retries: a failed attempt is sent again, to another endpoint, only while that is safe
//! (no response bytes went downstream yet, the request body is still replayable) and the
//! retry budget allows; with exponential backoff and full jitter between attempts.

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use prometheus_client::metrics::counter::Counter;
use yardmaster_config::RetryConfig;
use yardmaster_core::{body, grpc, grpc_timeout, Backoff, Body, GrpcCode};

use crate::h2_pool::Lane;
use crate::metrics::ClusterLabels;
use crate::replay_body::Replay;
use crate::retry_budget::RetryBudget;
use crate::shared::ClusterShared;
use crate::{ClusterError, ClusterMetrics, UpstreamBody};

/// The header telling the upstream how many attempts preceded this one (gRPC A6).
const PREVIOUS_ATTEMPTS: &str = "grpc-previous-rpc-attempts";

/// A cluster's retry settings and budget.
#[derive(Debug)]
pub(crate) struct RetryPolicy {
    attempts: u32,
    retry_on: Vec<GrpcCode>,
    on_connect_failure: bool,
    budget: RetryBudget,
    backoff_base: Duration,
    backoff_max: Duration,
    max_replay_bytes: usize,
    retries: Counter,
    over_budget: Counter,
}

impl RetryPolicy {
    pub(crate) fn new(
        config: &RetryConfig,
        metrics: &ClusterMetrics,
        labels: &ClusterLabels,
    ) -> RetryPolicy {
        RetryPolicy {
            attempts: config.attempts,
            retry_on: config.retry_on.clone(),
            on_connect_failure: config.on_connect_failure,
            budget: RetryBudget::new(config.budget_percent, config.budget_burst),
            backoff_base: config.backoff_base,
            backoff_max: config.backoff_max,
            max_replay_bytes: config.max_replay_bytes,
            retries: metrics.retries.get_or_create(labels).clone(),
            over_budget: metrics.retries_over_budget.get_or_create(labels).clone(),
        }
    }

    /// Whether an attempt's outcome asks for another attempt.
    fn should_retry(&self, result: &Result<Response<UpstreamBody>, ClusterError>) -> bool {
        match result {
            Ok(response) => response_code(response).is_some_and(|c| self.retry_on.contains(&c)),
            Err(ClusterError::NoEndpoint { .. } | ClusterError::Overloaded { .. }) => false,
            // Nothing reached the endpoint: safe whatever the call does.
            Err(error) if error.is_retryable() => self.on_connect_failure,
            // The attempt failed without a response (connection lost, attempt timeout):
            // it counts as the status a client would see, usually UNAVAILABLE.
            Err(error) => self.retry_on.contains(&error.cause().status().grpc),
        }
    }

    /// Full jitter: a random wait up to `base * 2^retry`, capped at the maximum.
    fn backoff(&self, retry: u32) -> Duration {
        Backoff {
            base: self.backoff_base,
            max: self.backoff_max,
        }
        .jittered(retry)
    }
}

/// The status a response head already decides: `grpc-status` of a trailers-only gRPC
/// response, or for a plain HTTP response 502, 503 and 504 read as UNAVAILABLE. A
/// response with a body to come is final: its bytes will go downstream.
fn response_code(response: &Response<UpstreamBody>) -> Option<GrpcCode> {
    if let Some(code) = GrpcCode::from_headers(response.headers()) {
        return Some(code);
    }
    if grpc::is_grpc(response.headers()) {
        return None;
    }
    matches!(response.status().as_u16(), 502..=504).then_some(GrpcCode::Unavailable)
}

/// Sends `req` with retries under `policy`.
pub(crate) async fn call(
    shared: &ClusterShared,
    policy: &RetryPolicy,
    req: Request<Body>,
    key: Option<u64>,
    lane: Lane,
) -> Result<Response<UpstreamBody>, ClusterError> {
    policy.budget.deposit();
    let (parts, source) = req.into_parts();
    let replay = Replay::new(source, policy.max_replay_bytes);
    let template = (
        parts.method.clone(),
        parts.uri.clone(),
        parts.version,
        parts.headers.clone(),
    );
    let started = tokio::time::Instant::now();
    let client_timeout = parts
        .headers
        .get(grpc_timeout::HEADER)
        .and_then(grpc_timeout::parse);
    let mut req = Request::from_parts(parts, body::boxed(replay.body()));
    let mut tried: Vec<SocketAddr> = Vec::new();
    let mut attempt = 1;
    loop {
        let (endpoint, result) = shared.attempt(req, key, &tried, lane).await;
        let retry =
            attempt < policy.attempts && policy.should_retry(&result) && replay.is_replayable();
        if !retry {
            replay.commit();
            return result;
        }
        if !policy.budget.withdraw() {
            policy.over_budget.inc();
            replay.commit();
            return result;
        }
        drop(result);
        policy.retries.inc();
        tried.extend(endpoint);
        tokio::time::sleep(policy.backoff(attempt - 1)).await;
        let (method, uri, version, mut headers) = template.clone();
        headers.insert(PREVIOUS_ATTEMPTS, HeaderValue::from(attempt));
        if let Some(timeout) = client_timeout {
            grpc_timeout::insert_left(&mut headers, timeout.saturating_sub(started.elapsed()));
        }
        req = Request::new(body::boxed(replay.body()));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = version;
        *req.headers_mut() = headers;
        attempt += 1;
    }
}
