//! The AWS SDK inside the managed runtimes, as on Lambda: boto3 for the
//! Python runtimes, the AWS SDK for JavaScript v3 for the Node.js ones.
//!
//! The versions are recorded in lambdad (`runtimes/sdk/`: a pip requirements
//! file and an npm lockfile, both with content hashes). They are installed
//! once, by the host's pip (`--require-hashes`) and npm (`npm ci`, which
//! checks the lockfile's integrity hashes), into a cache directory shared by
//! every server and function: `<dir>/python-<spec hash>/site-packages` and
//! `<dir>/node-<spec hash>/node_modules`. Each install is made in a
//! temporary directory and renamed into place when complete, with a SHA-256
//! of its tree beside it (`SHA256`), which is checked again every time a
//! server starts. Environments see a ready install read-only
//! (`runtime.rs`): never in `/var/task`, never writable, not counted
//! against the function's code size.
//!
//! lambdad's Java runtime client ([`crate::java`]) shares the cache: its
//! sources are compiled once by the host's `javac` into
//! `<dir>/java-<sources hash>/classes/lambdad-runtime.jar`, beside a
//! class-data-sharing archive per JDK (`classes/cds/*.jsa`), hash-checked the same way; the Java
//! runtimes cannot start without it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const PYTHON_REQUIREMENTS: &str = include_str!("../runtimes/sdk/python/requirements.txt");
const NODE_PACKAGE: &str = include_str!("../runtimes/sdk/node/package.json");
const NODE_LOCK: &str = include_str!("../runtimes/sdk/node/package-lock.json");

/// How long one pip or npm run may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(900);
/// How much of a failed tool's output an error keeps.
const OUTPUT_TAIL: usize = 2000;
/// The file beside an install holding the SHA-256 of its tree.
const DIGEST_FILE: &str = "SHA256";

/// A language whose runtimes include an SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    /// boto3 and botocore, for `python3.9`–`python3.13`.
    Python,
    /// The AWS SDK for JavaScript v3, for `nodejs18.x`–`nodejs22.x`.
    Node,
    /// lambdad's Java runtime client, for `java17`, `java21`, `java25`.
    Java,
}

impl Language {
    /// Every language.
    pub const ALL: [Language; 3] = [Language::Python, Language::Node, Language::Java];

    /// `python` or `node`.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Node => "node",
            Language::Java => "java",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Language::Python => "the AWS SDK for Python",
            Language::Node => "the AWS SDK for JavaScript v3",
            Language::Java => "the Java runtime client of lambdad",
        }
    }

    /// The files that pin the install, written beside it.
    fn spec(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Language::Python => &[("requirements.txt", PYTHON_REQUIREMENTS)],
            Language::Node => &[
                ("package.json", NODE_PACKAGE),
                ("package-lock.json", NODE_LOCK),
            ],
            Language::Java => crate::java::SOURCES,
        }
    }

    /// The directory of an install that environments see.
    fn tree(self) -> &'static str {
        match self {
            Language::Python => "site-packages",
            Language::Node => "node_modules",
            Language::Java => "classes",
        }
    }

    /// The install's directory name: the language and a hash of its spec,
    /// so that a lambdad recording other versions installs beside it.
    fn set_name(self) -> String {
        let mut h = Sha256::new();
        for (name, text) in self.spec() {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
            h.update([0]);
        }
        format!("{}-{}", self.name(), &hex::encode(h.finalize())[..16])
    }

    /// The recorded versions, e.g. `boto3 1.42.97, botocore 1.42.97`.
    pub fn versions(self) -> String {
        match self {
            Language::Python => PYTHON_REQUIREMENTS
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|p| p.starts_with("boto3==") || p.starts_with("botocore=="))
                .map(|p| p.replace("==", " "))
                .collect::<Vec<_>>()
                .join(", "),
            Language::Node => {
                let deps = serde_json::from_str::<serde_json::Value>(NODE_PACKAGE)
                    .ok()
                    .and_then(|v| v.get("dependencies").cloned())
                    .and_then(|d| d.as_object().cloned())
                    .unwrap_or_default();
                let version = deps.values().next().and_then(|v| v.as_str()).unwrap_or("?");
                format!("{} @aws-sdk packages {version}", deps.len())
            }
            Language::Java => format!("{} sources", crate::java::SOURCES.len()),
        }
    }
}

/// Where an SDK stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not installed, and not being installed.
    Absent,
    /// Being verified or installed.
    Installing,
    /// Installed and verified: this directory is what environments see.
    Ready(PathBuf),
    /// The install failed (the message says why).
    Failed(String),
}

