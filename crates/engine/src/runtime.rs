//! Which program an environment starts for a function's runtime.
//!
//! - Custom runtimes (`provided.al2023`, `provided.al2`) run the function's
//!   own `bootstrap`: `/var/task/bootstrap`, else `/opt/bootstrap` from a
//!   layer (AWS's order).
//! - Managed runtimes (`python3.9`–`python3.13`, `nodejs18.x`–`nodejs22.x`)
//!   run lambdad's own bootstrap (shipped in the binary, exposed read-only at
//!   `/var/runtime`) with an interpreter of exactly that version found on the
//!   host (see [`Interpreters`]); the interpreter's installation is bound
//!   read-only into the sandbox at its host path.
//! - The AWS SDK ([`crate::sdk`]), once installed, is bound read-only at
//!   `/var/lang/lib/python3.X/site-packages` (after `/var/task`, `/opt/python`
//!   and `/var/runtime` on `sys.path`) and at `/var/runtime/node_modules`
//!   (last on `NODE_PATH`, which lambdad's Node.js bootstrap also searches for
//!   ES module imports, as Lambda's Node.js 18+ runtimes do).
//! - The Java runtimes (`java17`, `java21`, `java25`) run lambdad's Java
//!   runtime client ([`crate::java`], compiled once into the SDK cache and
//!   bound read-only at `/var/runtime/lib`) with a JDK of that major version
//!   and AWS's JVM options.
//! - `AWS_LAMBDA_EXEC_WRAPPER`, when the function sets it, runs first with the
//!   managed runtime's command as its arguments, as on Lambda.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lambdad_model::VersionSnapshot;
use lambdad_sandbox::Bind;

use crate::sdk::{Language, Sdk, Tools};

const PYTHON_BOOTSTRAP: &str = include_str!("../runtimes/python/bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("../runtimes/node/bootstrap.mjs");

/// The program to start, as seen inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeCommand {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// `AWS_EXECUTION_ENV`, set for managed runtimes only.
    pub execution_env: Option<String>,
    /// Extra environment variables of the runtime.
    pub env: Vec<(String, String)>,
    /// Extra read-only binds (the runtime directory, the interpreter).
    pub binds: Vec<Bind>,
}

/// Why no program can be started; reported to the caller as a function error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeUnavailable {
    /// The error type, e.g. `Runtime.InvalidEntrypoint`.
    pub error_type: &'static str,
    /// A message naming what is missing.
    pub message: String,
}

/// One interpreter: its binary and the directory to bind (None when the
/// host's /usr already makes it visible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The interpreter binary (same path inside the sandbox).
    pub binary: PathBuf,
    /// Its installation prefix, bound read-only at the same path.
    pub prefix: Option<PathBuf>,
}

/// Interpreters for the managed runtimes, found at start-up.
#[derive(Debug, Clone, Default)]
pub struct Interpreters {
    by_runtime: BTreeMap<String, Interpreter>,
    /// Where lambdad's bootstraps were written (bound at /var/runtime).
    runtime_dir: PathBuf,
    /// The AWS SDKs the managed runtimes see once installed.
    sdk: Sdk,
}

const PYTHON_MINORS: std::ops::RangeInclusive<u32> = 9..=13;
const NODE_MAJORS: [u32; 3] = [18, 20, 22];

/// Where a runtime's SDK is mounted: AWS's paths (lambdad's own for the
/// Java runtime client).
fn sdk_target(runtime: &str) -> String {
    if let Some(version) = runtime.strip_prefix("python") {
        format!("/var/lang/lib/python{version}/site-packages")
    } else if runtime.starts_with("java") {
        "/var/runtime/lib".into()
    } else {
        "/var/runtime/node_modules".into()
    }
}

fn language_of(runtime: &str) -> Language {
    if runtime.starts_with("python") {
        Language::Python
    } else if runtime.starts_with("java") {
        Language::Java
    } else {
        Language::Node
    }
}

/// How long a Java environment waits for the runtime client's compilation.
const JAVA_CLIENT_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

