//! Counting and logging a call once, when its response ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::call_id::CallId;
use crate::metrics::{CallCode, CodeCounters, ProxyMetrics, RouteLabels};

/// What a route's calls are counted and logged under.
#[derive(Debug)]
pub(crate) struct RouteStats {
    pub(crate) name: Arc<str>,
    pub(crate) listener: Arc<str>,
    /// Cluster name for metrics and logs; empty for routes that send nowhere.
    pub(crate) cluster_name: Arc<str>,
    duration: Histogram,
    counters: CodeCounters,
}

impl RouteStats {
    /// The series of route `name` of `listener`, which sends to `cluster_name`.
    pub(crate) fn new(
        metrics: &ProxyMetrics,
        listener: &Arc<str>,
        name: &str,
        cluster_name: Arc<str>,
    ) -> RouteStats {
        let labels = RouteLabels {
            listener: listener.to_string(),
            route: name.to_owned(),
        };
        RouteStats {
            name: Arc::from(name),
            listener: listener.clone(),
            counters: CodeCounters::new(metrics, listener, name, &cluster_name),
            cluster_name,
            duration: metrics.duration.get_or_create(&labels).clone(),
        }
    }
}

/// Everything needed to account for one call at its end. Created when the request
/// arrives; finished by the response body (at its end, or when dropped early).
#[derive(Debug)]
pub(crate) struct CallRecord {
    route: Arc<RouteStats>,
    started: Instant,
    /// The status known from the response head; trailers may replace it.
    code: CallCode,
    streams: Gauge,
    access: Option<Box<AccessLine>>,
}

/// Request facts for the access log, captured only when the log is on.
#[derive(Debug)]
pub(crate) struct AccessLine {
    /// The id the call's span carries too.
    pub(crate) call_id: CallId,
    pub(crate) client: SocketAddr,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) version: http::Version,
}

impl AccessLine {
    /// The facts of call `call_id`, `req` from `client`, if a subscriber listens to the
    /// access log.
    pub(crate) fn capture<B>(
        call_id: CallId,
        client: SocketAddr,
        req: &Request<B>,
    ) -> Option<Box<AccessLine>> {
        let enabled = tracing::enabled!(target: "yardmaster::access", tracing::Level::INFO);
        enabled.then(|| {
            Box::new(AccessLine {
                call_id,
                client,
                method: req.method().clone(),
                path: req.uri().path().to_owned(),
                version: req.version(),
            })
        })
    }
}

impl CallRecord {
    /// Starts accounting for a call; `streams` is the listener's in-flight gauge, which
    /// this record raises now and lowers when finished.
    pub(crate) fn start(
        route: Arc<RouteStats>,
        started: Instant,
        code: CallCode,
        streams: Gauge,
        access: Option<Box<AccessLine>>,
    ) -> CallRecord {
        streams.inc();
        CallRecord {
            route,
            started,
            code,
            streams,
            access,
        }
    }

    /// Counts the call with its final status (`None`: the one known from the head) and
    /// writes the access-log line.
    pub(crate) fn finish(self, code: Option<CallCode>) {
        let code = code.unwrap_or(self.code);
        let elapsed = self.started.elapsed();
        self.route.counters.inc(code);
        self.route.duration.observe(elapsed.as_secs_f64());
        self.streams.dec();
        if let Some(access) = &self.access {
            let (grpc_status, http_status) = match code {
                CallCode::Grpc(c) => (c.name(), 200),
                CallCode::Http(s) => ("", s),
            };
            tracing::info!(
                target: "yardmaster::access",
                call_id = %access.call_id,
                listener = %self.route.listener,
                route = %self.route.name,
                cluster = %self.route.cluster_name,
                client = %access.client,
                method = %access.method,
                path = %access.path,
                version = ?access.version,
                http_status,
                grpc_status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
            );
        }
    }
}