impl Status {
    /// `absent`, `installing`, `ready` or `failed`.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Absent => "absent",
            Status::Installing => "installing",
            Status::Ready(_) => "ready",
            Status::Failed(_) => "failed",
        }
    }
}

/// Why an SDK cannot be installed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// No pip or npm to install with.
    #[error("no {tool} to install {what} with (looked for {looked})")]
    ToolMissing {
        tool: &'static str,
        what: &'static str,
        looked: String,
    },
    /// pip or npm failed.
    #[error("{command} failed ({status}): {output}")]
    CommandFailed {
        command: String,
        status: String,
        output: String,
    },
    /// pip or npm took too long.
    #[error("{command} did not finish within {} s", TOOL_TIMEOUT.as_secs())]
    Timeout { command: String },
    /// A file of the cache.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No directory to install into.
    #[error("no SDK directory is configured")]
    NoDirectory,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SdkError + '_ {
    move |source| SdkError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The interpreters an install may use: pip comes with a Python, npm with
/// a Node.js; every Python compiles the bytecode it will import.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    /// Python interpreters (for pip and `compileall`).
    pub pythons: Vec<PathBuf>,
    /// Node.js binaries (npm is looked for beside them, then on PATH).
    pub nodes: Vec<PathBuf>,
    /// `javac` of the JDKs found (the first compiles the Java runtime client).
    pub javacs: Vec<PathBuf>,
}

impl Tools {
    /// The tools that install `lang`'s SDK.
    pub fn for_language(&self, lang: Language) -> &[PathBuf] {
        match lang {
            Language::Python => &self.pythons,
            Language::Node => &self.nodes,
            Language::Java => &self.javacs,
        }
    }
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    install: bool,
    status: RwLock<BTreeMap<Language, Status>>,
}

/// The SDK cache and what stands ready in it; cheap to clone. The default
/// has no directory: environments get no SDK.
#[derive(Debug, Clone, Default)]
pub struct Sdk {
    shared: Option<Arc<Shared>>,
}

/// The default cache: `$XDG_CACHE_HOME/lambdad/sdk`, else
/// `$HOME/.cache/lambdad/sdk`, else `<data dir>/sdk`.
pub fn default_dir(data_dir: &Path) -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CACHE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .map(|c| c.join("lambdad/sdk"))
        .unwrap_or_else(|| data_dir.join("sdk"))
}

impl Sdk {
    /// The cache at `dir`; `install`: whether a missing SDK is installed
    /// (else only an existing, verified one is used).
    pub fn new(dir: PathBuf, install: bool) -> Self {
        Self {
            shared: Some(Arc::new(Shared {
                dir,
                install,
                status: RwLock::new(BTreeMap::new()),
            })),
        }
    }

