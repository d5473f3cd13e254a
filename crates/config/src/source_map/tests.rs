use super::*;

fn at(line: usize, column: usize) -> Location {
    Location { line, column }
}

const GATEWAY: &str = "\
admin:
  listen: 127.0.0.1:9901
listeners:
  - name: edge
    routes:
      - match: {service: users.v1.Users}
        forward:
          cluster: users
clusters:
  - name: users
    endpoints: [127.0.0.1:50051, 127.0.0.1:50052]
";

#[test]
fn finds_values_by_path() {
    let map = SourceMap::new(GATEWAY);
    assert_eq!(map.value_location("admin.listen"), Some(at(2, 11)));
    assert_eq!(map.value_location("listeners[0].name"), Some(at(4, 11)));
    assert_eq!(
        map.value_location("listeners[0].routes[0].match.service"),
        Some(at(6, 26))
    );
    assert_eq!(
        map.value_location("listeners[0].routes[0].forward.cluster"),
        Some(at(8, 20))
    );
    assert_eq!(
        map.value_location("clusters[0].endpoints[1]"),
        Some(at(11, 34))
    );
}

#[test]
fn falls_back_to_the_closest_written_parent() {
    let map = SourceMap::new(GATEWAY);
    assert_eq!(
        map.value_location("listeners[0].routes[0].name"),
        map.value_location("listeners[0].routes[0]")
    );
    assert_eq!(map.value_location("listeners[0].routes[0]"), Some(at(6, 9)));
    assert_eq!(map.value_location("nothing.here"), Some(at(1, 1)));
}

#[test]
fn finds_paths_by_location() {
    let map = SourceMap::new(GATEWAY);
    assert_eq!(
        map.path_at(at(2, 3), false).as_deref(),
        Some("admin.listen")
    );
    assert_eq!(
        map.path_at(at(2, 11), false).as_deref(),
        Some("admin.listen")
    );
    assert_eq!(
        map.path_at(at(11, 34), false).as_deref(),
        Some("clusters[0].endpoints[1]")
    );
    // Inside a scalar, the scalar's field.
    assert_eq!(
        map.path_at(at(4, 13), false).as_deref(),
        Some("listeners[0].name")
    );
}

#[test]
fn prefers_the_mapping_over_its_first_key_on_request() {
    let map = SourceMap::new(GATEWAY);
    assert_eq!(
        map.path_at(at(4, 5), false).as_deref(),
        Some("listeners[0].name")
    );
    assert_eq!(map.path_at(at(4, 5), true).as_deref(), Some("listeners[0]"));
}

#[test]
fn a_closed_mapping_does_not_claim_the_next_key() {
    let map = SourceMap::new(GATEWAY);
    assert_eq!(map.path_at(at(3, 1), true), None);
    assert_eq!(map.path_at(at(3, 1), false).as_deref(), Some("listeners"));
}

#[test]
fn first_of_duplicate_keys_wins() {
    let map = SourceMap::new("a: 1\na: 2\n");
    assert_eq!(map.value_location("a"), Some(at(1, 4)));
}

#[test]
fn complex_keys_do_not_shift_later_keys() {
    let map = SourceMap::new("? [x, y]\n: 1\nb: 2\n");
    assert_eq!(map.value_location("b"), Some(at(3, 4)));
    assert_eq!(map.path_at(at(3, 1), false).as_deref(), Some("b"));
}

#[test]
fn maps_only_the_first_document() {
    let map = SourceMap::new("a: 1\n---\nb: 2\n");
    assert_eq!(map.value_location("a"), Some(at(1, 4)));
    assert_eq!(map.path_at(at(3, 4), false), None);
}

#[test]
fn keeps_what_it_read_before_a_syntax_error() {
    let map = SourceMap::new("a: 1\nb: [2\n");
    assert_eq!(map.value_location("a"), Some(at(1, 4)));
}

#[test]
fn does_not_record_nodes_nested_too_deep() {
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let map = SourceMap::new(&deep);
    assert!(map.nodes.len() <= MAX_DEPTH + 1);
    assert_eq!(map.value_location("[0][0]"), Some(at(1, 3)));
}

#[test]
fn empty_and_comment_only_texts_have_no_nodes() {
    assert!(SourceMap::new("").is_empty());
    assert!(SourceMap::new("# nothing\n").is_empty());
    assert!(!SourceMap::new("a").is_empty());
}

/// Malformed input ends the walk early; it never panics.
#[test]
fn survives_garbage() {
    let mut seed: u32 = 0x2545_f491;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let alphabet = b"ab:-[]{}?,&*!|>'\"#\t\n %@`";
    for _ in 0..2000 {
        let len = next() % 40;
        let text: String = (0..len)
            .map(|_| char::from(alphabet[(next() as usize) % alphabet.len()]))
            .collect();
        let map = SourceMap::new(&text);
        let _ = map.path_at(at(1, 1), false);
        let _ = map.value_location("a.b[0]");
    }
}
