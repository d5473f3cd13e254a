//! `yardmaster demo`: demo upstreams and a gateway in front of them, in one process;
//! `yardmaster call`: a gRPC client, for the demo service by its call shapes and for any
//! service by its descriptors (`call.rs`), so a newcomer needs no other tool.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::StreamExt as _;
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_demo::EchoService;

use crate::{Gateway, GatewayHandle};

/// The demo's gateway configuration; `{echo_a}`, `{echo_b}`, `{web}`, `{listen}` and
/// `{admin}` are filled in with the addresses bound at start.
const DEMO_CONFIG: &str = include_str!("demo.yaml");

/// Options of `yardmaster demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address of the gateway's listener.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the admin API.
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin: SocketAddr,
}

/// Options of `yardmaster call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The gateway (or any gRPC server) to call.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub gateway: SocketAddr,
    /// What to do: `list` (the services), `describe SYMBOL` (a service, method, message or
    /// enum), `package.Service/Method` (call it with `--data`), or one of the demo Echo
    /// service's shapes: `unary`, `stream`, `upload`, `chat`.
    pub target: String,
    /// The demo's messages (default `hello`), or the symbol to describe.
    pub messages: Vec<String>,
    /// A request message as JSON (repeat it for a client stream; `@-` reads one per line
    /// from stdin); `{}` when none is given.
    #[arg(long, short = 'd')]
    pub data: Vec<String>,
    /// `.proto` files that define the service, instead of the server's reflection.
    #[arg(long = "proto")]
    pub proto_files: Vec<std::path::PathBuf>,
    /// A `FileDescriptorSet` that defines the service, instead of the server's reflection.
    #[arg(long)]
    pub descriptor_set: Option<std::path::PathBuf>,
    /// Write reply fields that hold their default value.
    #[arg(long)]
    pub emit_defaults: bool,
    /// How long the call may take, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Replies to ask for (the demo's `stream`).
    #[arg(long, default_value_t = 3)]
    pub count: u32,
    /// Metadata to send, as `key=value` (repeatable).
    #[arg(long = "metadata", short = 'm')]
    pub metadata: Vec<String>,
}

/// The four gRPC call shapes of the demo `Echo` service.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// One request, one reply.
    Unary,
    /// One request, `--count` replies.
    Stream,
    /// Many requests, one reply.
    Upload,
    /// Many requests, a reply to each.
    Chat,
}

/// The demo's upstreams and gateway, running.
pub struct Demo {
    gateway: GatewayHandle,
    stop: watch::Sender<bool>,
    /// The descriptor set file written for the transcoding route.
    echo_descriptors: std::path::PathBuf,
}

impl Demo {
    /// Starts two gRPC echo upstreams (`echo-a`, `echo-b`), one HTTP upstream (`web`) and
    /// the gateway routing to them, on the addresses in `args` (port 0 picks a free port).
    pub async fn start(args: &DemoArgs) -> anyhow::Result<Demo> {
        let (stop, stopped) = watch::channel(false);
        let echo_a = start_echo("echo-a", stopped.clone()).await?;
        let echo_b = start_echo("echo-b", stopped.clone()).await?;
        let web_socket = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the demo HTTP upstream")?;
        let web = web_socket
            .local_addr()
            .context("reading the demo HTTP address")?;
        // Detached on purpose: it stops when `stop` is sent, like the echo upstreams.
        tokio::spawn(yardmaster_demo::serve_http(
            web_socket,
            "web",
            until(stopped),
        ));

        // The echo service's descriptors, for the transcoding route, as a user would
        // have them: a descriptor set file.
        let echo_descriptors =
            std::env::temp_dir().join(format!("yardmaster-demo-{}.binpb", std::process::id()));
        std::fs::write(&echo_descriptors, yardmaster_demo::FILE_DESCRIPTOR_SET)
            .with_context(|| format!("writing {}", echo_descriptors.display()))?;
        let yaml = DEMO_CONFIG
            .replace(
                "{echo_descriptors}",
                &echo_descriptors.display().to_string(),
            )
            .replace("{echo_a}", &echo_a.to_string())
            .replace("{echo_b}", &echo_b.to_string())
            .replace("{web}", &web.to_string())
            .replace("{listen}", &args.listen.to_string())
            .replace("{admin}", &args.admin.to_string());
        let config = yardmaster_config::from_str(&yaml, "demo.yaml").map_err(|errors| {
            anyhow::anyhow!("the built-in demo configuration is invalid:\n{errors}")
        })?;
        let gateway = Gateway::bind(config)
            .await
            .context("starting the demo gateway (is the port in use? try --listen and --admin)")?
            .spawn()?;
        Ok(Demo {
            gateway,
            stop,
            echo_descriptors,
        })
    }

