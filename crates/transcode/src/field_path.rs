//! Field paths of request messages (`book.name`, `sub.subfield`), as path variables and
//! query parameters name them, and which fields a piece of text can set.

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

/// The fields `path` names from `message`, by `.proto` or JSON name; every field but the
/// last is a singular message.
pub(crate) fn resolve(
    message: &MessageDescriptor,
    path: &[String],
) -> Result<Vec<FieldDescriptor>, String> {
    let mut fields = Vec::with_capacity(path.len());
    let mut current = message.clone();
    let mut names = path.iter().peekable();
    while let Some(name) = names.next() {
        let field = current
            .get_field_by_name(name)
            .or_else(|| current.get_field_by_json_name(name))
            .ok_or_else(|| format!("{} has no field `{name}`", current.full_name()))?;
        if let Some(next) = names.peek() {
            current = match field.kind() {
                Kind::Message(inner) if !field.is_list() && !field.is_map() => inner,
                _ => {
                    return Err(format!(
                        "`{name}` is not a message, so it has no field `{next}`"
                    ))
                }
            };
        }
        fields.push(field);
    }
    Ok(fields)
}

/// Whether a path segment or a query value can spell the field's value: a scalar, an
/// enum, or a well-known type whose JSON form is a string or a scalar.
pub(crate) fn is_text_settable(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Message(message) => string_form(&message).is_some(),
        _ => true,
    }
}

/// For a well-known type written as a scalar in JSON, the kind of that scalar.
pub(crate) fn string_form(message: &MessageDescriptor) -> Option<Kind> {
    match message.full_name() {
        "google.protobuf.Timestamp"
        | "google.protobuf.Duration"
        | "google.protobuf.FieldMask"
        | "google.protobuf.Value" => Some(Kind::String),
        "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => message.get_field_by_name("value").map(|f| f.kind()),
        _ => None,
    }
}
