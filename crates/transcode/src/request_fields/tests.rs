//! Bindings found for requests and the request messages they build, on the annotated
//! `testdata/library.proto` (the examples of `google/api/http.proto`).

use http::Method as Verb;
use prost::Message as _;
use prost_reflect::DynamicMessage;
use serde_json::{json, Value};

use crate::{HttpApi, HttpRule, JsonOptions, Miss};

/// `testdata/library.proto`, compiled as a route's `proto_files` are, with the
/// `google/api` protos Yardmaster ships.
fn pool() -> prost_reflect::DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    let google = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let mut compiler = protox::Compiler::new([dir, google]).unwrap();
    compiler.include_imports(true);
    compiler.open_file("library.proto").unwrap();
    compiler.descriptor_pool()
}

fn api(rules: &[HttpRule]) -> HttpApi {
    HttpApi::new(pool(), rules, true).unwrap()
}

/// The request message the binding of `verb path?query` builds from `body`, as JSON
/// with `.proto` field names.
fn request(api: &HttpApi, verb: Verb, target: &str, body: &str) -> Result<Value, String> {
    let (path, query) = target
        .split_once('?')
        .map_or((target, None), |(p, q)| (p, Some(q)));
    let matched = api.find(&verb, path).map_err(|miss| format!("{miss:?}"))?;
    let options = JsonOptions::default();
    let protobuf = matched
        .request(query, body.as_bytes(), options)
        .map_err(|e| e.to_string())?;
    let input = matched.binding.method().descriptor().input();
    let message = DynamicMessage::decode(input, protobuf.as_slice()).unwrap();
    let write = prost_reflect::SerializeOptions::new().use_proto_field_name(true);
    Ok(message
        .serialize_with_options(serde_json::value::Serializer, &write)
        .unwrap())
}

fn method_of(api: &HttpApi, verb: Verb, path: &str) -> String {
    api.find(&verb, path)
        .unwrap()
        .binding
        .method()
        .path()
        .to_owned()
}

#[test]
fn annotations_bind_every_verb_and_custom_verbs() {
    let api = api(&[]);
    let cases = [
        (Verb::GET, "/v1/shelves/1/books/2", "GetBook"),
        (Verb::DELETE, "/v1/shelves/1/books/2", "DeleteBook"),
        (Verb::PATCH, "/v1/shelves/1/books/2", "UpdateBook"),
        (Verb::POST, "/v1/shelves/1/books/2:publish", "PublishBook"),
        (Verb::GET, "/v1/shelves/1/books", "ListBooks"),
        (Verb::POST, "/v1/shelves/1/books", "CreateBook"),
        (Verb::GET, "/v1/users/me/messages/7", "GetMessage"),
        (Verb::GET, "/v1/messages/7", "GetMessage"),
        (Verb::GET, "/v1/files/a/b", "ReadFile"),
        (Verb::HEAD, "/v1/probe", "Probe"),
        (
            Verb::POST,
            "/test.library.v1.Library/Unannotated",
            "Unannotated",
        ),
    ];
    for (verb, path, method) in cases {
        let want = format!("/test.library.v1.Library/{method}");
        assert_eq!(method_of(&api, verb.clone(), path), want, "{verb} {path}");
    }
    // Annotated methods have no POST path of their own.
    let grpc_path = api.find(&Verb::POST, "/test.library.v1.Library/GetBook");
    assert_eq!(grpc_path.unwrap_err(), Miss::NotFound);
}

#[test]
fn misses_say_not_found_or_which_verbs_the_path_takes() {
    let api = api(&[]);
    assert_eq!(
        api.find(&Verb::GET, "/v2/nothing").unwrap_err(),
        Miss::NotFound
    );
    assert_eq!(
        api.find(&Verb::GET, "no-slash").unwrap_err(),
        Miss::NotFound
    );
    let Miss::WrongVerb(mut verbs) = api.find(&Verb::PUT, "/v1/shelves/1/books/2").unwrap_err()
    else {
        panic!("expected WrongVerb");
    };
    verbs.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(verbs, [Verb::DELETE, Verb::GET, Verb::PATCH]);
    let bad = api.find(&Verb::GET, "/v1/messages/%zz").unwrap_err();
    assert!(
        matches!(bad, Miss::BadPath(ref m) if m.contains("hex digits")),
        "{bad:?}"
    );
}

#[test]
fn path_variables_set_nested_fields_and_are_percent_decoded() {
    let api = api(&[]);
    let got = request(&api, Verb::GET, "/v1/users/a%20b/messages/x%2Fy", "").unwrap();
    assert_eq!(
        got,
        json!({"message_id": "x/y", "sub": {"subfield": "a b"}})
    );
    // A variable of several segments keeps %2F encoded.
    let got = request(&api, Verb::GET, "/v1/files/dir/a%2Fb", "").unwrap();
    assert_eq!(got, json!({"path": "dir/a%2Fb"}));
    let got = request(&api, Verb::GET, "/v1/shelves/s1/books/b1", "").unwrap();
    assert_eq!(got, json!({"name": "shelves/s1/books/b1"}));
}