fn prefix_of(binary: &Path) -> Option<PathBuf> {
    if binary.starts_with("/usr") || binary.starts_with("/bin") {
        None
    } else {
        binary
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
    }
}

fn version_key(dir: &Path) -> Vec<u32> {
    dir.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// Versions installed under a version-manager directory, newest first.
fn managed_versions(root: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(version_key(d)));
    dirs
}

/// The interpreters an SDK install uses: each runtime's Python and Node.js,
/// and the `javac` beside each Java runtime's `java`.
pub fn tools(by_runtime: &BTreeMap<String, Interpreter>) -> Tools {
    let mut t = Tools::default();
    for (runtime, i) in by_runtime {
        let (list, tool) = match language_of(runtime) {
            Language::Python => (&mut t.pythons, i.binary.clone()),
            Language::Node => (&mut t.nodes, i.binary.clone()),
            Language::Java => match i.binary.parent().map(|b| b.join("javac")) {
                Some(javac) if javac.is_file() => (&mut t.javacs, javac),
                _ => continue,
            },
        };
        if !list.contains(&tool) {
            list.push(tool);
        }
    }
    t
}

/// Finds an interpreter per managed runtime: `overrides` (runtime → binary)
/// first, then `/usr/bin`, `/usr/local/bin`, pyenv (`$PYENV_ROOT` or
/// `~/.pyenv`) and nvm (`$NVM_DIR` or `~/.nvm`); JDKs where
/// [`crate::java::homes`] looks.
pub fn find(overrides: &BTreeMap<String, PathBuf>) -> BTreeMap<String, Interpreter> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".pyenv"));
    let nvm = std::env::var_os("NVM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".nvm"));
    let mut by_runtime = BTreeMap::new();
    for minor in PYTHON_MINORS {
        let name = format!("python3.{minor}");
        let mut candidates = vec![
            PathBuf::from(format!("/usr/bin/python3.{minor}")),
            PathBuf::from(format!("/usr/local/bin/python3.{minor}")),
        ];
        candidates.extend(
            managed_versions(&pyenv.join("versions"), &format!("3.{minor}."))
                .into_iter()
                .map(|d| d.join(format!("bin/python3.{minor}"))),
        );
        if let Some(binary) = candidates.into_iter().find(|c| c.is_file()) {
            by_runtime.insert(
                name,
                Interpreter {
                    prefix: prefix_of(&binary),
                    binary,
                },
            );
        }
    }
    let mut nodes: Vec<PathBuf> = vec!["/usr/bin/node".into(), "/usr/local/bin/node".into()];
    nodes.extend(
        managed_versions(&nvm.join("versions/node"), "v")
            .into_iter()
            .map(|d| d.join("bin/node")),
    );
    for binary in nodes.into_iter().filter(|b| b.is_file()) {
        if let Some(major) = node_major(&binary).filter(|m| NODE_MAJORS.contains(m)) {
            by_runtime
                .entry(format!("nodejs{major}.x"))
                .or_insert(Interpreter {
                    prefix: prefix_of(&binary),
                    binary,
                });
        }
    }
    for jdk in crate::java::homes(&home) {
        if let Some(major) = crate::java::major_of(&jdk).filter(|m| crate::java::MAJORS.contains(m))
        {
            let binary = jdk.join("bin/java");
            by_runtime
                .entry(format!("java{major}"))
                .or_insert(Interpreter {
                    prefix: prefix_of(&binary),
                    binary,
                });
        }
    }
    for (runtime, binary) in overrides {
        by_runtime.insert(
            runtime.clone(),
            Interpreter {
                prefix: prefix_of(binary),
                binary: binary.clone(),
            },
        );
    }
    by_runtime
}

fn node_major(binary: &Path) -> Option<u32> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

