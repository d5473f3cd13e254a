use serde_json::{json, Value};

use http::Method as Verb;

use crate::{HttpApi, JsonOptions, Method, Miss};

/// The bindings of `testdata/shop.proto`, compiled as a route's `proto_files` are: every
/// method at its `POST` gRPC path.
fn methods() -> HttpApi {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    let mut compiler = protox::Compiler::new([dir]).unwrap();
    compiler.include_imports(true);
    compiler.open_file("shop.proto").unwrap();
    HttpApi::new(compiler.descriptor_pool(), &[], true).unwrap()
}

fn method(api: &HttpApi, path: &str) -> Method {
    api.find(&Verb::POST, path)
        .unwrap()
        .binding
        .method()
        .clone()
}

fn place(api: &HttpApi) -> Method {
    method(api, "/test.shop.v1.Shop/Place")
}

/// `json` read as an `Order` and written back.
fn round_trip(json: &Value, options: JsonOptions) -> Value {
    let methods = methods();
    let method = place(&methods);
    let protobuf = method
        .request_from_json(json.to_string().as_bytes(), options)
        .unwrap();
    let written = method.response_to_json(&protobuf, options).unwrap();
    serde_json::from_slice(&written).unwrap()
}

fn error_of(body: &str, options: JsonOptions) -> crate::JsonError {
    let methods = methods();
    place(&methods)
        .request_from_json(body.as_bytes(), options)
        .unwrap_err()
}

#[test]
fn methods_are_found_by_grpc_path() {
    let methods = methods();
    assert!(place(&methods).is_unary());
    assert_eq!(place(&methods).path(), "/test.shop.v1.Shop/Place");
    assert!(!method(&methods, "/test.shop.v1.Shop/Watch").is_unary());
    let miss = |path| methods.find(&Verb::POST, path).unwrap_err();
    assert_eq!(miss("/test.shop.v1.Shop/Nope"), Miss::NotFound);
    assert_eq!(miss("test.shop.v1.Shop/Place"), Miss::NotFound);
    let get = methods.find(&Verb::GET, "/test.shop.v1.Shop/Place");
    assert_eq!(get.unwrap_err(), Miss::WrongVerb(vec![Verb::POST]));
}

#[test]
fn sixty_four_bit_integers_are_strings_and_numbers_are_accepted() {
    let read = round_trip(
        &json!({"totalCents": 5, "big": "18446744073709551615"}),
        JsonOptions::default(),
    );
    assert_eq!(
        read,
        json!({"totalCents": "5", "big": "18446744073709551615"})
    );
}

#[test]
fn bytes_are_base64_and_url_safe_base64_is_accepted() {
    // 0xfb 0xff: `+/8=` in the standard alphabet, `-_8=` in the URL-safe one.
    let standard = round_trip(&json!({"blob": "+/8="}), JsonOptions::default());
    let url_safe = round_trip(&json!({"blob": "-_8="}), JsonOptions::default());
    assert_eq!(standard, json!({"blob": "+/8="}));
    assert_eq!(url_safe, standard);
}

#[test]
fn enums_are_names_and_numbers_are_accepted() {
    let by_name = round_trip(&json!({"color": "GREEN"}), JsonOptions::default());
    let by_number = round_trip(&json!({"color": 2}), JsonOptions::default());
    assert_eq!(by_name, json!({"color": "GREEN"}));
    assert_eq!(by_number, by_name);
}

#[test]
fn well_known_types_have_their_json_forms() {
    let order = json!({
        "placedAt": "2026-12-05T09:30:00.250Z",
        "ttl": "1.500s",
        "note": "leave at the door",
        "attributes": {"gift": true, "tags": ["a", 1.5, null], "box": {"size": "L"}},
        "mask": "orderId,items.name",
        "extra": {"@type": "type.googleapis.com/test.shop.v1.Item", "name": "pen", "count": "3"},
        "counts": {"pen": 3},
        "items": [{"name": "pen", "count": "3"}],
    });
    assert_eq!(round_trip(&order, JsonOptions::default()), order);
}

#[test]
fn empty_message_and_empty_body() {
    let methods = methods();
    let clear = method(&methods, "/test.shop.v1.Shop/Clear");
    let options = JsonOptions::default();
    assert!(clear.request_from_json(b"", options).unwrap().is_empty());
    assert!(clear.request_from_json(b" \n", options).unwrap().is_empty());
    assert!(clear.request_from_json(b"{}", options).unwrap().is_empty());
    assert_eq!(clear.response_to_json(&[], options).unwrap(), b"{}");
}

#[test]
fn unknown_fields_are_refused_unless_allowed() {
    let error = error_of(
        r#"{"items": [{"name": "pen", "colour": "red"}]}"#,
        JsonOptions::default(),
    );
    assert_eq!(error.path, "items[0]");
    assert!(error.message.contains("colour"), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("invalid JSON body at items[0]: "),
        "{error}"
    );

    let allowed = JsonOptions {
        allow_unknown_fields: true,
        ..JsonOptions::default()
    };
    let read = round_trip(&json!({"orderId": "o-1", "colour": "red"}), allowed);
    assert_eq!(read, json!({"orderId": "o-1"}));
}

#[test]
fn a_wrong_type_names_the_field_path() {
    let error = error_of(
        r#"{"items": [{"name": "pen"}, {"count": "many"}]}"#,
        JsonOptions::default(),
    );
    assert_eq!(error.path, "items[1].count");
    let error = error_of(r#"{"color": "PURPLE"}"#, JsonOptions::default());
    assert_eq!(error.path, "color");
    let error = error_of(r#"{"totalCents": 1e40}"#, JsonOptions::default());
    assert_eq!(error.path, "totalCents");
}

#[test]
fn malformed_json_is_refused() {
    for body in [
        "{",
        "{\"orderId\": }",
        "[]",
        "\"order\"",
        "{} {}",
        "{\"orderId\": \"a\"} trailing",
    ] {
        let error = error_of(body, JsonOptions::default());
        assert!(!error.message.is_empty(), "{body}: {error}");
    }
    let invalid_utf8 = b"{\"orderId\": \"\xff\xfe\"}";
    let methods = methods();
    assert!(place(&methods)
        .request_from_json(invalid_utf8, JsonOptions::default())
        .is_err());
}

#[test]
fn nesting_past_the_depth_limit_is_refused_without_overflowing_the_stack() {
    let depth = 10_000;
    let body = format!(
        "{{\"attributes\": {{\"x\": {}{}}}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let error = error_of(&body, JsonOptions::default());
    assert!(error.message.contains("recursion limit"), "{error}");
}

#[test]
fn defaults_and_proto_field_names_are_options() {
    let options = JsonOptions {
        emit_defaults: true,
        proto_field_names: true,
        ..JsonOptions::default()
    };
    let read = round_trip(&json!({"orderId": "o-1"}), options);
    assert_eq!(read["order_id"], "o-1");
    assert_eq!(read["total_cents"], "0");
    assert_eq!(read["rush"], false);
    assert_eq!(read["items"], json!([]));
    // Either name is read.
    let read = round_trip(&json!({"order_id": "o-2"}), JsonOptions::default());
    assert_eq!(read, json!({"orderId": "o-2"}));
}

#[test]
fn a_reply_that_is_not_the_message_is_an_error() {
    let methods = methods();
    // Field 1 (order_id) as a varint: the wrong wire type for a string.
    let error = place(&methods)
        .response_to_json(&[0x08, 0x01], JsonOptions::default())
        .unwrap_err();
    assert!(error.contains("not a valid message"), "{error}");
}
