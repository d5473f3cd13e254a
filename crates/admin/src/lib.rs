//! The admin HTTP API, on its own listener.
//!
//! Owns the operator's view of a running gateway: `GET /healthz` (the process is alive),
//! `/ready` (listeners are serving and shutdown has not begun), `/config` (the effective
//! configuration as JSON), `/clusters` (endpoints and their state) and `/metrics`
//! (Prometheus text). It reads gateway state only through the [`GatewayView`] handle the
//! binary passes in; it owns no gateway state itself.

mod server;
mod view;

pub use server::serve;
pub use view::{AdminState, GatewayView};
