//! The OpenAPI documents of the annotated `testdata/library.proto` (the examples of
//! `google/api/http.proto`), of `testdata/shop.proto` (well-known types, a reply
//! stream) and of a small in-memory proto (request streams, recursive messages).

use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};
use serde_json::{json, Value};

use crate::{
    openapi, CustomPattern, DescriptorPool, HttpApi, HttpRule, JsonOptions, OpenApiOptions,
};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
const GOOGLE_API: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");

/// A test file compiled as a route's `proto_files` are, comments included.
fn pool(file: &str) -> DescriptorPool {
    let mut compiler = protox::Compiler::new([TESTDATA, GOOGLE_API]).unwrap();
    compiler.include_imports(true).include_source_info(true);
    compiler.open_file(file).unwrap();
    compiler.descriptor_pool()
}

/// `stream.proto`, held here: request streams and recursive messages, which neither test
/// file has.
struct StreamProto;

const STREAM_PROTO: &str = r#"
syntax = "proto3";
package test.stream.v1;
import "google/api/annotations.proto";

message Node {
  string label = 1;
  Node child = 2;
  repeated Node children = 3;
  Leaf leaf = 4;
}
message Leaf {
  Twig twig = 1;
  string color = 2;
}
message Twig {
  Bud bud = 1;
  string size = 2;
}
message Bud {
  string scent = 1;
}

service Tree {
  rpc Upload(stream Node) returns (Node);
  rpc Chat(stream Node) returns (stream Node);
  rpc Find(Node) returns (Node) {
    option (google.api.http) = {get: "/v1/nodes/{label}"};
  }
}
"#;

impl FileResolver for StreamProto {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == "stream.proto" {
            File::from_source(name, STREAM_PROTO)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

fn stream_pool() -> DescriptorPool {
    let mut resolver = ChainFileResolver::new();
    resolver.add(StreamProto);
    resolver.add(IncludeFileResolver::new(GOOGLE_API.into()));
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    compiler.open_file("stream.proto").unwrap();
    compiler.descriptor_pool()
}

fn options(json: JsonOptions) -> OpenApiOptions {
    OpenApiOptions {
        title: "Library".to_owned(),
        version: "1.2.0".to_owned(),
        json,
    }
}

fn document(pool: DescriptorPool, rules: &[HttpRule]) -> Value {
    let api = HttpApi::new(pool, rules, true).unwrap();
    openapi(&api, &options(JsonOptions::default()))
}

fn library() -> Value {
    document(pool("library.proto"), &[])
}

/// The operation at `path` for `verb` (lowercase).
fn operation<'d>(document: &'d Value, path: &str, verb: &str) -> &'d Value {
    let operation = &document["paths"][path][verb];
    assert!(
        operation.is_object(),
        "no {verb} {path} in {:#}",
        document["paths"]
    );
    operation
}

/// The operation's parameters of `location` (`path` or `query`) by name.
fn parameters(operation: &Value, location: &str) -> Vec<(String, Value)> {
    let all = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    all.into_iter()
        .filter(|p| p["in"] == location)
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p))
        .collect()
}

fn parameter(operation: &Value, location: &str, name: &str) -> Value {
    let found = parameters(operation, location)
        .into_iter()
        .find(|(n, _)| n == name);
    found
        .unwrap_or_else(|| panic!("no {location} parameter {name} in {operation:#}"))
        .1
}

fn names(parameters: &[(String, Value)]) -> Vec<&str> {
    parameters.iter().map(|(name, _)| name.as_str()).collect()
}

fn schema(document: &Value, name: &str) -> Value {
    let schema = document["components"]["schemas"][name].clone();
    assert!(schema.is_object(), "no schema {name}");
    schema
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(operation: &Value) -> &Value {
    &operation["requestBody"]["content"]["application/json"]["schema"]
}

fn ok_body<'o>(operation: &'o Value, media: &str) -> &'o Value {
    &operation["responses"]["200"]["content"][media]["schema"]
}

#[test]
fn document_is_openapi_3_1_with_info_and_a_tag_per_service() {
    let document = library();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["info"],
        json!({"title": "Library", "version": "1.2.0"})
    );
    let tag = json!({"name": "test.library.v1.Library", "description": "Shelves of books."});
    assert_eq!(document["tags"], json!([tag]));
    assert_eq!(document.get("x-yardmaster-unlisted"), None);
}