#[test]
fn query_parameters_fill_nested_repeated_enum_and_well_known_fields() {
    let api = api(&[]);
    let query = "revision=2&sub.subfield=foo&tags=a&tags=b+c&genre=HISTORY\
                 &since=2024-01-02T03:04:05Z&strict=true&verbose=false&weight=1.5&token=-_8=";
    let got = request(&api, Verb::GET, &format!("/v1/messages/7?{query}"), "").unwrap();
    assert_eq!(
        got,
        json!({
            "message_id": "7",
            "revision": "2",
            "sub": {"subfield": "foo"},
            "tags": ["a", "b c"],
            "genre": "HISTORY",
            "since": "2024-01-02T03:04:05Z",
            "strict": true,
            "weight": 1.5,
            "token": "+/8=",
        })
    );
    // Enums by number, JSON names, and repeated enums.
    let got = request(&api, Verb::GET, "/v1/messages/7?genre=1", "").unwrap();
    assert_eq!(got["genre"], json!("FICTION"));
    let got = request(
        &api,
        Verb::GET,
        "/v1/shelves/s/books?pageSize=3&genres=FICTION&genres=2",
        "",
    )
    .unwrap();
    assert_eq!(
        got,
        json!({"parent": "shelves/s", "page_size": 3, "genres": ["FICTION", "HISTORY"]})
    );
    // The path wins over the query.
    let got = request(&api, Verb::GET, "/v1/messages/7?message_id=8", "").unwrap();
    assert_eq!(got["message_id"], json!("7"));
}

#[test]
fn bad_query_parameters_are_named() {
    let api = api(&[]);
    let cases = [
        ("nope=1", "nope"),
        ("revision=abc", "revision"),
        ("verbose=yes", "verbose"),
        ("labels=a", "map field"),
        ("sub=x", "SubMessage cannot be written"),
        ("sub.subfield.deeper=x", "not a message"),
        ("tags=%ff", "not UTF-8"),
    ];
    for (query, want) in cases {
        let error = request(&api, Verb::GET, &format!("/v1/messages/7?{query}"), "").unwrap_err();
        assert!(error.contains(want), "{query}: {error}");
    }
    // Unknown parameters pass when unknown fields are allowed.
    let lenient = JsonOptions {
        allow_unknown_fields: true,
        ..JsonOptions::default()
    };
    let matched = api.find(&Verb::GET, "/v1/messages/7").unwrap();
    assert!(matched
        .request(Some("nope=1&utm_source=x"), b"", lenient)
        .is_ok());
}

#[test]
fn bodies_go_where_the_binding_says() {
    let api = api(&[]);
    // body: "book", the rest from the path and the query.
    let got = request(
        &api,
        Verb::POST,
        "/v1/shelves/s/books?bookId=b9",
        r#"{"title": "Dune", "pages": 412, "author": {"displayName": "Frank"}}"#,
    )
    .unwrap();
    assert_eq!(
        got,
        json!({
            "parent": "shelves/s",
            "book_id": "b9",
            "book": {"title": "Dune", "pages": "412", "author": {"display_name": "Frank"}},
        })
    );
    // A nested path variable inside the body's field wins over the body.
    let got = request(
        &api,
        Verb::PATCH,
        "/v1/shelves/s/books/b?update_mask=title",
        r#"{"name": "ignored", "title": "New"}"#,
    )
    .unwrap();
    assert_eq!(
        got,
        json!({"book": {"name": "shelves/s/books/b", "title": "New"}, "update_mask": "title"})
    );
    // body: "*" with a verb.
    let got = request(&api, Verb::POST, "/v1/shelves/s/books/b:publish", "{}").unwrap();
    assert_eq!(got, json!({"name": "shelves/s/books/b"}));
    // A binding without a body refuses one; "*" refuses query parameters.
    let error = request(&api, Verb::GET, "/v1/messages/7", r#"{"revision": 1}"#).unwrap_err();
    assert!(error.contains("takes no body"), "{error}");
    let error = request(&api, Verb::POST, "/v1/shelves/s/books/b:publish?x=1", "{}").unwrap_err();
    assert!(
        error.contains("the body holds the whole request"),
        "{error}"
    );
    // Body errors name the field path inside the request message.
    let error = request(
        &api,
        Verb::POST,
        "/v1/shelves/s/books",
        r#"{"pages": "many"}"#,
    )
    .unwrap_err();
    assert!(error.contains("book.pages"), "{error}");
    let error = request(&api, Verb::POST, "/v1/shelves/s/books/b:publish", "[1]").unwrap_err();
    assert!(error.contains("must be a JSON object"), "{error}");
}

#[test]
fn response_body_selects_a_reply_field() {
    let api = api(&[]);
    let matched = api.find(&Verb::GET, "/v1/shelves/s/books").unwrap();
    let output = matched.binding.method().descriptor().output();
    let reply = DynamicMessage::deserialize(
        output,
        json!({"books": [{"title": "Dune"}], "nextPageToken": "n"}),
    )
    .unwrap()
    .encode_to_vec();
    let options = JsonOptions::default();
    let json = matched.binding.response_to_json(&reply, options).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&json).unwrap(),
        json!([{"title": "Dune"}])
    );
    // An unset field is its default, not a missing body.
    let json = matched.binding.response_to_json(&[], options).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&json).unwrap(), json!([]));
}

