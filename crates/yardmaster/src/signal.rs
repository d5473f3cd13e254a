//! Process signals that end a gateway.

use anyhow::Context as _;

/// Resolves on SIGTERM or SIGINT (Ctrl-C); fails only if the handlers cannot be installed.
pub async fn shutdown_requested() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => Ok(()),
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C"),
    }
}
