//! SigV4: the access keys lambdad knows (from a credentials file in the aws
//! CLI's format) and the verification of signed requests.
//!
//! The signing key and signature come from `aws-sigv4`; what is written here
//! is the server's half that crate does not offer: rebuilding the canonical
//! request from what arrived, with exactly the headers the client signed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

/// How far a request's `X-Amz-Date` may be from the server's clock (AWS: 5 minutes).
const MAX_SKEW: Duration = Duration::from_secs(300);

/// Who an access key is: its secret, its principal (`user/NAME` for a
/// section of the credentials file, `assumed-role/ROLE/lambdad` for a
/// function's execution role) and the IAM policy that limits it (none: full
/// access).
#[derive(Debug, Clone)]
pub struct Identity {
    /// The secret access key.
    pub secret: String,
    /// The principal, as in `arn:aws:iam::ACCOUNT:user/NAME`.
    pub principal: String,
    /// The identity policy, if any.
    pub policy: Option<lambdad_model::iam::Policy>,
    /// The account the key belongs to, when not lambdad's (`account =` in
    /// its section): a caller of another account, whom resource policies
    /// (SNS topic policies) must admit.
    pub account: Option<String>,
}

impl Identity {
    /// The caller's account (`home`: lambdad's, unless the key names another).
    pub fn account<'a>(&'a self, home: &'a str) -> &'a str {
        self.account.as_deref().unwrap_or(home)
    }

    /// The caller's ARN, `arn:aws:iam::ACCOUNT:user/NAME` (or `sts` for a
    /// function's role session).
    pub fn arn(&self, home: &str) -> String {
        let service = if self.principal.starts_with("assumed-role/") {
            "sts"
        } else {
            "iam"
        };
        format!(
            "arn:aws:{service}::{}:{}",
            self.account(home),
            self.principal
        )
    }
}

/// Temporary credentials of an execution role.
#[derive(Debug)]
struct Session {
    identity: Arc<Identity>,
    token: String,
    expires: SystemTime,
}

/// Access keys: those of the credentials file, and the temporary ones
/// minted for functions' execution roles.
#[derive(Debug, Default)]
pub struct Credentials {
    keys: HashMap<String, Arc<Identity>>,
    /// Role name → its policy (sections `[role/NAME]`).
    roles: HashMap<String, Option<lambdad_model::iam::Policy>>,
    sessions: Mutex<HashMap<String, Session>>,
    ttl: Duration,
}

