//! Garbage in: always an error with at least a file name and a one-line message, never a
//! panic.

use yardmaster_config::{from_str, LoadError};

/// Loads `text` and checks the error report is well formed.
fn assert_rejected(text: &str) -> LoadError {
    let error = from_str(text, "gateway.yaml").expect_err("garbage must not load");
    assert!(!error.errors().is_empty());
    for e in error.errors() {
        let line = e.to_string();
        assert!(line.starts_with("gateway.yaml"), "{line}");
        assert!(!e.message.is_empty(), "{line}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    error
}

/// A tiny deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn empty_file_says_what_is_missing() {
    for text in ["", "\n\n", "   ", "# just a comment\n"] {
        let error = assert_rejected(text);
        assert_eq!(
            error.to_string(),
            "gateway.yaml: the file has no content; at least `listeners` is required"
        );
    }
}

#[test]
fn random_bytes_are_rejected() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..500 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert_rejected(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_yaml_tokens_are_rejected() {
    let tokens = [
        "listeners",
        "name",
        "listen",
        ":",
        " ",
        "\n",
        "  ",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a",
        "*a",
        "!tag",
        "?",
        "|",
        ">",
        "'",
        "\"",
        "#",
        "\t",
        "---",
        "...",
        "%YAML 1.2",
        "1",
        "127.0.0.1:80",
        "routes",
        "forward",
        "cluster",
        "\0",
        "\u{feff}",
        "é",
    ];
    let mut rng = XorShift(42);
    for _ in 0..2000 {
        let len = rng.below(40);
        let text: String = (0..len).map(|_| tokens[rng.below(tokens.len())]).collect();
        assert_rejected(&text);
    }
}

#[test]
fn tabs_in_indentation_are_rejected() {
    let error = assert_rejected("listeners:\n\t- name: edge\n\t  listen: 127.0.0.1:80\n");
    let line = error.to_string();
    assert!(line.starts_with("gateway.yaml:2:"), "{line}");
    assert!(line.contains("tabs"), "{line}");
}

#[test]
fn deeply_nested_brackets_are_rejected() {
    for open in ["[", "{", "- ", "a: "] {
        let text = open.repeat(10_000);
        assert_rejected(&text);
        assert_rejected(&format!("listeners: {text}"));
    }
    let block: String = (0..300)
        .map(|depth| format!("{}- \n", "  ".repeat(depth)))
        .collect();
    assert_rejected(&block);
}

#[test]
fn control_characters_stay_escaped_in_messages() {
    let error = assert_rejected("listeners:\n  - name: edge\n    \"lis\\nten\": 1\n");
    assert_eq!(
        error.to_string(),
        "gateway.yaml:3:5: listeners[0].lis\\nten: unknown key `lis\\nten` (allowed keys: name, listen, tls, routes, max_connections, forwarded_headers)"
    );
}

#[test]
fn very_long_line_is_rejected() {
    assert_rejected(&"a".repeat(1 << 20));
    assert_rejected(&format!("listeners: \"{}", "a".repeat(1 << 20)));
}
