//! Messages to and from JSON by the proto3 JSON mapping (prost-reflect's): int64 and
//! uint64 as strings (numbers accepted), bytes as base64, enums by name (numbers
//! accepted), and the well-known types in their special forms.

use std::fmt;

use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};

use crate::{Binding, Method};

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
        if json.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let mut json = serde_json::Deserializer::from_slice(json);
        let message = self.read_request(&mut json, options)?;
        json.end().map_err(|error| JsonError {
            path: String::new(),
            message: error.to_string(),
        })?;
        Ok(message.encode_to_vec())
    }

    /// The request message in `json` (assembled from a body, a path and a query),
    /// encoded as protobuf.
    pub(crate) fn request_from_value(
        &self,
        json: serde_json::Value,
        options: JsonOptions,
    ) -> Result<Vec<u8>, JsonError> {
        Ok(self.read_request(json, options)?.encode_to_vec())
    }

    fn read_request<'de, D: serde::Deserializer<'de>>(
        &self,
        json: D,
        options: JsonOptions,
    ) -> Result<DynamicMessage, JsonError> {
        let read = DeserializeOptions::new().deny_unknown_fields(!options.allow_unknown_fields);
        let mut track = serde_path_to_error::Track::new();
        let tracked = serde_path_to_error::Deserializer::new(json, &mut track);
        DynamicMessage::deserialize_with_options(self.descriptor().input(), tracked, &read).map_err(
            |error| JsonError {
                path: track.path().to_string(),
                message: error.to_string(),
            },
        )
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
        let message = self.decode_reply(protobuf)?;
        let mut json = serde_json::Serializer::new(Vec::with_capacity(protobuf.len() * 2));
        message
            .serialize_with_options(&mut json, &write_options(options))
            .map_err(|error| format!("the reply cannot be written as JSON: {error}"))?;
        Ok(json.into_inner())
    }

    fn decode_reply(&self, protobuf: &[u8]) -> Result<DynamicMessage, String> {
        DynamicMessage::decode(self.descriptor().output(), protobuf)
            .map_err(|error| format!("the reply is not a valid message: {error}"))
    }
}

fn write_options(options: JsonOptions) -> SerializeOptions {
    SerializeOptions::new()
        .skip_default_fields(!options.emit_defaults)
        .use_proto_field_name(options.proto_field_names)
}

impl Binding {
    /// The reply message in `protobuf` written as JSON: the whole message, or the field
    /// the binding's `response_body` names (its default value when unset).
    ///
    /// # Errors
    ///
    /// As [`Method::response_to_json`].
    pub fn response_to_json(
        &self,
        protobuf: &[u8],
        options: JsonOptions,
    ) -> Result<Vec<u8>, String> {
        let Some(field) = &self.response_body else {
            return self.method().response_to_json(protobuf, options);
        };
        let to_value = |message: &DynamicMessage, write: &SerializeOptions| {
            message
                .serialize_with_options(serde_json::value::Serializer, write)
                .map_err(|error| format!("the reply cannot be written as JSON: {error}"))
        };
        let key = if options.proto_field_names {
            field.name()
        } else {
            field.json_name()
        };
        let message = self.method().decode_reply(protobuf)?;
        let mut json = to_value(&message, &write_options(options))?;
        let selected = match json.get_mut(key) {
            Some(value) => value.take(),
            None => {
                let defaults = write_options(options).skip_default_fields(false);
                let empty = DynamicMessage::new(self.method().descriptor().output());
                to_value(&empty, &defaults)?
                    .get_mut(key)
                    .map(serde_json::Value::take)
                    .unwrap_or_default()
            }
        };
        serde_json::to_vec(&selected)
            .map_err(|error| format!("the reply cannot be written as JSON: {error}"))
    }
}

#[cfg(test)]
mod tests;
