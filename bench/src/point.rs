//! [`Point`]: where one (scenario, target) pair sends its load, and which scenario sends
//! load to which address of each target.

use std::net::SocketAddr;

use crate::process::Processes;
use crate::scenario::Scenario;
use crate::target::{Kind, Target};

/// Where one (scenario, target) point sends its load, and whose CPU and memory it reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point {
    pub(crate) kind: Kind,
    pub(crate) addr: SocketAddr,
    /// The proxy's processes; `None` for direct.
    pub(crate) proxy: Option<Processes>,
}

/// The points of `scenario`: every target for the plain scenarios, and for `stream` also
/// HAProxy as a byte relay; Yardmaster's plain `forward` route next to its `mirror` or
/// `fanout` route (nginx and HAProxy do neither), and its native gRPC route next to its
/// `transcode` route; every target with a raw TCP address
/// for `bridge-frames` (direct is the TCP echo server).
pub(crate) fn points(scenario: Scenario, targets: &[Target]) -> Vec<Point> {
    let point = |kind, addr, target: &Target| Point {
        kind,
        addr,
        proxy: target.proxy.as_ref().map(|p| p.processes),
    };
    let mut points = Vec::new();
    for target in targets {
        match scenario {
            Scenario::Mirror => {
                if let (Some(mirror), Some(shared)) = (target.mirror, target.mirror_shared) {
                    points.push(point(Kind::Yardmaster, target.grpc, target));
                    points.push(point(Kind::YardmasterMirror, mirror, target));
                    points.push(point(Kind::YardmasterMirrorShared, shared, target));
                }
            }
            Scenario::Fanout => {
                if let Some(addr) = target.fanout {
                    points.push(point(Kind::Yardmaster, target.grpc, target));
                    points.push(point(Kind::YardmasterFanout, addr, target));
                }
            }
            Scenario::Transcode => {
                if let Some(addr) = target.transcode {
                    points.push(point(Kind::Yardmaster, target.grpc, target));
                    points.push(point(Kind::YardmasterTranscode, addr, target));
                }
            }
            Scenario::BridgeIdle | Scenario::BridgeFrames => {
                if let Some(addr) = target.tcp {
                    points.push(point(target.kind, addr, target));
                }
            }
            Scenario::Http1 => points.push(point(target.kind, target.http, target)),
            Scenario::Stream => {
                points.push(point(target.kind, target.grpc, target));
                if let Some(relay) = target.relay {
                    points.push(point(Kind::HaproxyRelay, relay, target));
                }
            }
            Scenario::Unary | Scenario::Unary16k | Scenario::Pingpong => {
                points.push(point(target.kind, target.grpc, target));
            }
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Upstreams;

    fn yardmaster_target() -> Target {
        let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Target {
            kind: Kind::Yardmaster,
            grpc: addr(9001),
            http: addr(9002),
            mirror: Some(addr(9003)),
            mirror_shared: Some(addr(9006)),
            fanout: Some(addr(9004)),
            transcode: Some(addr(9007)),
            tcp: Some(addr(9005)),
            relay: None,
            proxy: None,
        }
    }

    #[test]
    fn mirror_and_fanout_compare_yardmaster_routes_and_frames_go_to_tcp_addresses() {
        let upstreams = Upstreams::addresses(
            "127.0.0.1:7001".parse().unwrap(),
            "127.0.0.1:7002".parse().unwrap(),
        );
        let targets = [Target::direct(&upstreams), yardmaster_target()];
        let shape = |scenario| -> Vec<(Kind, u16)> {
            points(scenario, &targets)
                .iter()
                .map(|p| (p.kind, p.addr.port()))
                .collect()
        };
        assert_eq!(
            shape(Scenario::Mirror),
            vec![
                (Kind::Yardmaster, 9001),
                (Kind::YardmasterMirror, 9003),
                (Kind::YardmasterMirrorShared, 9006)
            ]
        );
        assert_eq!(
            shape(Scenario::Fanout),
            vec![(Kind::Yardmaster, 9001), (Kind::YardmasterFanout, 9004)]
        );
        assert_eq!(
            shape(Scenario::Transcode),
            vec![(Kind::Yardmaster, 9001), (Kind::YardmasterTranscode, 9007)]
        );
        assert_eq!(
            shape(Scenario::BridgeFrames),
            vec![(Kind::Direct, 7022), (Kind::Yardmaster, 9005)]
        );
        assert_eq!(
            shape(Scenario::Http1),
            vec![(Kind::Direct, 7002), (Kind::Yardmaster, 9002)]
        );
        assert_eq!(
            shape(Scenario::Unary),
            vec![(Kind::Direct, 7001), (Kind::Yardmaster, 9001)]
        );
    }

    #[test]
    fn stream_adds_the_byte_relay_of_a_target_that_has_one() {
        let upstreams = Upstreams::addresses(
            "127.0.0.1:7001".parse().unwrap(),
            "127.0.0.1:7002".parse().unwrap(),
        );
        let haproxy = Target {
            kind: Kind::Haproxy,
            relay: Some(SocketAddr::from(([127, 0, 0, 1], 9107))),
            ..yardmaster_target()
        };
        let targets = [Target::direct(&upstreams), yardmaster_target(), haproxy];
        let stream: Vec<(Kind, u16)> = points(Scenario::Stream, &targets)
            .iter()
            .map(|p| (p.kind, p.addr.port()))
            .collect();
        assert_eq!(
            stream,
            vec![
                (Kind::Direct, 7001),
                (Kind::Yardmaster, 9001),
                (Kind::Haproxy, 9001),
                (Kind::HaproxyRelay, 9107)
            ]
        );
        let unary = points(Scenario::Unary, &targets);
        assert!(unary.iter().all(|p| p.kind != Kind::HaproxyRelay));
    }
}
