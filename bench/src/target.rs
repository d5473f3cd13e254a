//! The targets load is sent to: the upstream directly, and each proxy in front of it,
//! started as a child process with a configuration written to a temporary directory.

mod config;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tempfile::TempDir;

use crate::process::Processes;
use crate::upstream::Upstreams;

/// How long a proxy may take from spawn to accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a proxy may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which implementation a target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Direct,
    Yardmaster,
    Nginx,
    Haproxy,
    /// Yardmaster's `mirror` route (the same process as [`Kind::Yardmaster`]), copies to
    /// targets at the lowest CPU priority.
    YardmasterMirror,
    /// The same route with copies to targets at normal priority, sharing the cores.
    YardmasterMirrorShared,
    /// Yardmaster's `fanout` route (the same process as [`Kind::Yardmaster`]).
    YardmasterFanout,
    /// Yardmaster's `transcode` route: the same calls as HTTP/JSON.
    YardmasterTranscode,
    /// HAProxy relaying the gRPC connection's bytes (`mode tcp`, no HTTP/2): what any
    /// proxy on these cores could reach at best.
    HaproxyRelay,
}

impl Kind {
    /// The name in the report.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Yardmaster => "Yardmaster",
            Kind::Nginx => "nginx",
            Kind::Haproxy => "HAProxy",
            Kind::YardmasterMirror => "Yardmaster mirror ×2",
            Kind::YardmasterMirrorShared => "Yardmaster mirror ×2, copy targets sharing the cores",
            Kind::YardmasterFanout => "Yardmaster fan-out ×4",
            Kind::YardmasterTranscode => "Yardmaster HTTP/JSON (transcode)",
            Kind::HaproxyRelay => "HAProxy byte relay (mode tcp)",
        }
    }
}

/// One place to send load to.
pub(crate) struct Target {
    pub(crate) kind: Kind,
    /// Where gRPC (h2c) load goes.
    pub(crate) grpc: SocketAddr,
    /// Where HTTP/1.1 load goes.
    pub(crate) http: SocketAddr,
    /// Where `mirror` load goes (Yardmaster only): copies to low-priority targets, and to
    /// targets at normal priority.
    pub(crate) mirror: Option<SocketAddr>,
    pub(crate) mirror_shared: Option<SocketAddr>,
    /// Where `fanout` load goes (Yardmaster only).
    pub(crate) fanout: Option<SocketAddr>,
    /// Where HTTP/JSON `transcode` load goes (Yardmaster only).
    pub(crate) transcode: Option<SocketAddr>,
    /// Where raw TCP frames go: the bridge, HAProxy's `mode tcp` frontend, the TCP echo
    /// server; `None` for a target without one (nginx).
    pub(crate) tcp: Option<SocketAddr>,
    /// Where gRPC load goes through a byte relay to the gRPC upstream (HAProxy only).
    pub(crate) relay: Option<SocketAddr>,
    /// The proxy process; `None` for the direct target.
    pub(crate) proxy: Option<ProxyProcess>,
}

/// A proxy running as a child process, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct ProxyProcess {
    child: Child,
    /// The processes whose CPU and memory are the proxy's.
    pub(crate) processes: Processes,
    /// The version line the binary reports.
    pub(crate) version: String,
    /// Holds the configuration and logs; removed on drop.
    _dir: TempDir,
}

impl Target {
    /// The upstream itself.
    pub(crate) fn direct(upstreams: &Upstreams) -> Target {
        Target {
            kind: Kind::Direct,
            grpc: upstreams.grpc,
            http: upstreams.http,
            mirror: None,
            mirror_shared: None,
            fanout: None,
            transcode: None,
            tcp: Some(upstreams.tcp_echo),
            relay: None,
            proxy: None,
        }
    }