    /// The gateway's listener address.
    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway.addr("public")
    }

    /// The admin API address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.gateway.admin_addr()
    }

    /// Drains the gateway, then stops the upstreams.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        let _ = self.stop.send(true);
        let _ = std::fs::remove_file(&self.echo_descriptors);
    }
}

/// Runs the demo until Ctrl-C, after printing what to try.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let demo = Demo::start(&args).await?;
    let gateway = demo.gateway_addr().unwrap_or(args.listen);
    let admin = demo.admin_addr().unwrap_or(args.admin);
    print_guide(gateway, admin).context("writing to stdout")?;
    crate::shutdown_requested().await?;
    demo.shutdown().await;
    Ok(())
}

async fn start_echo(name: &str, stopped: watch::Receiver<bool>) -> anyhow::Result<SocketAddr> {
    let socket = TcpListener::bind("127.0.0.1:0")
        .await
        .with_context(|| format!("binding demo upstream {name}"))?;
    let addr = socket
        .local_addr()
        .context("reading a demo upstream address")?;
    // Detached on purpose: demo upstreams live as long as the demo process.
    tokio::spawn(yardmaster_demo::serve_grpc(
        socket,
        yardmaster_demo::echo_server(EchoService::new(name)),
        until(stopped),
    ));
    Ok(addr)
}

async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

fn print_guide(gw: SocketAddr, admin: SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "Yardmaster demo is running (Ctrl-C to stop).")?;
    writeln!(out, "  gateway  http://{gw}   (gRPC and HTTP on one port)")?;
    writeln!(out, "  admin    http://{admin}")?;
    writeln!(out)?;
    writeln!(
        out,
        "gRPC through the gateway, balanced round robin over echo-a and echo-b:"
    )?;
    writeln!(out, "  cargo run --release -- call unary hello")?;
    writeln!(out, "  cargo run --release -- call stream tick --count 5")?;
    writeln!(out, "  cargo run --release -- call chat one two three")?;
    writeln!(
        out,
        "  cargo run --release -- call unary hi -m x-internal=yes   # denied: PERMISSION_DENIED"
    )?;
    writeln!(
        out,
        "HTTP reverse proxy (/api/* -> the demo web upstream, prefix stripped):"
    )?;
    writeln!(out, "  curl -s http://{gw}/api/hello")?;
    writeln!(
        out,
        "  curl -s http://{gw}/internal/secrets     # denied: 403"
    )?;
    writeln!(
        out,
        "HTTP/JSON transcoded to gRPC (descriptors loaded at startup):"
    )?;
    writeln!(
        out,
        "  curl -s -H 'Content-Type: application/json' -d '{{\"message\": \"hi\"}}' http://{gw}/yardmaster.demo.v1.Echo/Unary"
    )?;
    writeln!(out, "Operations:")?;
    writeln!(out, "  curl -s http://{admin}/clusters")?;
    writeln!(
        out,
        "  curl -s http://{admin}/metrics | grep yardmaster_requests"
    )?;
    out.flush()
}

