//! The `lambdad` binary: CLI, server composition root and the hidden
//! `__sandbox-init` helper that execution environments are started through.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod server;
mod store_copy;
mod tune;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A self-hosted AWS Lambda: the Lambda API, Runtime API and semantics in one binary.
#[derive(Debug, Parser)]
#[command(name = "lambdad", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (API, execution environments, store) in this process.
    Serve(Box<config::ServeFlags>),
    /// Print a function's log lines (`--follow` to keep printing new ones).
    Logs(cli::LogsArgs),
    /// Print the metered usage and estimated cost per function of a running server.
    Usage(cli::UsageArgs),
    /// Install the AWS SDKs that the managed runtimes include (`lambdad runtimes install`).
    Runtimes(cli::RuntimesArgs),
    /// Run a function at several memory sizes and recommend one for cost, speed or a balance.
    Tune(tune::TuneArgs),
    /// Move a data directory's metadata between SQLite and PostgreSQL (`export`, `import`).
    Store(store_copy::StoreArgs),
    /// Show the nodes serving one PostgreSQL store (`lambdad cluster status`).
    Cluster(cli::ClusterArgs),
}

fn main() -> ExitCode {
    // The sandbox helper must run before any thread exists (it unshares
    // namespaces and forks), so it is dispatched before clap and tokio.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__sandbox-init")
    {
        lambdad_sandbox::init_main();
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LAMBDAD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Errors are reported here, on one line, never by Rust's default
    // reporter (which prints a backtrace under RUST_BACKTRACE).
    let (result, failure) = match cli.command {
        // A configuration or start-up error: a usage error, as clap's.
        Command::Serve(flags) => (serve(&flags), ExitCode::from(2)),
        Command::Logs(args) => (cli::logs(&args), ExitCode::FAILURE),
        Command::Usage(args) => (usage(&args), ExitCode::FAILURE),
        Command::Runtimes(args) => (runtimes(&args), ExitCode::FAILURE),
        Command::Tune(args) => (run_tune(&args), ExitCode::FAILURE),
        Command::Store(args) => (store_copy::run(&args), ExitCode::FAILURE),
        Command::Cluster(args) => (cluster(&args), ExitCode::FAILURE),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": ").replace('\n', " "));
            failure
        }
    }
}

/// `lambdad serve`: resolves the configuration, then serves.
fn serve(flags: &config::ServeFlags) -> anyhow::Result<()> {
    let (config, warnings) =
        config::Config::resolve(flags, std::env::vars_os(), std::path::Path::new("."))?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build()?
        .block_on(server::serve(config))
}

fn runtimes(args: &cli::RuntimesArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(cli::runtimes(args))
}

fn usage(args: &cli::UsageArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(cli::usage(args))
}

fn cluster(args: &cli::ClusterArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(cli::cluster(args))
}

fn run_tune(args: &tune::TuneArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tune::tune(args))
}