#[derive(Default)]
struct Section {
    name: String,
    id: Option<String>,
    secret: Option<String>,
    policy: Option<String>,
    account: Option<String>,
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A credentials file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A file could not be read.
    #[error("reading {what} {}: {source}", path.display())]
    Read {
        /// What the file is.
        what: String,
        /// Where it is.
        path: std::path::PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file holds no access key.
    #[error("no access keys in {}", .0.display())]
    NoKeys(std::path::PathBuf),
    /// An `account` that is not a 12-digit account id.
    #[error("the account of [{section}] is not a 12-digit account id: {value}")]
    Account {
        /// The section naming it.
        section: String,
        /// What it says.
        value: String,
    },
    /// A policy file is not a valid IAM policy.
    #[error("the policy of [{section}] ({}): {message}", path.display())]
    Policy {
        /// The section naming it.
        section: String,
        /// Where it is.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Credentials {
    /// Reads a credentials file: INI sections holding `aws_access_key_id`,
    /// `aws_secret_access_key` and optionally `policy = PATH` (relative to
    /// the file) and `account = ID` (a key of another account); `[role/NAME]`
    /// sections give execution roles' policies.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            what: "credentials file".into(),
            path: path.to_owned(),
            source,
        })?;
        let creds = Self::parse(&text, path.parent())?;
        if creds.keys.is_empty() {
            return Err(CredentialsError::NoKeys(path.to_owned()));
        }
        Ok(creds)
    }

    /// Parses the INI text of a credentials file; policy paths are read relative to `dir`.
    pub fn parse(text: &str, dir: Option<&Path>) -> Result<Self, CredentialsError> {
        let mut sections = vec![Section::default()];
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                sections.push(Section {
                    name: name.trim().to_owned(),
                    ..Section::default()
                });
            } else if let (Some((k, v)), Some(s)) = (line.split_once('='), sections.last_mut()) {
                let v = Some(v.trim().to_owned());
                match k.trim() {
                    "aws_access_key_id" => s.id = v,
                    "aws_secret_access_key" => s.secret = v,
                    "policy" => s.policy = v,
                    "account" => s.account = v,
                    _ => {}
                }
            }
        }
        let mut creds = Self::default();
        for s in sections {
            let policy = match &s.policy {
                None => None,
                Some(p) => {
                    let path = dir.map_or_else(|| Path::new(p).to_owned(), |d| d.join(p));
                    let text = std::fs::read_to_string(&path).map_err(|source| {
                        CredentialsError::Read {
                            what: format!("the policy of [{}] at", s.name),
                            path: path.clone(),
                            source,
                        }
                    })?;
                    let policy = lambdad_model::iam::Policy::parse(&text).map_err(|e| {
                        CredentialsError::Policy {
                            section: s.name.clone(),
                            path: path.clone(),
                            message: e.to_string(),
                        }
                    })?;
                    Some(policy)
                }
            };
            if let Some(role) = s.name.strip_prefix("role/") {
                creds.roles.insert(role.to_owned(), policy);
                continue;
            }
            let (Some(id), Some(secret)) = (s.id, s.secret) else {
                continue;
            };
            if let Some(a) = &s.account
                && !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(CredentialsError::Account {
                    section: s.name.clone(),
                    value: a.clone(),
                });
            }
            let principal = format!("user/{}", s.name);
            creds.keys.insert(
                id,
                Arc::new(Identity {
                    secret,
                    principal,
                    policy,
                    account: s.account,
                }),
            );
        }
        Ok(creds)
    }

    /// Sets how long minted role credentials stay valid.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Mints temporary credentials of the role `role_arn`: (access key id,
    /// secret, session token). A role without a `[role/NAME]` section, or
    /// whose section has no policy, may do nothing (least privilege).
    pub fn mint(&self, role_arn: &str) -> (String, String, String) {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const MIXED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
        let policy = self
            .roles
            .get(role)
            .cloned()
            .flatten()
            .unwrap_or_else(lambdad_model::iam::Policy::deny_all);
        let key = format!("ASIA{}", random_text(UPPER, 16));
        let secret = random_text(MIXED, 40);
        let token = random_text(MIXED, 64);
        let now = SystemTime::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        // Expired sessions are kept a day (to answer "expired"), then forgotten.
        sessions.retain(|_, s| s.expires + Duration::from_secs(86_400) > now);
        sessions.insert(
            key.clone(),
            Session {
                identity: Arc::new(Identity {
                    secret: secret.clone(),
                    principal: format!("assumed-role/{role}/lambdad"),
                    policy: Some(policy),
                    account: None,
                }),
                token: token.clone(),
                expires: now + self.ttl,
            },
        );
        (key, secret, token)
    }

    /// The identity of a key of the credentials file whose secret is
    /// `secret` (the console's login; a role session's key cannot log in).
    /// The secrets are compared through their SHA-256, in constant time.
    pub fn login(&self, access_key: &str, secret: &str) -> Option<Arc<Identity>> {
        let id = self.keys.get(access_key)?;
        let (a, b) = (
            Sha256::digest(id.secret.as_bytes()),
            Sha256::digest(secret.as_bytes()),
        );
        let diff = a
            .iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y));
        (diff == 0).then(|| id.clone())
    }

    /// The identity of an access key (of the file, or a live session).
    pub fn identity(&self, access_key: &str) -> Option<Arc<Identity>> {
        if let Some(id) = self.keys.get(access_key) {
            return Some(id.clone());
        }
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(access_key).map(|s| s.identity.clone())
    }

    /// Checks a request's session token (`X-Amz-Security-Token`) against the
    /// key's session, if the key is a session's: a keys-file key needs none;
    /// a session key needs its own token, unexpired.
    pub fn check_session(
        &self,
        key: &str,
        token: Option<&str>,
        now: SystemTime,
    ) -> Result<(), SigV4Error> {
        if self.keys.contains_key(key) {
            return Ok(());
        }
        self.secret_for(key, token, now).map(|_| ())
    }

    /// The secret of a key, checking a session's token and expiry.
    fn secret_for(
        &self,
        key: &str,
        token: Option<&str>,
        now: SystemTime,
    ) -> Result<String, SigV4Error> {
        if let Some(id) = self.keys.get(key) {
            return Ok(id.secret.clone());
        }
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let s = sessions.get(key).ok_or(SigV4Error::UnknownKey)?;
        if token != Some(s.token.as_str()) {
            return Err(SigV4Error::UnknownKey);
        }
        if now > s.expires {
            return Err(SigV4Error::Expired);
        }
        Ok(s.identity.secret.clone())
    }
}