#[test]
fn every_binding_is_an_operation_at_its_openapi_path() {
    let document = library();
    let expected = [
        ("/v1/{name}", "get", "Library_GetBook"),
        ("/v1/{name}", "delete", "Library_DeleteBook"),
        // `{book.name=shelves/*/books/*}` is the same OpenAPI path as GetBook's.
        ("/v1/{name}", "patch", "Library_UpdateBook"),
        ("/v1/{name}:publish", "post", "Library_PublishBook"),
        ("/v1/{parent}/books", "get", "Library_ListBooks"),
        ("/v1/{parent}/books", "post", "Library_CreateBook"),
        ("/v1/messages/{message_id}", "get", "Library_GetMessage"),
        (
            "/v1/users/{sub.subfield}/messages/{message_id}",
            "get",
            "Library_GetMessage_2",
        ),
        ("/v1/files/{path}", "get", "Library_ReadFile"),
        ("/v1/probe", "head", "Library_Probe"),
        (
            "/test.library.v1.Library/Unannotated",
            "post",
            "Library_Unannotated",
        ),
    ];
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (verb, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            operations.push((path.as_str(), verb.as_str(), id));
            assert_eq!(operation["tags"], json!(["test.library.v1.Library"]));
        }
    }
    operations.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(operations, expected);
}

#[test]
fn method_comments_are_summary_and_description() {
    let document = library();
    let get_book = operation(&document, "/v1/{name}", "get");
    assert_eq!(get_book["summary"], "Gets a book.");
    assert_eq!(
        get_book["description"],
        "Any book on any shelf, by its resource name."
    );
    let delete_book = operation(&document, "/v1/{name}", "delete");
    assert_eq!(delete_book.get("summary"), None);
}

#[test]
fn path_parameters_are_required_and_say_what_segments_they_span() {
    let document = library();
    let get_book = operation(&document, "/v1/{name}", "get");
    let name = parameter(get_book, "path", "name");
    assert_eq!(name["required"], true);
    assert_eq!(name["schema"], json!({"type": "string"}));
    let description = name["description"].as_str().unwrap();
    assert!(description.contains("`shelves/*/books/*`"), "{description}");
    assert!(description.contains("cannot contain `/`"), "{description}");

    // UpdateBook's variable sets `book.name`, under the path item's parameter name.
    let update_book = operation(&document, "/v1/{name}", "patch");
    let name = parameter(update_book, "path", "name");
    let description = name["description"].as_str().unwrap();
    assert!(
        description.starts_with(
            "The resource name, `shelves/{shelf}/books/{book}`.\n\nSets the field `book.name`."
        ),
        "{description}"
    );

    let get_message = operation(&document, "/v1/messages/{message_id}", "get");
    let message_id = parameter(get_message, "path", "message_id");
    let want =
        json!({"name": "message_id", "in": "path", "required": true, "schema": {"type": "string"}});
    assert_eq!(message_id, want);

    let read_file = operation(&document, "/v1/files/{path}", "get");
    let path = parameter(read_file, "path", "path");
    assert!(path["description"].as_str().unwrap().contains("`**`"));
}

#[test]
fn query_parameters_are_the_fields_neither_path_nor_body_sets() {
    let document = library();
    let get_message = operation(&document, "/v1/messages/{message_id}", "get");
    let query = parameters(get_message, "query");
    // `labels` is a map, which a query cannot set.
    let query_names = [
        "sub.subfield",
        "revision",
        "tags",
        "genre",
        "since",
        "strict",
        "verbose",
        "weight",
        "token",
    ];
    assert_eq!(names(&query), query_names);
    let schemas: Vec<(&str, Value)> = query
        .iter()
        .map(|(name, p)| (name.as_str(), p["schema"].clone()))
        .collect();
    let genres = json!({"type": "string", "enum": ["GENRE_UNSPECIFIED", "FICTION", "HISTORY"]});
    let want = vec![
        ("sub.subfield", json!({"type": "string"})),
        ("revision", json!({"type": "string", "format": "int64"})),
        (
            "tags",
            json!({"type": "array", "items": {"type": "string"}}),
        ),
        ("genre", genres),
        ("since", json!({"type": "string", "format": "date-time"})),
        // A wrapper in the query is its value, never null.
        ("strict", json!({"type": "boolean"})),
        ("verbose", json!({"type": "boolean"})),
        ("weight", json!({"type": "number", "format": "double"})),
        (
            "token",
            json!({"type": "string", "contentEncoding": "base64"}),
        ),
    ];
    assert_eq!(schemas, want);
    let revision = parameter(get_message, "query", "revision");
    assert_eq!(
        revision["description"],
        "The revision to read; the latest when unset."
    );
    assert_eq!(revision.get("required"), None);

    // The other binding sets `sub.subfield` from the path.
    let other = operation(
        &document,
        "/v1/users/{sub.subfield}/messages/{message_id}",
        "get",
    );
    assert_eq!(names(&parameters(other, "query")), query_names[1..]);
    assert_eq!(
        names(&parameters(other, "path")),
        ["sub.subfield", "message_id"]
    );
}

