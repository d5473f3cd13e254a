//! Why a snapshot could not be built: the route actions' construction errors.

/// Why a snapshot could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A route names a cluster the set does not have (validation normally prevents this).
    #[error("listener {listener:?}, route {route:?}: unknown cluster {cluster:?}")]
    UnknownCluster {
        /// The listener's name.
        listener: String,
        /// The route's name.
        route: String,
        /// The missing cluster.
        cluster: String,
    },
    /// A mirrored route's `message_type.field_name` could not be resolved from its
    /// `.proto` files.
    #[error("listener {listener:?}, route {route:?}: message_type.field_name: {message}")]
    MessageType {
        /// The listener's name.
        listener: String,
        /// The route's name.
        route: String,
        /// What went wrong.
        message: String,
    },
    /// A transcoding route's descriptors could not be loaded.
    #[error("listener {listener:?}, route {route:?}: transcode descriptors: {message}")]
    Descriptors {
        /// The listener's name.
        listener: String,
        /// The route's name.
        route: String,
        /// What went wrong.
        message: String,
    },
    /// A route serves an in-process service the snapshot was not given.
    #[error(
        "listener {listener:?}, route {route:?}: the gateway has no {service} service to serve"
    )]
    NoLocalService {
        /// The listener's name.
        listener: String,
        /// The route's name.
        route: String,
        /// The route key that names the service.
        service: &'static str,
    },
    /// A route mirrors, but no copy threads were given to the snapshot.
    #[error("listener {listener:?}, route {route:?}: mirroring needs the copy threads")]
    NoCopyRuntime {
        /// The listener's name.
        listener: String,
        /// The route's name.
        route: String,
    },
}
