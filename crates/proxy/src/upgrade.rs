//! HTTP/1.1 protocol upgrades (WebSocket): the handshake is forwarded like any request,
//! and after a `101 Switching Protocols` the two connections are spliced byte for byte.

use http::{header, Request, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Whether the request asks to switch protocols (`Connection: upgrade` plus `Upgrade`).
pub(crate) fn is_upgrade_request<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Splices the downstream and upstream connections once both have switched protocols.
///
/// Detached on purpose: the tunnel outlives the request that opened it and ends by itself
/// when either side closes.
pub(crate) fn splice(downstream: OnUpgrade, upstream: OnUpgrade) {
    tokio::spawn(async move {
        let (downstream, upstream) = match tokio::try_join!(downstream, upstream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "protocol upgrade did not complete");
                return;
            }
        };
        let mut downstream = TokioIo::new(downstream);
        let mut upstream = TokioIo::new(upstream);
        match tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await {
            Ok((to_upstream, to_downstream)) => {
                tracing::debug!(to_upstream, to_downstream, "upgraded connection closed");
            }
            Err(error) => tracing::debug!(%error, "upgraded connection failed"),
        }
    });
}