    /// The cache directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.shared.as_deref().map(|s| s.dir.as_path())
    }

    /// Each language's status (`Absent` until looked at).
    pub fn status(&self) -> Vec<(Language, Status)> {
        let known = self
            .shared
            .as_deref()
            .map(|s| s.status.read().map(|m| m.clone()).unwrap_or_default())
            .unwrap_or_default();
        Language::ALL
            .iter()
            .map(|l| (*l, known.get(l).cloned().unwrap_or(Status::Absent)))
            .collect()
    }

    /// The directory environments of `lang` see, once ready.
    pub fn ready_tree(&self, lang: Language) -> Option<PathBuf> {
        let s = self.shared.as_deref()?;
        match s.status.read().ok()?.get(&lang) {
            Some(Status::Ready(dir)) => Some(dir.clone()),
            _ => None,
        }
    }

    /// Waits, at most `limit`, while `lang`'s install is under way.
    pub async fn settled(&self, lang: Language, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline
            && self
                .status()
                .iter()
                .any(|(l, s)| *l == lang && *s == Status::Installing)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn set(&self, lang: Language, status: Status) {
        if let Some(s) = self.shared.as_deref()
            && let Ok(mut m) = s.status.write()
        {
            m.insert(lang, status);
        }
    }

    /// Verifies (or installs) every language's SDK in the background.
    pub fn start(&self, tools: Tools) {
        if self.shared.is_none() {
            return;
        }
        for lang in Language::ALL {
            if tools.for_language(lang).is_empty() {
                continue;
            }
            // Installing from now: an environment that cannot start without
            // it (Java) waits instead of finding it absent.
            self.set(lang, Status::Installing);
            let (this, tools) = (self.clone(), tools.clone());
            tokio::spawn(async move {
                let _ = this.ensure(lang, &tools).await;
            });
        }
    }

    /// Makes `lang`'s SDK ready: the verified install, or a new one when it
    /// is missing or does not match its hash (if installing is allowed).
    /// Returns the directory environments see.
    pub async fn ensure(&self, lang: Language, tools: &Tools) -> Result<PathBuf, SdkError> {
        let shared = self.shared.clone().ok_or(SdkError::NoDirectory)?;
        self.set(lang, Status::Installing);
        let set_dir = shared.dir.join(lang.set_name());
        let result = match verify(&set_dir, lang).await {
            Ok(true) => {
                tracing::info!(dir = %set_dir.display(), versions = %lang.versions(), "{} is installed and matches its hash.", capital(lang.title()));
                Ok(set_dir.join(lang.tree()))
            }
            found if !shared.install => {
                tracing::warn!(dir = %set_dir.display(), "{} is not installed{}; functions see it only once `lambdad runtimes install` has run.", capital(lang.title()), if matches!(found, Ok(false)) { "" } else { " (or does not match its hash)" });
                self.set(lang, Status::Absent);
                return Err(SdkError::NoDirectory);
            }
            found => {
                if found.is_err() {
                    tracing::warn!(dir = %set_dir.display(), "{} does not match its recorded hash; installing it again.", capital(lang.title()));
                    discard(&set_dir);
                }
                install(&shared.dir, &set_dir, lang, tools).await
            }
        };
        match &result {
            Ok(tree) => self.set(lang, Status::Ready(tree.clone())),
            Err(e) => {
                let consequence = match lang {
                    Language::Java => "the Java runtimes cannot start",
                    _ => "its runtimes' functions see no SDK unless they bundle one",
                };
                tracing::error!(error = %e, "Cannot install {} ({}): {consequence}. Retry with `lambdad runtimes install`.", lang.title(), lang.versions());
                self.set(lang, Status::Failed(e.to_string()));
            }
        }
        result
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Ok(true): installed and matching its hash; Ok(false): not installed;
/// Err: present but damaged.
async fn verify(set_dir: &Path, lang: Language) -> Result<bool, ()> {
    let Ok(recorded) = tokio::fs::read_to_string(set_dir.join(DIGEST_FILE)).await else {
        return if set_dir.exists() { Err(()) } else { Ok(false) };
    };
    let tree = set_dir.join(lang.tree());
    let actual = tokio::task::spawn_blocking(move || tree_digest(&tree))
        .await
        .map_err(|_| ())?
        .map_err(|_| ())?;
    if actual == recorded.trim() {
        Ok(true)
    } else {
        Err(())
    }
}

/// Moves a damaged install aside and deletes it.
fn discard(set_dir: &Path) {
    let trash = set_dir.with_extension(format!("trash-{}", std::process::id()));
    if std::fs::rename(set_dir, &trash).is_ok() {
        let _ = std::fs::remove_dir_all(&trash);
    }
}

/// SHA-256 over a tree: every entry's relative path, kind and content
/// (symlinks: their target), in name order. `__pycache__` directories
/// (bytecode each interpreter may add) are left out.
pub fn tree_digest(root: &Path) -> std::io::Result<String> {
    fn walk(root: &Path, rel: &Path, h: &mut Sha256) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            if name == "__pycache__" {
                continue;
            }
            let path = rel.join(&name);
            let kind = e.file_type()?;
            h.update(path.as_os_str().as_encoded_bytes());
            if kind.is_symlink() {
                h.update(b"\0l\0");
                h.update(
                    std::fs::read_link(root.join(&path))?
                        .as_os_str()
                        .as_encoded_bytes(),
                );
            } else if kind.is_dir() {
                h.update(b"\0d\0");
                walk(root, &path, h)?;
            } else {
                let mut f = std::fs::File::open(root.join(&path))?;
                h.update(b"\0f\0");
                h.update(f.metadata()?.len().to_le_bytes());
                std::io::copy(&mut f, h)?;
            }
            h.update(b"\n");
        }
        Ok(())
    }
    let mut h = Sha256::new();
    walk(root, Path::new(""), &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Makes the class-data-sharing archive of the Java client's classes for the
/// JVM `java` in `tree` ([`crate::java::cds_archive`]): a training run from
/// `<tmp>/train/task` whose `../runtime/lib` is the tree, so that the
/// archive names the jar as environments see it. A JVM that cannot make one
/// only costs its functions the archive's speed-up (logged).
async fn train_java(tmp: &Path, tree: &Path, java: &Path) {
    let Some(name) = crate::java::cds_archive(java) else {
        return;
    };
    let archive = tree.join(&name);
    let train = tmp.join("train");
    let made = async {
        let task = train.join("task");
        std::fs::create_dir_all(&task).map_err(io_err(&task))?;
        std::fs::create_dir_all(train.join("runtime")).map_err(io_err(&train))?;
        let link = train.join("runtime/lib");
        if !link.exists() {
            std::os::unix::fs::symlink(tree, &link).map_err(io_err(&link))?;
        }
        if let Some(dir) = archive.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let args = crate::java::train_args(&archive);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(java, &args, &task, None).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&train);
    match made {
        Ok(()) if archive.is_file() => {
            tracing::info!(java = %java.display(), archive = %name, "Made the class-data-sharing archive of the Java runtime client.");
        }
        Ok(()) => {
            tracing::warn!(java = %java.display(), "The JVM made no class-data-sharing archive of the Java runtime client; its functions start without one.")
        }
        Err(e) => {
            tracing::warn!(java = %java.display(), error = %e, "Cannot make the class-data-sharing archive of the Java runtime client; its functions start without one.")
        }
    }
}

/// Runs one tool to completion (bounded by `TOOL_TIMEOUT`).
async fn run(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    path_env: Option<&Path>,
) -> Result<(), SdkError> {
    let command = format!("{} {}", program.display(), args.join(" "));
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(dir) = path_env {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.to_owned()];
        dirs.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(dirs) {
            cmd.env("PATH", joined);
        }
    }
    let out = match tokio::time::timeout(TOOL_TIMEOUT, cmd.output()).await {
        Err(_) => return Err(SdkError::Timeout { command }),
        Ok(Err(e)) => return Err(io_err(program)(e)),
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let text = text.trim();
    let start = text.len().saturating_sub(OUTPUT_TAIL);
    let start = (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    Err(SdkError::CommandFailed {
        command,
        status: out.status.to_string(),
        output: text[start..].replace('\n', " | "),
    })
}

/// The first Python whose pip answers.
async fn find_pip(pythons: &[PathBuf]) -> Result<PathBuf, SdkError> {
    for py in pythons {
        let ok = tokio::process::Command::new(py)
            .args(["-m", "pip", "--version"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(py.clone());
        }
    }
    Err(SdkError::ToolMissing {
        tool: "pip",
        what: "the AWS SDK for Python",
        looked: format!(
            "`-m pip` of {}",
            pythons
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// npm beside one of the Node.js binaries, else on PATH.
fn find_npm(nodes: &[PathBuf]) -> Result<(PathBuf, Option<PathBuf>), SdkError> {
    for node in nodes {
        if let Some(dir) = node.parent()
            && dir.join("npm").is_file()
        {
            return Ok((dir.join("npm"), Some(dir.to_owned())));
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("npm").is_file() {
            return Ok((dir.join("npm"), None));
        }
    }
    Err(SdkError::ToolMissing {
        tool: "npm",
        what: "the AWS SDK for JavaScript",
        looked: "beside the Node.js binaries and on PATH".into(),
    })
}

/// Installs `lang`'s SDK into a temporary directory under `cache`, records
/// its hash, and renames it to `set_dir`.
async fn install(
    cache: &Path,
    set_dir: &Path,
    lang: Language,
    tools: &Tools,
) -> Result<PathBuf, SdkError> {
    let started = Instant::now();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = cache.join(format!(
        ".tmp-{}-{}-{nanos}",
        lang.set_name(),
        std::process::id()
    ));
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let result = install_into(&tmp, set_dir, lang, tools).await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        tracing::info!(dir = %set_dir.display(), versions = %lang.versions(), seconds = started.elapsed().as_secs_f32(), "Installed {}.", lang.title());
    }
    result
}

async fn install_into(
    tmp: &Path,
    set_dir: &Path,
    lang: Language,
    tools: &Tools,
) -> Result<PathBuf, SdkError> {
    for (name, text) in lang.spec() {
        let path = tmp.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(&path, text).map_err(io_err(&path))?;
    }
    let tree = tmp.join(lang.tree());
    let tree_arg = tree.to_string_lossy().into_owned();
    match lang {
        Language::Python => {
            let pip = find_pip(&tools.pythons).await?;
            tracing::info!(pip = %pip.display(), dir = %set_dir.display(), versions = %lang.versions(), "Installing the AWS SDK for Python (once; the Python runtimes see it when done).");
            run(
                &pip,
                &[
                    "-m",
                    "pip",
                    "install",
                    "--no-deps",
                    "--require-hashes",
                    "--only-binary=:all:",
                    "--no-warn-script-location",
                    "--quiet",
                    "--target",
                    &tree_arg,
                    "-r",
                    "requirements.txt",
                ],
                tmp,
                None,
            )
            .await?;
            // Bytecode for every Python, as the directory is read-only in the sandbox.
            for py in tools.pythons.iter().filter(|p| **p != pip) {
                if let Err(e) = run(py, &["-m", "compileall", "-q", &tree_arg], tmp, None).await {
                    tracing::warn!(error = %e, "Cannot compile the AWS SDK for Python's bytecode; that Python imports it from source.");
                }
            }
        }
        Language::Node => {
            let (npm, node_dir) = find_npm(&tools.nodes)?;
            tracing::info!(npm = %npm.display(), dir = %set_dir.display(), versions = %lang.versions(), "Installing the AWS SDK for JavaScript v3 (once; the Node.js runtimes see it when done).");
            run(
                &npm,
                &[
                    "ci",
                    "--ignore-scripts",
                    "--omit=dev",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ],
                tmp,
                node_dir.as_deref(),
            )
            .await?;
        }
        Language::Java => {
            let javac = tools.javacs.first().ok_or_else(|| SdkError::ToolMissing {
                tool: "javac",
                what: "lambdad's Java runtime client",
                looked: "in the JDKs of the Java runtimes".into(),
            })?;
            tracing::info!(javac = %javac.display(), dir = %set_dir.display(), "Compiling lambdad's Java runtime client (once; the Java runtimes start when done).");
            let built = tmp.join("build");
            let args = crate::java::javac_args(tmp, &built);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(javac, &args, tmp, None).await?;
            std::fs::create_dir_all(&tree).map_err(io_err(&tree))?;
            let jar = tree.join(crate::java::JAR);
            let (jar_arg, built_arg) = (jar.to_string_lossy(), built.to_string_lossy());
            let args = ["--create", "--file", &jar_arg, "-C", &built_arg, "."];
            run(&javac.with_file_name("jar"), &args, tmp, None).await?;
            std::fs::remove_dir_all(&built).map_err(io_err(&built))?;
            for javac in &tools.javacs {
                train_java(tmp, &tree, &javac.with_file_name("java")).await;
            }
        }
    }
    let digest = {
        let walked = tree.clone();
        tokio::task::spawn_blocking(move || tree_digest(&walked))
            .await
            .map_err(|e| io_err(&tree)(std::io::Error::other(e)))?
            .map_err(io_err(&tree))?
    };
    let digest_path = tmp.join(DIGEST_FILE);
    std::fs::File::create(&digest_path)
        .and_then(|mut f| {
            f.write_all(digest.as_bytes())?;
            f.sync_all()
        })
        .map_err(io_err(&digest_path))?;
    if let Err(e) = std::fs::rename(tmp, set_dir) {
        // Another server finished the same install first: use theirs.
        if matches!(verify(set_dir, lang).await, Ok(true)) {
            let _ = std::fs::remove_dir_all(tmp);
        } else {
            return Err(io_err(set_dir)(e));
        }
    }
    Ok(set_dir.join(lang.tree()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_covers_content_names_and_links_but_not_bytecode() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("pkg/__pycache__")).unwrap();
        std::fs::write(root.join("pkg/a.py"), "x = 1\n").unwrap();
        let first = tree_digest(root).unwrap();
        std::fs::write(root.join("pkg/__pycache__/a.cpython-312.pyc"), "junk").unwrap();
        assert_eq!(tree_digest(root).unwrap(), first, "bytecode is left out");
        std::fs::write(root.join("pkg/a.py"), "x = 2\n").unwrap();
        let changed = tree_digest(root).unwrap();
        assert_ne!(changed, first, "content counts");
        std::fs::rename(root.join("pkg/a.py"), root.join("pkg/b.py")).unwrap();
        assert_ne!(tree_digest(root).unwrap(), changed, "names count");
        std::os::unix::fs::symlink("b.py", root.join("pkg/c.py")).unwrap();
        let linked = tree_digest(root).unwrap();
        std::fs::remove_file(root.join("pkg/c.py")).unwrap();
        std::os::unix::fs::symlink("a.py", root.join("pkg/c.py")).unwrap();
        assert_ne!(tree_digest(root).unwrap(), linked, "link targets count");
    }

    #[test]
    fn recorded_versions_are_named() {
        assert_eq!(
            Language::Python.versions(),
            "boto3 1.42.97, botocore 1.42.97"
        );
        assert_eq!(Language::Node.versions(), "11 @aws-sdk packages 3.967.0");
        assert_ne!(Language::Python.set_name(), Language::Node.set_name());
        assert!(Language::Python.set_name().starts_with("python-"));
    }
}
