//! The configuration each proxy runs with. All three get the same job: gRPC over h2c to
//! the Echo upstream, HTTP/1.1 to the HTTP upstream, connections to the upstream kept
//! open, no access log, no forwarding headers added, one worker (process or thread) per
//! core.

use std::net::SocketAddr;
use std::path::Path;

use crate::upstream::Upstreams;

/// Yardmaster's listener for gRPC load.
pub(super) const GRPC_LISTENER: &str = "grpc";
/// Yardmaster's listener for HTTP/1.1 load.
pub(super) const HTTP_LISTENER: &str = "http";
/// Yardmaster's listener whose route mirrors every call to two more clusters, served at
/// the lowest CPU priority.
pub(super) const MIRROR_LISTENER: &str = "mirror";
/// The same route with copies to two clusters served at normal priority.
pub(super) const MIRROR_SHARED_LISTENER: &str = "mirror-shared";
/// Yardmaster's listener whose route fans every call out to four endpoints.
pub(super) const FANOUT_LISTENER: &str = "fanout";
/// Yardmaster's listener whose route transcodes HTTP/JSON to the Echo service.
pub(super) const TRANSCODE_LISTENER: &str = "json";
/// Yardmaster's TCP bridge (length-prefixed frames) to the echo bridge upstream.
pub(super) const BRIDGE: &str = "frames";
/// Every listener and bridge name Yardmaster reports a `listening` log line for.
pub(super) const YARDMASTER_LISTENERS: [&str; 7] = [
    GRPC_LISTENER,
    HTTP_LISTENER,
    MIRROR_LISTENER,
    MIRROR_SHARED_LISTENER,
    FANOUT_LISTENER,
    TRANSCODE_LISTENER,
    BRIDGE,
];
/// `max_clients` of the bridge: above the `bridge-idle` default of 10,000 clients.
const BRIDGE_MAX_CLIENTS: usize = 100_000;

/// Yardmaster: listeners on port 0 (the bench reads the bound ports from the log), a
/// gRPC route matched by service like a real gateway's, JSON logs, no access log, no
/// forwarding headers (nginx and HAProxy add none here either). The
/// `mirror`, `mirror-shared` and `fanout` listeners carry the same route with a `mirror`
/// (primary `echo`, copies to `mirror-a` and `mirror-b` on the low-priority copy targets,
/// or to `shared-a` and `shared-b` on two of the extra Echo services; queues large enough
/// that no copy is dropped at the bench's concurrency) or `fanout` action (four endpoints,
/// first reply wins); the `json` listener transcodes HTTP/JSON calls to `echo` by the
/// descriptor set at `descriptors`; the bridge takes length-prefixed frames to the echo
/// bridge upstream.
pub(super) fn yardmaster(upstreams: &Upstreams, descriptors: &Path) -> String {
    let descriptors = descriptors.display();
    let address = |addrs: &[SocketAddr], index: usize| {
        addrs
            .get(index)
            .map_or_else(String::new, ToString::to_string)
    };
    let fanout_endpoints = upstreams
        .grpc_extra
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "\
log:
  format: json
  access_log: false
drain_timeout: 1s
listeners:
  - name: {GRPC_LISTENER}
    listen: 127.0.0.1:0
    forwarded_headers: false
    routes:
      - name: echo
        match:
          service: yardmaster.demo.v1.Echo
        forward:
          cluster: echo
  - name: {HTTP_LISTENER}
    listen: 127.0.0.1:0
    forwarded_headers: false
    routes:
      - name: web
        forward:
          cluster: web
  - name: {MIRROR_LISTENER}
    listen: 127.0.0.1:0
    forwarded_headers: false
    routes:
      - name: echo-mirrored
        match:
          service: yardmaster.demo.v1.Echo
        mirror:
          targets:
            - cluster: echo
            - cluster: mirror-a
              queue_size: 1024
            - cluster: mirror-b
              queue_size: 1024
  - name: {MIRROR_SHARED_LISTENER}
    listen: 127.0.0.1:0
    forwarded_headers: false
    routes:
      - name: echo-mirrored-shared
        match:
          service: yardmaster.demo.v1.Echo
        mirror:
          targets:
            - cluster: echo
            - cluster: shared-a
              queue_size: 1024
            - cluster: shared-b
              queue_size: 1024
  - name: {FANOUT_LISTENER}
    listen: 127.0.0.1:0
    forwarded_headers: false
    routes:
      - name: echo-fanout
        match:
          service: yardmaster.demo.v1.Echo
        fanout:
          cluster: echo-four
          replies: first
  - name: {TRANSCODE_LISTENER}
    listen: 127.0.0.1:0
    forwarded_headers: false
    routes:
      - name: echo-json
        transcode:
          cluster: echo
          descriptor_set: {descriptors}
bridges:
  - name: {BRIDGE}
    listen: 127.0.0.1:0
    cluster: bridge-echo
    framing: length_prefixed
    max_clients: {BRIDGE_MAX_CLIENTS}
clusters:
  - name: echo
    protocol: grpc
    endpoints:
      - {grpc}
  - name: mirror-a
    protocol: grpc
    endpoints: [{mirror_a}]
  - name: mirror-b
    protocol: grpc
    endpoints: [{mirror_b}]
  - name: shared-a
    protocol: grpc
    endpoints: [{shared_a}]
  - name: shared-b
    protocol: grpc
    endpoints: [{shared_b}]
  - name: echo-four
    protocol: grpc
    endpoints: [{fanout_endpoints}]
  - name: bridge-echo
    protocol: grpc
    endpoints: [{bridge}]
  - name: web
    protocol: http1
    endpoints:
      - {http}
",
        grpc = upstreams.grpc,
        http = upstreams.http,
        mirror_a = address(&upstreams.copy_targets, 0),
        mirror_b = address(&upstreams.copy_targets, 1),
        shared_a = address(&upstreams.grpc_extra, 0),
        shared_b = address(&upstreams.grpc_extra, 1),
        bridge = upstreams.bridge,
    )
}

