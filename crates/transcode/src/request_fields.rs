//! Request fields from the path and the query: field paths resolved against the request
//! message, text values turned into the JSON the proto3 mapping reads, and the request
//! assembled as one JSON object from the body, the path variables and the query.

use prost_reflect::{FieldDescriptor, Kind};
use serde_json::{Map, Value};

use crate::api::{BodyTarget, Matched};
use crate::field_path::{resolve, string_form};
use crate::path_template::percent_decode;
use crate::{JsonError, JsonOptions};

/// The JSON the proto3 mapping reads for `text` in a field of `kind`: `true`/`false`
/// for booleans, a number for an enum given by number, a string otherwise (the mapping
/// reads quoted numbers, and well-known types in their string forms).
fn text_value(kind: &Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{text:?} is not true or false")),
        },
        Kind::Enum(_) => Ok(text
            .parse::<i32>()
            .map_or_else(|_| Value::String(text.to_owned()), Value::from)),
        Kind::Message(message) => match string_form(message) {
            Some(Kind::Message(_)) | None => Err(format!(
                "a {} cannot be written in a path or a query",
                message.full_name()
            )),
            Some(inner) => text_value(&inner, text),
        },
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// Sets `value` at the field path `fields` of `root`, creating the messages on the way;
/// with `append`, adds it to the repeated field's list instead. A field the body wrote
/// under its JSON name is moved to its `.proto` name first, so that it is not set twice.
fn set(
    root: &mut Map<String, Value>,
    fields: &[FieldDescriptor],
    value: Value,
    append: bool,
) -> Result<(), String> {
    let Some((leaf, parents)) = fields.split_last() else {
        return Ok(());
    };
    let mut object = root;
    for field in parents {
        let key = canonical_key(object, field);
        let entry = object
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        object = entry
            .as_object_mut()
            .ok_or_else(|| format!("`{}` in the body is not an object", field.name()))?;
    }
    let key = canonical_key(object, leaf);
    if append {
        match object
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(items) => items.push(value),
            _ => return Err(format!("`{}` in the body is not a list", leaf.name())),
        }
    } else {
        object.insert(key, value);
    }
    Ok(())
}

/// The field's `.proto` name, after moving a value the body wrote under its JSON name.
fn canonical_key(object: &mut Map<String, Value>, field: &FieldDescriptor) -> String {
    let name = field.name();
    if field.json_name() != name {
        if let Some(value) = object.remove(field.json_name()) {
            object.entry(name.to_owned()).or_insert(value);
        }
    }
    name.to_owned()
}

/// A query string's `+` and `%XX` decoded, refusing bad escapes and non-UTF-8.
fn decode_query(text: &str) -> Result<String, String> {
    percent_decode(&text.replace('+', " "), false)
}

fn error(path: impl Into<String>, message: impl Into<String>) -> JsonError {
    JsonError {
        path: path.into(),
        message: message.into(),
    }
}

impl Matched {
    /// The request message, encoded as protobuf, from the body as the binding says, the
    /// path variables and `query` (fields by `.proto` or JSON name, nested with `.`, a
    /// repeated field by repeating the parameter). A path variable wins over the body.
    ///
    /// # Errors
    ///
    /// Malformed JSON, a value of the wrong type, a body on a binding that takes none,
    /// or a query parameter the message does not have (unless unknown fields are
    /// allowed); the error names the field path or parameter.
    pub fn request(
        &self,
        query: Option<&str>,
        body: &[u8],
        options: JsonOptions,
    ) -> Result<Vec<u8>, JsonError> {
        let binding = &*self.binding;
        let method = binding.method();
        let query = query.filter(|q| !q.is_empty());
        if binding.is_plain() && query.is_none() {
            return method.request_from_json(body, options);
        }
        let blank = body.iter().all(u8::is_ascii_whitespace);
        let parse = || serde_json::from_slice::<Value>(body).map_err(|e| error("", e.to_string()));
        let mut root = match &binding.body {
            BodyTarget::Whole if blank => Map::new(),
            BodyTarget::Whole => match parse()? {
                Value::Object(object) => object,
                _ => return Err(error("", "the body must be a JSON object")),
            },
            BodyTarget::Field(field) => {
                let mut root = Map::new();
                if !blank {
                    root.insert(field.name().to_owned(), parse()?);
                }
                root
            }
            BodyTarget::None if blank => Map::new(),
            BodyTarget::None => {
                let message = "this path takes no body; the request's fields come from the path and the query";
                return Err(error("", message));
            }
        };
        for (fields, value) in binding.variables.iter().zip(&self.values) {
            let shown = show(fields);
            let leaf_kind = fields.last().map(FieldDescriptor::kind);
            let json = leaf_kind
                .map_or(Ok(Value::Null), |kind| text_value(&kind, value))
                .map_err(|message| error(shown.as_str(), message))?;
            set(&mut root, fields, json, false).map_err(|message| error(shown, message))?;
        }
        let input = method.descriptor().input();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_query(name).map_err(|message| error("", message))?;
            let value = decode_query(value).map_err(|message| error(name.as_str(), message))?;
            if matches!(binding.body, BodyTarget::Whole) {
                if options.allow_unknown_fields {
                    continue;
                }
                let message = "query parameters are not read: the body holds the whole request";
                return Err(error(name, message));
            }
            let path: Vec<String> = name.split('.').map(str::to_owned).collect();
            let fields = match resolve(&input, &path) {
                Ok(fields) => fields,
                Err(_) if options.allow_unknown_fields => continue,
                Err(message) => return Err(error(name, message)),
            };
            if binding.variables.contains(&fields) {
                continue;
            }
            if let (BodyTarget::Field(body), Some(first)) = (&binding.body, fields.first()) {
                if body == first {
                    let message = format!("`{}` comes from the body", body.name());
                    return Err(error(name, message));
                }
            }
            let Some(leaf) = fields.last() else {
                continue;
            };
            if leaf.is_map() {
                return Err(error(name, "a map field cannot be set from the query"));
            }
            let json = text_value(&leaf.kind(), &value).map_err(|m| error(name.as_str(), m))?;
            set(&mut root, &fields, json, leaf.is_list()).map_err(|m| error(name, m))?;
        }
        method.request_from_value(Value::Object(root), options)
    }
}

fn show(fields: &[FieldDescriptor]) -> String {
    let names: Vec<&str> = fields.iter().map(FieldDescriptor::name).collect();
    names.join(".")
}

#[cfg(test)]
mod tests;
