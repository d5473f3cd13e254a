//! Yardmaster's configuration file: the serde model, loading with precise error
//! locations, and validation.
//!
//! Owns turning a YAML file into a [`Config`] that is known to be consistent: every
//! referenced cluster exists, names are unique, listeners do not overlap, each route has
//! exactly one action and a name. It does not own what the configuration means at run time
//! (see `route`, `cluster`, `proxy`).
//!
//! Errors name the file, line, column and field path, e.g.
//! `gateway.yaml:14:7: clusters[1].endpoints[0]: "10.0.0.x:80" is not a socket address ...`,
//! and every semantic error is reported in one pass. Main entry points: [`load`] and
//! [`from_str`], which return a validated [`Config`] or a [`LoadError`].

mod descriptors;
pub mod duration;
mod load;
mod model;
mod pattern;
mod socket_addr;
mod source_map;
mod validate;

pub use descriptors::{compile_proto_files, read_descriptor_set};
pub use load::{from_str, load, parse_endpoint_file, ConfigError, LoadError};
pub use model::*;
pub use pattern::Pattern;
pub use socket_addr::parse_endpoint as parse_endpoint_address;
