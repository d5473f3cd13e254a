//! One immutable configuration version, as the data path uses it.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderValue, StatusCode};
use yardmaster_cluster::ClusterSet;
use yardmaster_config::{Config, RouteConfig};
use yardmaster_core::GrpcCode;
use yardmaster_route::{Route, RouteTable};
use yardmaster_transcode::reflection::ReflectionStatus;

use crate::call_record::RouteStats;
use crate::dispatch::envelope::Envelope;
use crate::dispatch::fanout::Fanout;
use crate::dispatch::forward::Forward;
use crate::dispatch::local::{Local, LocalServices};
use crate::dispatch::mirror::{CopyRuntime, Mirror};
use crate::dispatch::transcode::reflection::{self, Reflection};
use crate::dispatch::transcode::Transcode;
use crate::metrics::RouteLabels;
use crate::snapshot_error::SnapshotError;
use crate::ProxyMetrics;

/// A configuration version with everything resolved: route tables per listener with
/// clusters as `Arc<Cluster>`, and per-route metric handles. Requests load it once and
/// keep it to the end, so a reload never changes a call midway.
#[derive(Debug)]
pub struct Snapshot {
    config: Arc<Config>,
    clusters: Arc<ClusterSet>,
    listeners: HashMap<String, Arc<ListenerRoutes>>,
    /// The `transcode` routes whose descriptors come from server reflection.
    reflections: Vec<Arc<Transcode>>,
}

/// The routes of one listener.
#[derive(Debug)]
pub(crate) struct ListenerRoutes {
    pub(crate) table: RouteTable<RouteEntry>,
    /// Accounts for requests that no route matched.
    pub(crate) unmatched: RouteEntry,
    pub(crate) access_log: bool,
}

/// What the pipeline needs of a matched route.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    pub(crate) stats: Arc<RouteStats>,
    pub(crate) action: RouteAction,
}

#[derive(Debug)]
pub(crate) enum RouteAction {
    Forward(Forward),
    Deny(Deny),
    Mirror(Arc<Mirror>),
    Fanout(Arc<Fanout>),
    Transcode(Arc<Transcode>),
    Envelope(Arc<Envelope>),
    Local(Arc<Local>),
}

#[derive(Debug)]
pub(crate) struct Deny {
    pub(crate) grpc_status: GrpcCode,
    pub(crate) http_status: StatusCode,
    pub(crate) message: String,
}

impl Snapshot {
    /// Whether a route of `config` mirrors, and so needs a [`CopyRuntime`].
    pub fn needs_copies(config: &Config) -> bool {
        config
            .listeners
            .iter()
            .flat_map(|l| &l.routes)
            .any(|r| r.mirror.is_some())
    }

    /// Resolves a validated configuration against its clusters. Cheap: starts no thread
    /// and spawns no task. `copies` runs mirror copies; it is needed when a route mirrors
    /// ([`Snapshot::needs_copies`]). `local` serves routes whose action is in-process
    /// (`registry`).
    pub fn new(
        config: Arc<Config>,
        clusters: Arc<ClusterSet>,
        metrics: &ProxyMetrics,
        copies: Option<Arc<CopyRuntime>>,
        local: &LocalServices,
    ) -> Result<Snapshot, SnapshotError> {
        let mut listeners = HashMap::new();
        let mut reflections = Vec::new();
        for listener in &config.listeners {
            let name: Arc<str> = Arc::from(listener.name.as_str());
            let routes = listener
                .routes
                .iter()
                .map(|r| {
                    let entry = route_entry(&name, r, &clusters, metrics, copies.as_ref(), local)?;
                    if let RouteAction::Transcode(action) = &entry.action {
                        if action.reflection.is_some() {
                            reflections.push(action.clone());
                        }
                    }
                    Ok(Route::new(r, entry))
                })
                .collect::<Result<Vec<_>, SnapshotError>>()?;
            let routes = ListenerRoutes {
                table: RouteTable::new(routes),
                unmatched: RouteEntry::unmatched(&name, metrics),
                access_log: config.log.access_log,
            };
            listeners.insert(listener.name.clone(), Arc::new(routes));
        }
        Ok(Snapshot {
            config,
            clusters,
            listeners,
            reflections,
        })
    }

    /// Starts fetching the descriptors of `transcode` routes that take them from server
    /// reflection. Must be called inside a Tokio runtime; the tasks stop when the
    /// snapshot is dropped.
    pub fn start_reflection(&self) {
        self.reflections.iter().for_each(reflection::start);
    }

    /// How fetching descriptors from server reflection has gone, per route.
    pub fn reflection_status(&self) -> Vec<ReflectionStatus> {
        self.reflections
            .iter()
            .filter_map(|action| action.reflection.as_ref())
            .map(Reflection::status)
            .collect()
    }

    /// Fetches every reflection route's descriptors again now; returns how many routes
    /// were asked.
    pub fn refresh_reflection(&self) -> usize {
        let sources = self
            .reflections
            .iter()
            .filter_map(|a| a.reflection.as_ref());
        sources.map(Reflection::refresh_now).count()
    }

