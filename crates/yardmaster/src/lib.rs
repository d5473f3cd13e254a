//! The Yardmaster gateway, assembled: `Config -> bind -> spawn -> shutdown`.
//!
//! Owns wiring the crates together (clusters and their discovery sources, snapshot,
//! listeners, TCP bridges, admin) and the
//! built-in demo. It does not own any data-path logic; the command line lives in
//! `main.rs`. Main types: [`Gateway`] (bound, not yet serving) and [`GatewayHandle`]
//! (serving; shut it down to drain).

mod call;
pub mod demo;
mod discovery;
mod gateway;
mod signal;

pub use gateway::{Gateway, GatewayHandle};
pub use signal::shutdown_requested;
