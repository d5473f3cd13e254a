//! A TCP bridge upstream that echoes every frame back to the client it came from.
//!
//! ```sh
//! cargo run -p yardmaster-bridge --example echo_upstream -- 127.0.0.1:50071
//! cargo run -- run --config examples/bridge.yaml
//! printf 'hello\n' | nc 127.0.0.1 7000      # prints hello
//! ```
//!
//! It serves `yardmaster.bridge.v1.BridgeUpstream` with [`EchoUpstream`]: `Ready` first,
//! then one `Send` per data event carrying `ack_seq`, so a reply is never duplicated when
//! the gateway moves a client after a failure (see docs/bridge.md).

use std::error::Error;
use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use yardmaster_bridge::EchoUpstream;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50071".to_owned())
        .parse()?;
    let listener = TcpListener::bind(address).await?;
    eprintln!("echo upstream listening on {}", listener.local_addr()?);
    let service = EchoUpstream::new().into_server();
    loop {
        let (socket, peer) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        // Detached: a gateway's connection lives until the gateway closes it.
        tokio::spawn(async move {
            let served = auto::Builder::new(TokioExecutor::new())
                .http2_only()
                .serve_connection(TokioIo::new(socket), service)
                .await;
            if let Err(error) = served {
                eprintln!("connection from {peer} ended: {error}");
            }
        });
    }
}