    /// The configuration this snapshot was built from.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The clusters of this snapshot.
    pub fn clusters(&self) -> &Arc<ClusterSet> {
        &self.clusters
    }

    pub(crate) fn listener(&self, name: &str) -> Option<&Arc<ListenerRoutes>> {
        self.listeners.get(name)
    }
}

/// Metric label of requests that no route matched.
const UNMATCHED_ROUTE: &str = "no_route";

impl RouteEntry {
    fn unmatched(listener: &Arc<str>, metrics: &ProxyMetrics) -> RouteEntry {
        RouteEntry {
            stats: Arc::new(RouteStats::new(
                metrics,
                listener,
                UNMATCHED_ROUTE,
                Arc::from(""),
            )),
            action: RouteAction::Deny(default_deny_action()),
        }
    }
}

fn route_entry(
    listener: &Arc<str>,
    route: &RouteConfig,
    clusters: &ClusterSet,
    metrics: &ProxyMetrics,
    copies: Option<&Arc<CopyRuntime>>,
    local: &LocalServices,
) -> Result<RouteEntry, SnapshotError> {
    let route_name = route.name.clone().unwrap_or_default();
    let cluster_of = |name: &String| {
        clusters
            .get(name)
            .cloned()
            .ok_or_else(|| SnapshotError::UnknownCluster {
                listener: listener.to_string(),
                route: route_name.clone(),
                cluster: name.clone(),
            })
    };
    let (cluster_name, action) = if let Some(forward) = &route.forward {
        let cluster = cluster_of(&forward.cluster)?;
        let rewrite = forward.rewrite.clone().unwrap_or_default();
        let matched_prefix = route.matcher.path.as_ref().and_then(|p| p.prefix.clone());
        let action = RouteAction::Forward(Forward {
            cluster: cluster.clone(),
            path_prefix: matched_prefix.zip(rewrite.path_prefix),
            host: rewrite.host.and_then(|h| HeaderValue::from_str(&h).ok()),
            timeout: forward.timeout,
        });
        (cluster.name().clone(), action)
    } else if let Some(mirror) = &route.mirror {
        let copies = copies
            .ok_or_else(|| SnapshotError::NoCopyRuntime {
                listener: listener.to_string(),
                route: route_name.clone(),
            })?
            .clone();
        let mirror = Mirror::new(listener, &route_name, mirror, clusters, metrics, copies)?;
        let cluster_name = mirror
            .default_cluster()
            .map_or_else(|| Arc::from(""), |c| c.name().clone());
        (cluster_name, RouteAction::Mirror(Arc::new(mirror)))
    } else if let Some(fanout) = &route.fanout {
        let fanout = Fanout::new(listener, &route_name, fanout, clusters, metrics)?;
        let cluster_name = fanout.cluster.name().clone();
        (cluster_name, RouteAction::Fanout(Arc::new(fanout)))
    } else if let Some(transcode) = &route.transcode {
        let cluster = cluster_of(&transcode.cluster)?;
        let labels = RouteLabels {
            listener: listener.to_string(),
            route: route_name.clone(),
        };
        let action = Transcode::new(transcode, cluster, &labels, metrics).map_err(|message| {
            SnapshotError::Descriptors {
                listener: listener.to_string(),
                route: route_name.clone(),
                message,
            }
        })?;
        let cluster_name = action.cluster.name().clone();
        (cluster_name, RouteAction::Transcode(Arc::new(action)))
    } else if let Some(envelope) = &route.envelope {
        let cluster = cluster_of(&envelope.cluster)?;
        let action = Envelope::new(envelope, cluster);
        let cluster_name = action.cluster.name().clone();
        (cluster_name, RouteAction::Envelope(Arc::new(action)))
    } else if route.registry.is_some() {
        let service = local
            .get("registry")
            .ok_or_else(|| SnapshotError::NoLocalService {
                listener: listener.to_string(),
                route: route_name.clone(),
                service: "registry",
            })?;
        let action = Local::new(service.clone());
        (Arc::from(""), RouteAction::Local(Arc::new(action)))
    } else {
        let action = match route.deny.clone() {
            Some(deny) => Deny {
                grpc_status: deny.grpc_status,
                http_status: StatusCode::from_u16(deny.http_status)
                    .unwrap_or(StatusCode::FORBIDDEN),
                message: deny.message,
            },
            None => default_deny_action(),
        };
        (Arc::from(""), RouteAction::Deny(action))
    };
    Ok(RouteEntry {
        stats: Arc::new(RouteStats::new(
            metrics,
            listener,
            &route_name,
            cluster_name,
        )),
        action,
    })
}

/// A route with neither action cannot pass validation; should one reach here anyway,
/// refusing is the safe reading.
fn default_deny_action() -> Deny {
    Deny {
        grpc_status: GrpcCode::PermissionDenied,
        http_status: StatusCode::FORBIDDEN,
        message: "route has no action".to_owned(),
    }
}
