//! lambdad's Java runtime client: its Java sources (shipped in the binary,
//! compiled once per host by the host's `javac` into the shared runtime
//! cache by `sdk.rs`), the JDKs it runs on, and the JVM's command
//! line as AWS's Java runtimes start it.
//!
//! The install packs the classes into one jar and, per JDK, runs the client
//! once in a training mode (`Main --train`) under
//! `-XX:ArchiveClassesAtExit`: the resulting class-data-sharing archive
//! (as AWS ships one for its runtime) is passed to every JVM of that JDK
//! with `-XX:SharedArchiveFile` (BENCHMARKS.md has what it saves).
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
    "src/lambdad/runtime/Train.java",
];

/// The client's jar in the install (class data sharing archives classes
/// from jars only), and where environments see it.
pub const JAR: &str = "lambdad-runtime.jar";
pub const CLASS_PATH: &str = "/var/runtime/lib/lambdad-runtime.jar";

/// The jar's path as the training run names it, from its working directory
/// `<train>/task` (beside `<train>/runtime/lib`, a link to the install): a
/// relative path with the same tail as [`CLASS_PATH`], which JDK 17 needs to
/// accept the archive at the sandbox's path (JDK 19+ accept any).
pub const TRAIN_CLASS_PATH: &str = "../runtime/lib/lambdad-runtime.jar";

/// The class-data-sharing archive of the client's classes for the JVM
/// `java` (a binary of a JDK), under the install: one per JDK build (the
/// JVM refuses, noisily, an archive another build made), named by a hash of
/// the JDK's resolved path and its `release` file.
pub fn cds_archive(java: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let real = java.canonicalize().ok()?;
    let release = std::fs::read(real.parent()?.parent()?.join("release")).ok()?;
    let mut h = Sha256::new();
    h.update(real.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(&release);
    Some(format!("cds/{}.jsa", &hex::encode(h.finalize())[..16]))
}

/// The training run's arguments (`java`, from `<train>/task`): the client
/// exercises its cold-start path (`Main --train`) and the JVM archives the
/// classes it loaded into `archive` at exit, with the runtime's collector.
pub fn train_args(archive: &Path) -> Vec<String> {
    vec![
        format!("-XX:ArchiveClassesAtExit={}", archive.display()),
        "-Xshare:auto".into(),
        "-XX:+UseSerialGC".into(),
        "-XX:+TieredCompilation".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-classpath".into(),
        TRAIN_CLASS_PATH.into(),
        MAIN_CLASS.into(),
        "--train".into(),
    ]
}

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
/// sharing (the JDK's archive, and `cds`, the client's archive, where there
/// is one: see BENCHMARKS.md), tiered compilation stopping at C1 (level 1)
/// for a fast start, IPv4 first, and fatal-error reports on stderr (the
/// function's log). The function's `JAVA_TOOL_OPTIONS` come on top (the JVM
/// reads them itself).
pub fn jvm_options(memory_mb: u32, cds: Option<&str>) -> Vec<String> {
    let heap_kb = (u64::from(memory_mb) * 1024 * 85 + 50) / 100;
    let archive = cds.map(|path| format!("-XX:SharedArchiveFile={path}"));
    let mut options = vec![
        format!("-XX:MaxHeapSize={heap_kb}k"),
        "-XX:+UseSerialGC".into(),
        "-Xshare:auto".into(),
        "-XX:+TieredCompilation".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-Djava.net.preferIPv4Stack=true".into(),
        "-XX:+ErrorFileToStderr".into(),
    ];
    options.extend(archive);
    options
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
        assert_eq!(jvm_options(512, None)[0], "-XX:MaxHeapSize=445645k");
        assert!(jvm_options(128, None).contains(&"-XX:TieredStopAtLevel=1".to_string()));
        let with = jvm_options(128, Some("/var/runtime/lib/cds/x.jsa"));
        assert_eq!(
            with.last().unwrap(),
            "-XX:SharedArchiveFile=/var/runtime/lib/cds/x.jsa"
        );
        assert!(
            !jvm_options(128, None)
                .iter()
                .any(|o| o.contains("SharedArchiveFile"))
        );
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
    fn archives_are_named_by_jdk_build() {
        let d = tempfile::tempdir().unwrap();
        let java = d.path().join("bin/java");
        std::fs::create_dir_all(java.parent().unwrap()).unwrap();
        std::fs::write(&java, "").unwrap();
        assert_eq!(cds_archive(&java), None, "no release file, no archive");
        std::fs::write(d.path().join("release"), "JAVA_VERSION=\"17.0.15\"\n").unwrap();
        let first = cds_archive(&java).unwrap();
        assert!(first.starts_with("cds/") && first.ends_with(".jsa"));
        std::fs::write(d.path().join("release"), "JAVA_VERSION=\"17.0.16\"\n").unwrap();
        assert_ne!(
            cds_archive(&java).unwrap(),
            first,
            "an updated JDK gets a new archive"
        );
        assert!(TRAIN_CLASS_PATH.ends_with(CLASS_PATH.trim_start_matches("/var/")));
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
