//! The admin HTTP API, on its own listener.
//!
//! Owns the operator's view of a running gateway: `GET /healthz` (the process is alive),
//! `/ready` (listeners are serving and shutdown has not begun), `/config` (the effective
//! configuration as JSON), `/clusters` (endpoints with health, ejection, calls in flight
//! and weights), `/descriptors` (transcode routes' descriptors from server reflection;
//! `POST /descriptors/refresh` fetches them again), `/registry` (the registry's live
//! instances, `?service=` for one service), `/metrics` (Prometheus text), and runtime control of endpoints
//! (`POST /clusters/{name}/endpoints?address=..` adds one, `POST
//! /clusters/{name}/endpoints/{address}/{drain|disable|enable|remove}` changes one). It reads gateway state only through the [`GatewayView`] handle the
//! binary passes in; it owns no gateway state itself. TCP bridges are listed and operated
//! under `/bridges` (clients, send, close, broadcast, upstreams) through the
//! `BridgeHandle`s the binary passes in.

mod bridge;
mod control;
mod reply;
mod server;
mod view;

pub use server::serve;
pub use view::{AdminState, GatewayView, UpdateError};