/// Calls the demo `Echo` service through a gateway and prints each reply.
pub async fn call(args: CallArgs) -> anyhow::Result<()> {
    let request = match args.target.as_str() {
        "unary" => Some(Shape::Unary),
        "stream" => Some(Shape::Stream),
        "upload" => Some(Shape::Upload),
        "chat" => Some(Shape::Chat),
        _ => None,
    };
    let Some(shape) = request else {
        return call_any(&args).await;
    };
    let messages = if args.messages.is_empty() {
        vec!["hello".to_owned()]
    } else {
        args.messages.clone()
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", args.gateway))
        .context("building the gateway address")?
        .connect()
        .await
        .with_context(|| format!("connecting to the gateway at {}", args.gateway))?;
    let mut client = EchoClient::new(channel);
    let requests: Vec<EchoRequest> = messages
        .iter()
        .map(|m| EchoRequest {
            message: m.clone(),
            count: args.count,
            ..Default::default()
        })
        .collect();
    let mut out = std::io::stdout().lock();
    match shape {
        Shape::Unary => {
            let first = requests.into_iter().next().unwrap_or_default();
            let reply = client
                .unary(with_metadata(first, &args.metadata)?)
                .await?
                .into_inner();
            writeln!(out, "{} (served by {})", reply.message, reply.served_by)?;
        }
        Shape::Stream => {
            let first = requests.into_iter().next().unwrap_or_default();
            let mut replies = client
                .server_stream(with_metadata(first, &args.metadata)?)
                .await
                .map_err(status_error)?
                .into_inner();
            while let Some(reply) = replies.next().await {
                let reply = reply.map_err(status_error)?;
                writeln!(
                    out,
                    "#{} {} (served by {})",
                    reply.index, reply.message, reply.served_by
                )?;
            }
        }
        Shape::Upload => {
            let stream = tokio_stream::iter(requests);
            let reply = client
                .client_stream(with_metadata(stream, &args.metadata)?)
                .await
                .map_err(status_error)?
                .into_inner();
            writeln!(
                out,
                "{} ({} messages, served by {})",
                reply.message, reply.received, reply.served_by
            )?;
        }
        Shape::Chat => {
            let stream = tokio_stream::iter(requests);
            let mut replies = client
                .bidi(with_metadata(stream, &args.metadata)?)
                .await?
                .into_inner();
            while let Some(reply) = replies.next().await {
                let reply = reply.map_err(status_error)?;
                writeln!(
                    out,
                    "#{} {} (served by {})",
                    reply.index, reply.message, reply.served_by
                )?;
            }
        }
    }
    Ok(())
}

/// `list`, `describe` or a method of any service.
async fn call_any(args: &CallArgs) -> anyhow::Result<()> {
    let request = match (args.target.as_str(), args.messages.as_slice()) {
        ("list", []) => crate::call::Request::List,
        ("describe", [symbol]) => crate::call::Request::Describe(symbol),
        ("list" | "describe", _) => {
            anyhow::bail!("`list` takes no argument, `describe` takes the symbol to describe")
        }
        (method, []) if method.contains('/') => crate::call::Request::Method(method),
        (other, _) => anyhow::bail!(
            "{other:?} is not `list`, `describe`, a method (`package.Service/Method`, with --data) or a demo shape (unary, stream, upload, chat)"
        ),
    };
    let timeout = std::time::Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .context("--timeout must be a positive number of seconds")?;
    let options = crate::call::Options {
        target: args.gateway,
        proto_files: &args.proto_files,
        descriptor_set: args.descriptor_set.as_ref(),
        data: &args.data,
        metadata: &args.metadata,
        timeout,
        emit_defaults: args.emit_defaults,
    };
    crate::call::run(request, &options).await
}

/// `PERMISSION_DENIED: internal callers only` rather than tonic's long Display.
fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

fn with_metadata<T>(message: T, pairs: &[String]) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    let metadata = crate::call::parse_metadata(pairs)?;
    *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(metadata);
    Ok(request)
}
