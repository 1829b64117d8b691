//! Which program an environment starts for a function's runtime.
//!
//! Custom runtimes (`provided.al2023`, `provided.al2`) run the function's
//! own `bootstrap`: `/var/task/bootstrap`, else `/opt/bootstrap` from a
//! layer (AWS's order). Managed runtimes (Python, Node.js) are resolved here
//! too as they are added.

use std::path::Path;

use lambdad_model::VersionSnapshot;

/// The program to start, as seen inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeCommand {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// `AWS_EXECUTION_ENV`, set for managed runtimes only.
    pub execution_env: Option<String>,
}

/// Why no program can be started; reported to the caller as a function error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeUnavailable {
    /// AWS's error type, e.g. `Runtime.InvalidEntrypoint`.
    pub error_type: &'static str,
    /// A message naming what is missing.
    pub message: String,
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves the command for `snapshot`.
pub fn command_for(snapshot: &VersionSnapshot) -> Result<RuntimeCommand, RuntimeUnavailable> {
    let runtime = snapshot.runtime.as_str();
    if runtime.starts_with("provided") {
        if snapshot.code_dir.join("bootstrap").exists() {
            return Ok(RuntimeCommand {
                argv: vec!["/var/task/bootstrap".into()],
                execution_env: None,
            });
        }
        if snapshot
            .layer_dirs
            .iter()
            .any(|l| executable(&l.join("bootstrap")))
        {
            return Ok(RuntimeCommand {
                argv: vec!["/opt/bootstrap".into()],
                execution_env: None,
            });
        }
        return Err(RuntimeUnavailable {
            error_type: "Runtime.InvalidEntrypoint",
            message: "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
                .into(),
        });
    }
    Err(RuntimeUnavailable {
        error_type: "Runtime.Unavailable",
        message: format!(
            "lambdad cannot run the {runtime} runtime yet: use a custom runtime (provided.al2023) with a bootstrap"
        ),
    })
}
