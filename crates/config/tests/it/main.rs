//! Integration tests of `yardmaster-config`: whole files in, a `Config` or exact error
//! lines out.

// Test helpers outside `#[test]` functions are not covered by clippy.toml's test
// allowances; a failed setup step should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod balancing_rules;
mod bridge_rules;
mod cluster_rules;
mod discovery_rules;
mod examples;
mod fanout_rules;
mod garbage;
mod listener_rules;
mod load_file;
mod mirror_rules;
mod parse_errors;
mod registry_rules;
mod report;
mod route_rules;
mod transcode_rules;

use yardmaster_config::{from_str, Config};

/// Removes the first line break and the common indentation, so tests can indent YAML.
/// Line 1 of the result is the first line after the opening quote.
pub(crate) fn dedent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Every error of loading `text` (dedented) as `gateway.yaml`, as displayed.
pub(crate) fn errors(text: &str) -> Vec<String> {
    match from_str(&dedent(text), "gateway.yaml") {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(e) => e.errors().iter().map(ToString::to_string).collect(),
    }
}

/// Loads `text` (dedented), which must be valid.
pub(crate) fn config(text: &str) -> Config {
    from_str(&dedent(text), "gateway.yaml").unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
}