    /// Starts the Yardmaster binary at `binary` on `127.0.0.1:0` listeners and reads the
    /// bound addresses from its JSON log.
    pub(crate) fn yardmaster(binary: &Path, upstreams: &Upstreams) -> anyhow::Result<Target> {
        let dir = temp_dir("yardmaster")?;
        let config_path = dir.path().join("yardmaster.yaml");
        let descriptors = dir.path().join("echo.binpb");
        std::fs::write(&descriptors, yardmaster_demo::FILE_DESCRIPTOR_SET)
            .context("writing the Echo descriptor set")?;
        std::fs::write(&config_path, config::yardmaster(upstreams, &descriptors))
            .context("writing the Yardmaster configuration")?;
        let mut child = Command::new(binary)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let log = dir.path().join("yardmaster.log");
        let addrs = match child.stderr.take() {
            Some(stderr) => listening_addrs(stderr, &log),
            None => Err(anyhow::anyhow!("no stderr pipe")),
        };
        let proxy = ProxyProcess {
            processes: Processes::single(child.id()),
            child,
            version: version_line(binary, "--version", false),
            _dir: dir,
        };
        let addrs = addrs
            .with_context(|| format!("Yardmaster did not start; its log:\n{}", read_log(&log)))?;
        let addr = |name: &str| {
            addrs
                .iter()
                .find(|(listener, _)| listener == name)
                .map(|&(_, addr)| addr)
                .with_context(|| format!("no address for Yardmaster listener {name:?}"))
        };
        Ok(Target {
            kind: Kind::Yardmaster,
            grpc: addr(config::GRPC_LISTENER)?,
            http: addr(config::HTTP_LISTENER)?,
            mirror: Some(addr(config::MIRROR_LISTENER)?),
            mirror_shared: Some(addr(config::MIRROR_SHARED_LISTENER)?),
            fanout: Some(addr(config::FANOUT_LISTENER)?),
            transcode: Some(addr(config::TRANSCODE_LISTENER)?),
            tcp: Some(addr(config::BRIDGE)?),
            relay: None,
            proxy: Some(proxy),
        })
    }

    /// Starts nginx (`grpc_pass` and `proxy_pass`, upstream keep-alive, one worker per
    /// core); `None` when nginx is not installed.
    pub(crate) fn nginx(upstreams: &Upstreams, cores: usize) -> anyhow::Result<Option<Target>> {
        let Some(binary) = find_program("nginx") else {
            return Ok(None);
        };
        let version = version_line(&binary, "-v", true);
        let dir = temp_dir("nginx")?;
        let (grpc, http) = (free_port()?, free_port()?);
        let conf = config::nginx(
            dir.path(),
            upstreams,
            grpc,
            http,
            cores,
            nginx_has_http2_directive(&version),
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).context("writing the nginx configuration")?;
        let log = dir.path().join("error.log");
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(&log)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let proxy = ProxyProcess {
            processes: Processes::with_children(child.id()),
            child,
            version,
            _dir: dir,
        };
        let ports = Ports {
            grpc,
            http,
            tcp: None,
            relay: None,
        };
        Target::started(Kind::Nginx, ports, proxy, &log).map(Some)
    }

