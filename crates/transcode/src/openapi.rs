//! An OpenAPI 3.1 document of a route's HTTP API: a path item per template, an operation
//! per binding, and a JSON Schema per message by the proto3 JSON mapping, described by the
//! `.proto` comments.

mod schema;

use std::collections::{HashMap, HashSet};

use http::Method as HttpMethod;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, ServiceDescriptor};
use serde_json::{json, Map, Value};

use crate::api::BodyTarget;
use crate::field_path::is_text_settable;
use crate::path_template::PathParameter;
use crate::{Binding, HttpApi, JsonOptions};
use schema::{comment, describe, schema_ref, status_schema, well_known_schema, Schemas};

/// What the document says about the API, and how the route writes its messages.
#[derive(Clone, Debug, Default)]
pub struct OpenApiOptions {
    /// `info.title`.
    pub title: String,
    /// `info.version`: the API's version, not OpenAPI's.
    pub version: String,
    /// The route's JSON mapping: with `proto_field_names` the properties and query
    /// parameters have their `.proto` names, else their lowerCamelCase JSON names.
    pub json: JsonOptions,
}

/// The error body of every operation, which `status_json` writes.
const STATUS: &str = "google.rpc.Status";

/// How deep query parameters reach into singular message fields: `a.b.c` at most.
const MAX_QUERY_DEPTH: usize = 3;

/// The HTTP methods an OpenAPI 3.1 path item has operations for.
const OPERATION_VERBS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The OpenAPI 3.1.0 document of every binding of `api`, with a schema in
/// `components.schemas` for each message an operation reaches, keyed by its full name.
/// Pure: it reads the descriptors (and their comments, when they have source code info)
/// and cannot fail.
///
/// A variable is one path parameter named by its field path, however many segments it
/// spans (`{name=shelves/*/books/*}` is `{name}`); its description says which.
///
/// OpenAPI cannot say everything a binding can: a binding whose verb has no OpenAPI
/// operation (a `custom` verb such as `LIST`), or whose path and verb an earlier binding
/// already describes (templates that differ only inside a multi-segment variable), is
/// left out and listed with the reason under `x-yardmaster-unlisted`.
pub fn openapi(api: &HttpApi, options: &OpenApiOptions) -> Value {
    let mut document = Document {
        schemas: Schemas::new(options.json),
        paths: Map::new(),
        shapes: HashMap::new(),
        operation_ids: HashSet::new(),
        tags: Vec::new(),
        unlisted: Vec::new(),
    };
    for binding in api.bindings() {
        document.add(binding);
    }
    let mut schemas = document.schemas.finish();
    schemas.insert(STATUS.to_owned(), status_schema());
    let mut root = Map::new();
    root.insert("openapi".to_owned(), json!("3.1.0"));
    let info = json!({"title": options.title, "version": options.version});
    root.insert("info".to_owned(), info);
    root.insert("tags".to_owned(), Value::Array(document.tags));
    root.insert("paths".to_owned(), Value::Object(document.paths));
    root.insert("components".to_owned(), json!({ "schemas": schemas }));
    if !document.unlisted.is_empty() {
        let unlisted = Value::Array(document.unlisted);
        root.insert("x-yardmaster-unlisted".to_owned(), unlisted);
    }
    Value::Object(root)
}

/// The document as it is built, binding by binding.
struct Document {
    schemas: Schemas,
    paths: Map<String, Value>,
    /// For each path shape (`/v1/{}/books`), the path it is written as and its
    /// parameters' names: OpenAPI forbids two paths that differ only in parameter names,
    /// so later templates of the same shape join the first one's path item.
    shapes: HashMap<String, (String, Vec<String>)>,
    operation_ids: HashSet<String>,
    tags: Vec<Value>,
    unlisted: Vec<Value>,
}

