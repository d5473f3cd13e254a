//! A WebSocket echo upstream: every text or binary message goes back unchanged, and a close
//! frame is answered with a close frame.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket echo server on `127.0.0.1:<ephemeral>`, speaking plain HTTP/1.1 upgrades.
/// Stops (every connection cut) when dropped.
pub struct WebSocketUpstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl WebSocketUpstream {
    /// Binds and serves.
    pub async fn start() -> WebSocketUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding upstream");
        let addr = listener.local_addr().expect("upstream address");
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(async move {
                    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    // tungstenite answers a close frame by itself while reading; the loop
                    // ends when the close handshake is done.
                    while let Some(Ok(message)) = socket.next().await {
                        if matches!(message, Message::Text(_) | Message::Binary(_))
                            && socket.send(message).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        WebSocketUpstream { addr, task }
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for WebSocketUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
