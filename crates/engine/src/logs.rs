//! Function logs: every line an environment writes, plus the platform's
//! START / END / REPORT lines, appended to one file per log stream under
//! `DATA_DIR/logs/<log group>/<log stream>.log` as `<epoch ms>\t<message>`
//! records (cheap to append, easy to read back and filter later).
//!
//! While an invocation runs, its lines are also captured so that
//! `LogType: Tail` can return the last 4 KB of them.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Bytes kept of an invocation's log for `X-Amz-Log-Result`.
pub const TAIL_BYTES: usize = 4096;
/// Most bytes captured per invocation for the tail (older lines are dropped).
const CAPTURE_LIMIT: usize = 64 * 1024;

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `YYYY/MM/DD/[VERSION]ENVID`, AWS's log stream name.
pub fn stream_name(version: &str, env_id: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}/{:02}/{:02}/[{version}]{env_id}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

/// Path of a stream's file.
pub fn stream_path(logs_root: &Path, group: &str, stream: &str) -> PathBuf {
    let clean = |s: &str| {
        s.split('/')
            .filter(|p| !p.is_empty() && *p != "." && *p != "..")
            .collect::<Vec<_>>()
            .join("/")
    };
    logs_root
        .join(clean(group))
        .join(format!("{}.log", clean(stream)))
}

/// The log of one execution environment.
#[derive(Debug)]
pub struct EnvLog {
    file: Mutex<Option<File>>,
    capture: Mutex<Option<Vec<u8>>>,
    /// Most bytes written to the stream's file (0: no limit).
    max_bytes: u64,
    written: std::sync::atomic::AtomicU64,
}

impl EnvLog {
    /// Opens (creating) the stream's file; logging continues in memory only if that fails.
    pub fn open(logs_root: &Path, group: &str, stream: &str, max_bytes: u64) -> Self {
        let path = stream_path(logs_root, group, stream);
        let file = path
            .parent()
            .map(fs::create_dir_all)
            .transpose()
            .and_then(|_| OpenOptions::new().create(true).append(true).open(&path))
            .inspect_err(|e| tracing::warn!(path = %path.display(), error = %e, "Cannot open the log stream file."))
            .ok();
        Self {
            file: Mutex::new(file),
            capture: Mutex::new(None),
            max_bytes,
            written: Default::default(),
        }
    }

    /// Appends one line (without its newline).
    pub fn line(&self, message: &str) {
        self.lines(&[message]);
    }

    /// Appends lines (without their newlines) in one write.
    pub fn lines(&self, messages: &[&str]) {
        let now = epoch_ms();
        let mut record =
            String::with_capacity(messages.iter().map(|m| m.len() + 15).sum::<usize>());
        for message in messages {
            let _ = writeln!(record, "{now}\t{message}");
        }
        let len = record.len() as u64;
        let before = self
            .written
            .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = file.as_mut() {
            if self.max_bytes == 0 || before + len <= self.max_bytes {
                let _ = f.write_all(record.as_bytes());
            } else {
                // The cap is reached: one last line says so, then the file is closed.
                let note = format!(
                    "{}\tlambdad: this log stream reached its size limit of {} bytes; further lines are dropped\n",
                    epoch_ms(),
                    self.max_bytes
                );
                let _ = f.write_all(note.as_bytes());
                *file = None;
            }
        }
        drop(file);
        if let Some(buf) = self
            .capture
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            for message in messages {
                buf.extend_from_slice(message.as_bytes());
                buf.push(b'\n');
            }
            if buf.len() > CAPTURE_LIMIT {
                let cut = buf.len() - CAPTURE_LIMIT / 2;
                buf.drain(..cut);
            }
        }
    }

    /// Starts capturing lines for an invocation's tail.
    pub fn start_capture(&self) {
        *self.capture.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    }

    /// Stops capturing and returns the last [`TAIL_BYTES`] captured.
    pub fn take_tail(&self) -> Vec<u8> {
        let buf = self
            .capture
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        let start = buf.len().saturating_sub(TAIL_BYTES);
        buf[start..].to_vec()
    }
}

/// How a function's platform lines are written: AWS's text lines, or (with
/// `LogFormat: JSON`) `platform.*` JSON records, which `SystemLogLevel: WARN`
/// suppresses (they are INFO records).
#[derive(Debug, Clone, Copy)]
pub struct PlatformFormat {
    json: bool,
    quiet: bool,
}

