use super::{percent_decode, PathTemplate, RequestPath};

fn matches(template: &str, path: &str) -> Option<Vec<String>> {
    let template = PathTemplate::parse(template).unwrap();
    template.matches(&RequestPath::new(path).unwrap())
}

#[test]
fn templates_of_the_http_proto_examples_match_their_paths() {
    // (template, path, the variables' raw values, or None for no match)
    let cases: &[(&str, &str, Option<&[&str]>)] = &[
        (
            "/v1/messages/{message_id}",
            "/v1/messages/123456",
            Some(&["123456"]),
        ),
        (
            "/v1/users/{user_id}/messages/{message_id}",
            "/v1/users/me/messages/123456",
            Some(&["me", "123456"]),
        ),
        (
            "/v1/{name=messages/*}",
            "/v1/messages/123456",
            Some(&["messages/123456"]),
        ),
        (
            "/v1/{name=shelves/*/books/*}",
            "/v1/shelves/1/books/2",
            Some(&["shelves/1/books/2"]),
        ),
        ("/v1/{name=shelves/*/books/*}", "/v1/shelves/1/books", None),
        (
            "/v1/{name=shelves/*/books/*}",
            "/v1/shelves/1/books/2/x",
            None,
        ),
        (
            "/v1/files/{path=**}",
            "/v1/files/a/b/c.txt",
            Some(&["a/b/c.txt"]),
        ),
        ("/v1/files/{path=**}", "/v1/files", Some(&[""])),
        (
            "/v1/{name=books/*}:publish",
            "/v1/books/7:publish",
            Some(&["books/7"]),
        ),
        ("/v1/{name=books/*}:publish", "/v1/books/7", None),
        ("/v1/{name=books/*}:publish", "/v1/books/7:cancel", None),
        ("/v1/{name=**}:undelete", "/v1/a/b:undelete", Some(&["a/b"])),
        ("/v1/*/books", "/v1/x/books", Some(&[])),
        ("/v1/*/books", "/v1//books", None),
        ("/", "/", Some(&[])),
        ("/", "/x", None),
        ("/a/b", "/a/b/", None),
        (
            "/test.shop.v1.Shop/Place",
            "/test.shop.v1.Shop/Place",
            Some(&[]),
        ),
    ];
    for (template, path, want) in cases {
        let got = matches(template, path);
        let want = want.map(|values| values.iter().map(|v| (*v).to_owned()).collect());
        assert_eq!(got, want, "{template} against {path}");
    }
}

#[test]
fn malformed_templates_say_what_is_wrong() {
    let cases = [
        ("v1/books", "does not start with `/`"),
        ("/v1/{name", "expected `}`"),
        ("/v1/{name=**}/x", "`**` must be the last segment"),
        ("/v1/{name}/{name}", "binds `name` twice"),
        ("/v1//x", "expected a segment"),
        ("/v1/a*b", "`*` must be a segment of its own"),
        ("/v1/{1name}", "expected a field path"),
        ("/v1/x:verb/y", "a verb (`:name`) ends the template"),
        ("/v1/x:", "a verb (`:name`) ends the template"),
        ("/v1/{a={b}}", "expected a segment"),
        ("/v1/x?y=1", "expected `/`, `:verb` or the end"),
    ];
    for (template, want) in cases {
        let error = PathTemplate::parse(template).unwrap_err();
        assert!(error.contains(want), "{template}: {error}");
    }
}

#[test]
fn variables_and_their_extent() {
    let template = PathTemplate::parse("/v1/{a}/{b.c=x/*}/{d=**}").unwrap();
    let paths: Vec<String> = template.field_paths().map(|p| p.join(".")).collect();
    assert_eq!(paths, ["a", "b.c", "d"]);
    assert!(!template.is_multi_segment(0));
    assert!(template.is_multi_segment(1));
    assert!(template.is_multi_segment(2));
}

#[test]
fn more_specific_templates_rank_higher() {
    let rank = |t: &str| {
        let template = PathTemplate::parse(t).unwrap();
        let (segments, verb) = template.rank();
        (segments.to_vec(), verb)
    };
    assert!(rank("/v1/books/special") > rank("/v1/books/{id}"));
    assert!(rank("/v1/books/{id}") > rank("/v1/{name=**}"));
    assert!(rank("/v1/{name}:cancel") > rank("/v1/{name}"));
}

#[test]
fn percent_decoding_is_strict_and_keeps_slashes_when_asked() {
    assert_eq!(percent_decode("a%20b", false).unwrap(), "a b");
    assert_eq!(percent_decode("a%2Fb", false).unwrap(), "a/b");
    assert_eq!(percent_decode("a%2Fb/c", true).unwrap(), "a%2Fb/c");
    assert_eq!(percent_decode("caf%C3%A9", false).unwrap(), "café");
    assert!(percent_decode("100%", false).is_err());
    assert!(percent_decode("%zz", false).is_err());
    assert!(percent_decode("%+1", false).is_err());
    assert!(percent_decode("%ff", false)
        .unwrap_err()
        .contains("not UTF-8"));
}