impl Document {
    fn add(&mut self, binding: &Binding) {
        let verb = binding.verb().as_str().to_ascii_lowercase();
        if !OPERATION_VERBS.contains(&verb.as_str()) {
            self.unlist(binding, "OpenAPI 3.1 has no operations of this verb");
            return;
        }
        let (path, parameters) = binding.template().openapi_path();
        let own_names = parameters.iter().map(|p| p.name.clone()).collect();
        let (key, names) = self
            .shapes
            .entry(shape(&path))
            .or_insert_with(|| (path, own_names))
            .clone();
        if self
            .paths
            .get(&key)
            .and_then(|item| item.get(&verb))
            .is_some()
        {
            let reason = format!("{} {key} already describes this path", binding.verb());
            self.unlist(binding, &reason);
            return;
        }
        let operation = self.operation(binding, &parameters, &names);
        if let Value::Object(item) = self
            .paths
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()))
        {
            item.insert(verb, operation);
        }
    }

    fn unlist(&mut self, binding: &Binding, reason: &str) {
        let method = binding.method().descriptor().full_name().to_owned();
        let line = format!(
            "{} {} ({method}): {reason}",
            binding.verb(),
            binding.template()
        );
        self.unlisted.push(Value::String(line));
    }

    /// The operation of `binding`, its path parameters named `names` (the path item's).
    fn operation(&mut self, binding: &Binding, path: &[PathParameter], names: &[String]) -> Value {
        let method = binding.method().descriptor();
        let service = method.parent_service();
        let mut operation = Map::new();
        operation.insert("operationId".to_owned(), json!(self.operation_id(binding)));
        operation.insert("tags".to_owned(), json!([service.full_name()]));
        if let Some(text) = comment(&method.parent_file(), method.path()) {
            let (summary, description) = match text.split_once("\n\n") {
                Some((summary, description)) => (summary, Some(description)),
                None => (text.as_str(), None),
            };
            operation.insert("summary".to_owned(), json!(summary.replace('\n', " ")));
            if let Some(description) = description {
                operation.insert("description".to_owned(), json!(description));
            }
        }
        let mut parameters: Vec<Value> = path
            .iter()
            .zip(names)
            .map(|(parameter, name)| self.path_parameter(binding, parameter, name))
            .collect();
        parameters.extend(self.query_parameters(binding));
        if !parameters.is_empty() {
            operation.insert("parameters".to_owned(), Value::Array(parameters));
        }
        if let Some(body) = self.request_body(binding) {
            operation.insert("requestBody".to_owned(), body);
        }
        operation.insert("responses".to_owned(), self.responses(binding));
        self.tag(service);
        Value::Object(operation)
    }

    /// Adds the service's tag, described by its comment, unless it has one.
    fn tag(&mut self, service: &ServiceDescriptor) {
        let name = service.full_name();
        if self
            .tags
            .iter()
            .any(|tag| tag.get("name") == Some(&json!(name)))
        {
            return;
        }
        let mut tag = json!({ "name": name });
        describe(&mut tag, comment(&service.parent_file(), service.path()));
        self.tags.push(tag);
    }

    /// `Service_Method`, with `_2`, `_3`... for the method's other bindings.
    fn operation_id(&mut self, binding: &Binding) -> String {
        let method = binding.method().descriptor();
        let base = format!("{}_{}", method.parent_service().name(), method.name());
        let id = std::iter::once(base.clone())
            .chain((2_u32..).map(|n| format!("{base}_{n}")))
            .find(|id| !self.operation_ids.contains(id))
            .unwrap_or(base);
        self.operation_ids.insert(id.clone());
        id
    }

    fn path_parameter(
        &mut self,
        binding: &Binding,
        parameter: &PathParameter,
        name: &str,
    ) -> Value {
        let field = parameter
            .variable
            .and_then(|i| binding.variables.get(i))
            .and_then(|fields| fields.last());
        let mut notes = Vec::new();
        let schema = match field {
            Some(field) => {
                notes.extend(comment(&field.parent_file(), field.path()));
                if parameter.name != name {
                    notes.push(format!("Sets the field `{}`.", parameter.name));
                }
                self.schemas.text_schema(field)
            }
            None => {
                notes.push("Not read into the request.".to_owned());
                json!({"type": "string"})
            }
        };
        if parameter.segments != "*" {
            notes.push(format!(
                "The value spans `{}` of the path (`*` is one segment, `**` the rest of the \
                 path), `/` included. OpenAPI path parameters cannot contain `/`: a client \
                 that escapes it as `%2F` sends another value, so write this one into the \
                 path as it is.",
                parameter.segments
            ));
        }
        let mut object = json!({"name": name, "in": "path", "required": true, "schema": schema});
        describe(&mut object, (!notes.is_empty()).then(|| notes.join("\n\n")));
        object
    }

    /// The fields neither the path nor the body sets, as the query sets them: scalars,
    /// enums and well-known types written as strings, repeated ones by repeating the
    /// parameter, and the same inside singular message fields with dotted names.
    fn query_parameters(&mut self, binding: &Binding) -> Vec<Value> {
        let mut parameters = Vec::new();
        if !matches!(binding.body, BodyTarget::Whole) {
            let input = binding.method().descriptor().input();
            let mut walk = QueryWalk {
                binding,
                prefix: Vec::new(),
                messages: vec![input.full_name().to_owned()],
                parameters: &mut parameters,
            };
            walk.message(&input, &mut self.schemas);
        }
        parameters
    }

    fn request_body(&mut self, binding: &Binding) -> Option<Value> {
        let method = binding.method().descriptor();
        let schema = match &binding.body {
            BodyTarget::None => return None,
            BodyTarget::Whole => self.schemas.message_ref(&method.input()),
            BodyTarget::Field(field) => self.schemas.field_schema(field),
        };
        Some(if binding.method().is_client_streaming() {
            json!({
                "description": "One request message per line (NDJSON), each sent as it arrives.",
                "content": {"application/x-ndjson": {"schema": schema}},
            })
        } else {
            json!({"content": {"application/json": {"schema": schema}}})
        })
    }

    fn responses(&mut self, binding: &Binding) -> Value {
        let method = binding.method();
        let output = method.descriptor().output();
        let status = json!({ "$ref": schema_ref(STATUS) });
        let reply = match &binding.response_body {
            _ if *binding.verb() == HttpMethod::HEAD => None,
            Some(field) => Some(self.schemas.field_schema(field)),
            None => Some(self.schemas.message_ref(&output)),
        };
        let ok = match reply {
            None => json!({"description": "Success; a HEAD response has no body."}),
            Some(reply) if method.is_server_streaming() => json!({
                "description": format!("A stream of {}, each as it arrives.", output.full_name()),
                "content": stream_content(reply, status.clone()),
            }),
            Some(reply) => json!({
                "description": match &binding.response_body {
                    Some(field) => format!("The `{}` of a {}.", field.name(), output.full_name()),
                    None => format!("A {}.", output.full_name()),
                },
                "content": {"application/json": {"schema": reply}},
            }),
        };
        json!({
            "200": ok,
            "default": {
                "description": "The call failed: its gRPC status.",
                "content": {"application/json": {"schema": status}},
            },
        })
    }
}