impl PlatformFormat {
    /// The format of a function version.
    pub fn of(snapshot: &lambdad_model::VersionSnapshot) -> Self {
        let json = snapshot.log_format == "JSON";
        let quiet = json
            && snapshot
                .system_log_level
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case("WARN"));
        Self { json, quiet }
    }

    fn record(kind: &str, record: serde_json::Value) -> String {
        serde_json::json!({ "time": iso_now(), "type": kind, "record": record }).to_string()
    }

    /// The START line (`platform.start`).
    pub fn start(&self, request_id: &str, version: &str) -> Option<String> {
        if self.quiet {
            return None;
        }
        Some(if self.json {
            Self::record(
                "platform.start",
                serde_json::json!({ "requestId": request_id, "version": version }),
            )
        } else {
            format!("START RequestId: {request_id} Version: {version}")
        })
    }

    /// The END line (`platform.runtimeDone`).
    pub fn end(&self, request_id: &str, status: Option<&str>) -> Option<String> {
        if self.quiet {
            return None;
        }
        Some(if self.json {
            Self::record(
                "platform.runtimeDone",
                serde_json::json!({ "requestId": request_id, "status": status.unwrap_or("success") }),
            )
        } else {
            format!("END RequestId: {request_id}")
        })
    }

    /// The REPORT line (`platform.report`).
    #[allow(clippy::too_many_arguments)]
    pub fn report(
        &self,
        request_id: &str,
        duration_ms: f64,
        memory_mb: u32,
        max_used_mb: u64,
        init_ms: Option<f64>,
        status: Option<&str>,
    ) -> Option<String> {
        if self.quiet {
            return None;
        }
        if !self.json {
            return Some(report_line(
                request_id,
                duration_ms,
                memory_mb,
                max_used_mb,
                init_ms,
                status.filter(|s| *s == "timeout"),
            ));
        }
        let mut metrics = serde_json::json!({
            "durationMs": (duration_ms * 100.0).round() / 100.0,
            "billedDurationMs": (duration_ms.ceil() as u64).max(1),
            "memorySizeMB": memory_mb,
            "maxMemoryUsedMB": max_used_mb,
        });
        if let Some(init) = init_ms {
            metrics["initDurationMs"] = serde_json::json!((init * 100.0).round() / 100.0);
        }
        Some(Self::record(
            "platform.report",
            serde_json::json!({
                "requestId": request_id,
                "metrics": metrics,
                "status": status.unwrap_or("success"),
            }),
        ))
    }
}

fn iso_now() -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

/// `REPORT` line as AWS writes it.
pub fn report_line(
    request_id: &str,
    duration_ms: f64,
    memory_mb: u32,
    max_used_mb: u64,
    init_ms: Option<f64>,
    status: Option<&str>,
) -> String {
    let billed = (duration_ms.ceil() as u64).max(1);
    let mut line = format!(
        "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_used_mb} MB\t"
    );
    if let Some(init) = init_ms {
        line.push_str(&format!("Init Duration: {init:.2} ms\t"));
    }
    if let Some(s) = status {
        line.push_str(&format!("Status: {s}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_format() {
        assert_eq!(
            report_line("id", 3.014, 128, 36, Some(110.1), None),
            "REPORT RequestId: id\tDuration: 3.01 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t"
        );
    }

    #[test]
    fn lines_are_stored_and_tailed() {
        let dir = tempfile::tempdir().unwrap();
        let log = EnvLog::open(dir.path(), "/aws/lambda/f", "2026/01/01/[$LATEST]abc", 0);
        log.line("before");
        log.start_capture();
        log.line("START RequestId: x");
        log.line(&"y".repeat(5000));
        let tail = log.take_tail();
        assert_eq!(tail.len(), TAIL_BYTES);
        let text = fs::read_to_string(dir.path().join("aws/lambda/f/2026/01/01/[$LATEST]abc.log"))
            .unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().next().unwrap().ends_with("\tbefore"));
    }

    #[test]
    fn several_lines_are_one_record_each() {
        let dir = tempfile::tempdir().unwrap();
        let log = EnvLog::open(dir.path(), "/aws/lambda/f", "2026/01/01/[$LATEST]abc", 0);
        log.start_capture();
        log.lines(&["END RequestId: x", "REPORT RequestId: x"]);
        assert_eq!(
            log.take_tail(),
            b"END RequestId: x\nREPORT RequestId: x\n".to_vec()
        );
        let text = fs::read_to_string(dir.path().join("aws/lambda/f/2026/01/01/[$LATEST]abc.log"))
            .unwrap();
        let records: Vec<(&str, &str)> =
            text.lines().map(|l| l.split_once('\t').unwrap()).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].1, "END RequestId: x");
        assert_eq!(records[1].1, "REPORT RequestId: x");
        assert!(records[0].0.parse::<u64>().is_ok());
    }
}
