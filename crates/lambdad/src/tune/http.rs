//! A small HTTP/1.0 client for `lambdad tune`: one connection per request
//! to the server's API on loopback (unsigned: `--auth none`).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest answer read (an Invoke answers at most 6 MB).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;
/// Longest wait for an answer: Lambda's longest timeout and some.
const TIMEOUT: Duration = Duration::from_secs(960);

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The server's address.
#[derive(Debug, Clone)]
pub struct Client {
    addr: String,
}

/// Status, headers (lower-case names) and body.
pub type Answer = (u16, HashMap<String, String>, Vec<u8>);

impl Client {
    pub fn new(endpoint: &str) -> Self {
        Self {
            addr: endpoint
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
        }
    }

    /// One request.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> anyhow::Result<Answer> {
        tokio::time::timeout(TIMEOUT, self.exchange(method, path, headers, body))
            .await
            .with_context(|| format!("{method} {path}: no answer in {TIMEOUT:?}"))?
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> anyhow::Result<Answer> {
        let mut stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to lambdad at {}", self.addr))?;
        let body = body.unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut answer = Vec::new();
        stream.take(MAX_ANSWER).read_to_end(&mut answer).await?;
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("malformed HTTP answer")?;
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .context("malformed HTTP status line")?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok((status, headers, answer[split + 4..].to_vec()))
    }

    /// A JSON request whose answer must be a 2xx with a JSON body (or none);
    /// an error names AWS's exception type.
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let (status, headers, answer) = self.request(method, path, &[], bytes.as_deref()).await?;
        if !(200..300).contains(&status) {
            let kind = headers
                .get("x-amzn-errortype")
                .map_or("", |t| t.split(':').next().unwrap_or_default());
            bail!(
                "{method} {path}: {status} {kind}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        if answer.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer).with_context(|| format!("{method} {path}: not JSON"))
    }
}
