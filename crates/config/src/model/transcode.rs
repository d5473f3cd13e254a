//! The `transcode` route action: HTTP/JSON requests become gRPC calls to a cluster, by
//! descriptors loaded at startup.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use yardmaster_transcode::{DescriptorPool, HttpApi, HttpRule, JsonOptions};

use crate::descriptors::{compile_proto_files, read_descriptor_set};
use crate::duration;
use crate::model::DEFAULT_MAX_MESSAGE_BYTES;

/// The `transcode` action: HTTP/JSON requests call methods on `cluster` by the methods'
/// `google.api.http` bindings (annotations, or `http_rules`), or at
/// `POST /package.Service/Method` with a JSON body, and replies come back as JSON.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TranscodeConfig {
    /// The `grpc` cluster that serves the methods.
    pub cluster: String,
    /// `.proto` files that define the services, compiled at startup (no `protoc`).
    /// Relative paths are relative to the configuration file; each file's directory is an
    /// import root. Exactly one of `proto_files`, `descriptor_set` and `reflection`.
    #[serde(default)]
    pub proto_files: Vec<PathBuf>,
    /// A `FileDescriptorSet` with imports (`protoc --include_imports
    /// --descriptor_set_out`, `buf build -o`), instead of `proto_files`.
    #[serde(default)]
    pub descriptor_set: Option<PathBuf>,
    /// Descriptors from the cluster's gRPC server reflection, fetched at startup and
    /// again every `refresh`, instead of files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reflection: Option<ReflectionConfig>,
    /// HTTP bindings for methods, written as `google.api.http` rules with a `selector`
    /// (`package.Service.Method`); a method's rule here replaces its annotation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_rules: Vec<HttpRule>,
    /// Methods without a rule answer `POST /package.Service/Method` with a JSON body.
    #[serde(default = "yes")]
    pub post_grpc_paths: bool,
    /// Serve an OpenAPI 3.1 document of the route's bindings at a path of the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<OpenApiConfig>,
    /// Request headers passed to the upstream as gRPC metadata: names, or prefixes ending
    /// in `*`. `Grpc-Metadata-<name>` headers always pass, as `<name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward_headers: Vec<String>,
    /// A request header that sets the call's deadline as a duration (`250ms`, `2s`),
    /// besides `grpc-timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_header: Option<String>,
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
    /// The bindings, built from the descriptors and rules by [`load`](crate::load) or
    /// [`TranscodeConfig::build_api`].
    #[serde(skip)]
    pub api: Option<HttpApi>,
}

/// Where a `transcode` route serves the OpenAPI document of its bindings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiConfig {
    /// The path that answers `GET` with the document, such as `/openapi.json`.
    pub path: String,
    /// `info.title`; the route's name by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `info.version`, the API's version.
    #[serde(default = "default_api_version")]
    pub version: String,
}

fn default_api_version() -> String {
    "1.0.0".to_owned()
}

/// Where `reflection` descriptors come from and how often they are fetched again.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReflectionConfig {
    /// How often the descriptors are fetched again; a failed fetch keeps the last good
    /// ones.
    #[serde(default = "default_refresh", with = "duration")]
    pub refresh: Duration,
}

fn default_refresh() -> Duration {
    Duration::from_secs(300)
}

fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

fn yes() -> bool {
    true
}

impl TranscodeConfig {
    /// Compiles `proto_files` or reads `descriptor_set`, and binds the methods by
    /// `http_rules` and the annotations. Blocks on file I/O.
    ///
    /// # Errors
    ///
    /// The key under the action (`proto_files`, `http_rules[2]`) and one line: which file
    /// cannot be read or compiled, that the descriptors define no service, or what is
    /// wrong with a rule (two bindings of one verb and path name both).
    pub fn build_api(&self) -> Result<HttpApi, (String, String)> {
        let descriptors = |message| (self.descriptors_key().to_owned(), message);
        let pool = match &self.descriptor_set {
            Some(path) => read_descriptor_set(path),
            None => compile_proto_files(&self.proto_files),
        }
        .map_err(descriptors)?;
        self.bind(pool).map_err(|(key, message)| {
            let key = key.unwrap_or_else(|| self.descriptors_key().to_owned());
            (key, message)
        })
    }

    /// Binds the methods of `pool` (from files or server reflection) by `http_rules` and
    /// the annotations.
    ///
    /// # Errors
    ///
    /// The `http_rules[i]` key when a rule is at fault (`None` when the descriptors are:
    /// no service, a bad annotation), and one line.
    pub fn bind(&self, pool: DescriptorPool) -> Result<HttpApi, (Option<String>, String)> {
        if pool.services().len() == 0 {
            return Err((None, "the descriptors define no service to call".to_owned()));
        }
        HttpApi::new(pool, &self.http_rules, self.post_grpc_paths).map_err(|error| {
            let key = error.rule.map(|i| format!("http_rules[{i}]"));
            (key, error.message)
        })
    }

    /// How the route maps messages to and from JSON.
    pub fn json_options(&self) -> JsonOptions {
        JsonOptions {
            allow_unknown_fields: self.allow_unknown_fields,
            emit_defaults: self.emit_defaults,
            proto_field_names: self.proto_field_names,
        }
    }

    /// The configuration key the descriptors come from, for errors.
    fn descriptors_key(&self) -> &'static str {
        if self.descriptor_set.is_some() {
            "descriptor_set"
        } else {
            "proto_files"
        }
    }
}
