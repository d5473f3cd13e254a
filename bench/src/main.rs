//! `yardmaster-bench`: Yardmaster measured side by side with direct calls, nginx and HAProxy.
//!
//! One process owns the run (`run.rs`): it starts the demo upstreams in-process on
//! `127.0.0.1:0`, starts each proxy as a child process with a generated configuration
//! (`target.rs`), and for every scenario and repetition re-invokes this binary with the
//! hidden `load` subcommand (`load.rs`) against each target in turn, so the load generator
//! never shares a scheduler with the upstream or the proxy. It reads the proxies' CPU time
//! and memory from `/proc` (`process.rs`), cross-checks with `h2load` (`h2load.rs`) and
//! writes the markdown report (`report.rs`). See `bench/README.md`.
//!
//! Speed is reported, never asserted: the exit code only says whether every target answered
//! every call correctly.

mod figures;
mod h2load;
mod load;
mod machine;
mod process;
mod report;
mod row;
mod run;
mod run_args;
mod sample;
mod scenario;
mod settings;
mod summary;
mod target;
mod upstream;
mod verdict;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Benchmarks Yardmaster against direct calls, nginx and HAProxy on loopback.
#[derive(Parser)]
#[command(name = "yardmaster-bench", about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: run_args::RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Internal: generate load against one target and print a JSON report.
    #[command(hide = true)]
    Load(load::LoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Load(args)) => load::main(&args).map(|()| ExitCode::SUCCESS),
        None => run::main(&cli.run),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