/// Why a request's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header is not a SigV4 authorization.
    #[error(
        "Authorization header requires 'Credential', 'SignedHeaders', 'Signature' and an X-Amz-Date."
    )]
    Malformed,
    /// The access key is unknown.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The signature does not match.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    BadSignature,
    /// A role session's credentials have expired.
    #[error("The security token included in the request is expired")]
    Expired,
    /// `X-Amz-Date` is too far from now.
    #[error("Signature expired: {0} is now earlier or later than 5 minutes from the current time.")]
    Skewed(String),
}

impl SigV4Error {
    /// AWS's error type for it.
    pub fn error_type(&self) -> &'static str {
        match self {
            SigV4Error::Missing => "MissingAuthenticationTokenException",
            SigV4Error::Malformed => "IncompleteSignatureException",
            SigV4Error::UnknownKey => "UnrecognizedClientException",
            SigV4Error::Expired => "ExpiredTokenException",
            SigV4Error::BadSignature | SigV4Error::Skewed(_) => "InvalidSignatureException",
        }
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id.
    pub access_key: String,
    /// `YYYYMMDD/REGION/SERVICE/aws4_request`.
    pub scope: String,
    /// Lower-case names, `;`-separated as signed.
    pub signed_headers: String,
    /// Hex signature.
    pub signature: String,
}

impl Authorization {
    /// Parses the header value.
    pub fn parse(value: &str) -> Result<Self, SigV4Error> {
        let rest = value
            .strip_prefix("AWS4-HMAC-SHA256")
            .ok_or(SigV4Error::Malformed)?;
        let (mut cred, mut signed, mut sig) = (None, None, None);
        for part in rest.split(',').map(str::trim) {
            if let Some(v) = part.strip_prefix("Credential=") {
                cred = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                sig = Some(v);
            }
        }
        let (cred, signed, sig) = (
            cred.ok_or(SigV4Error::Malformed)?,
            signed.ok_or(SigV4Error::Malformed)?,
            sig.ok_or(SigV4Error::Malformed)?,
        );
        let (key, scope) = cred.split_once('/').ok_or(SigV4Error::Malformed)?;
        if scope.split('/').count() != 4 {
            return Err(SigV4Error::Malformed);
        }
        Ok(Self {
            access_key: key.to_owned(),
            scope: scope.to_owned(),
            signed_headers: signed.to_owned(),
            signature: sig.to_owned(),
        })
    }
}

/// A request as it arrived, for verification.
#[derive(Debug)]
pub struct Signed<'a> {
    /// Method.
    pub method: &'a Method,
    /// The path as sent (still percent-encoded).
    pub raw_path: &'a str,
    /// The query as sent.
    pub raw_query: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// The whole body.
    pub body: &'a [u8],
}