fn rule(selector: &str, get: &str) -> HttpRule {
    HttpRule {
        selector: selector.to_owned(),
        get: Some(get.to_owned()),
        ..HttpRule::default()
    }
}

#[test]
fn configured_rules_replace_annotations_and_bind_unannotated_methods() {
    let rules = [
        rule("test.library.v1.Library.Unannotated", "/v2/books/{name}"),
        rule("test.library.v1.Library.GetBook", "/v2/get/{name=**}"),
    ];
    let api = api(&rules);
    let got = request(&api, Verb::GET, "/v2/books/b7?title=T", "").unwrap();
    assert_eq!(got, json!({"name": "b7", "title": "T"}));
    assert!(method_of(&api, Verb::GET, "/v2/get/x/y").ends_with("/GetBook"));
    // GetBook's annotated path is gone; the other methods' bindings of it stay.
    assert_eq!(
        api.find(&Verb::GET, "/v1/shelves/1/books/2").unwrap_err(),
        Miss::WrongVerb(vec![Verb::PATCH, Verb::DELETE])
    );
    assert_eq!(
        api.find(&Verb::POST, "/test.library.v1.Library/Unannotated")
            .unwrap_err(),
        Miss::NotFound
    );
}

#[test]
fn grpc_paths_can_be_turned_off() {
    let api = HttpApi::new(pool(), &[], false).unwrap();
    let missing = api.find(&Verb::POST, "/test.library.v1.Library/Unannotated");
    assert_eq!(missing.unwrap_err(), Miss::NotFound);
}

#[test]
fn bad_rules_are_errors_naming_the_rule() {
    let error_of = |rules: &[HttpRule]| HttpApi::new(pool(), rules, true).unwrap_err();
    let error = error_of(&[rule("test.library.v1.Library.Nope", "/x")]);
    assert_eq!(error.rule, Some(0));
    assert!(error.message.contains("no method"), "{}", error.message);

    let error = error_of(&[rule("test.library.v1.Library.Unannotated", "/x/{nope}")]);
    assert!(
        error.message.contains("Book has no field `nope`"),
        "{}",
        error.message
    );

    let error = error_of(&[rule("test.library.v1.Library.Unannotated", "/x/{tags}")]);
    assert!(
        error.message.contains("repeated field"),
        "{}",
        error.message
    );

    let error = error_of(&[rule("test.library.v1.Library.Unannotated", "/x/{author}")]);
    assert!(error.message.contains("message field"), "{}", error.message);

    let mut with_body = rule("test.library.v1.Library.Unannotated", "/x");
    with_body.body = "nope".to_owned();
    let error = error_of(&[with_body]);
    assert!(
        error
            .message
            .contains("body: test.library.v1.Book has no field"),
        "{}",
        error.message
    );

    let twice = [
        rule("test.library.v1.Library.Unannotated", "/x"),
        rule("test.library.v1.Library.Unannotated", "/y"),
    ];
    let error = error_of(&twice);
    assert_eq!(error.rule, Some(1));
    assert!(
        error.message.contains("already the rule"),
        "{}",
        error.message
    );
}

#[test]
fn two_bindings_of_one_verb_and_path_are_a_conflict_naming_both() {
    // Unannotated bound where GetBook's annotation already is, with another variable name.
    let rules = [rule(
        "test.library.v1.Library.Unannotated",
        "/v1/{title=shelves/*/books/*}",
    )];
    let error = HttpApi::new(pool(), &rules, true).unwrap_err();
    assert_eq!(error.rule, Some(0));
    assert!(
        error.message.contains("is bound twice"),
        "{}",
        error.message
    );
    assert!(error.message.contains("GetBook"), "{}", error.message);
    assert!(error
        .message
        .contains("http_rules[0] (test.library.v1.Library.Unannotated)"));
}
