//! Gateway configurations that tests need over and over, as YAML strings.

use std::net::SocketAddr;

/// One listener on `127.0.0.1:0` with one route that sends every request to cluster
/// `upstream`, balanced round robin over `endpoints` in the given order.
pub fn one_route_to(endpoints: &[SocketAddr]) -> String {
    let endpoints: Vec<String> = endpoints.iter().map(SocketAddr::to_string).collect();
    format!(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - forward: {{ cluster: upstream }}
clusters:
  - name: upstream
    endpoints: [{}]
"#,
        endpoints.join(", ")
    )
}
