//! Messages to and from JSON by the proto3 JSON mapping (prost-reflect's): int64 and
//! uint64 as strings (numbers accepted), bytes as base64, enums by name (numbers
//! accepted), and the well-known types in their special forms.

use std::fmt;

use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};

use crate::Method;

/// How a route maps messages to JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Ignore request fields the message does not have, instead of refusing the request.
    pub allow_unknown_fields: bool,
    /// Write fields that hold their default value (`0`, `""`, `false`, empty lists),
    /// which are left out otherwise.
    pub emit_defaults: bool,
    /// Write the `.proto` field names (`user_id`) instead of lowerCamelCase (`userId`).
    /// Requests are read with either.
    pub proto_field_names: bool,
}

/// Why a request body is not the JSON of the method's request message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Where in the body, as a field path (`user.tags[2]`); empty for the body as a whole.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "invalid JSON body: {}", self.message)
        } else {
            write!(f, "invalid JSON body at {}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for JsonError {}

impl Method {
    /// The request message written in `json`, encoded as protobuf. An empty body is the
    /// empty message. Nesting deeper than 128 levels is refused (serde_json's limit).
    ///
    /// # Errors
    ///
    /// When `json` is not JSON, or not the request message's: a wrong type, an unknown
    /// field (unless allowed), a value out of range. The error names the field path.
    pub fn request_from_json(
        &self,
        json: &[u8],
        options: JsonOptions,
    ) -> Result<Vec<u8>, JsonError> {
        let input = self.descriptor().input();
        if json.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let read = DeserializeOptions::new().deny_unknown_fields(!options.allow_unknown_fields);
        let mut json = serde_json::Deserializer::from_slice(json);
        let mut track = serde_path_to_error::Track::new();
        let tracked = serde_path_to_error::Deserializer::new(&mut json, &mut track);
        let message =
            DynamicMessage::deserialize_with_options(input, tracked, &read).map_err(|error| {
                JsonError {
                    path: track.path().to_string(),
                    message: error.to_string(),
                }
            })?;
        json.end().map_err(|error| JsonError {
            path: String::new(),
            message: error.to_string(),
        })?;
        Ok(message.encode_to_vec())
    }

    /// The reply message in `protobuf` written as JSON.
    ///
    /// # Errors
    ///
    /// When `protobuf` is not a valid encoding of the method's reply message, or holds
    /// an `Any` of a type the descriptors do not have.
    pub fn response_to_json(
        &self,
        protobuf: &[u8],
        options: JsonOptions,
    ) -> Result<Vec<u8>, String> {
        let output = self.descriptor().output();
        let message = DynamicMessage::decode(output, protobuf)
            .map_err(|error| format!("the reply is not a valid message: {error}"))?;
        let write = SerializeOptions::new()
            .skip_default_fields(!options.emit_defaults)
            .use_proto_field_name(options.proto_field_names);
        let mut json = serde_json::Serializer::new(Vec::with_capacity(protobuf.len() * 2));
        message
            .serialize_with_options(&mut json, &write)
            .map_err(|error| format!("the reply cannot be written as JSON: {error}"))?;
        Ok(json.into_inner())
    }
}

#[cfg(test)]
mod tests;
