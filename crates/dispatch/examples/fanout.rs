//! Fans a unary call out to three demo echo servers started on loopback, and prints who
//! answered: `cargo run -p yardmaster-dispatch --example fanout`.

// The output is the point of this program.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::time::Duration;

use tokio::net::TcpListener;
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_dispatch::{ChannelOptions, Dispatcher, Outcome};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut addresses = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        addresses.push(listener.local_addr()?.to_string());
        let server = yardmaster_demo::echo_server(yardmaster_demo::EchoService::new(name));
        // Lives as long as the program.
        tokio::spawn(yardmaster_demo::serve_grpc(
            listener,
            server,
            std::future::pending(),
        ));
    }
    let target = format!("static://{}", addresses.join(","));
    let dispatcher = Dispatcher::new(&target, ChannelOptions::default())?;
    dispatcher.ready(Duration::from_secs(5)).await?;

    let outcomes = dispatcher
        .fanout(|_, channel| async move {
            let request = EchoRequest {
                message: "who is there?".into(),
                ..Default::default()
            };
            let reply = EchoClient::new(channel).unary(request).await?;
            Ok::<_, tonic::Status>(reply.into_inner().served_by)
        })
        .await;
    for (endpoint, outcome) in outcomes {
        match outcome {
            Outcome::Finished(Ok(name)) => println!("{endpoint}: {name}"),
            Outcome::Finished(Err(status)) => println!("{endpoint}: failed: {status}"),
            other => println!("{endpoint}: {other:?}"),
        }
    }
    Ok(())
}