    /// Starts HAProxy (HTTP/2 on both sides for gRPC, `mode http` with connection reuse
    /// for HTTP/1.1, one thread per core); `None` when HAProxy is not installed.
    pub(crate) fn haproxy(upstreams: &Upstreams, cores: usize) -> anyhow::Result<Option<Target>> {
        let Some(binary) = find_program("haproxy") else {
            return Ok(None);
        };
        let version = version_line(&binary, "-v", false);
        let dir = temp_dir("haproxy")?;
        let (grpc, http, tcp) = (free_port()?, free_port()?, free_port()?);
        let relay = free_port()?;
        let conf_path = dir.path().join("haproxy.cfg");
        std::fs::write(
            &conf_path,
            config::haproxy(upstreams, grpc, http, tcp, relay, cores),
        )
        .context("writing the HAProxy configuration")?;
        let log = dir.path().join("haproxy.log");
        let log_file = std::fs::File::create(&log).context("creating the HAProxy log")?;
        let child = Command::new(&binary)
            .arg("-f")
            .arg(&conf_path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let proxy = ProxyProcess {
            processes: Processes::single(child.id()),
            child,
            version,
            _dir: dir,
        };
        let ports = Ports {
            grpc,
            http,
            tcp: Some(tcp),
            relay: Some(relay),
        };
        Target::started(Kind::Haproxy, ports, proxy, &log).map(Some)
    }

    /// Waits until every port of a freshly spawned proxy accepts connections.
    fn started(
        kind: Kind,
        ports: Ports,
        mut proxy: ProxyProcess,
        log: &Path,
    ) -> anyhow::Result<Target> {
        let Ports {
            grpc,
            http,
            tcp,
            relay,
        } = ports;
        for addr in [Some(grpc), Some(http), tcp, relay].into_iter().flatten() {
            proxy.wait_listening(addr).with_context(|| {
                format!(
                    "{} did not start; its log:\n{}",
                    kind.label(),
                    read_log(log)
                )
            })?;
        }
        Ok(Target {
            kind,
            grpc,
            http,
            mirror: None,
            mirror_shared: None,
            fanout: None,
            transcode: None,
            tcp,
            relay,
            proxy: Some(proxy),
        })
    }
}

/// The ports a proxy target listens on (see [`Target`]).
struct Ports {
    grpc: SocketAddr,
    http: SocketAddr,
    tcp: Option<SocketAddr>,
    relay: Option<SocketAddr>,
}

impl ProxyProcess {
    /// Polls until `addr` accepts a connection: nginx and HAProxy have no readiness
    /// signal, so a bounded connect loop is the only way to know.
    fn wait_listening(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("exited with {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{addr} not accepting connections after {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        if !self.is_running() {
            return;
        }
        // SIGTERM lets nginx's master stop its workers; SIGKILL would orphan them.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads Yardmaster's JSON log until every listener and bridge has reported its address,
/// and keeps copying the rest of the log to `log` on a thread (so the pipe never fills).
fn listening_addrs(
    stderr: std::process::ChildStderr,
    log: &Path,
) -> anyhow::Result<Vec<(String, SocketAddr)>> {
    let mut file = std::fs::File::create(log).context("creating the Yardmaster log")?;
    let (found, listening) = mpsc::channel();
    // Ends when Yardmaster closes stderr, that is when it exits.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
            if let Some(addr) = listening_line(&line) {
                let _ = found.send(addr);
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut addrs: Vec<(String, SocketAddr)> = Vec::new();
    while !config::YARDMASTER_LISTENERS
        .iter()
        .all(|name| addrs.iter().any(|(listener, _)| listener == name))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let found = listening.recv_timeout(left).map_err(|_| {
            anyhow::anyhow!("not every `listening` log line after {START_TIMEOUT:?}")
        })?;
        addrs.push(found);
    }
    Ok(addrs)
}

/// `(listener or bridge, addr)` of a JSON `listening` or `bridge listening` log line.
fn listening_line(line: &str) -> Option<(String, SocketAddr)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    let key = match fields.get("message")?.as_str()? {
        "listening" => "listener",
        "bridge listening" => "bridge",
        _ => return None,
    };
    let listener = fields.get(key)?.as_str()?.to_owned();
    let addr = fields.get("addr")?.as_str()?.parse().ok()?;
    Some((listener, addr))
}

/// A free loopback port for a proxy that cannot bind port 0 and report it: bind
/// `127.0.0.1:0`, read the port, release it. Another process could take it in between;
/// on a benchmark machine that does not happen in practice, and the proxy would fail
/// loudly if it did.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("reserving a loopback port")?;
    Ok(listener.local_addr()?)
}

fn temp_dir(name: &str) -> anyhow::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("yardmaster-bench-{name}-"))
        .tempdir()
        .context("creating a temporary directory")
}

/// `name` in `PATH`, or in the sbin directories Debian installs nginx and HAProxy to
/// (not in every user's `PATH`).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The first line a binary prints for its version flag (nginx prints it on stderr).
pub(crate) fn version_line(binary: &Path, flag: &str, on_stderr: bool) -> String {
    Command::new(binary)
        .arg(flag)
        .output()
        .ok()
        .map(|out| if on_stderr { out.stderr } else { out.stdout })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown version".to_owned())
}

/// nginx 1.25.1 added `http2 on;`; older ones take `http2` on the `listen` line.
fn nginx_has_http2_directive(version: &str) -> bool {
    let numbers: Vec<u32> = version
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .take(3)
        .collect();
    numbers.as_slice() >= [1, 25, 1].as_slice()
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| format!("(no log: {error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http2_directive_needs_nginx_1_25_1() {
        assert!(!nginx_has_http2_directive("nginx version: nginx/1.22.1"));
        assert!(nginx_has_http2_directive("nginx version: nginx/1.25.1"));
        assert!(nginx_has_http2_directive("nginx version: nginx/1.27.0"));
    }

    #[test]
    fn reads_listener_address_from_json_log_line() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"listening","listener":"grpc","addr":"127.0.0.1:4242","tls":false},"target":"yardmaster::gateway"}"#;
        let (listener, addr) = listening_line(line).unwrap();
        assert_eq!(listener, "grpc");
        assert_eq!(addr, "127.0.0.1:4242".parse::<SocketAddr>().unwrap());
        assert_eq!(listening_line(r#"{"fields":{"message":"stopped"}}"#), None);
        let bridge = r#"{"fields":{"message":"bridge listening","bridge":"frames","addr":"127.0.0.1:4343"}}"#;
        assert_eq!(
            listening_line(bridge),
            Some(("frames".to_owned(), "127.0.0.1:4343".parse().unwrap()))
        );
    }
}
