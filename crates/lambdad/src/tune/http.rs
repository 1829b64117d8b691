//! The HTTP client of `lambdad tune`: requests to the server's API, signed
//! with SigV4 when credentials are in the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN` and
//! `AWS_REGION`), as the AWS CLI signs them; unsigned otherwise (a server
//! with `--auth none`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;

/// Longest answer read (an Invoke answers at most 6 MB).
const MAX_ANSWER: usize = 16 * 1024 * 1024;
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

/// The server's address, and how requests are signed.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    signer: Option<Signer>,
}

/// SigV4 credentials and region.
#[derive(Debug, Clone)]
pub struct Signer {
    credentials: Credentials,
    region: String,
}

impl Signer {
    /// The credentials of the environment, as the AWS SDKs read them; `None`
    /// without `AWS_ACCESS_KEY_ID`.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let Some(key) = var("AWS_ACCESS_KEY_ID") else {
            return Ok(None);
        };
        let secret = var("AWS_SECRET_ACCESS_KEY")
            .context("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")?;
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let token = var("AWS_SESSION_TOKEN");
        Ok(Some(Self {
            credentials: Credentials::new(key, secret, token, None, "environment"),
            region,
        }))
    }

    /// Adds the signature headers to `req`.
    fn sign(&self, req: &mut http::Request<Vec<u8>>) -> anyhow::Result<()> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .context("SigV4 signing parameters")?
            .into();
        let headers = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new(
            req.method().as_str(),
            req.uri().to_string(),
            headers,
            SignableBody::Bytes(req.body()),
        )
        .context("a request SigV4 cannot sign")?;
        let (instructions, _) = sign(signable, &params)
            .context("signing the request")?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

/// Status, headers (lower-case names) and body.
pub type Answer = (u16, HashMap<String, String>, Vec<u8>);

impl Client {
    /// A client of the server at `endpoint` (`host:port` or `http://host:port`).
    pub fn new(endpoint: &str, signer: Option<Signer>) -> anyhow::Result<Self> {
        let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
        Ok(Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .context("an HTTP client")?,
            signer,
        })
    }

    /// One request.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> anyhow::Result<Answer> {
        let what = || format!("{method} {path}");
        let body = body.unwrap_or_default().to_vec();
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !body.is_empty() {
            builder = builder.header("content-type", "application/json");
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let mut req = builder.body(body).with_context(what)?;
        if let Some(signer) = &self.signer {
            signer.sign(&mut req)?;
        }
        let req = reqwest::Request::try_from(req).with_context(what)?;
        let mut answer = self
            .http
            .execute(req)
            .await
            .with_context(|| format!("{}: connecting to lambdad at {}", what(), self.base))?;
        let status = answer.status().as_u16();
        let headers = answer
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let mut bytes = Vec::new();
        while let Some(chunk) = answer.chunk().await.with_context(what)? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                bail!("{}: an answer over {MAX_ANSWER} bytes", what());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, headers, bytes))
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
