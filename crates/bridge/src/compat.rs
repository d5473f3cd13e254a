//! The compatibility protocol, `upstream.grpc.service.UpstreamPeerService`, spoken
//! unchanged to upstreams of the marking load balancer the bridge replaces: the `ready`
//! call is the ready check, the `live` stream the liveness check, and
//! `bidirectionalStreaming` carries frames. It has no open, close or ack messages, so a
//! frame counts as delivered once it is handed to the HTTP/2 stream.

use std::future::ready;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{stream, StreamExt};
use tokio::sync::watch;

use crate::compat_pb::output_stream_request::Target;
use crate::compat_pb::upstream_peer_service_client::UpstreamPeerServiceClient;
use crate::compat_pb::{Broadcast, InputStreamRequest, LiveResult, OutputStreamRequest};
use crate::link::{events_until, stopped, Event};
use crate::registry::Scope;
use crate::shared::Shared;
use crate::upstream::{Upstream, STOP_GRACE};

/// Pause between `ready` checks of an upstream that is not ready yet.
const READY_RETRY: Duration = Duration::from_millis(200);

/// Runs one stream to the endpoint until it fails or `stop` is set; returns why it ended.
/// On `stop` the frame stream is half-closed and the upstream gets [`STOP_GRACE`] to end it.
pub(crate) async fn run(
    shared: &Shared,
    upstream: &Upstream,
    stop: &watch::Receiver<bool>,
) -> String {
    let channel = match shared.connect_unless_stopped(upstream, stop).await {
        Ok(channel) => channel,
        Err(reason) => return reason,
    };
    let client = UpstreamPeerServiceClient::new(channel);
    tokio::select! {
        () = wait_until_ready(shared, client.clone()) => {}
        () = stopped(stop) => return "stopped".to_owned(),
    }
    let (guard, events) = shared.upstreams.open_link(upstream);
    let mut live = match LiveCheck::open(&client, shared.config.keepalive_interval).await {
        Ok(live) => live,
        Err(error) => return error,
    };
    let outbound = events_until(events, stop.clone()).filter_map(|event| ready(to_message(event)));
    // Ready as soon as the call is sent: an upstream may send its response headers only
    // with its first frame (grpcio does), and frames flow before the headers arrive.
    let mut frames_client = client.clone();
    let opening = frames_client.bidirectional_streaming(outbound);
    guard.link().mark_ready();
    shared.upstreams.notify();
    let mut frames = tokio::select! {
        opened = opening => match opened {
            Ok(response) => response.into_inner(),
            Err(status) => return format!("opening the stream: {status}"),
        },
        failure = live.failure() => return failure,
        () = stopped(stop) => return "stopped".to_owned(),
    };
    loop {
        tokio::select! {
            frame = frames.message() => match frame {
                Ok(Some(frame)) => handle(shared, frame),
                Ok(None) => return "the upstream ended the stream".to_owned(),
                Err(status) => return format!("stream failed: {status}"),
            },
            failure = live.failure() => return failure,
            () = stopped(stop) => break,
        }
    }
    let finish = async {
        while let Ok(Some(frame)) = frames.message().await {
            handle(shared, frame);
        }
    };
    match tokio::time::timeout(STOP_GRACE, finish).await {
        Ok(()) => "stopped".to_owned(),
        Err(_) => format!("stopped; the upstream did not end its stream within {STOP_GRACE:?}"),
    }
}

