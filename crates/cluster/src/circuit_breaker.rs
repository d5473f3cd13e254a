//! Circuit breaking: per-cluster limits on calls, pending calls and connections. Over a
//! limit a call fails at once instead of queueing without bound.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use yardmaster_config::CircuitBreakerConfig;

/// The limits and current counts of one cluster. Each count is touched only when its
/// limit is configured, so an unlimited cluster shares no counter between calls.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    requests: Limit,
    pending: Limit,
    connections: Limit,
    overflows: Counter,
}

#[derive(Debug)]
struct Limit {
    name: &'static str,
    max: Option<u32>,
    current: AtomicU32,
}

/// Which limit refused a call, and its value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Overflow {
    pub(crate) limit: &'static str,
    pub(crate) max: u32,
}

/// A held unit of one limit, given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    breaker: Arc<CircuitBreaker>,
    which: Which,
}

#[derive(Clone, Copy, Debug)]
enum Which {
    Requests,
    Pending,
    Connections,
}

impl CircuitBreaker {
    pub(crate) fn new(config: Option<&CircuitBreakerConfig>, overflows: Counter) -> Self {
        let config = config.cloned().unwrap_or_default();
        CircuitBreaker {
            requests: Limit::new("max_requests", config.max_requests),
            pending: Limit::new("max_pending", config.max_pending),
            connections: Limit::new("max_connections", config.max_connections),
            overflows,
        }
    }

    /// A permit for one call in flight; `None` when calls are unlimited.
    pub(crate) fn request(self: &Arc<Self>) -> Result<Option<Permit>, Overflow> {
        self.acquire(Which::Requests)
    }

    /// A permit for one call waiting for a connection; `None` when unlimited.
    pub(crate) fn pending(self: &Arc<Self>) -> Result<Option<Permit>, Overflow> {
        self.acquire(Which::Pending)
    }

    /// A permit for one open connection, held by the connection's task.
    pub(crate) fn connection(self: &Arc<Self>) -> Result<Option<Permit>, Overflow> {
        self.acquire(Which::Connections)
    }

    fn limit(&self, which: Which) -> &Limit {
        match which {
            Which::Requests => &self.requests,
            Which::Pending => &self.pending,
            Which::Connections => &self.connections,
        }
    }

    fn acquire(self: &Arc<Self>, which: Which) -> Result<Option<Permit>, Overflow> {
        let limit = self.limit(which);
        let Some(max) = limit.max else {
            return Ok(None);
        };
        if limit.current.fetch_add(1, Ordering::AcqRel) >= max {
            limit.current.fetch_sub(1, Ordering::AcqRel);
            self.overflows.inc();
            return Err(Overflow {
                limit: limit.name,
                max,
            });
        }
        Ok(Some(Permit {
            breaker: self.clone(),
            which,
        }))
    }
}

impl Limit {
    fn new(name: &'static str, max: Option<u32>) -> Limit {
        Limit {
            name,
            max,
            current: AtomicU32::new(0),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.breaker
            .limit(self.which)
            .current
            .fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_over_the_limit_and_frees_on_drop() {
        let config = CircuitBreakerConfig {
            max_requests: Some(2),
            ..CircuitBreakerConfig::default()
        };
        let breaker = Arc::new(CircuitBreaker::new(Some(&config), Counter::default()));
        let first = breaker.request().unwrap();
        let _second = breaker.request().unwrap();
        let refused = breaker.request().unwrap_err();
        assert_eq!((refused.limit, refused.max), ("max_requests", 2));
        drop(first);
        assert!(breaker.request().unwrap().is_some());
        assert!(breaker.pending().unwrap().is_none(), "pending is unlimited");
        assert_eq!(breaker.overflows.get(), 1);
    }
}
