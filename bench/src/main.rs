//! `yardmaster-bench`: Yardmaster measured side by side with direct calls, nginx and HAProxy.
//!
//! One process owns the run (`run.rs`): it starts the demo upstreams in-process on
//! `127.0.0.1:0` (`upstream.rs`), starts each proxy as a child process with a generated
//! configuration (`lineup.rs`, `target.rs`), and for every scenario and repetition
//! re-invokes this binary with the hidden `load` subcommand (`load.rs`) against each target
//! in turn (`measure.rs`, `load_process.rs`), so the load generator never shares a scheduler
//! with the upstream or the proxy. It reads the proxies' CPU time and memory from `/proc`
//! (`process.rs`), cross-checks with `h2load` (`cross_check.rs`, `h2load.rs`) and writes the
//! markdown report (`report.rs`). See `bench/README.md`.
//!
//! Speed is reported, never asserted: the exit code only says whether every target answered
//! every call correctly.
//!
//! # Layout
//!
//! Modules depend one way, from the run down to plain values:
//!
//! - the run: `run` (the steps in order) and `run_args` (flags);
//!   `lineup` and `yardmaster_binary` (what is measured), `point` (where each scenario
//!   sends load), `measure` (repetitions, interleaved) and `load_process` (one load
//!   process, CPU sampled around its window); `cross_check`; `progress` (stderr lines).
//! - the results: `report` (markdown) -> `verdict` (the issues' targets) -> `summary`
//!   (the whole run) -> `row` (medians of a point) -> `sample` (one load run), with
//!   `figures` formatting numbers for the first two.
//! - beneath both: `settings` (load shape), `scenario`, `target`, `upstream`, `load`,
//!   `h2load`, `machine` and `process`.

mod cross_check;
mod figures;
mod h2load;
mod lineup;
mod load;
mod load_process;
mod machine;
mod measure;
mod point;
mod process;
mod progress;
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
mod yardmaster_binary;

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
