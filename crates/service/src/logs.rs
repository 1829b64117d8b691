//! The CloudWatch Logs view of function logs: log groups and streams are the
//! files the engine writes (`DATA_DIR/logs/<group>/<YYYY/MM/DD/[VERSION]ENVID>.log`,
//! one `<epoch ms>\t<message>` record a line); this service lists, reads and
//! filters them, and keeps each group's retention (enforced by [`enforce_retention`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use lambdad_model::logfilter::FilterPattern;
use lambdad_model::validate;
use serde_json::{Value, json};

/// Errors of the Logs API, with its exception names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    /// A group or stream that does not exist.
    #[error("{0}")]
    NotFound(&'static str),
    /// A bad parameter.
    #[error("{0}")]
    Invalid(String),
    /// The files could not be read.
    #[error("{0}")]
    Io(String),
}

impl LogsError {
    /// The exception name (`__type`).
    pub fn error_type(&self) -> &'static str {
        match self {
            LogsError::NotFound(_) => "ResourceNotFoundException",
            LogsError::Invalid(_) => "InvalidParameterException",
            LogsError::Io(_) => "ServiceUnavailableException",
        }
    }
}

const NO_GROUP: LogsError = LogsError::NotFound("The specified log group does not exist.");
const NO_STREAM: LogsError = LogsError::NotFound("The specified log stream does not exist.");
/// Most events one call returns (AWS: 10,000).
const MAX_EVENTS: usize = 10_000;
/// Retention values AWS accepts, in days.
const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The directory of a group that holds the streams [`Logs::append`] writes.
const NAMED_STREAMS: &str = ".streams";
/// The file in [`NAMED_STREAMS`] that keeps the group's exact name.
const GROUP_NAME_FILE: &str = ".group";

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Epoch ms.
    pub timestamp: i64,
    /// The line.
    pub message: String,
    /// Index of the line in its stream (for event ids and tokens).
    pub index: usize,
}

/// One stream's file.
#[derive(Debug, Clone)]
struct Stream {
    name: String,
    path: PathBuf,
    size: u64,
}

/// The Logs API over a logs directory.
#[derive(Debug, Clone)]
pub struct Logs {
    root: PathBuf,
    region: String,
    account: String,
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A stream name as lambdad writes them: `YYYY/MM/DD/[VERSION]ID`.
fn is_stream_path(parts: &[&str]) -> bool {
    parts.len() == 4
        && parts[0].len() == 4
        && parts[..3]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && parts[3].starts_with('[')
}

/// Reads a stream file's events.
fn read_events(path: &Path) -> Result<Vec<LogEvent>, LogsError> {
    let text = std::fs::read(path).map_err(|e| LogsError::Io(e.to_string()))?;
    let text = String::from_utf8_lossy(&text);
    Ok(text
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let (ts, message) = line.split_once('\t')?;
            Some(LogEvent {
                timestamp: ts.parse().ok()?,
                message: message.to_owned(),
                index,
            })
        })
        .collect())
}

fn page(token: Option<&str>) -> usize {
    token.and_then(|t| t.parse().ok()).unwrap_or(0)
}

fn limit(l: Option<i64>, max: usize) -> Result<usize, LogsError> {
    match l {
        None => Ok(max),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(LogsError::Invalid(validate::one_error(
            &n.to_string(),
            "limit",
            &format!("Member must have value between 1 and {max}"),
        ))),
    }
}

impl Logs {
    /// The logs under `root`.
    pub fn new(root: PathBuf, region: &str, account: &str) -> Self {
        Self {
            root,
            region: region.to_owned(),
            account: account.to_owned(),
        }
    }

