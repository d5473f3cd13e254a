//! One task per client: reads frames and hands them to the client's upstream stream,
//! writes the frames queued for the client, and moves the client to another upstream when
//! its stream ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::close_reason::CloseReason;
use crate::connection::{self, FrameReader, FrameWriter, ReadError};
use crate::link::{Attachment, Event, Link};
use crate::registry::{Client, Outgoing};
use crate::shared::Shared;

/// How long a closing client waits for room in its stream's queue for the `closed` event.
const CLOSED_EVENT_WAIT: Duration = Duration::from_secs(1);

/// Serves one accepted client until it closes, is closed, or the bridge shuts down.
pub(crate) async fn run(
    shared: Arc<Shared>,
    socket: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = shared.registry.open(peer);
    shared.metrics.clients.inc();
    let (reader, writer) = connection::split(socket, shared.codec);
    let mut session = Session {
        shared: &shared,
        client: &client,
        reader,
        writer,
        seq: 0,
        attachment: None,
    };
    let reason = tokio::select! {
        reason = session.serve() => reason,
        _ = shutdown.wait_for(|stop| *stop) => CloseReason::Shutdown,
    };
    session.writer.shutdown().await;
    shared.registry.remove(client.id);
    shared.metrics.clients.dec();
    shared.metrics.closed(reason.label()).inc();
    if let Some(attachment) = session.attachment.take() {
        let closed = Event::Closed {
            client_id: client.id_text.clone(),
            reason: reason.to_string(),
        };
        // Waits only while the stream's queue is full; an upstream stuck that long
        // misses this event rather than holding up the client's end.
        let _ = tokio::time::timeout(CLOSED_EVENT_WAIT, attachment.link().send(closed)).await;
        // The attachment goes last: a drained endpoint stays until its upstream got `closed`.
        drop(attachment);
    }
    tracing::debug!(bridge = %shared.name, client = %client.id_text, %peer, %reason, "bridge client closed");
}

struct Session<'a> {
    shared: &'a Shared,
    client: &'a Arc<Client>,
    reader: FrameReader,
    writer: FrameWriter,
    /// Sequence number of the last frame read.
    seq: u64,
    /// The client's place on its stream, while it has one.
    attachment: Option<Attachment>,
}