/// Percent-encodes everything but SigV4's unreserved characters (and `/` when asked).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path as SigV4 signs it for every service but S3: empty and `.`
/// segments dropped, `..` removing the one before (RFC 3986's dot-segment
/// removal), a trailing slash kept.
fn normalized_path(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.starts_with('/') && !raw.contains("//") && !raw.contains('.') {
        return raw.into();
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in raw.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    let mut path = format!("/{}", kept.join("/"));
    let trailing = raw.ends_with('/') || raw.ends_with("/.") || raw.ends_with("/..");
    if trailing && !path.ends_with('/') {
        path.push('/');
    }
    path.into()
}

fn canonical_request(req: &Signed<'_>, signed_headers: &str) -> Result<String, SigV4Error> {
    let path = normalized_path(req.raw_path);
    let mut query: Vec<(String, String)> = form_urlencoded::parse(req.raw_query.as_bytes())
        .map(|(k, v)| (encode(&k, false), encode(&v, false)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(SigV4Error::BadSignature);
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = match req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => h.to_owned(),
        None => hex::encode(Sha256::digest(req.body)),
    };
    Ok(format!(
        "{}\n{}\n{query}\n{headers}\n{signed_headers}\n{payload}",
        req.method,
        encode(&path, true)
    ))
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, &fmt).ok()?.assume_utc();
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Verifies a request's SigV4 `Authorization` header. With no credentials
/// configured, only its form is checked (lambdad's open local mode).
/// Returns the parsed authorization.
pub fn verify(
    creds: Option<&Credentials>,
    req: &Signed<'_>,
    now: SystemTime,
) -> Result<Authorization, SigV4Error> {
    let value = req
        .headers
        .get("authorization")
        .ok_or(SigV4Error::Missing)?
        .to_str()
        .map_err(|_| SigV4Error::Malformed)?;
    let auth = Authorization::parse(value)?;
    let date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or(SigV4Error::Malformed)?;
    let when = parse_amz_date(date).ok_or(SigV4Error::Malformed)?;
    let skew = now.duration_since(when).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(SigV4Error::Skewed(date.to_owned()));
    }
    let Some(creds) = creds else {
        return Ok(auth);
    };
    let token = req
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    let secret = &creds.secret_for(&auth.access_key, token, now)?;
    let mut scope = auth.scope.split('/');
    let (day, region, service) = (
        scope.next().unwrap_or_default(),
        scope.next().unwrap_or_default(),
        scope.next().unwrap_or_default(),
    );
    if !date.starts_with(day) {
        return Err(SigV4Error::BadSignature);
    }
    let canonical = canonical_request(req, &auth.signed_headers)?;
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{}\n{}",
        auth.scope,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = aws_sigv4::sign::v4::generate_signing_key(secret, when, region, service);
    let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    if expected != auth.signature {
        return Err(SigV4Error::BadSignature);
    }
    Ok(auth)
}

/// The service of a request's SigV4 credential scope.
pub(crate) fn signed_service(headers: &HeaderMap, query: &str) -> Option<String> {
    let scope = sigv4_credential(headers, query)?;
    scope.split('/').nth(3).map(str::to_owned)
}

/// The `Credential` of a request's SigV4 signature, from its Authorization
/// header or a presigned URL's `X-Amz-Credential`:
/// `KEY/DATE/REGION/SERVICE/aws4_request`.
pub(crate) fn sigv4_credential(headers: &HeaderMap, query: &str) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| {
            a.split([' ', ','])
                .find_map(|p| p.trim().strip_prefix("Credential="))
                .map(str::to_owned)
        })
        .or_else(|| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v.into_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The normalization of AWS's test suite (get-relative, get-slashes, get-slash-dot-slash, …).
    #[test]
    fn paths_are_normalized_as_sigv4_signs_them() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("/2015-03-31/functions", "/2015-03-31/functions"),
            ("//example//", "/example/"),
            ("/example/..", "/"),
            ("/example/foo/..", "/example/"),
            ("/./", "/"),
            ("/a/./b/../c", "/a/c"),
            ("/../../x", "/x"),
            ("/f.n/x.y", "/f.n/x.y"),
        ] {
            assert_eq!(normalized_path(raw), want, "{raw:?}");
        }
    }

    /// AWS's published SigV4 example ("get-vanilla" of the test suite).
    #[test]
    fn verifies_the_aws_test_vector() {
        let creds = Credentials::parse(
            "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n",
            None,
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31".parse().unwrap());
        let req = Signed {
            method: &Method::GET,
            raw_path: "/",
            raw_query: "",
            headers: &headers,
            body: b"",
        };
        let now = parse_amz_date("20150830T123700Z").unwrap();
        assert!(verify(Some(&creds), &req, now).is_ok());
        let late = parse_amz_date("20150830T130000Z").unwrap();
        assert!(matches!(
            verify(Some(&creds), &req, late),
            Err(SigV4Error::Skewed(_))
        ));
        let other = Credentials::parse(
            "[x]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key=nope\n",
            None,
        )
        .unwrap();
        assert_eq!(
            verify(Some(&other), &req, now),
            Err(SigV4Error::BadSignature)
        );
        assert_eq!(
            verify(Some(&Credentials::parse("", None).unwrap()), &req, now),
            Err(SigV4Error::UnknownKey)
        );
        let bare = HeaderMap::new();
        let req = Signed {
            headers: &bare,
            ..req
        };
        assert_eq!(verify(None, &req, now), Err(SigV4Error::Missing));
    }
}

