//! The `lambdad` binary: CLI, server composition root and the hidden
//! `__sandbox-init` helper that execution environments are started through.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod server;

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
    Serve(Box<config::ServeArgs>),
    /// Print a function's log lines (`--follow` to keep printing new ones).
    Logs(cli::LogsArgs),
    /// Print the metered usage and estimated cost per function of a running server.
    Usage(cli::UsageArgs),
}

fn main() -> anyhow::Result<()> {
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
    match cli.command {
        Command::Serve(args) => {
            let config = config::Config::resolve(&args)?;
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(config.worker_threads)
                .enable_all()
                .build()?
                .block_on(server::serve(config))
        }
        Command::Logs(args) => cli::logs(&args),
        Command::Usage(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(cli::usage(&args)),
    }
}
