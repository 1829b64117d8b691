//! lambdad's Java runtime client: its Java sources (shipped in the binary,
//! compiled once per host by the host's `javac` into the shared runtime
//! cache by `sdk.rs`), the JDKs it runs on, and the JVM's command
//! line as AWS's Java runtimes start it.
//!
//! The sources hold lambdad's copy of aws-lambda-java-core's interfaces
//! (`com.amazonaws.services.lambda.runtime.Context`, `RequestHandler`, …):
//! they are on the JVM's class path, before the function's own code (a
//! class loader of its own), so a function compiled against the real
//! artifact, or bundling it, sees the same classes, as on AWS.

use std::path::{Path, PathBuf};

/// The Java runtimes lambdad runs: `java17`, `java21`, `java25`.
pub const MAJORS: [u32; 3] = [17, 21, 25];

/// The oldest Java the client is compiled for (`javac --release`).
pub const RELEASE: &str = "17";

/// The client's main class.
pub const MAIN_CLASS: &str = "lambdad.runtime.Main";

macro_rules! sources {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../runtimes/java/", $path)))),*]
    };
}

/// The client's sources: (path under the install, text).
pub const SOURCES: &[(&str, &str)] = sources![
    "src/com/amazonaws/services/lambda/runtime/Client.java",
    "src/com/amazonaws/services/lambda/runtime/ClientContext.java",
    "src/com/amazonaws/services/lambda/runtime/CognitoIdentity.java",
    "src/com/amazonaws/services/lambda/runtime/Context.java",
    "src/com/amazonaws/services/lambda/runtime/LambdaLogger.java",
    "src/com/amazonaws/services/lambda/runtime/LambdaRuntime.java",
    "src/com/amazonaws/services/lambda/runtime/RequestHandler.java",
    "src/com/amazonaws/services/lambda/runtime/RequestStreamHandler.java",
    "src/com/amazonaws/services/lambda/runtime/logging/LogLevel.java",
    "src/lambdad/runtime/Events.java",
    "src/lambdad/runtime/Handler.java",
    "src/lambdad/runtime/Json.java",
    "src/lambdad/runtime/Main.java",
];

/// `javac`'s arguments compiling [`SOURCES`] (written under `dir`) into `out`.
pub fn javac_args(dir: &Path, out: &Path) -> Vec<String> {
    let mut args = vec![
        "--release".to_string(),
        RELEASE.into(),
        "-encoding".into(),
        "UTF-8".into(),
        "-nowarn".into(),
        "-d".into(),
        out.display().to_string(),
    ];
    args.extend(
        SOURCES
            .iter()
            .map(|(p, _)| dir.join(p).display().to_string()),
    );
    args
}

/// The JVM's options for a function of `memory_mb`, as AWS's Java runtimes
/// set them: a heap of 85% of the memory, the serial collector, class data
/// sharing, tiered compilation stopping at C1 (level 1) for a fast start,
/// IPv4 first, and fatal-error reports on stderr (the function's log). The
/// function's `JAVA_TOOL_OPTIONS` come on top (the JVM reads them itself).
pub fn jvm_options(memory_mb: u32) -> Vec<String> {
    let heap_kb = (u64::from(memory_mb) * 1024 * 85 + 50) / 100;
    vec![
        format!("-XX:MaxHeapSize={heap_kb}k"),
        "-XX:+UseSerialGC".into(),
        "-Xshare:auto".into(),
        "-XX:+TieredCompilation".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-Djava.net.preferIPv4Stack=true".into(),
        "-XX:+ErrorFileToStderr".into(),
    ]
}

/// The major version of the JDK or JRE at `home`, from its `release` file
/// (`JAVA_VERSION="17.0.15"`; `"1.8.0_…"` is 8).
pub fn major_of(home: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(home.join("release")).ok()?;
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("JAVA_VERSION="))?
        .trim()
        .trim_matches('"');
    let mut parts = version.split(['.', '_', '-', '+']);
    match parts.next()?.parse().ok()? {
        1 => parts.next()?.parse().ok(),
        major => Some(major),
    }
}

/// Java installations to look at, in order: `$JAVA_HOME`, `/usr/lib/jvm/*`,
/// `/usr/local/lib/jvm/*`, `/opt/java/*` and SDKMAN's
/// (`$SDKMAN_DIR/candidates/java/*`, default `~/.sdkman`); each once (by its
/// resolved path), only those with a `bin/java`.
pub fn homes(home_dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut candidates: Vec<PathBuf> = std::env::var_os("JAVA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let sdkman = std::env::var_os("SDKMAN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir.join(".sdkman"));
    for root in [
        PathBuf::from("/usr/lib/jvm"),
        PathBuf::from("/usr/local/lib/jvm"),
        PathBuf::from("/opt/java"),
        sdkman.join("candidates/java"),
    ] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        dirs.sort();
        candidates.extend(dirs);
    }
    for dir in candidates {
        let Ok(real) = dir.canonicalize() else {
            continue;
        };
        if real.join("bin/java").is_file() && !found.contains(&real) {
            found.push(real);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_is_85_percent_of_memory() {
        assert_eq!(jvm_options(512)[0], "-XX:MaxHeapSize=445645k");
        assert!(jvm_options(128).contains(&"-XX:TieredStopAtLevel=1".to_string()));
    }

    #[test]
    fn release_files_name_the_major() {
        let d = tempfile::tempdir().unwrap();
        for (text, major) in [
            ("JAVA_VERSION=\"17.0.15\"\n", Some(17)),
            ("IMPLEMENTOR=\"x\"\nJAVA_VERSION=\"25\"\n", Some(25)),
            ("JAVA_VERSION=\"1.8.0_392\"\n", Some(8)),
            ("OS_NAME=\"Linux\"\n", None),
        ] {
            std::fs::write(d.path().join("release"), text).unwrap();
            assert_eq!(major_of(d.path()), major, "{text}");
        }
    }

    #[test]
    fn every_source_is_compiled() {
        let args = javac_args(Path::new("/x"), Path::new("/x/classes"));
        assert_eq!(args.len(), 7 + SOURCES.len());
        assert!(
            SOURCES
                .iter()
                .all(|(p, text)| p.ends_with(".java") && !text.is_empty())
        );
    }
}
