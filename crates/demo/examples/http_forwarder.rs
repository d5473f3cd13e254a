//! The demo's `yardmaster.forward.v1.HttpForwarder` upstream on one address: it answers
//! every HTTP request an `envelope` route wraps with a JSON description of it.
//!
//! ```sh
//! cargo run -p yardmaster-demo --example http_forwarder -- 127.0.0.1:50071
//! cargo run -- run --config examples/envelope.yaml
//! curl -s -X PUT -d 'hello' 'http://127.0.0.1:8080/any/path?x=1'
//! ```

use std::error::Error;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use yardmaster_demo::{serve_grpc, HttpEcho};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50071".to_owned())
        .parse()?;
    let listener = TcpListener::bind(address).await?;
    let name = format!("forwarder@{}", listener.local_addr()?);
    eprintln!(
        "HTTP forwarder upstream listening on {}",
        listener.local_addr()?
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_grpc(listener, HttpEcho::new(&name).server(), shutdown).await;
    Ok(())
}