/// The `live` stream: one request goes out per interval; an answer saying not live, the
/// stream ending, or two intervals without an answer fail the upstream.
struct LiveCheck {
    answers: tonic::Streaming<LiveResult>,
    deadline: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl LiveCheck {
    async fn open(
        client: &UpstreamPeerServiceClient<tonic::transport::Channel>,
        interval: Duration,
    ) -> Result<LiveCheck, String> {
        let deadline = interval.saturating_mul(2);
        let mut client = client.clone();
        match tokio::time::timeout(deadline, client.live(live_requests(interval))).await {
            Ok(Ok(response)) => Ok(LiveCheck {
                answers: response.into_inner(),
                deadline,
                timer: Box::pin(tokio::time::sleep(deadline)),
            }),
            Ok(Err(status)) => Err(format!("opening the live stream: {status}")),
            Err(_) => Err(format!("the live stream did not open within {deadline:?}")),
        }
    }

    /// Resolves only when the check fails, with why. Cancel safe.
    async fn failure(&mut self) -> String {
        loop {
            tokio::select! {
                answer = self.answers.message() => match answer {
                    Ok(Some(LiveResult { live: true, .. })) => {
                        let next = tokio::time::Instant::now() + self.deadline;
                        self.timer.as_mut().reset(next);
                    }
                    Ok(Some(_)) => return "the live check answered not live".to_owned(),
                    Ok(None) => return "the upstream ended the live stream".to_owned(),
                    Err(status) => return format!("live stream failed: {status}"),
                },
                () = &mut self.timer => {
                    return format!("no live answer within {:?}", self.deadline);
                }
            }
        }
    }
}

/// Delivers one frame from the upstream to its client, or broadcasts it.
fn handle(shared: &Shared, frame: OutputStreamRequest) {
    match frame.target {
        Some(Target::ClientUuid(id)) => match shared.registry.get(&id) {
            Some(client) => shared.deliver(&client, frame.payload),
            None => {
                shared.metrics.unknown_client.inc();
            }
        },
        Some(Target::Broadcast(scope)) => {
            shared.registry.broadcast(scope_of(scope), &frame.payload);
        }
        None => {
            shared.metrics.unknown_client.inc();
        }
    }
}

/// Calls `ready` (each call bounded by `ready_timeout`) until the upstream says it is.
async fn wait_until_ready(
    shared: &Shared,
    mut client: UpstreamPeerServiceClient<tonic::transport::Channel>,
) {
    loop {
        match tokio::time::timeout(shared.config.ready_timeout, client.ready(())).await {
            Ok(Ok(answer)) if answer.get_ref().ready => return,
            Ok(Ok(_)) => tracing::debug!(bridge = %shared.name, "upstream not ready yet"),
            Ok(Err(status)) => {
                tracing::debug!(bridge = %shared.name, %status, "ready check failed")
            }
            Err(_) => tracing::debug!(bridge = %shared.name, "ready check timed out"),
        }
        tokio::time::sleep(READY_RETRY).await;
    }
}

/// An empty message now, then one per interval, for as long as the stream is open.
fn live_requests(interval: Duration) -> impl futures_util::Stream<Item = ()> + Send + 'static {
    stream::unfold(true, move |first| async move {
        if !first {
            tokio::time::sleep(interval).await;
        }
        Some(((), false))
    })
}

/// Frames become `InputStreamRequest`s; a frame is acknowledged (will not be replayed)
/// the moment the stream takes it. Open and close events have no equivalent.
fn to_message(event: Event) -> Option<InputStreamRequest> {
    match event {
        Event::Data {
            client,
            seq,
            payload,
        } => {
            client.ack(seq);
            Some(InputStreamRequest {
                time: rfc3339_now(),
                client_uuid: client.id_text.to_string(),
                payload,
            })
        }
        Event::Opened { .. } | Event::Closed { .. } => None,
    }
}

fn scope_of(broadcast: i32) -> Scope {
    match Broadcast::try_from(broadcast) {
        Ok(Broadcast::Active) => Scope::Active,
        Ok(Broadcast::NotActive) => Scope::Inactive,
        Ok(Broadcast::All) | Err(_) => Scope::All,
    }
}

/// The current time as RFC 3339 UTC with milliseconds, e.g. `2026-11-23T10:54:29.123Z`.
pub(crate) fn rfc3339_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
    }
}
