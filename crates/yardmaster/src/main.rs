//! The `yardmaster` command: run a gateway from a file, check a file, or run the demo.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use yardmaster::demo::{self, CallArgs, DemoArgs};
use yardmaster::Gateway;
use yardmaster_config::{Config, DiscoveryConfig, LogFormat};

/// Per-call allocations (tasks, header maps, futures) dominate the allocator's work; mimalloc
/// does it with less CPU than the system allocator (see bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A gRPC-native gateway: routing, balancing, and transparent gRPC and HTTP proxying from
/// one declarative file.
#[derive(Parser)]
#[command(name = "yardmaster", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway described by a configuration file.
    Run {
        /// The YAML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file: print every error, exit non-zero if any.
    Check {
        /// The YAML configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Start demo upstreams and a gateway in front of them, and print what to try.
    Demo(DemoArgs),
    /// Call a gRPC service: `list`, `describe`, a method with JSON, or the demo's shapes.
    Call(CallArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config } => load(&config).and_then(|config| {
            init_logging(config.log.format);
            runtime()?.block_on(run(config))
        }),
        Command::Demo(args) => {
            init_logging(LogFormat::Text);
            runtime().and_then(|rt| rt.block_on(demo::run(args)))
        }
        Command::Call(args) => runtime().and_then(|rt| rt.block_on(demo::call(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    yardmaster_config::load(path)
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n{errors}"))
}

fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = load(path)?;
    check_endpoint_files(&config)?;
    let routes: usize = config.listeners.iter().map(|l| l.routes.len()).sum();
    let bridges = match config.bridges.len() {
        0 => String::new(),
        n => format!(", {n} bridges"),
    };
    writeln!(
        std::io::stdout(),
        "{}: OK ({} listeners, {} routes, {} clusters{bridges})",
        path.display(),
        config.listeners.len(),
        routes,
        config.clusters.len()
    )
    .context("writing to stdout")
}

/// Reads the endpoint file of every `file` discovery source, as the gateway would at
/// start: a missing or malformed file is an error here, where the gateway would start
/// with the cluster empty and wait for the file.
fn check_endpoint_files(config: &Config) -> anyhow::Result<()> {
    for cluster in &config.clusters {
        let Some(DiscoveryConfig::File(file)) = &cluster.discovery else {
            continue;
        };
        let name = file.path.display().to_string();
        let text = std::fs::read_to_string(&file.path)
            .with_context(|| format!("cluster {:?}: reading {name}", cluster.name))?;
        yardmaster_config::parse_endpoint_file(&text, &name).map_err(|e| {
            anyhow::anyhow!("cluster {:?}: invalid endpoint file:\n{e}", cluster.name)
        })?;
    }
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    let gateway = Gateway::bind(config).await?.spawn()?;
    yardmaster::shutdown_requested().await?;
    tracing::info!("shutting down: draining in-flight calls");
    gateway.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
