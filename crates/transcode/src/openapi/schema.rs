//! The JSON Schemas of an OpenAPI document: one per message by the proto3 JSON mapping
//! (well-known types in their own forms), described by the `.proto` comments.

use std::collections::HashSet;

use prost_reflect::{FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value};

use crate::JsonOptions;

const WRAPPERS: [&str; 9] = [
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
];

/// The schemas of messages, each in `components.schemas` once however often it is
/// referred to (so recursive messages are `$ref`s to themselves, not endless).
pub(super) struct Schemas {
    json: JsonOptions,
    done: Map<String, Value>,
    referred: HashSet<String>,
    pending: Vec<MessageDescriptor>,
}

impl Schemas {
    pub(super) fn new(json: JsonOptions) -> Schemas {
        Schemas {
            json,
            done: Map::new(),
            referred: HashSet::new(),
            pending: Vec::new(),
        }
    }

    /// Every message referred to, and every message those refer to.
    pub(super) fn finish(mut self) -> Map<String, Value> {
        while let Some(message) = self.pending.pop() {
            let schema = self.message_schema(&message);
            self.done.insert(message.full_name().to_owned(), schema);
        }
        self.done
    }

    pub(super) fn property_name<'f>(&self, field: &'f FieldDescriptor) -> &'f str {
        if self.json.proto_field_names {
            field.name()
        } else {
            field.json_name()
        }
    }

    pub(super) fn message_schema(&mut self, message: &MessageDescriptor) -> Value {
        let mut properties = Map::new();
        for field in message.fields() {
            let name = self.property_name(&field).to_owned();
            properties.insert(name, self.field_schema(&field));
        }
        let mut schema = json!({"type": "object", "properties": properties});
        describe(&mut schema, comment(&message.parent_file(), message.path()));
        schema
    }

    /// A well-known type's own JSON form, or a `$ref` to the message's schema.
    pub(super) fn message_ref(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known_schema(message) {
            return schema;
        }
        let name = message.full_name();
        if self.referred.insert(name.to_owned()) {
            self.pending.push(message.clone());
        }
        json!({ "$ref": schema_ref(name) })
    }

    /// The field's value in the JSON of its message, with its comment as description.
    pub(super) fn field_schema(&mut self, field: &FieldDescriptor) -> Value {
        let mut schema = if field.is_map() {
            let value = match field.kind() {
                Kind::Message(entry) => self.kind_schema(&entry.map_entry_value_field().kind()),
                _ => json!({}),
            };
            json!({"type": "object", "additionalProperties": value})
        } else {
            self.list_or_single(field, |schemas, kind| schemas.kind_schema(kind))
        };
        describe(&mut schema, comment(&field.parent_file(), field.path()));
        schema
    }

    /// The field's value as a path segment or a query parameter spells it: as in JSON,
    /// but a wrapper is never `null` and a `Value` is a string.
    pub(super) fn text_schema(&mut self, field: &FieldDescriptor) -> Value {
        self.list_or_single(field, |schemas, kind| match kind {
            Kind::Message(message) if message.full_name() == "google.protobuf.Value" => {
                json!({"type": "string"})
            }
            Kind::Message(message) if WRAPPERS.contains(&message.full_name()) => message
                .get_field_by_name("value")
                .map_or_else(|| json!({}), |value| scalar_schema(&value.kind())),
            kind => schemas.kind_schema(kind),
        })
    }

    pub(super) fn list_or_single(
        &mut self,
        field: &FieldDescriptor,
        single: impl FnOnce(&mut Schemas, &Kind) -> Value,
    ) -> Value {
        let item = single(self, &field.kind());
        if field.is_list() {
            json!({"type": "array", "items": item})
        } else {
            item
        }
    }

    pub(super) fn kind_schema(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Message(message) => self.message_ref(message),
            kind => scalar_schema(kind),
        }
    }
}

pub(super) fn schema_ref(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

/// Sets the `description` of an object (a schema, a parameter, a tag), if there is one.
pub(super) fn describe(object: &mut Value, description: Option<String>) {
    if let (Some(text), Value::Object(object)) = (description, object) {
        object.insert("description".to_owned(), json!(text));
    }
}

/// A value that is not a message, as the proto3 JSON mapping writes it: 64-bit integers
/// as strings, bytes as base64, enums by name.
pub(super) fn scalar_schema(kind: &Kind) -> Value {
    match kind {
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "uint32"}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": "string", "format": "int64"}),
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => json!({"type": "null"}),
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            json!({"type": "string", "enum": names})
        }
        // Messages have schemas of their own; `Schemas::kind_schema` refers to them.
        Kind::Message(_) => json!({}),
    }
}

/// The JSON form of a well-known type that the proto3 mapping writes its own way.
pub(super) fn well_known_schema(message: &MessageDescriptor) -> Option<Value> {
    let schema = match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
        }
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.Struct" | "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.Any" => any_schema(),
        name if WRAPPERS.contains(&name) => {
            let value = message.get_field_by_name("value")?;
            nullable(scalar_schema(&value.kind()))
        }
        _ => return None,
    };
    Some(schema)
}

/// `schema`, or `null` (a wrapper's unset value).
pub(super) fn nullable(mut schema: Value) -> Value {
    if let Some(kind) = schema.get_mut("type") {
        *kind = json!([kind.take(), "null"]);
    }
    schema
}

pub(super) fn any_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": true,
    })
}

/// The error body, as `status_json` writes it.
pub(super) fn status_schema() -> Value {
    json!({
        "type": "object",
        "description": "The status of a failed call: its gRPC code, message and details.",
        "properties": {
            "code": {"type": "integer", "format": "int32", "description": "The gRPC status code."},
            "message": {"type": "string"},
            "details": {"type": "array", "items": any_schema()},
        },
    })
}

/// The comment before the element at `path` of `file` (or, failing that, after it), one
/// leading space per line and surrounding blank lines trimmed. `None` too when the
/// descriptors have no source code info (a descriptor set written without it, most
/// servers' reflection).
pub(super) fn comment(file: &FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text = location
        .leading_comments
        .as_deref()
        .or(location.trailing_comments.as_deref())?;
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}