#[test]
fn query_parameters_leave_out_the_body_field_and_follow_the_name_option() {
    let document = library();
    let list_books = operation(&document, "/v1/{parent}/books", "get");
    let query = parameters(list_books, "query");
    assert_eq!(names(&query), ["pageSize", "pageToken", "genres"]);
    let genres = &parameter(list_books, "query", "genres")["schema"];
    assert_eq!(genres["type"], "array");
    assert_eq!(genres["items"]["enum"][1], "FICTION");

    let create_book = operation(&document, "/v1/{parent}/books", "post");
    assert_eq!(names(&parameters(create_book, "query")), ["bookId"]);
    let update_book = operation(&document, "/v1/{name}", "patch");
    assert_eq!(names(&parameters(update_book, "query")), ["updateMask"]);
    // With `body: "*"` the body holds every field the path does not.
    let publish = operation(&document, "/v1/{name}:publish", "post");
    assert_eq!(names(&parameters(publish, "query")), Vec::<&str>::new());

    let api = HttpApi::new(pool("library.proto"), &[], true).unwrap();
    let proto_names = JsonOptions {
        proto_field_names: true,
        ..JsonOptions::default()
    };
    let document = openapi(&api, &options(proto_names));
    let list_books = operation(&document, "/v1/{parent}/books", "get");
    let query = parameters(list_books, "query");
    assert_eq!(names(&query), ["page_size", "page_token", "genres"]);
    let author = schema(&document, "test.library.v1.Author");
    assert_eq!(
        author["properties"]["display_name"],
        json!({"type": "string"})
    );
}

#[test]
fn request_bodies_follow_the_body_of_the_binding() {
    let document = library();
    let publish = operation(&document, "/v1/{name}:publish", "post");
    assert_eq!(
        json_body(publish),
        &reference("test.library.v1.GetBookRequest")
    );
    let create_book = operation(&document, "/v1/{parent}/books", "post");
    assert_eq!(json_body(create_book), &reference("test.library.v1.Book"));
    let unannotated = operation(&document, "/test.library.v1.Library/Unannotated", "post");
    assert_eq!(json_body(unannotated), &reference("test.library.v1.Book"));
    let get_book = operation(&document, "/v1/{name}", "get");
    assert_eq!(get_book.get("requestBody"), None);
}

#[test]
fn responses_are_the_reply_or_its_response_body_and_a_status() {
    let document = library();
    let get_book = operation(&document, "/v1/{name}", "get");
    assert_eq!(
        ok_body(get_book, "application/json"),
        &reference("test.library.v1.Book")
    );
    let status = reference("google.rpc.Status");
    assert_eq!(
        get_book["responses"]["default"]["content"]["application/json"]["schema"],
        status
    );
    let list_books = operation(&document, "/v1/{parent}/books", "get");
    let books = json!({"type": "array", "items": reference("test.library.v1.Book")});
    assert_eq!(ok_body(list_books, "application/json"), &books);
    let delete_book = operation(&document, "/v1/{name}", "delete");
    assert_eq!(
        ok_body(delete_book, "application/json"),
        &json!({"type": "object"})
    );
    // A HEAD response has no body.
    let probe = operation(&document, "/v1/probe", "head");
    assert_eq!(probe["responses"]["200"].get("content"), None);

    let status = schema(&document, "google.rpc.Status");
    assert_eq!(status["properties"]["code"]["type"], "integer");
    assert_eq!(status["properties"]["message"], json!({"type": "string"}));
    let detail = &status["properties"]["details"]["items"];
    assert_eq!(detail["properties"]["@type"], json!({"type": "string"}));
}

