//! Every shipped example and the full example in `docs/configuration.md` load and validate.

use std::path::Path;

use yardmaster_config::from_str;

const DOCS: &str = include_str!("../../../../docs/configuration.md");

#[test]
fn every_example_file_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(errors) = from_str(&text, &name) {
                panic!("{name} is invalid:\n{errors}");
            }
            checked.push(name);
        }
    }
    checked.sort();
    for expected in ["grpc-gateway.yaml", "http-reverse-proxy.yaml", "tls.yaml"] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} missing from {checked:?}"
        );
    }
}

#[test]
fn the_example_endpoint_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/users-endpoints.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let endpoints = yardmaster_config::parse_endpoint_file(&text, "users-endpoints.json")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(endpoints.len(), 2);
}

#[test]
fn docs_full_example_is_valid() {
    let example = full_example(DOCS).expect("a ```yaml block right after `## Full example`");
    let config = from_str(example, "configuration.md").unwrap_or_else(|e| panic!("{e}"));
    assert!(config.admin.is_some());
    assert!(!config.clusters.is_empty());
}

/// The first fenced YAML block after the `## Full example` heading, with nothing but blank
/// lines between them.
fn full_example(markdown: &str) -> Option<&str> {
    let (_, after) = markdown.split_once("\n## Full example\n")?;
    let block = after.trim_start_matches('\n').strip_prefix("```yaml\n")?;
    let (yaml, _) = block.split_once("\n```")?;
    Some(yaml)
}
