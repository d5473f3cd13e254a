//! HTTP/1.1 workers: one hyper keep-alive connection each, one request in flight on it.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::HOST;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::args::{LoadArgs, CONNECT_TIMEOUT};
use super::phase::Phase;
use super::tally::Tally;
use crate::scenario::HTTP_PATH;

type Sender = SendRequest<Empty<Bytes>>;

/// Opens `concurrency` connections and spawns one worker on each.
pub(super) async fn start(
    args: &LoadArgs,
    phase: &Phase,
    workers: &mut JoinSet<Tally>,
) -> Result<(), String> {
    for _ in 0..args.concurrency.max(1) {
        let sender = connect(args.addr).await?;
        let addr = args.addr;
        let phase = phase.clone();
        workers.spawn(async move { run(addr, sender, phase).await });
    }
    Ok(())
}

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let handshake = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        // Ends by itself when the target closes the connection or the sender is dropped.
        tokio::spawn(connection);
        Ok::<_, String>(sender)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| format!("no connection to {addr} after {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("connecting to {addr}: {e}"))
}

async fn run(addr: SocketAddr, sender: Sender, phase: Phase) -> Tally {
    let mut tally = Tally::default();
    let authority = addr.to_string();
    let mut sender = Some(sender);
    while let Some(connection) = sender.as_mut() {
        let started = Instant::now();
        let outcome = get(connection, &authority).await;
        let failed = outcome.is_err();
        if !tally.record(&phase, started, outcome) {
            break;
        }
        if failed || connection.is_closed() {
            // The target closed the connection (or broke it): open another, as a
            // keep-alive client would; a closed connection without an error is not one.
            sender = match connect(addr).await {
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

async fn get(sender: &mut Sender, authority: &str) -> Result<(), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let request = Request::get(HTTP_PATH)
        .header(HOST, authority)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let body = ok_body(response).await?;
    if body.is_empty() {
        return Err("empty body".to_owned());
    }
    Ok(())
}

/// The whole body of a 200 response; any other status is an error quoting the body.
pub(super) async fn ok_body(response: Response<Incoming>) -> Result<Bytes, String> {
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(body)
}
