//! [`VersionSnapshot`]: the resolved, immutable record of one function
//! version that the engine runs (Spin's `LockedApp` idea).
//!
//! The API resolves a function name and qualifier through the store into a
//! snapshot and hands it to the engine; the engine never reads the store.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything needed to start an execution environment for one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSnapshot {
    /// Function name, e.g. `my-fn`.
    pub function_name: String,
    /// Unqualified function ARN.
    pub function_arn: String,
    /// `$LATEST` or a published version number.
    pub version: String,
    /// Runtime identifier (`provided.al2023`, `python3.12`, ...).
    pub runtime: String,
    /// Handler string (`_HANDLER`), may be empty for custom runtimes.
    pub handler: String,
    /// MemorySize in MB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_secs: u32,
    /// EphemeralStorage size in MB (the /tmp limit).
    pub ephemeral_mb: u32,
    /// User environment variables.
    pub environment: BTreeMap<String, String>,
    /// base64(SHA-256) of the code zip.
    pub code_sha256: String,
    /// Directory holding the unpacked code, mounted read-only at /var/task.
    pub code_dir: PathBuf,
    /// Unpacked layer directories, in order, merged read-only into /opt.
    pub layer_dirs: Vec<PathBuf>,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// CloudWatch log group, `/aws/lambda/NAME` by default.
    pub log_group: String,
    /// `Text` or `JSON`.
    pub log_format: String,
    /// `ApplicationLogLevel` (JSON format), given to the runtime as `AWS_LAMBDA_LOG_LEVEL`.
    #[serde(default)]
    pub application_log_level: Option<String>,
    /// `SystemLogLevel` (JSON format): platform lines below it are not written.
    #[serde(default)]
    pub system_log_level: Option<String>,
    /// The execution role ARN.
    #[serde(default)]
    pub role: String,
    /// Network access of the environments (tag `lambdad:network`).
    #[serde(default)]
    pub network: NetworkMode,
    /// The function's RevisionId when the snapshot was taken; a change means a new environment.
    pub revision_id: String,
    /// Set for a container image function: `code_dir` is then the image's
    /// root file system, the root of its environments.
    #[serde(default)]
    pub image: Option<ImageRun>,
}

/// How a container image function's environment starts: the image's own
/// ENTRYPOINT, CMD, WORKDIR and ENV under the function's `ImageConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRun {
    /// ENTRYPOINT followed by CMD.
    pub argv: Vec<String>,
    /// The working directory (`/` when the image names none).
    pub working_dir: String,
    /// The image's ENV.
    pub env: Vec<(String, String)>,
    /// `_HANDLER`: the first item of CMD (AWS's reading of it).
    pub handler: String,
}

impl ImageRun {
    /// The program of `image` with `config`'s overrides (AWS: EntryPoint and
    /// Command replace the image's ENTRYPOINT and CMD, WorkingDirectory its
    /// WORKDIR).
    pub fn of(
        image: &crate::function::ImageCode,
        config: Option<&crate::function::ImageConfig>,
    ) -> Self {
        let entrypoint = config
            .and_then(|c| c.entry_point.clone())
            .unwrap_or_else(|| image.entrypoint.clone());
        let cmd = config
            .and_then(|c| c.command.clone())
            .unwrap_or_else(|| image.cmd.clone());
        let working_dir = config
            .and_then(|c| c.working_directory.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| image.working_dir.clone());
        Self {
            handler: cmd.first().cloned().unwrap_or_default(),
            argv: entrypoint.into_iter().chain(cmd).collect(),
            working_dir: if working_dir.is_empty() {
                "/".into()
            } else {
                working_dir
            },
            env: image
                .env
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

/// What network an environment sees. Chosen per function with the tag
/// [`NetworkMode::TAG`]; the server's `--network` gives the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// The host's network: outbound connections allowed, as on AWS Lambda.
    #[default]
    Host,
    /// A network of its own with only a loopback interface: the Runtime API
    /// and the function's own listeners, nothing beyond.
    Loopback,
    /// Like `Loopback`, and the function cannot listen on any socket: the
    /// Runtime API is all it can reach.
    None,
}

impl NetworkMode {
    /// The tag that selects a function's mode.
    pub const TAG: &'static str = "lambdad:network";

    /// Parses `host`, `loopback` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "host" => Some(Self::Host),
            "loopback" => Some(Self::Loopback),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Loopback => "loopback",
            Self::None => "none",
        }
    }
}
