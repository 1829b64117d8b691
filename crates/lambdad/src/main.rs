//! The `lambdad` binary: CLI, server composition root and the hidden
//! `__sandbox-init` helper that execution environments are started through.

fn main() -> anyhow::Result<()> {
    // The sandbox helper must run before any thread exists (it unshares
    // namespaces and forks), so it is dispatched before clap and tokio.
    if std::env::args_os().nth(1).is_some_and(|a| a == "__sandbox-init") {
        lambdad_sandbox::init_main();
    }
    println!("lambdad");
    Ok(())
}