impl Session<'_> {
    async fn serve(&mut self) -> CloseReason {
        let mut link = match self.assign(false).await {
            Ok(link) => link,
            Err(reason) => return reason,
        };
        let max_unacked = self.shared.config.max_unacked_frames;
        let idle_timeout = self.shared.config.idle_timeout;
        loop {
            let can_read = self.client.unacked_len() < max_unacked;
            let idle_deadline = idle_timeout.map(|t| {
                Instant::now() + t.saturating_sub(self.client.idle_for(&self.shared.registry))
            });
            tokio::select! {
                biased;
                () = self.client.abort.notified() => {
                    if let Some(reason) = self.client.aborted() {
                        return reason;
                    }
                }
                () = link.ended() => {
                    link = match self.assign(true).await {
                        Ok(link) => link,
                        Err(reason) => return reason,
                    };
                }
                () = self.client.wake.notified() => {
                    if let Some(reason) = self.flush().await {
                        return reason;
                    }
                }
                read = self.reader.read_frame(), if can_read => match read {
                    Ok(Some(frame)) => self.forward(&link, frame).await,
                    Ok(None) => return CloseReason::ClientClosed,
                    Err(error) => return self.read_failed(error),
                },
                () = sleep_until(idle_deadline) => {
                    if idle_deadline.is_some_and(|d| d <= Instant::now()) {
                        return CloseReason::Idle;
                    }
                }
            }
        }
    }

    /// Waits for a ready upstream (up to `assign_timeout`), tells it about the client and
    /// replays the frames no earlier upstream acknowledged, oldest first.
    async fn assign(&mut self, resumed: bool) -> Result<Arc<Link>, CloseReason> {
        self.attachment = None;
        let deadline = Instant::now() + self.shared.config.assign_timeout;
        loop {
            let link = self.wait_for_link(deadline).await?;
            self.attachment = Some(link.attach(self.client));
            let opened = Event::Opened {
                client: self.client.clone(),
                resumed,
            };
            let mut delivered = link.send(opened).await.is_ok();
            for (seq, payload) in self.client.unacked() {
                if !delivered {
                    break;
                }
                let data = Event::Data {
                    client: self.client.clone(),
                    seq,
                    payload,
                };
                delivered = link.send(data).await.is_ok();
            }
            if delivered {
                if resumed {
                    self.shared.metrics.reassigned.inc();
                }
                return Ok(link);
            }
            // That stream ended too while the client was being moved to it.
            self.attachment = None;
        }
    }

    /// A ready upstream, waiting for one until `deadline`. A client closed meanwhile (by
    /// its queue overflowing, say) stops waiting.
    async fn wait_for_link(&self, deadline: Instant) -> Result<Arc<Link>, CloseReason> {
        let upstreams = &self.shared.upstreams;
        let mut changed = upstreams.subscribe();
        loop {
            if let Some(reason) = self.client.aborted() {
                return Err(reason);
            }
            if let Some(link) = upstreams.pick() {
                return Ok(link);
            }
            tokio::select! {
                changed = tokio::time::timeout_at(deadline, changed.changed()) => {
                    if !matches!(changed, Ok(Ok(()))) {
                        return Err(CloseReason::NoUpstream);
                    }
                }
                () = self.client.abort.notified() => {}
            }
        }
    }

    /// Hands one frame to the upstream, keeping it until acknowledged. If the stream has
    /// ended, the frame stays unacknowledged and is replayed to the next upstream.
    async fn forward(&mut self, link: &Link, frame: Bytes) {
        self.seq += 1;
        self.client.count_in(&self.shared.registry, frame.len());
        self.shared.metrics.frames_in.inc();
        self.shared.metrics.bytes_in.inc_by(frame.len() as u64);
        self.client.push_unacked(self.seq, frame.clone());
        let data = Event::Data {
            client: self.client.clone(),
            seq: self.seq,
            payload: frame,
        };
        let _ = link.send(data).await;
    }

    /// Writes every queued frame, several per write; returns a reason when the client
    /// must close.
    async fn flush(&mut self) -> Option<CloseReason> {
        loop {
            let mut next = Outgoing::Nothing;
            while !self.writer.is_full() {
                next = self.client.next_outgoing();
                let Outgoing::Frame(frame) = &next else {
                    break;
                };
                if let Err(error) = self.writer.push(frame) {
                    return Some(CloseReason::Protocol {
                        label: error.label(),
                        detail: error.to_string(),
                    });
                }
                self.client.count_out(&self.shared.registry, frame.len());
                self.shared.metrics.frames_out.inc();
                self.shared.metrics.bytes_out.inc_by(frame.len() as u64);
            }
            let written = tokio::select! {
                written = self.writer.write_pending() => written,
                () = self.client.abort.notified() => return self.client.aborted(),
            };
            if let Err(error) = written {
                return Some(CloseReason::Protocol {
                    label: "io_error",
                    detail: format!("write failed: {error}"),
                });
            }
            match next {
                Outgoing::Close(reason) => return Some(reason),
                Outgoing::Nothing => return None,
                // The batch filled up: take more.
                Outgoing::Frame(_) => {}
            }
        }
    }

    fn read_failed(&self, error: ReadError) -> CloseReason {
        let reason = match error {
            ReadError::Frame(error) => CloseReason::Protocol {
                label: error.label(),
                detail: error.to_string(),
            },
            ReadError::Io(error) => CloseReason::Protocol {
                label: "io_error",
                detail: format!("read failed: {error}"),
            },
        };
        tracing::info!(bridge = %self.shared.name, client = %self.client.id_text, peer = %self.client.peer, %reason, "closing bridge client");
        reason
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