#[test]
fn schemas_are_the_messages_operations_reach_with_their_comments() {
    let document = library();
    let mut names: Vec<&str> = document["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    // Not ListBooksResponse (only its `books` is sent), nor requests that have no body.
    let want = [
        "google.rpc.Status",
        "test.library.v1.Author",
        "test.library.v1.Book",
        "test.library.v1.File",
        "test.library.v1.GetBookRequest",
        "test.library.v1.GetMessageRequest",
        "test.library.v1.SubMessage",
    ];
    assert_eq!(names, want);

    let book = schema(&document, "test.library.v1.Book");
    let want = json!({
        "type": "object",
        "description": "A book on a shelf.",
        "properties": {
            "name": {"type": "string", "description": "The resource name, `shelves/{shelf}/books/{book}`."},
            "title": {"type": "string"},
            "genre": {"type": "string", "enum": ["GENRE_UNSPECIFIED", "FICTION", "HISTORY"]},
            "pages": {"type": "string", "format": "int64", "description": "How many pages it has."},
            "tags": {"type": "array", "items": {"type": "string"}},
            "published": {"type": "string", "format": "date-time"},
            "author": reference("test.library.v1.Author"),
        },
    });
    assert_eq!(book, want);

    let request = schema(&document, "test.library.v1.GetMessageRequest");
    let properties = &request["properties"];
    assert_eq!(properties["sub"], reference("test.library.v1.SubMessage"));
    assert_eq!(properties["strict"], json!({"type": ["boolean", "null"]}));
    let labels = json!({"type": "object", "additionalProperties": {"type": "string"}});
    assert_eq!(properties["labels"], labels);
    assert_eq!(properties["messageId"], json!({"type": "string"}));
}

#[test]
fn well_known_types_have_their_json_forms() {
    let document = document(pool("shop.proto"), &[]);
    let order = schema(&document, "test.shop.v1.Order");
    let want = json!({
        "type": "object",
        "properties": {
            "orderId": {"type": "string"},
            "totalCents": {"type": "string", "format": "int64"},
            "big": {"type": "string", "format": "uint64"},
            "blob": {"type": "string", "contentEncoding": "base64"},
            "color": {"type": "string", "enum": ["COLOR_UNSPECIFIED", "RED", "GREEN"]},
            "placedAt": {"type": "string", "format": "date-time"},
            "ttl": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"},
            "note": {"type": ["string", "null"]},
            "attributes": {"type": "object"},
            "mask": {"type": "string"},
            "items": {"type": "array", "items": reference("test.shop.v1.Item")},
            "extra": {
                "type": "object",
                "properties": {"@type": {"type": "string"}},
                "required": ["@type"],
                "additionalProperties": true,
            },
            "rush": {"type": "boolean"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer", "format": "int32"}},
        },
    });
    assert_eq!(order, want);
    let clear = operation(&document, "/test.shop.v1.Shop/Clear", "post");
    assert_eq!(json_body(clear), &json!({"type": "object"}));
}

#[test]
fn query_parameters_leave_out_what_a_query_cannot_spell() {
    let rule = HttpRule {
        selector: "test.shop.v1.Shop.Place".to_owned(),
        get: Some("/v1/orders/{order_id}".to_owned()),
        ..HttpRule::default()
    };
    let document = document(pool("shop.proto"), &[rule]);
    let place = operation(&document, "/v1/orders/{order_id}", "get");
    // Not `items` (messages), `attributes` and `extra` (a Struct and an Any, whose
    // fields are not their JSON), nor the map `counts`.
    let want = [
        "totalCents",
        "big",
        "blob",
        "color",
        "placedAt",
        "ttl",
        "note",
        "mask",
        "rush",
    ];
    assert_eq!(names(&parameters(place, "query")), want);
    let ttl = parameter(place, "query", "ttl");
    assert_eq!(ttl["schema"]["pattern"], "^-?[0-9]+(\\.[0-9]+)?s$");
    let note = parameter(place, "query", "note");
    assert_eq!(note["schema"], json!({"type": "string"}));
}

#[test]
fn server_streaming_replies_are_ndjson_or_server_sent_events() {
    let document = document(pool("shop.proto"), &[]);
    let watch = operation(&document, "/test.shop.v1.Shop/Watch", "post");
    let content = watch["responses"]["200"]["content"].as_object().unwrap();
    let media: Vec<&str> = content.keys().map(String::as_str).collect();
    assert_eq!(media, ["application/x-ndjson", "text/event-stream"]);
    let line = ok_body(watch, "application/x-ndjson");
    assert_eq!(line["type"], "object");
    assert_eq!(
        line["properties"]["result"],
        reference("test.shop.v1.Order")
    );
    assert_eq!(line["properties"]["error"], reference("google.rpc.Status"));
    assert_eq!(ok_body(watch, "text/event-stream")["type"], "string");
    // The request is one message.
    assert_eq!(json_body(watch), &reference("test.shop.v1.Order"));
}

#[test]
fn request_streams_are_ndjson_bodies() {
    let document = document(stream_pool(), &[]);
    let upload = operation(&document, "/test.stream.v1.Tree/Upload", "post");
    let body = &upload["requestBody"]["content"];
    assert_eq!(
        body,
        &json!({"application/x-ndjson": {"schema": reference("test.stream.v1.Node")}})
    );
    assert_eq!(
        ok_body(upload, "application/json"),
        &reference("test.stream.v1.Node")
    );
    let chat = operation(&document, "/test.stream.v1.Tree/Chat", "post");
    assert!(chat["requestBody"]["content"]["application/x-ndjson"].is_object());
    assert!(chat["responses"]["200"]["content"]["text/event-stream"].is_object());
}

#[test]
fn recursive_messages_are_one_schema_and_bound_the_query() {
    let document = document(stream_pool(), &[]);
    let node = schema(&document, "test.stream.v1.Node");
    assert_eq!(
        node["properties"]["child"],
        reference("test.stream.v1.Node")
    );
    let children = json!({"type": "array", "items": reference("test.stream.v1.Node")});
    assert_eq!(node["properties"]["children"], children);
    let find = operation(&document, "/v1/nodes/{label}", "get");
    // `child` would loop and `children` is a list of messages; `leaf.twig.bud.scent` is
    // deeper than three names.
    let query = parameters(find, "query");
    assert_eq!(names(&query), ["leaf.twig.size", "leaf.color"]);
}

#[test]
fn bindings_openapi_cannot_describe_are_listed_as_left_out() {
    let rule = HttpRule {
        selector: "test.library.v1.Library.Unannotated".to_owned(),
        get: Some("/v1/{title=authors/*}".to_owned()),
        additional_bindings: vec![
            HttpRule {
                custom: Some(CustomPattern {
                    kind: "LIST".to_owned(),
                    path: "/v1/books".to_owned(),
                }),
                ..HttpRule::default()
            },
            HttpRule {
                put: Some("/v1/{title=authors/*}".to_owned()),
                body: "*".to_owned(),
                ..HttpRule::default()
            },
            HttpRule {
                get: Some("/v2/*/books/{title}".to_owned()),
                ..HttpRule::default()
            },
        ],
        ..HttpRule::default()
    };
    let document = document(pool("library.proto"), &[rule]);
    let unlisted = json!([
        "GET /v1/{title=authors/*} (test.library.v1.Library.Unannotated): GET /v1/{name} already describes this path",
        "LIST /v1/books (test.library.v1.Library.Unannotated): OpenAPI 3.1 has no operations of this verb",
    ]);
    assert_eq!(document["x-yardmaster-unlisted"], unlisted);

    // The PUT joins GetBook's path item, its parameter renamed.
    let put = operation(&document, "/v1/{name}", "put");
    assert_eq!(put["operationId"], "Library_Unannotated");
    let name = parameter(put, "path", "name");
    let description = name["description"].as_str().unwrap();
    assert!(
        description.starts_with("Sets the field `title`."),
        "{description}"
    );
    assert!(description.contains("`authors/*`"), "{description}");

    // A wildcard outside any variable is a parameter of its own.
    let by_wildcard = operation(&document, "/v2/{wildcard-1}/books/{title}", "get");
    let wildcard = parameter(by_wildcard, "path", "wildcard-1");
    assert_eq!(wildcard["description"], "Not read into the request.");
    assert_eq!(wildcard["required"], true);
    assert_eq!(by_wildcard["operationId"], "Library_Unannotated_2");
}