/// A reply stream's two formats, as `StreamFormat` writes them.
fn stream_content(reply: Value, status: Value) -> Value {
    const NDJSON: &str = "One line per reply, `{\"result\": reply}`; a stream that fails \
                          ends with `{\"error\": status}`.";
    const EVENTS: &str = "One `data: <reply JSON>` event per reply; a stream that fails ends \
                          with an `error` event whose data is a google.rpc.Status.";
    json!({
        "application/x-ndjson": {"schema": {
            "type": "object",
            "description": NDJSON,
            "properties": {"result": reply, "error": status},
        }},
        "text/event-stream": {"schema": {"type": "string", "description": EVENTS}},
    })
}

/// A path with its parameters' names left out, `/v1/{}/books`: two paths of one shape are
/// the same path to OpenAPI.
fn shape(path: &str) -> String {
    let mut shape = String::with_capacity(path.len());
    let mut in_name = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_name = true;
                shape.push('{');
            }
            '}' => {
                in_name = false;
                shape.push('}');
            }
            _ if in_name => {}
            _ => shape.push(c),
        }
    }
    shape
}

/// The query parameters of one binding, field by field through the request message.
struct QueryWalk<'b, 'p> {
    binding: &'b Binding,
    /// The fields from the request message down to the current one.
    prefix: Vec<FieldDescriptor>,
    /// The messages being walked, so that a recursive message stops the walk.
    messages: Vec<String>,
    parameters: &'p mut Vec<Value>,
}

impl QueryWalk<'_, '_> {
    fn message(&mut self, message: &MessageDescriptor, schemas: &mut Schemas) {
        for field in message.fields() {
            let is_body = matches!(&self.binding.body, BodyTarget::Field(body) if *body == field);
            if self.prefix.is_empty() && is_body {
                continue;
            }
            self.prefix.push(field.clone());
            self.field(&field, schemas);
            self.prefix.pop();
        }
    }

    /// The parameters of `field`, the last of `prefix`.
    fn field(&mut self, field: &FieldDescriptor, schemas: &mut Schemas) {
        if field.is_map() || self.binding.variables.contains(&self.prefix) {
            return;
        }
        if is_text_settable(field) {
            let names: Vec<&str> = self
                .prefix
                .iter()
                .map(|f| schemas.property_name(f))
                .collect();
            let mut parameter = json!({
                "name": names.join("."),
                "in": "query",
                "schema": schemas.text_schema(field),
            });
            describe(&mut parameter, comment(&field.parent_file(), field.path()));
            self.parameters.push(parameter);
            return;
        }
        let Kind::Message(inner) = field.kind() else {
            return;
        };
        // A well-known type with a JSON form of its own (`Any`, `Struct`) is not set
        // field by field.
        let name = inner.full_name().to_owned();
        if field.is_list()
            || well_known_schema(&inner).is_some()
            || self.prefix.len() >= MAX_QUERY_DEPTH
            || self.messages.contains(&name)
        {
            return;
        }
        self.messages.push(name);
        self.message(&inner, schemas);
        self.messages.pop();
    }
}

#[cfg(test)]
mod tests;
