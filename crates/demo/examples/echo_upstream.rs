//! The demo's gRPC `yardmaster.demo.v1.Echo` service on one address, as an upstream for
//! the examples (transcoding, balancing) to run against.
//!
//! ```sh
//! cargo run -p yardmaster-demo --example echo_upstream -- 127.0.0.1:50051
//! cargo run -- run --config examples/transcoding.yaml
//! curl -s -H 'Content-Type: application/json' -d '{"message": "hi"}' \
//!     http://127.0.0.1:8080/yardmaster.demo.v1.Echo/Unary
//! ```

use std::error::Error;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use yardmaster_demo::{echo_server, serve_grpc, EchoService};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".to_owned())
        .parse()?;
    let listener = TcpListener::bind(address).await?;
    let name = format!("echo@{}", listener.local_addr()?);
    eprintln!("echo upstream listening on {}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_grpc(listener, echo_server(EchoService::new(name)), shutdown).await;
    Ok(())
}
