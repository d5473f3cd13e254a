//! Registry rules: networks that parse, sane leases and tokens, and a registry for the
//! routes and clusters that use one.

use crate::{config, errors};

const USES: &str = r#"
listeners:
  - name: l
    listen: 127.0.0.1:8080
    routes:
      - registry: {}
clusters:
  - name: c
    discovery: { registry: { service: users.v1.Users } }
"#;

#[test]
fn routes_and_clusters_need_a_registry() {
    let errors = errors(USES);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("listeners[0].routes[0].registry: there is no top-level `registry`"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("clusters[0].discovery.registry: there is no top-level `registry`"),
        "{errors:?}"
    );
    let with = format!("registry: {{allow: [10.0.0.0/8]}}\n{USES}");
    let registry = config(&with).registry.unwrap();
    assert_eq!(registry.max_instances, 10_000);
    assert_eq!(registry.max_ttl, std::time::Duration::from_secs(3600));
}

#[test]
fn networks_leases_and_tokens_are_checked() {
    let text = format!(
        "registry: {{allow: [10.1.2.3/8, nonsense], tokens: [short], min_ttl: 2h, max_instances: 0}}\n{USES}"
    );
    let errors = errors(&text);
    let joined = errors.join("\n");
    for says in [
        "registry.allow[0]: ",
        "registry.allow[1]: ",
        "registry.tokens[0]: a token is at least 16 characters",
        "registry.min_ttl: min_ttl must be more than 0 and at most max_ttl",
        "registry.max_instances: max_instances must be at least 1",
    ] {
        assert!(joined.contains(says), "{says:?} not in\n{joined}");
    }
    assert!(joined.contains("10.0.0.0/8"), "{joined}");
}