/// nginx: `grpc_pass` and `proxy_pass` to keep-alive upstream pools. Request limits per
/// connection are lifted so the load generator's long-lived connections are never closed
/// mid-run (nginx's default `keepalive_requests` is 1000), and so is the body size limit,
/// which nginx applies to the whole request stream of a bidi call (the default 1 MiB ends
/// a ping-pong call after about ten thousand messages).
pub(super) fn nginx(
    dir: &Path,
    upstreams: &Upstreams,
    grpc: SocketAddr,
    http: SocketAddr,
    workers: usize,
    has_http2_directive: bool,
) -> String {
    let dir = dir.display();
    let (grpc_listen, http2_on) = if has_http2_directive {
        (format!("{grpc}"), "http2 on;")
    } else {
        (format!("{grpc} http2"), "")
    };
    format!(
        "\
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 10240;
}}
http {{
    access_log off;
    client_max_body_size 0;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;

    upstream echo {{
        server {upstream_grpc};
        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }}
    upstream web {{
        server {upstream_http};
        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }}
    server {{
        listen {grpc_listen};
        {http2_on}
        location / {{
            grpc_pass grpc://echo;
            grpc_read_timeout 300s;
            grpc_send_timeout 300s;
        }}
    }}
    server {{
        listen {http};
        location / {{
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
",
        upstream_grpc = upstreams.grpc,
        upstream_http = upstreams.http,
    )
}

/// HAProxy: HTTP/2 on both sides of the gRPC frontend (`proto h2`), connection reuse for
/// HTTP/1.1, generous timeouts so no idle connection is closed mid-run.
/// The `tcp` frontend (`mode tcp`) forwards bytes to the plain TCP echo server, the peer
/// of the `bridge-frames` scenario; the `relay` one forwards the bytes of gRPC
/// connections to the gRPC upstream, the byte-relay row of `stream`.
pub(super) fn haproxy(
    upstreams: &Upstreams,
    grpc: SocketAddr,
    http: SocketAddr,
    tcp: SocketAddr,
    relay: SocketAddr,
    threads: usize,
) -> String {
    format!(
        "\
global
    nbthread {threads}
    # A few hundred connections at most; a higher limit makes HAProxy raise its file
    # descriptor limit, which fails where the hard limit is low.
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s

frontend grpc_in
    bind {grpc} proto h2
    default_backend echo

backend echo
    server echo {upstream_grpc} proto h2

frontend http_in
    bind {http}
    default_backend web

backend web
    http-reuse always
    server web {upstream_http}

frontend tcp_in
    mode tcp
    bind {tcp}
    default_backend tcp_echo

backend tcp_echo
    mode tcp
    server tcp_echo {upstream_tcp}

frontend grpc_relay
    mode tcp
    bind {relay}
    default_backend grpc_bytes

backend grpc_bytes
    mode tcp
    server grpc_bytes {upstream_grpc}
",
        upstream_grpc = upstreams.grpc,
        upstream_http = upstreams.http,
        upstream_tcp = upstreams.tcp_echo,
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use yardmaster_config::{LogFormat, Protocol};

    use super::*;

    fn upstreams() -> Upstreams {
        Upstreams::addresses(
            "127.0.0.1:7001".parse().unwrap(),
            "127.0.0.1:7002".parse().unwrap(),
        )
    }

    #[test]
    fn yardmaster_config_is_valid_with_access_log_off_and_both_upstreams() {
        let yaml = yardmaster(&upstreams(), Path::new("/tmp/echo.binpb"));
        let config = yardmaster_config::from_str(&yaml, "bench.yaml").unwrap();
        assert!(!config.log.access_log);
        assert!(config.listeners.iter().all(|l| !l.forwarded_headers));
        assert_eq!(config.log.format, LogFormat::Json);
        let listeners: Vec<(&str, u16)> = config
            .listeners
            .iter()
            .map(|l| (l.name.as_str(), l.listen.port()))
            .collect();
        assert_eq!(
            listeners,
            vec![
                (GRPC_LISTENER, 0),
                (HTTP_LISTENER, 0),
                (MIRROR_LISTENER, 0),
                (MIRROR_SHARED_LISTENER, 0),
                (FANOUT_LISTENER, 0),
                (TRANSCODE_LISTENER, 0),
            ]
        );
        let clusters: Vec<(&str, Protocol, Vec<String>)> = config
            .clusters
            .iter()
            .map(|c| {
                let endpoints = c.endpoints.iter().map(|e| e.address.to_string()).collect();
                (c.name.as_str(), c.protocol, endpoints)
            })
            .collect();
        let four = (7011..=7014).map(|p| format!("127.0.0.1:{p}")).collect();
        assert_eq!(
            clusters,
            vec![
                ("echo", Protocol::Grpc, vec!["127.0.0.1:7001".to_owned()]),
                (
                    "mirror-a",
                    Protocol::Grpc,
                    vec!["127.0.0.1:7031".to_owned()]
                ),
                (
                    "mirror-b",
                    Protocol::Grpc,
                    vec!["127.0.0.1:7032".to_owned()]
                ),
                (
                    "shared-a",
                    Protocol::Grpc,
                    vec!["127.0.0.1:7011".to_owned()]
                ),
                (
                    "shared-b",
                    Protocol::Grpc,
                    vec!["127.0.0.1:7012".to_owned()]
                ),
                ("echo-four", Protocol::Grpc, four),
                (
                    "bridge-echo",
                    Protocol::Grpc,
                    vec!["127.0.0.1:7021".to_owned()]
                ),
                ("web", Protocol::Http1, vec!["127.0.0.1:7002".to_owned()]),
            ]
        );
        let bridge = &config.bridges[0];
        assert_eq!(bridge.name, BRIDGE);
        assert_eq!(bridge.cluster, "bridge-echo");
        assert_eq!(bridge.max_clients, BRIDGE_MAX_CLIENTS);
        let grpc_route = &config.listeners[0].routes[0];
        assert_eq!(
            grpc_route.matcher.service.as_deref(),
            Some("yardmaster.demo.v1.Echo")
        );
        assert_eq!(grpc_route.forward.as_ref().unwrap().cluster, "echo");
    }

    #[test]
    fn nginx_config_proxies_grpc_and_http_to_keepalive_pools() {
        let conf = nginx(
            Path::new("/tmp/bench-nginx"),
            &upstreams(),
            "127.0.0.1:8001".parse().unwrap(),
            "127.0.0.1:8002".parse().unwrap(),
            2,
            false,
        );
        for line in [
            "worker_processes 2;",
            "pid /tmp/bench-nginx/nginx.pid;",
            "access_log off;",
            "client_max_body_size 0;",
            "server 127.0.0.1:7001;",
            "server 127.0.0.1:7002;",
            "keepalive 256;",
            "listen 127.0.0.1:8001 http2;",
            "grpc_pass grpc://echo;",
            "listen 127.0.0.1:8002;",
            "proxy_pass http://web;",
            "proxy_http_version 1.1;",
        ] {
            assert!(conf.contains(line), "missing {line:?} in\n{conf}");
        }
        assert!(!conf.contains("http2 on;"), "{conf}");
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }

    #[test]
    fn nginx_1_25_config_turns_http2_on_by_directive() {
        let conf = nginx(
            Path::new("/tmp/x"),
            &upstreams(),
            "127.0.0.1:8001".parse().unwrap(),
            "127.0.0.1:8002".parse().unwrap(),
            1,
            true,
        );
        assert!(conf.contains("listen 127.0.0.1:8001;"), "{conf}");
        assert!(conf.contains("http2 on;"), "{conf}");
        assert!(!conf.contains(" http2;"), "{conf}");
    }

    #[test]
    fn haproxy_config_speaks_h2_on_both_sides_of_grpc() {
        let conf = haproxy(
            &upstreams(),
            "127.0.0.1:8001".parse().unwrap(),
            "127.0.0.1:8002".parse().unwrap(),
            "127.0.0.1:8003".parse().unwrap(),
            "127.0.0.1:8004".parse().unwrap(),
            2,
        );
        for line in [
            "mode tcp\n    bind 127.0.0.1:8003\n",
            "server tcp_echo 127.0.0.1:7022\n",
            "mode tcp\n    bind 127.0.0.1:8004\n",
            "server grpc_bytes 127.0.0.1:7001\n",
            "nbthread 2",
            "maxconn 4096",
            "bind 127.0.0.1:8001 proto h2",
            "server echo 127.0.0.1:7001 proto h2",
            "bind 127.0.0.1:8002\n",
            "http-reuse always",
            "server web 127.0.0.1:7002\n",
        ] {
            assert!(conf.contains(line), "missing {line:?} in\n{conf}");
        }
    }
}
