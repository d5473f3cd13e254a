//! The `transcode` route action: HTTP/JSON requests become gRPC calls to a cluster, by
//! descriptors loaded at startup.

use std::path::PathBuf;
use std::time::Duration;

use protox::prost_reflect::DescriptorPool;
use serde::{Deserialize, Serialize};

use crate::descriptors::{compile_proto_files, read_descriptor_set};
use crate::duration;
use crate::model::DEFAULT_MAX_MESSAGE_BYTES;

/// The `transcode` action: `POST /package.Service/Method` with a JSON body calls that
/// method on `cluster`, and the reply comes back as JSON.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TranscodeConfig {
    /// The `grpc` cluster that serves the methods.
    pub cluster: String,
    /// `.proto` files that define the services, compiled at startup (no `protoc`).
    /// Relative paths are relative to the configuration file; each file's directory is an
    /// import root. Exactly one of `proto_files` and `descriptor_set`.
    #[serde(default)]
    pub proto_files: Vec<PathBuf>,
    /// A `FileDescriptorSet` with imports (`protoc --include_imports
    /// --descriptor_set_out`, `buf build -o`), instead of `proto_files`.
    #[serde(default)]
    pub descriptor_set: Option<PathBuf>,
    /// The longest a call may take, end to end; a shorter `grpc-timeout` header wins.
    #[serde(default, with = "duration::option")]
    pub timeout: Option<Duration>,
    /// The largest request body and reply message, in bytes; larger ones get 413 or end
    /// the call with RESOURCE_EXHAUSTED.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Ignore request fields the message does not have instead of answering 400.
    #[serde(default)]
    pub allow_unknown_fields: bool,
    /// Write fields that hold their default value (`0`, `""`, `false`, `[]`).
    #[serde(default)]
    pub emit_defaults: bool,
    /// Write the `.proto` field names (`user_id`) instead of lowerCamelCase (`userId`).
    #[serde(default)]
    pub proto_field_names: bool,
    /// The descriptors, loaded by [`load`](crate::load) or
    /// [`TranscodeConfig::load_descriptors`].
    #[serde(skip)]
    pub descriptors: Option<DescriptorPool>,
}

fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

impl TranscodeConfig {
    /// Compiles `proto_files` or reads `descriptor_set`. Blocks on file I/O.
    ///
    /// # Errors
    ///
    /// One line saying which file cannot be read or compiled, or that the descriptors
    /// define no service.
    pub fn load_descriptors(&self) -> Result<DescriptorPool, String> {
        let pool = match &self.descriptor_set {
            Some(path) => read_descriptor_set(path)?,
            None => compile_proto_files(&self.proto_files)?,
        };
        if pool.services().len() == 0 {
            return Err("the descriptors define no service to call".to_owned());
        }
        Ok(pool)
    }

    /// The configuration key the descriptors come from, for errors.
    pub fn descriptors_key(&self) -> &'static str {
        if self.descriptor_set.is_some() {
            "descriptor_set"
        } else {
            "proto_files"
        }
    }
}
