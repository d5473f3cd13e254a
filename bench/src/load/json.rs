//! HTTP/JSON workers for `transcode`: the `unary` call as a REST client that speaks
//! HTTP/2 makes it, `POST /yardmaster.demo.v1.Echo/Unary` with a JSON body of
//! [`SMALL_PAYLOAD_BYTES`], over bare hyper connections like the gRPC workers'.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Uri};
use http_body_util::Full;
use hyper::client::conn::http2::SendRequest;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::args::LoadArgs;
use super::grpc::h2_connect;
use super::http1::ok_body;
use super::phase::Phase;
use super::tally::Tally;
use crate::scenario::{JSON_PATH, SMALL_PAYLOAD_BYTES};

type Sender = SendRequest<Full<Bytes>>;

/// `{"message":"xx…"}`, [`SMALL_PAYLOAD_BYTES`] long.
fn request_body() -> Bytes {
    let wrapper = r#"{"message":""}"#.len();
    let text = "x".repeat(SMALL_PAYLOAD_BYTES.saturating_sub(wrapper));
    Bytes::from(format!(r#"{{"message":"{text}"}}"#))
}

/// Opens `connections` HTTP/2 connections and spawns `concurrency` workers over them.
pub(super) async fn start(
    args: &LoadArgs,
    phase: &Phase,
    workers: &mut JoinSet<Tally>,
) -> Result<(), String> {
    let uri =
        Uri::try_from(format!("http://{}{JSON_PATH}", args.addr)).map_err(|e| e.to_string())?;
    let mut senders = Vec::new();
    for _ in 0..args.connections.max(1) {
        senders.push(h2_connect(args.addr).await?);
    }
    let body = request_body();
    for i in 0..args.concurrency.max(1) {
        let sender = senders.get(i % senders.len()).cloned();
        let worker = Worker {
            addr: args.addr,
            uri: uri.clone(),
            body: body.clone(),
            phase: phase.clone(),
        };
        workers.spawn(async move { worker.run(sender).await });
    }
    Ok(())
}

struct Worker {
    addr: SocketAddr,
    uri: Uri,
    body: Bytes,
    phase: Phase,
}

impl Worker {
    /// Calls back to back; a failed call opens a new connection, as a client would.
    async fn run(self, mut sender: Option<Sender>) -> Tally {
        let mut tally = Tally::default();
        while let Some(connection) = sender.as_mut() {
            let started = Instant::now();
            let outcome = self.call(connection).await;
            let failed = outcome.is_err();
            if !tally.record(&self.phase, started, outcome) {
                break;
            }
            if failed {
                sender = match h2_connect(self.addr).await {
                    Ok(fresh) => Some(fresh),
                    Err(error) => {
                        tally.fail(error);
                        None
                    }
                };
            }
        }
        tally
    }

    /// One call: the reply must be 200 with the message echoed in its JSON.
    async fn call(&self, sender: &mut Sender) -> Result<(), String> {
        sender.ready().await.map_err(|e| e.to_string())?;
        let mut request = Request::post(self.uri.clone())
            .body(Full::new(self.body.clone()))
            .map_err(|e| e.to_string())?;
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let body = ok_body(response).await?;
        if body.len() < self.body.len() {
            return Err(format!(
                "reply of {} bytes, sent {}",
                body.len(),
                self.body.len()
            ));
        }
        Ok(())
    }
}
