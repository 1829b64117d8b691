//! The `__sandbox-init` helper for this crate's own tests (lambdad itself
//! re-executes its own binary).
fn main() {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__sandbox-init")
    {
        lambdad_sandbox::init_main();
    }
    eprintln!("usage: sandbox-test-helper __sandbox-init");
    std::process::exit(2);
}