#[cfg(test)]
mod session_tests {
    use super::*;

    #[test]
    fn role_sessions_expire() {
        let creds = Credentials::parse("[role/app]\n", None)
            .unwrap()
            .with_ttl(Duration::from_secs(60));
        let (key, _, token) = creds.mint("arn:aws:iam::000000000000:role/app");
        assert!(key.starts_with("ASIA") && key.len() == 20);
        let now = SystemTime::now();
        assert!(creds.secret_for(&key, Some(&token), now).is_ok());
        assert_eq!(
            creds.secret_for(&key, None, now),
            Err(SigV4Error::UnknownKey)
        );
        let later = now + Duration::from_secs(61);
        assert_eq!(
            creds.secret_for(&key, Some(&token), later),
            Err(SigV4Error::Expired)
        );
        let id = creds.identity(&key).unwrap();
        assert_eq!(id.principal, "assumed-role/app/lambdad");
        assert_eq!(
            id.policy
                .as_ref()
                .unwrap()
                .evaluate("lambda:InvokeFunction", "*"),
            lambdad_model::iam::Decision::ImplicitDeny
        );
    }

    #[test]
    fn only_a_file_key_with_its_secret_logs_in() {
        let creds = Credentials::parse(
            "[alice]\naws_access_key_id = A1\naws_secret_access_key = right\n",
            None,
        )
        .unwrap();
        assert_eq!(creds.login("A1", "right").unwrap().principal, "user/alice");
        assert!(creds.login("A1", "wrong").is_none());
        assert!(creds.login("A1", "").is_none());
        assert!(creds.login("B1", "right").is_none());
        let (key, secret, _) = creds.mint("arn:aws:iam::000000000000:role/app");
        assert!(creds.login(&key, &secret).is_none());
    }

    #[test]
    fn a_key_may_belong_to_another_account() {
        let text = "[alice]\naws_access_key_id = A1\naws_secret_access_key = s\n\
                    [bob]\naws_access_key_id = B1\naws_secret_access_key = s\naccount = 111122223333\n";
        let creds = Credentials::parse(text, None).unwrap();
        let alice = creds.identity("A1").unwrap();
        assert_eq!(alice.account("000000000000"), "000000000000");
        assert_eq!(
            alice.arn("000000000000"),
            "arn:aws:iam::000000000000:user/alice"
        );
        let bob = creds.identity("B1").unwrap();
        assert_eq!(
            bob.arn("000000000000"),
            "arn:aws:iam::111122223333:user/bob"
        );
        let bad = "[x]\naws_access_key_id = X\naws_secret_access_key = s\naccount = 12ab\n";
        assert!(matches!(
            Credentials::parse(bad, None),
            Err(CredentialsError::Account { .. })
        ));
        let (key, _, _) = creds.mint("arn:aws:iam::000000000000:role/app");
        let role = creds.identity(&key).unwrap();
        assert_eq!(
            role.arn("000000000000"),
            "arn:aws:sts::000000000000:assumed-role/app/lambdad"
        );
    }
}
