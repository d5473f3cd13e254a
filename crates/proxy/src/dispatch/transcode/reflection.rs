//! Descriptors from the route's cluster's gRPC server reflection: fetched when the
//! gateway starts, again every `refresh` and when the admin API asks; a failed fetch is
//! logged, counted and kept for the admin API, and the last good descriptors stay in use.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::HeaderMap;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use yardmaster_cluster::Cluster;
use yardmaster_config::TranscodeConfig;
use yardmaster_core::{Backoff, GrpcCode};
use yardmaster_transcode::reflection::{
    file_by_filename, file_containing_symbol, list_services, Reflected, ReflectionStatus,
    MAX_IMPORT_ROUNDS, REFLECTION_PATHS,
};
use yardmaster_transcode::{DescriptorPool, HttpApi};

use super::Transcode;
use crate::dispatch::own_call::{call_whole, CallError};

/// How long one reflection call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits after failed fetches while no descriptors are loaded yet; once some are, a
/// failed fetch is tried again after at most the route's `refresh`.
const RETRY: Backoff = Backoff {
    base: Duration::from_millis(500),
    max: Duration::from_secs(30),
};

/// The reflection source of a `transcode` route.
#[derive(Debug)]
pub(crate) struct Reflection {
    config: TranscodeConfig,
    refresh: Duration,
    wake: Arc<Notify>,
    status: Mutex<ReflectionStatus>,
    failures: Counter,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Reflection {
    pub(super) fn new(
        config: &TranscodeConfig,
        refresh: Duration,
        status: ReflectionStatus,
        failures: Counter,
    ) -> Reflection {
        Reflection {
            config: config.clone(),
            refresh,
            wake: Arc::new(Notify::new()),
            status: Mutex::new(status),
            failures,
            task: Mutex::new(None),
        }
    }

    /// How fetching has gone.
    pub(crate) fn status(&self) -> ReflectionStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fetches the descriptors again now, without waiting for `refresh`.
    pub(crate) fn refresh_now(&self) {
        self.wake.notify_one();
    }

    fn update(&self, change: impl FnOnce(&mut ReflectionStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

impl Drop for Reflection {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

/// Starts fetching `action`'s descriptors, when they come from reflection. Must be
/// called inside a Tokio runtime; the task stops when the action is dropped.
pub(crate) fn start(action: &Arc<Transcode>) {
    let Some(reflection) = &action.reflection else {
        return;
    };
    let task = tokio::spawn(run(Arc::downgrade(action), reflection.wake.clone()));
    let mut slot = reflection.task.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = slot.replace(task) {
        old.abort();
    }
}

async fn run(action: Weak<Transcode>, wake: Arc<Notify>) {
    let mut failed_in_a_row: u32 = 0;
    loop {
        let Some(action) = action.upgrade() else {
            return;
        };
        let Some(reflection) = &action.reflection else {
            return;
        };
        let wait = match fetch_api(&action.cluster, reflection).await {
            Ok(api) => {
                failed_in_a_row = 0;
                let services = api
                    .pool()
                    .services()
                    .map(|s| s.full_name().to_owned())
                    .collect::<Vec<_>>();
                let bindings = api.bindings().count();
                tracing::info!(cluster = %action.cluster.name(), ?services, bindings, "transcoding descriptors loaded from server reflection");
                reflection.update(|status| {
                    status.services = services;
                    status.bindings = bindings;
                    status.loaded_at = Some(unix_now());
                    status.last_error = None;
                });
                action.api.store(Some(Arc::new(api)));
                reflection.refresh
            }
            Err(error) => {
                let loaded = action.api.load().is_some();
                tracing::warn!(cluster = %action.cluster.name(), %error, keeping_last_good = loaded, "fetching transcoding descriptors from server reflection failed");
                reflection.failures.inc();
                reflection.update(|status| {
                    status.last_error = Some(error);
                    status.failed_at = Some(unix_now());
                    status.failures = status.failures.saturating_add(1);
                });
                let wait = RETRY.jittered(failed_in_a_row);
                failed_in_a_row = failed_in_a_row.saturating_add(1);
                if loaded {
                    wait.min(reflection.refresh)
                } else {
                    wait
                }
            }
        };
        drop(action);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
    }
}

/// The descriptors the cluster's reflection gives, bound by the route's rules.
async fn fetch_api(cluster: &Cluster, reflection: &Reflection) -> Result<HttpApi, String> {
    let pool = fetch(cluster, reflection.config.max_message_bytes).await?;
    reflection
        .config
        .bind(pool)
        .map_err(|(key, message)| match key {
            Some(key) => format!("{key}: {message}"),
            None => message,
        })
}

/// The descriptors `cluster`'s server reflection gives: lists the services, asks for the
/// files that define them, then for their imports until none is missing. Tries
/// `grpc.reflection.v1`, then `v1alpha`. Replies are at most `max` bytes.
///
/// # Errors
///
/// One line saying which call failed and why, or what is missing.
pub async fn fetch(cluster: &Cluster, max: usize) -> Result<DescriptorPool, String> {
    let mut reflected = Reflected::default();
    let mut path = REFLECTION_PATHS[0];
    if let Err(error) = ask(cluster, path, &[list_services()], max, &mut reflected).await {
        if error.code != Some(GrpcCode::Unimplemented) {
            return Err(error.message);
        }
        path = REFLECTION_PATHS[1];
        ask(cluster, path, &[list_services()], max, &mut reflected)
            .await
            .map_err(|error| error.message)?;
    }
    let services = reflected.services();
    if services.is_empty() {
        return Err("the server's reflection lists no service".to_owned());
    }
    let requests: Vec<Vec<u8>> = services.iter().map(|s| file_containing_symbol(s)).collect();
    ask(cluster, path, &requests, max, &mut reflected)
        .await
        .map_err(|error| error.message)?;
    for _ in 0..MAX_IMPORT_ROUNDS {
        let missing = reflected.missing_imports();
        if missing.is_empty() {
            return reflected.into_pool();
        }
        let requests: Vec<Vec<u8>> = missing.iter().map(|f| file_by_filename(f)).collect();
        ask(cluster, path, &requests, max, &mut reflected)
            .await
            .map_err(|error| error.message)?;
    }
    Err(format!(
        "imports still missing after {MAX_IMPORT_ROUNDS} rounds: {}",
        reflected.missing_imports().join(", ")
    ))
}

/// One reflection call: `requests` sent at once, every reply taken in.
async fn ask(
    cluster: &Cluster,
    path: &'static str,
    requests: &[Vec<u8>],
    max: usize,
    reflected: &mut Reflected,
) -> Result<(), CallError> {
    let located = |error: CallError| CallError {
        message: match error.code {
            Some(code) => format!(
                "{path} on cluster {:?}: {code:?}: {}",
                cluster.name(),
                error.message
            ),
            None => format!("{path} on cluster {:?}: {}", cluster.name(), error.message),
        },
        ..error
    };
    let replies = call_whole(
        cluster,
        path,
        requests,
        &HeaderMap::new(),
        max,
        CALL_TIMEOUT,
    )
    .await
    .map_err(located)?;
    for reply in replies {
        reflected.take_reply(&reply).map_err(|message| {
            located(CallError {
                code: None,
                message,
            })
        })?;
    }
    Ok(())
}

/// Now, in seconds since the Unix epoch, as the admin API shows fetch times.
fn unix_now() -> u64 {
    yardmaster_core::unix_ms_now() / 1000
}
