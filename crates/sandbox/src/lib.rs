//! lambdad-sandbox (to be written).

/// Entry point of the hidden `lambdad __sandbox-init` helper (placeholder).
pub fn init_main() -> ! {
    std::process::exit(127)
}
