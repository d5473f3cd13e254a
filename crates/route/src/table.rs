//! The ordered routes of one listener.

use std::sync::Arc;

use http::Request;
use yardmaster_config::RouteConfig;

use crate::{GrpcPath, Matcher};

/// One route: its name, its conditions, and the caller's action.
#[derive(Debug)]
pub struct Route<A> {
    name: Arc<str>,
    matcher: Matcher,
    action: A,
}

impl<A> Route<A> {
    /// Builds a route from its validated configuration and an action.
    pub fn new(config: &RouteConfig, action: A) -> Route<A> {
        Route {
            name: Arc::from(config.name.as_deref().unwrap_or("")),
            matcher: Matcher::new(&config.matcher),
            action,
        }
    }

    /// The route's name (validation fills in `<listener>#<index>` when none is given).
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The route's conditions.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// What the caller does with matching requests.
    pub fn action(&self) -> &A {
        &self.action
    }
}

/// Routes in configuration order; the first route whose conditions hold wins.
#[derive(Debug)]
pub struct RouteTable<A> {
    routes: Vec<Route<A>>,
}

impl<A> RouteTable<A> {
    /// A table of routes, tried in the given order.
    pub fn new(routes: Vec<Route<A>>) -> RouteTable<A> {
        RouteTable { routes }
    }

    /// The first route matching the request. `grpc` is the parsed path when the request
    /// is a gRPC call (see [`GrpcPath::parse`]); routes with service or method conditions
    /// never match other requests.
    pub fn find<B>(&self, req: &Request<B>, grpc: Option<GrpcPath<'_>>) -> Option<&Route<A>> {
        self.routes.iter().find(|r| r.matcher.is_match(req, grpc))
    }

    /// All routes in order.
    pub fn routes(&self) -> &[Route<A>] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use yardmaster_config::{MatchConfig, RouteConfig};

    use super::*;

    fn route(name: &str, service: Option<&str>) -> Route<u32> {
        let config = RouteConfig {
            name: Some(name.into()),
            matcher: MatchConfig {
                service: service.map(Into::into),
                ..Default::default()
            },
            forward: None,
            deny: None,
            mirror: None,
            fanout: None,
            transcode: None,
            envelope: None,
            registry: None,
        };
        Route::new(&config, 0)
    }

    #[test]
    fn first_matching_route_wins() {
        let table = RouteTable::new(vec![
            route("internal", Some("internal.*")),
            route("users", Some("users.v1.Users")),
            route("fallback", None),
        ]);
        let find = |path: &str| {
            let req = Request::builder().uri(path).body(()).unwrap();
            let grpc = GrpcPath::parse(req.uri().path());
            table.find(&req, grpc).map(|r| r.name().to_string())
        };
        assert_eq!(find("/internal.Admin/Drop").as_deref(), Some("internal"));
        assert_eq!(find("/users.v1.Users/Get").as_deref(), Some("users"));
        assert_eq!(find("/other.Svc/M").as_deref(), Some("fallback"));
        assert_eq!(table.routes().len(), 3);
    }
}
