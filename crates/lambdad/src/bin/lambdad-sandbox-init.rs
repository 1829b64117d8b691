//! The sandbox helper as a small program of its own: lambdad starts one per
//! execution environment (`lambdad-sandbox-init __sandbox-init`) to build the
//! sandbox and wait for the runtime. It links only the sandbox crate, so it
//! loads and relocates a fraction of what re-executing lambdad would, and an
//! idle environment's helper keeps ~10× less private memory. When it is not
//! installed beside lambdad, lambdad re-executes itself instead.
fn main() {
    lambdad_sandbox::init_main()
}
