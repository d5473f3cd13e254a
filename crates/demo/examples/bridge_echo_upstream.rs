//! A TCP bridge upstream that echoes every frame back to the client it came from.
//!
//! ```sh
//! cargo run -p yardmaster-demo --example bridge_echo_upstream -- 127.0.0.1:50071
//! cargo run -- run --config examples/bridge.yaml
//! printf 'hello\n' | nc 127.0.0.1 7000      # prints hello
//! ```
//!
//! It serves `yardmaster.bridge.v1.BridgeUpstream` with [`EchoUpstream`]: `Ready` first,
//! then one `Send` per data event carrying `ack_seq`, so a reply is never duplicated when
//! the gateway moves a client after a failure (see docs/bridge.md).

use std::error::Error;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use yardmaster_demo::{serve_grpc, EchoUpstream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50071".to_owned())
        .parse()?;
    let listener = TcpListener::bind(address).await?;
    eprintln!("echo upstream listening on {}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_grpc(listener, EchoUpstream::new().into_server(), shutdown).await;
    Ok(())
}
