//! Descriptors from an upstream's gRPC server reflection (`grpc.reflection.v1`, or
//! `v1alpha` for servers that only have the old name; the messages are the same): the
//! requests to send, and the replies gathered into a descriptor pool. The calls
//! themselves are the caller's (the `transcode` action sends them to its cluster).

use std::collections::BTreeMap;

use prost::Message as _;
use prost_reflect::prost_types::FileDescriptorProto;
use prost_reflect::DescriptorPool;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

/// The reflection method, by the name servers have it under, newest first.
pub const REFLECTION_PATHS: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Services a server reflects about itself, never transcoded.
const OWN_SERVICES: [&str; 2] = ["grpc.reflection.", "grpc.health."];

/// Most rounds of asking for missing imports: the depth of an import chain.
pub const MAX_IMPORT_ROUNDS: usize = 16;

/// How a route's descriptors from server reflection have gone, for the admin API.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReflectionStatus {
    /// The listener of the route.
    pub listener: String,
    /// The route.
    pub route: String,
    /// The cluster whose reflection is asked.
    pub cluster: String,
    /// The services of the descriptors in use; empty until a fetch has succeeded.
    pub services: Vec<String>,
    /// How many bindings (verb and path) the descriptors in use give.
    pub bindings: usize,
    /// When the descriptors in use were fetched, in seconds since the Unix epoch.
    pub loaded_at: Option<u64>,
    /// Why the last fetch failed, when it did (the last good descriptors stay in use).
    pub last_error: Option<String>,
    /// When the last fetch failed, in seconds since the Unix epoch.
    pub failed_at: Option<u64>,
    /// Failed fetches since the gateway started.
    pub failures: u64,
}

/// A reflection request, encoded.
fn request(message: MessageRequest) -> Vec<u8> {
    ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    }
    .encode_to_vec()
}

/// Asks for the names of the server's services.
pub fn list_services() -> Vec<u8> {
    request(MessageRequest::ListServices(String::new()))
}

/// Asks for the file that defines `symbol` (a service), with its imports.
pub fn file_containing_symbol(symbol: &str) -> Vec<u8> {
    request(MessageRequest::FileContainingSymbol(symbol.to_owned()))
}

/// Asks for the file called `name`.
pub fn file_by_filename(name: &str) -> Vec<u8> {
    request(MessageRequest::FileByFilename(name.to_owned()))
}

/// What the replies have told so far: the services and the files.
#[derive(Debug, Default)]
pub struct Reflected {
    services: Vec<String>,
    /// Each file as the server encoded it (prost's `FileDescriptorProto` would drop the
    /// extension options, `google.api.http` among them), with its imports.
    files: BTreeMap<String, ReflectedFile>,
}

#[derive(Debug)]
struct ReflectedFile {
    encoded: Vec<u8>,
    imports: Vec<String>,
}

impl Reflected {
    /// Takes in one reply message.
    ///
    /// # Errors
    ///
    /// A reply that does not decode, or the server's error for a request.
    pub fn take_reply(&mut self, reply: &[u8]) -> Result<(), String> {
        let reply = ServerReflectionResponse::decode(reply)
            .map_err(|error| format!("a reflection reply does not decode: {error}"))?;
        match reply.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                self.services
                    .extend(list.service.into_iter().map(|s| s.name));
            }
            Some(MessageResponse::FileDescriptorResponse(files)) => {
                for encoded in files.file_descriptor_proto {
                    let file =
                        FileDescriptorProto::decode(encoded.as_slice()).map_err(|error| {
                            format!("a reflected file descriptor does not decode: {error}")
                        })?;
                    let imports = file.dependency;
                    let name = file.name.unwrap_or_default();
                    self.files.insert(name, ReflectedFile { encoded, imports });
                }
            }
            Some(MessageResponse::ErrorResponse(error)) => {
                let asked = match reply.original_request.and_then(|r| r.message_request) {
                    Some(MessageRequest::FileByFilename(name)) => format!("file {name:?}"),
                    Some(MessageRequest::FileContainingSymbol(name)) => format!("symbol {name:?}"),
                    _ => "a request".to_owned(),
                };
                return Err(format!(
                    "the server's reflection has no {asked}: {} (code {})",
                    error.error_message, error.error_code
                ));
            }
            Some(MessageResponse::AllExtensionNumbersResponse(_)) | None => {}
        }
        Ok(())
    }

    /// The services to transcode: those listed, less the server's own (reflection,
    /// health).
    pub fn services(&self) -> Vec<String> {
        self.services
            .iter()
            .filter(|name| !OWN_SERVICES.iter().any(|own| name.starts_with(own)))
            .cloned()
            .collect()
    }

    /// Imports of the files so far that are neither among them nor well-known types.
    pub fn missing_imports(&self) -> Vec<String> {
        let global = DescriptorPool::global();
        let mut missing: Vec<String> = self
            .files
            .values()
            .flat_map(|file| file.imports.iter())
            .filter(|name| !self.files.contains_key(*name))
            .filter(|name| global.get_file_by_name(name).is_none())
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// The descriptors of every file, with the well-known types the server left out.
    ///
    /// # Errors
    ///
    /// Files that do not form a consistent set (a type referenced but not defined).
    pub fn into_pool(self) -> Result<DescriptorPool, String> {
        let global = DescriptorPool::global();
        let mut pending: Vec<(String, ReflectedFile)> = Vec::new();
        for name in self.files.values().flat_map(|file| file.imports.iter()) {
            if self.files.contains_key(name) || pending.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(file) = global.get_file_by_name(name) {
                let proto = file.file_descriptor_proto();
                let imports = proto.dependency.clone();
                let encoded = proto.encode_to_vec();
                pending.push((name.clone(), ReflectedFile { encoded, imports }));
            }
        }
        pending.extend(self.files);
        // Imports before the files that import them.
        let mut pool = DescriptorPool::new();
        while !pending.is_empty() {
            let (ready, waiting): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(_, file)| {
                file.imports
                    .iter()
                    .all(|name| pool.get_file_by_name(name).is_some())
            });
            if ready.is_empty() {
                let names: Vec<&str> = waiting.iter().map(|(name, _)| name.as_str()).collect();
                return Err(format!(
                    "the reflected files import each other in a cycle or import files that are missing: {}",
                    names.join(", ")
                ));
            }
            for (name, file) in ready {
                pool.decode_file_descriptor_proto(file.encoded.as_slice())
                    .map_err(|error| {
                        format!("the reflected file {name:?} is inconsistent: {error}")
                    })?;
            }
            pending = waiting;
        }
        Ok(pool)
    }
}

#[cfg(test)]
mod tests;