impl Interpreters {
    /// Writes lambdad's bootstraps under `runtime_dir` and finds the
    /// interpreters ([`find`]); environments see `sdk`'s ready installs.
    pub fn discover(
        runtime_dir: &Path,
        overrides: &BTreeMap<String, PathBuf>,
        sdk: Sdk,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(runtime_dir.join("python"))?;
        std::fs::create_dir_all(runtime_dir.join("node"))?;
        // The mount point of the Node.js SDK inside the read-only /var/runtime.
        std::fs::create_dir_all(runtime_dir.join("node_modules"))?;
        // The mount point of the Java runtime client.
        std::fs::create_dir_all(runtime_dir.join("lib"))?;
        std::fs::write(runtime_dir.join("python/bootstrap.py"), PYTHON_BOOTSTRAP)?;
        std::fs::write(runtime_dir.join("node/bootstrap.mjs"), NODE_BOOTSTRAP)?;
        let by_runtime = find(overrides);
        for (runtime, i) in &by_runtime {
            tracing::debug!(runtime, binary = %i.binary.display(), "Interpreter found.");
        }
        Ok(Self {
            by_runtime,
            runtime_dir: runtime_dir.to_owned(),
            sdk,
        })
    }

    /// The interpreters an SDK install uses.
    pub fn tools(&self) -> Tools {
        tools(&self.by_runtime)
    }

    /// The SDK cache environments see.
    pub fn sdk(&self) -> &Sdk {
        &self.sdk
    }

    /// The interpreter for `runtime`, if one was found.
    pub fn get(&self, runtime: &str) -> Option<&Interpreter> {
        self.by_runtime.get(runtime)
    }

    /// Waits while what `runtime` cannot start without is being installed
    /// (the Java runtime client's compilation).
    pub async fn settle(&self, runtime: &str) {
        if language_of(runtime) == Language::Java {
            self.sdk.settled(Language::Java, JAVA_CLIENT_WAIT).await;
        }
    }

    fn managed(
        &self,
        snapshot: &VersionSnapshot,
        argv_tail: &[&str],
        env: Vec<(String, String)>,
    ) -> Result<RuntimeCommand, RuntimeUnavailable> {
        let runtime = snapshot.runtime.as_str();
        let lang = language_of(runtime);
        let Some(i) = self.by_runtime.get(runtime) else {
            let what = match lang {
                Language::Python => format!(
                    "{runtime} (looked for {runtime} in /usr/bin, /usr/local/bin and pyenv)",
                    runtime = runtime
                ),
                Language::Node => format!(
                    "node v{} (looked in /usr/bin, /usr/local/bin and nvm)",
                    runtime.trim_start_matches("nodejs").trim_end_matches(".x")
                ),
                Language::Java => format!(
                    "Java {} (looked in JAVA_HOME, /usr/lib/jvm, /usr/local/lib/jvm, /opt/java and SDKMAN)",
                    runtime.trim_start_matches("java")
                ),
            };
            return Err(RuntimeUnavailable {
                error_type: "Runtime.InterpreterNotFound",
                message: format!(
                    "lambdad cannot run runtime {runtime}: no interpreter {what} is installed on this host. Install one, or name it with --interpreter {runtime}=/path/to/interpreter."
                ),
            });
        };
        let mut binds = vec![Bind {
            source: self.runtime_dir.clone(),
            target: "/var/runtime".into(),
            writable: false,
        }];
        if let Some(prefix) = &i.prefix {
            binds.push(Bind {
                source: prefix.clone(),
                target: prefix.clone(),
                writable: false,
            });
        }
        match self.sdk.ready_tree(lang) {
            Some(tree) => binds.push(Bind {
                source: tree,
                target: sdk_target(runtime).into(),
                writable: false,
            }),
            None if lang == Language::Java => {
                return Err(RuntimeUnavailable {
                    error_type: "Runtime.Unavailable",
                    message: format!(
                        "lambdad cannot run runtime {runtime}: its Java runtime client is not compiled ({}). Run `lambdad runtimes install`, or see the server's log.",
                        self.sdk
                            .status()
                            .into_iter()
                            .find(|(l, _)| *l == Language::Java)
                            .map_or("absent", |(_, s)| s.label())
                    ),
                });
            }
            None => {}
        }
        // AWS: the wrapper runs first, with the runtime's command as its arguments.
        let mut argv: Vec<String> = snapshot
            .environment
            .get("AWS_LAMBDA_EXEC_WRAPPER")
            .filter(|w| !w.is_empty())
            .cloned()
            .into_iter()
            .collect();
        argv.push(i.binary.display().to_string());
        argv.extend(argv_tail.iter().map(|s| s.to_string()));
        Ok(RuntimeCommand {
            argv,
            execution_env: Some(format!("AWS_Lambda_{runtime}")),
            env,
            binds,
        })
    }