    fn group_arn(&self, group: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{group}",
            self.region, self.account
        )
    }

    /// Every group and its streams (by name).
    fn scan(&self) -> BTreeMap<String, Vec<Stream>> {
        let mut groups: BTreeMap<String, Vec<Stream>> = BTreeMap::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let rel = rel.to_string_lossy();
                let Some(rel) = rel.strip_suffix(".log") else {
                    continue;
                };
                let parts: Vec<&str> = rel.split('/').collect();
                let n = parts.len();
                let (group, name) = if n >= 3 && parts[n - 2] == NAMED_STREAMS {
                    // A stream written by `append`; its group's exact name is kept beside it.
                    let dir = path.parent().unwrap_or(&self.root);
                    let group = std::fs::read_to_string(dir.join(GROUP_NAME_FILE))
                        .unwrap_or_else(|_| format!("/{}", parts[..n - 2].join("/")));
                    (group, parts[n - 1].to_owned())
                } else if n >= 5 && is_stream_path(&parts[n - 4..]) {
                    (
                        format!("/{}", parts[..n - 4].join("/")),
                        parts[n - 4..].join("/"),
                    )
                } else {
                    continue;
                };
                groups.entry(group).or_default().push(Stream {
                    name,
                    path: path.clone(),
                    size: meta.len(),
                });
            }
        }
        for streams in groups.values_mut() {
            streams.sort_by(|a, b| a.name.cmp(&b.name));
        }
        groups
    }

    /// Appends one event to `stream` of `group` (both made when missing):
    /// how lambdad's own services (API Gateway access logs) write. The
    /// group's name must be a valid CloudWatch Logs name (checked by the
    /// caller); the stream's may not hold `/`.
    pub fn append(
        &self,
        group: &str,
        stream: &str,
        timestamp: i64,
        message: &str,
    ) -> Result<(), LogsError> {
        use std::io::Write as _;
        if stream.is_empty() || stream.contains('/') || stream.starts_with('.') {
            return Err(LogsError::Invalid(format!(
                "Invalid log stream name {stream}"
            )));
        }
        if group.split('/').any(|s| s == "." || s == "..") {
            return Err(LogsError::Invalid(format!(
                "Invalid log group name {group}"
            )));
        }
        let io = |e: std::io::Error| LogsError::Io(e.to_string());
        let dir = self.group_dir(group).join(NAMED_STREAMS);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let name_file = dir.join(GROUP_NAME_FILE);
        if !name_file.exists() {
            std::fs::write(&name_file, group).map_err(io)?;
        }
        // One write per line: concurrent appends never interleave within it.
        let line = format!("{timestamp}\t{}\n", message.replace(['\n', '\r'], " "));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{stream}.log")))
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(io)
    }

    fn group_dir(&self, group: &str) -> PathBuf {
        self.root.join(group.trim_start_matches('/'))
    }

    fn retention(&self, group: &str) -> Option<u32> {
        std::fs::read_to_string(self.group_dir(group).join("retention-days"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn streams(&self, group: &str) -> Result<Vec<Stream>, LogsError> {
        self.scan().remove(group).ok_or(NO_GROUP)
    }

    /// DescribeLogGroups.
    pub fn describe_groups(
        &self,
        prefix: Option<&str>,
        lim: Option<i64>,
        token: Option<&str>,
    ) -> Result<Value, LogsError> {
        let lim = limit(lim, 50)?;
        let start = page(token);
        let groups: Vec<_> = self
            .scan()
            .into_iter()
            .filter(|(g, _)| prefix.is_none_or(|p| g.starts_with(p)))
            .collect();
        let out: Vec<Value> = groups
            .iter()
            .skip(start)
            .take(lim)
            .map(|(g, streams)| {
                let created = std::fs::metadata(self.group_dir(g))
                    .and_then(|m| m.created().or_else(|_| m.modified()))
                    .map(epoch_ms)
                    .unwrap_or(0);
                let mut v = json!({
                    "logGroupName": g,
                    "creationTime": created,
                    "metricFilterCount": 0,
                    "arn": format!("{}:*", self.group_arn(g)),
                    "logGroupArn": self.group_arn(g),
                    "storedBytes": streams.iter().map(|s| s.size).sum::<u64>(),
                });
                if let Some(days) = self.retention(g) {
                    v["retentionInDays"] = json!(days);
                }
                v
            })
            .collect();
        let mut resp = json!({ "logGroups": out });
        if start + lim < groups.len() {
            resp["nextToken"] = json!((start + lim).to_string());
        }
        Ok(resp)
    }

    /// DescribeLogStreams.
    pub fn describe_streams(
        &self,
        group: &str,
        prefix: Option<&str>,
        by_last_event: bool,
        descending: bool,
        lim: Option<i64>,
        token: Option<&str>,
    ) -> Result<Value, LogsError> {
        let lim = limit(lim, 50)?;
        let start = page(token);
        let mut streams: Vec<(Stream, Vec<LogEvent>)> = self
            .streams(group)?
            .into_iter()
            .filter(|s| prefix.is_none_or(|p| s.name.starts_with(p)))
            .map(|s| {
                let events = read_events(&s.path).unwrap_or_default();
                (s, events)
            })
            .collect();
        if by_last_event {
            streams.sort_by_key(|(_, e)| e.last().map(|e| e.timestamp).unwrap_or(0));
        }
        if descending {
            streams.reverse();
        }
        let out: Vec<Value> = streams
            .iter()
            .skip(start)
            .take(lim)
            .map(|(s, events)| {
                let first = events.first().map(|e| e.timestamp).unwrap_or(0);
                let last = events.last().map(|e| e.timestamp).unwrap_or(first);
                json!({
                    "logStreamName": s.name,
                    "creationTime": first,
                    "firstEventTimestamp": first,
                    "lastEventTimestamp": last,
                    "lastIngestionTime": last,
                    "uploadSequenceToken": "1",
                    "arn": format!("{}:log-stream:{}", self.group_arn(group), s.name),
                    "storedBytes": s.size,
                })
            })
            .collect();
        let mut resp = json!({ "logStreams": out });
        if start + lim < streams.len() {
            resp["nextToken"] = json!((start + lim).to_string());
        }
        Ok(resp)
    }

    /// GetLogEvents: tokens are `f/N` (forward) and `b/N` (backward) positions.
    #[allow(clippy::too_many_arguments)]
    pub fn get_events(
        &self,
        group: &str,
        stream: &str,
        start_time: Option<i64>,
        end_time: Option<i64>,
        from_head: bool,
        lim: Option<i64>,
        token: Option<&str>,
    ) -> Result<Value, LogsError> {
        let lim = limit(lim, MAX_EVENTS)?;
        let s = self
            .streams(group)?
            .into_iter()
            .find(|s| s.name == stream)
            .ok_or(NO_STREAM)?;
        let events: Vec<LogEvent> = read_events(&s.path)?
            .into_iter()
            .filter(|e| start_time.is_none_or(|t| e.timestamp >= t))
            .filter(|e| end_time.is_none_or(|t| e.timestamp < t))
            .collect();
        let n = events.len();
        let (from, to) = match token.and_then(|t| t.split_once('/')) {
            Some(("f", pos)) => {
                let p = pos.parse::<usize>().unwrap_or(0).min(n);
                (p, (p + lim).min(n))
            }
            Some(("b", pos)) => {
                let p = pos.parse::<usize>().unwrap_or(0).min(n);
                (p.saturating_sub(lim), p)
            }
            _ if from_head => (0, lim.min(n)),
            _ => (n.saturating_sub(lim), n),
        };
        let out: Vec<Value> = events[from..to]
            .iter()
            .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.timestamp}))
            .collect();
        Ok(json!({
            "events": out,
            "nextForwardToken": format!("f/{to}"),
            "nextBackwardToken": format!("b/{from}"),
        }))
    }

    /// FilterLogEvents, interleaved by time across the group's streams.
    #[allow(clippy::too_many_arguments)]
    pub fn filter_events(
        &self,
        group: &str,
        names: Option<&[String]>,
        name_prefix: Option<&str>,
        start_time: Option<i64>,
        end_time: Option<i64>,
        pattern: Option<&str>,
        lim: Option<i64>,
        token: Option<&str>,
    ) -> Result<Value, LogsError> {
        let lim = limit(lim, MAX_EVENTS)?;
        let pattern = FilterPattern::parse(pattern.unwrap_or_default())
            .map_err(|e| LogsError::Invalid(e.to_string()))?;
        let streams: Vec<Stream> = self
            .streams(group)?
            .into_iter()
            .filter(|s| names.is_none_or(|n| n.contains(&s.name)))
            .filter(|s| name_prefix.is_none_or(|p| s.name.starts_with(p)))
            .collect();
        let mut matched: Vec<(i64, String, usize, String)> = Vec::new();
        for s in &streams {
            for e in read_events(&s.path)? {
                if start_time.is_some_and(|t| e.timestamp < t)
                    || end_time.is_some_and(|t| e.timestamp > t)
                    || !pattern.matches(&e.message)
                {
                    continue;
                }
                matched.push((e.timestamp, s.name.clone(), e.index, e.message));
            }
        }
        matched.sort();
        let start = page(token);
        let out: Vec<Value> = matched
            .iter()
            .skip(start)
            .take(lim)
            .map(|(ts, stream, index, message)| {
                json!({
                    "logStreamName": stream,
                    "timestamp": ts,
                    "message": message,
                    "ingestionTime": ts,
                    "eventId": format!("{ts}-{}-{index}", stream.replace('/', "")),
                })
            })
            .collect();
        let searched: Vec<Value> = streams
            .iter()
            .map(|s| json!({"logStreamName": s.name, "searchedCompletely": true}))
            .collect();
        let mut resp = json!({ "events": out, "searchedLogStreams": searched });
        if start + lim < matched.len() {
            resp["nextToken"] = json!((start + lim).to_string());
        }
        Ok(resp)
    }

    /// PutRetentionPolicy (`None`: DeleteRetentionPolicy).
    pub fn set_retention(&self, group: &str, days: Option<i64>) -> Result<(), LogsError> {
        self.streams(group)?;
        let file = self.group_dir(group).join("retention-days");
        match days {
            Some(d) if RETENTION_DAYS.contains(&(d as u32)) && d > 0 => {
                std::fs::write(&file, d.to_string()).map_err(|e| LogsError::Io(e.to_string()))
            }
            Some(d) => Err(LogsError::Invalid(validate::one_error(
                &d.to_string(),
                "retentionInDays",
                &format!("Member must satisfy enum value set: {RETENTION_DAYS:?}"),
            ))),
            None => {
                let _ = std::fs::remove_file(&file);
                Ok(())
            }
        }
    }

    /// Deletes stream files older than their group's retention, or than
    /// `default_days` where a group sets none; returns how many went.
    pub fn enforce_retention(&self, default_days: Option<u32>) -> usize {
        let now = SystemTime::now();
        let mut removed = 0;
        for (group, streams) in self.scan() {
            let Some(days) = self.retention(&group).or(default_days) else {
                continue;
            };
            let keep = Duration::from_secs(u64::from(days) * 86_400);
            for s in streams {
                let old = std::fs::metadata(&s.path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > keep);
                if old && std::fs::remove_file(&s.path).is_ok() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_streams_and_filtering() {
        let dir = tempfile::tempdir().unwrap();
        let stream = dir.path().join("aws/lambda/f/2026/11/23/[$LATEST]abc.log");
        std::fs::create_dir_all(stream.parent().unwrap()).unwrap();
        std::fs::write(
            &stream,
            "1000\tSTART x\n2000\t{\"level\":\"ERROR\"}\n3000\tEND x\n",
        )
        .unwrap();
        let logs = Logs::new(dir.path().to_owned(), "us-east-1", "000000000000");
        let g = logs.describe_groups(None, None, None).unwrap();
        assert_eq!(g["logGroups"][0]["logGroupName"], "/aws/lambda/f");
        let s = logs
            .describe_streams("/aws/lambda/f", None, false, false, None, None)
            .unwrap();
        assert_eq!(
            s["logStreams"][0]["logStreamName"],
            "2026/11/23/[$LATEST]abc"
        );
        assert_eq!(s["logStreams"][0]["lastEventTimestamp"], 3000);
        let f = logs
            .filter_events(
                "/aws/lambda/f",
                None,
                None,
                None,
                None,
                Some("{ $.level = \"ERROR\" }"),
                None,
                None,
            )
            .unwrap();
        assert_eq!(f["events"].as_array().unwrap().len(), 1);
        let e = logs
            .get_events(
                "/aws/lambda/f",
                "2026/11/23/[$LATEST]abc",
                None,
                None,
                true,
                Some(2),
                None,
            )
            .unwrap();
        assert_eq!(e["events"][1]["timestamp"], 2000);
        assert_eq!(e["nextForwardToken"], "f/2");
        assert_eq!(
            logs.describe_streams("/nope", None, false, false, None, None),
            Err(NO_GROUP)
        );
        logs.set_retention("/aws/lambda/f", Some(7)).unwrap();
        assert!(logs.set_retention("/aws/lambda/f", Some(8)).is_err());
        let g = logs.describe_groups(Some("/aws"), None, None).unwrap();
        assert_eq!(g["logGroups"][0]["retentionInDays"], 7);
    }

    #[test]
    fn appended_streams_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::new(dir.path().to_owned(), "us-east-1", "000000000000");
        logs.append("access-logs", "abc_$default", 1000, "one\ntwo")
            .unwrap();
        logs.append("access-logs", "abc_$default", 2000, "three")
            .unwrap();
        assert!(logs.append("access-logs", "../x", 1, "no").is_err());
        assert!(logs.append("../up", "s", 1, "no").is_err());
        let g = logs.describe_groups(None, None, None).unwrap();
        assert_eq!(g["logGroups"][0]["logGroupName"], "access-logs");
        let e = logs
            .get_events("access-logs", "abc_$default", None, None, true, None, None)
            .unwrap();
        assert_eq!(e["events"][0]["message"], "one two");
        assert_eq!(e["events"][1]["timestamp"], 2000);
    }
}
