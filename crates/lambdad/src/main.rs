//! The `lambdad` binary: CLI, server composition root and the hidden
//! `__sandbox-init` helper that execution environments are started through.

fn main() -> anyhow::Result<()> {
    println!("lambdad");
    Ok(())
}