    /// Resolves the command for `snapshot`.
    pub fn command_for(
        &self,
        snapshot: &VersionSnapshot,
    ) -> Result<RuntimeCommand, RuntimeUnavailable> {
        if let Some(image) = &snapshot.image {
            // The image's own program, in its own root (no runtime of lambdad's).
            if image.argv.is_empty() {
                return Err(RuntimeUnavailable {
                    error_type: "Runtime.InvalidEntrypoint",
                    message: "The image names no ENTRYPOINT or CMD, and ImageConfig sets none."
                        .into(),
                });
            }
            return Ok(RuntimeCommand {
                argv: image.argv.clone(),
                execution_env: None,
                env: Vec::new(),
                binds: Vec::new(),
            });
        }
        let runtime = snapshot.runtime.as_str();
        if runtime.starts_with("provided") {
            let custom = |path: &str| RuntimeCommand {
                argv: vec![path.into()],
                execution_env: None,
                env: Vec::new(),
                binds: Vec::new(),
            };
            if snapshot.code_dir.join("bootstrap").exists() {
                return Ok(custom("/var/task/bootstrap"));
            }
            if snapshot
                .layer_dirs
                .iter()
                .any(|l| l.join("bootstrap").is_file())
            {
                return Ok(custom("/opt/bootstrap"));
            }
            return Err(RuntimeUnavailable {
                error_type: "Runtime.InvalidEntrypoint",
                message: "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
                    .into(),
            });
        }
        if runtime.starts_with("python3.") {
            return self.managed(
                snapshot,
                &["-s", "/var/runtime/python/bootstrap.py"],
                vec![
                    (
                        "PYTHONPATH".into(),
                        format!("/var/runtime:{}", sdk_target(runtime)),
                    ),
                    ("LC_CTYPE".into(), "C.UTF-8".into()),
                ],
            );
        }
        if runtime.starts_with("nodejs") {
            let major = runtime.trim_start_matches("nodejs").trim_end_matches(".x");
            return self.managed(
                snapshot,
                &["/var/runtime/node/bootstrap.mjs"],
                vec![
                    (
                        "NODE_PATH".into(),
                        format!("/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task"),
                    ),
                    // The sandbox's uid has no passwd entry: without HOME,
                    // os.homedir() throws, and the AWS SDK calls it to find
                    // ~/.aws/config.
                    ("HOME".into(), "/tmp".into()),
                ],
            );
        }
        if runtime
            .strip_prefix("java")
            .and_then(|m| m.parse::<u32>().ok())
            .is_some_and(|m| crate::java::MAJORS.contains(&m))
        {
            // The client's class-data-sharing archive for this JDK, if the install made one.
            let cds = self
                .by_runtime
                .get(runtime)
                .and_then(|i| crate::java::cds_archive(&i.binary))
                .filter(|name| {
                    self.sdk
                        .ready_tree(Language::Java)
                        .is_some_and(|tree| tree.join(name).is_file())
                })
                .map(|name| format!("{}/{name}", sdk_target(runtime)));
            let mut args = crate::java::jvm_options(snapshot.memory_mb, cds.as_deref());
            args.extend([
                "-classpath".into(),
                crate::java::CLASS_PATH.into(),
                crate::java::MAIN_CLASS.into(),
            ]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return self.managed(snapshot, &args, Vec::new());
        }
        Err(RuntimeUnavailable {
            error_type: "Runtime.InterpreterNotFound",
            message: format!(
                "lambdad cannot run the {runtime} runtime: only provided.*, python3.9-3.13, nodejs18.x-22.x and java17, java21, java25 are supported"
            ),
        })
    }
}
