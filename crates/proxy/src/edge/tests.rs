//! The call span and the access log, read back by a subscriber that keeps their fields.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::service::Service as _;
use prometheus_client::registry::Registry;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use yardmaster_cluster::{ClusterMetrics, ClusterSet};

use crate::{Edge, ProxyMetrics, Snapshot};

/// A span's or an event's fields by name, as text.
type Fields = HashMap<&'static str, String>;

/// Keeps the fields of every call span and of every access-log line.
#[derive(Clone, Default)]
struct Captured {
    calls: Arc<Mutex<Vec<Fields>>>,
    access: Arc<Mutex<Vec<Fields>>>,
}

/// Where a call span's fields are in `Captured::calls`.
struct CallIndex(usize);

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Captured {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "call" {
            return;
        }
        let span = ctx.span(id).unwrap();
        let mut fields = Fields::new();
        attrs.record(&mut FieldText(&mut fields));
        if let Some(parent) = span.parent() {
            fields.insert("parent", parent.name().to_owned());
        }
        let mut calls = self.calls.lock().unwrap();
        calls.push(fields);
        span.extensions_mut().insert(CallIndex(calls.len() - 1));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let index = span.extensions().get::<CallIndex>().map(|i| i.0);
        if let Some(index) = index {
            values.record(&mut FieldText(&mut self.calls.lock().unwrap()[index]));
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "yardmaster::access" {
            let mut fields = Fields::new();
            event.record(&mut FieldText(&mut fields));
            self.access.lock().unwrap().push(fields);
        }
    }
}

struct FieldText<'a>(&'a mut Fields);

impl Visit for FieldText<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

/// The edge of listener `public`, whose route `unary` forwards to cluster `echo` with
/// the one endpoint `endpoint`.
fn edge_to(endpoint: std::net::SocketAddr) -> Edge {
    let yaml = format!(
        "listeners: [{{ name: public, listen: '127.0.0.1:0', \
         routes: [{{ name: unary, forward: {{ cluster: echo }} }}] }}]\n\
         clusters: [{{ name: echo, endpoints: ['{endpoint}'] }}]\n"
    );
    let config = Arc::new(yardmaster_config::from_str(&yaml, "test.yaml").unwrap());
    let metrics = ProxyMetrics::new(&mut Registry::default());
    let clusters = ClusterSet::new(
        &config.clusters,
        &ClusterMetrics::new(&mut Registry::default()),
    );
    let snapshot = Snapshot::new(
        config,
        Arc::new(clusters),
        &metrics,
        None,
        &Default::default(),
    )
    .unwrap();
    Edge::new(
        "public",
        Arc::new(ArcSwap::from_pointee(snapshot)),
        &metrics,
        false,
        true,
    )
}

/// Each call's access-log line names the call with the id its span carries, and no two
/// calls share an id. The call span is a child of the connection's, in whose task hyper
/// calls the service. Nothing listens on the endpoint: the calls fail fast, which is all
/// a log line needs.
#[tokio::test]
async fn the_access_log_line_carries_the_id_of_the_call_span() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = closed.local_addr().unwrap();
    drop(closed);
    let service = edge_to(endpoint).for_connection("192.0.2.7:40000".parse().unwrap());

    for _ in 0..2 {
        let req = Request::post("http://gateway.test/demo.Echo/Unary")
            .header("content-type", "application/grpc")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let call = tracing::info_span!("connection").in_scope(|| service.call(req));
        let response = call.await.unwrap();
        response.into_body().collect().await.unwrap();
    }

    let calls = captured.calls.lock().unwrap().clone();
    let access = captured.access.lock().unwrap().clone();
    assert_eq!((calls.len(), access.len()), (2, 2));
    for (call, line) in calls.iter().zip(&access) {
        assert_eq!(call["call_id"].len(), 16, "{call:?}");
        assert_eq!(line["call_id"], call["call_id"]);
        assert_eq!(call["parent"], "connection");
        assert_eq!(call["listener"], "public");
        assert_eq!(call["route"], "unary");
        assert_eq!(call["cluster"], "echo");
        assert_eq!(call["endpoint"], endpoint.to_string());
        assert_eq!(call["grpc.method"], "demo.Echo/Unary");
        assert_eq!(line["grpc_status"], "UNAVAILABLE");
    }
    assert_ne!(access[0]["call_id"], access[1]["call_id"]);
}
