//! Container images of `PackageType: Image` functions, pulled from an OCI
//! registry with `oci-client` (plain HTTP for a registry on loopback, TLS
//! otherwise) and kept in the code store by manifest digest: the layers are
//! downloaded into temporary files (each verified against its digest by
//! the client), applied in order into one root file system
//! (`CodeStore::put_image`: whiteouts, the 10 GB limit) and removed. An
//! image already unpacked is not downloaded again: only its manifest and
//! config are read, to resolve a tag and check the platform. Pulls are
//! anonymous, or basic-authenticated with the registry's entry of the
//! operator's auth file ([`RegistryCredentials`]).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use lambdad_model::function::ImageCode;
use lambdad_store::code::{CodeError, CodeStore};
use lambdad_store::{ImageLayer, LayerCompression, MAX_IMAGE_BYTES, is_sha256_hex};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;

use crate::error::service_error;

service_error! {
    /// Why an image cannot back a function.
    pub enum ImageError {
        /// No such repository, tag or digest in the registry.
        #[error("Source image {0} does not exist. Provide a valid source image.")]
        NotFound(String) => InvalidParameterValue,
        /// A malformed URI, an unusable manifest or layer, or a platform
        /// other than the function's architecture.
        #[error("Source image {0} is not valid. Provide a valid source image.")]
        Invalid(String) => InvalidParameterValue,
        /// The registry refused the pull.
        #[error("Lambda does not have permission to access the ECR image. Check the ECR permissions.")]
        AccessDenied(String) => AccessDenied,
        /// The registry could not be reached or failed.
        #[error("Cannot pull the image {uri} from its registry: {reason}")]
        Registry { uri: String, reason: String } => Service,
    }
    wraps {
        /// The layers could not be unpacked or stored.
        Code(CodeError),
    }
}

/// Registry credentials by host (`host[:port]`), from an auth file in the
/// containers format that skopeo, podman and Docker write (`auth.json`,
/// `~/.docker/config.json`): `{"auths": {"HOST": {"auth":
/// "BASE64(USER:PASSWORD)"}}}`, or `username` and `password` fields; and,
/// as Docker does, credential helpers: `credHelpers` (`{"HOST": "NAME"}`)
/// and `credsStore` (`"NAME"`, for every other host) run
/// `docker-credential-NAME get` with the host on its standard input.
#[derive(Clone, Default)]
pub struct RegistryCredentials(Arc<Credentials>);

#[derive(Default)]
struct Credentials {
    basic: HashMap<String, (String, String)>,
    helpers: HashMap<String, String>,
    store: Option<String>,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hosts and helpers only: never the secrets.
        f.debug_struct("RegistryCredentials")
            .field("basic", &self.0.basic.keys().collect::<Vec<_>>())
            .field("helpers", &self.0.helpers)
            .field("store", &self.0.store)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

/// How long a credential helper may take.
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What `docker-credential-NAME get` prints.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// A registry key as a host: Docker writes some as URLs (`https://host/v1/`).
fn host_of(key: &str) -> String {
    key.trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned()
}

/// A helper's name makes a program name: letters, digits, `.`, `_`, `-`.
fn valid_helper(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl RegistryCredentials {
    /// Parses an auth file's text; the error names the entry it cannot read.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: AuthFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut helpers = HashMap::new();
        for (key, name) in file.cred_helpers {
            if !valid_helper(&name) {
                return Err(format!(
                    "the credential helper of {key}, {name:?}, is not a helper name"
                ));
            }
            helpers.insert(host_of(&key), name);
        }
        if let Some(name) = file.creds_store.as_deref().filter(|n| !valid_helper(n)) {
            return Err(format!("credsStore {name:?} is not a helper name"));
        }
        let store = file.creds_store.filter(|n| !n.is_empty());
        let mut out = HashMap::new();
        for (key, entry) in file.auths {
            let host = host_of(&key);
            let empty =
                entry.auth.is_none() && entry.username.is_none() && entry.password.is_none();
            if empty && (store.is_some() || helpers.contains_key(&host)) {
                continue; // Docker's placeholder for credentials a helper keeps
            }
            let pair = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) => base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))),
                (None, Some(u), Some(p)) => Some((u, p)),
                _ => None,
            };
            let pair = pair.ok_or_else(|| {
                format!("the entry of {key} has neither `auth` (base64 of USER:PASSWORD) nor `username` and `password`")
            })?;
            out.insert(host, pair);
        }
        Ok(Self(Arc::new(Credentials {
            basic: out,
            helpers,
            store,
        })))
    }

    /// The credentials for `registry`, in Docker's order: its credential
    /// helper, else the credentials store, else its `auths` entry, else none.
    async fn auth_for(&self, uri: &str, registry: &str) -> Result<RegistryAuth, ImageError> {
        let helper = self.0.helpers.get(registry).or(self.0.store.as_ref());
        if let Some(name) = helper {
            return run_helper(uri, name, registry).await;
        }
        Ok(self
            .0
            .basic
            .get(registry)
            .map_or(RegistryAuth::Anonymous, |(u, p)| {
                RegistryAuth::Basic(u.clone(), p.clone())
            }))
    }
}

/// `docker-credential-NAME get`, the registry host on its standard input,
/// as Docker runs it: its `Username` and `Secret`, or anonymous when it
/// knows no credentials for the host (Docker's "credentials not found").
async fn run_helper(uri: &str, name: &str, registry: &str) -> Result<RegistryAuth, ImageError> {
    use tokio::io::AsyncWriteExt as _;
    let program = format!("docker-credential-{name}");
    let failed = |reason: String| ImageError::Registry {
        uri: uri.to_owned(),
        reason: format!("{program} get: {reason}"),
    };
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .await
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| failed(format!("no answer in {} s", HELPER_TIMEOUT.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(RegistryAuth::Anonymous);
        }
        // The helper's own words, without its output (it may hold secrets).
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(failed(format!(
            "{} ({})",
            out.status,
            said.trim().chars().take(200).collect::<String>()
        )));
    }
    let answer: HelperAnswer = serde_json::from_str(&stdout)
        .map_err(|_| failed("an answer without Username and Secret".into()))?;
    if answer.username == "<token>" {
        // An identity token for an OAuth2 exchange lambdad does not make.
        return Err(failed(
            "identity tokens are not supported, only a username and secret".into(),
        ));
    }
    Ok(RegistryAuth::Basic(answer.username, answer.secret))
}

/// An image resolved and unpacked.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest digest's hex: AWS's `CodeSha256` of an image function.
    pub digest_hex: String,
    /// The code store key of its root file system (`image-<hex>`).
    pub key: String,
    /// What the function record keeps.
    pub image: ImageCode,
    /// Layers downloaded by this pull (0 when the image was cached).
    pub layers_downloaded: usize,
}

/// The parts of an image config lambdad uses.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    config: Option<RunConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
}

/// The OCI/Go name of a Lambda architecture.
fn oci_arch(arch: &str) -> &'static str {
    if arch == "arm64" { "arm64" } else { "amd64" }
}

/// Whether `registry` (`host[:port]`) is this host's loopback.
fn is_loopback(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(registry, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The reference `uri` names: it must name its registry (a host with a
/// dot or a port, or `localhost`), as an ECR URI does.
fn parse_uri(uri: &str) -> Result<Reference, ImageError> {
    let invalid = || ImageError::Invalid(uri.to_owned());
    let first = uri.split('/').next().unwrap_or("");
    let names_registry =
        uri.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if !names_registry || uri.len() > 1024 {
        return Err(invalid());
    }
    uri.parse::<Reference>().map_err(|_| invalid())
}

fn client_for(reference: &Reference, arch: &str) -> Client {
    let wanted = oci_arch(arch);
    let resolver = move |entries: &[ImageIndexEntry]| {
        entries
            .iter()
            .find(|e| {
                e.platform.as_ref().is_some_and(|p| {
                    p.os.to_string() == "linux" && p.architecture.to_string() == wanted
                })
            })
            .map(|e| e.digest.clone())
    };
    let registry = reference.resolve_registry().to_owned();
    Client::new(ClientConfig {
        protocol: if is_loopback(&registry) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        platform_resolver: Some(Box::new(resolver)),
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        ..Default::default()
    })
}

fn classify(uri: &str, e: OciDistributionError) -> ImageError {
    use OciDistributionError as E;
    match &e {
        E::ImageManifestNotFoundError(_) => ImageError::NotFound(uri.to_owned()),
        E::RegistryError { envelope, .. } => {
            let text = format!("{envelope:?}");
            if ["ManifestUnknown", "NameUnknown", "BlobUnknown"]
                .iter()
                .any(|c| text.contains(c))
            {
                ImageError::NotFound(uri.to_owned())
            } else {
                ImageError::Registry {
                    uri: uri.to_owned(),
                    reason: e.to_string(),
                }
            }
        }
        E::ServerError { code: 404, .. } => ImageError::NotFound(uri.to_owned()),
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => {
            ImageError::AccessDenied(uri.to_owned())
        }
        E::ImageIndexParsingNoPlatformResolverError
        | E::IncompatibleLayerMediaTypeError(_)
        | E::ManifestParsingError(_)
        | E::UnsupportedMediaTypeError(_)
        | E::UnsupportedSchemaVersionError(_)
        | E::VersionedParsingError(_)
        | E::PullNoLayersError => ImageError::Invalid(uri.to_owned()),
        _ => ImageError::Registry {
            uri: uri.to_owned(),
            reason: e.to_string(),
        },
    }
}

/// How a layer of `media_type` is compressed, or None for a layer lambdad
/// cannot unpack.
fn layer_compression(media_type: &str) -> Option<LayerCompression> {
    if media_type.ends_with("tar+gzip") || media_type.ends_with("tar.gzip") {
        Some(LayerCompression::Gzip)
    } else if media_type.ends_with("tar+zstd") {
        Some(LayerCompression::Zstd)
    } else if media_type.ends_with(".tar") || media_type.ends_with("layer.v1.tar") {
        Some(LayerCompression::None)
    } else {
        None
    }
}

/// Resolves `uri` for a function of architecture `arch` (`x86_64`,
/// `arm64`) and makes sure its root file system is in `code`.
pub async fn pull(
    code: &CodeStore,
    registries: &RegistryCredentials,
    uri: &str,
    arch: &str,
) -> Result<Pulled, ImageError> {
    let reference = parse_uri(uri)?;
    let client = client_for(&reference, arch);
    let auth = registries
        .auth_for(uri, reference.resolve_registry())
        .await?;
    let (manifest, digest, config) = client
        .pull_manifest_and_config(&reference, &auth)
        .await
        .map_err(|e| classify(uri, e))?;
    let config: ConfigFile =
        serde_json::from_str(&config).map_err(|_| ImageError::Invalid(uri.to_owned()))?;
    if config.architecture != oci_arch(arch) {
        tracing::info!(
            uri,
            image = config.architecture,
            function = arch,
            "The image's platform does not match the function's architecture."
        );
        return Err(ImageError::Invalid(uri.to_owned()));
    }
    let Some(digest_hex) = digest.strip_prefix("sha256:").map(str::to_owned) else {
        return Err(ImageError::Invalid(uri.to_owned()));
    };
    let key = format!("image-{digest_hex}");
    let run = config.config.unwrap_or_default();
    let image = ImageCode {
        image_uri: uri.to_owned(),
        resolved_image_uri: format!(
            "{}/{}@{digest}",
            reference.resolve_registry(),
            reference.repository()
        ),
        entrypoint: run.entrypoint.unwrap_or_default(),
        cmd: run.cmd.unwrap_or_default(),
        env: run.env.unwrap_or_default(),
        working_dir: run.working_dir.unwrap_or_default(),
    };
    if code.contains_tree(&key) {
        return Ok(Pulled {
            digest_hex,
            key,
            image,
            layers_downloaded: 0,
        });
    }
    let compressed: u64 = manifest
        .layers
        .iter()
        .map(|l| u64::try_from(l.size).unwrap_or(0))
        .sum();
    if compressed > MAX_IMAGE_BYTES {
        return Err(CodeError::ImageTooLarge(compressed).into());
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    let downloaded = download_layers(&client, &reference, uri, code, &manifest, &mut layers).await;
    let result = match downloaded {
        Ok(n) => {
            let (code2, key2, layers2) = (code.clone(), key.clone(), layers.clone());
            tokio::task::spawn_blocking(move || code2.put_image(&key2, &layers2))
                .await
                .map_err(|e| ImageError::Registry {
                    uri: uri.to_owned(),
                    reason: e.to_string(),
                })
                .and_then(|r| r.map(|_| n).map_err(ImageError::from))
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        // The layers no stored image has go (those of a failed pull).
        let (code2, hexes) = (
            code.clone(),
            layers
                .iter()
                .map(|l| l.digest_hex.clone())
                .collect::<Vec<_>>(),
        );
        let _ = tokio::task::spawn_blocking(move || code2.collect_layers(&hexes)).await;
    }
    let layers_downloaded = result?;
    Ok(Pulled {
        digest_hex,
        key,
        image,
        layers_downloaded,
    })
}

async fn download_layers(
    client: &Client,
    reference: &Reference,
    uri: &str,
    code: &CodeStore,
    manifest: &oci_client::manifest::OciImageManifest,
    out: &mut Vec<ImageLayer>,
) -> Result<usize, ImageError> {
    let mut downloaded = 0;
    for layer in &manifest.layers {
        let invalid = || ImageError::Invalid(uri.into());
        let compression = layer_compression(&layer.media_type).ok_or_else(invalid)?;
        let hex = layer
            .digest
            .strip_prefix("sha256:")
            .filter(|h| is_sha256_hex(h))
            .ok_or_else(invalid)?;
        let path = code.layer_path(hex);
        out.push(ImageLayer {
            path: path.clone(),
            compression,
            digest_hex: hex.to_owned(),
        });
        if path.is_file() {
            continue; // another image has it
        }
        let tmp = code.temp_path(".layer");
        let io = |source| CodeError::Io {
            path: tmp.clone(),
            source,
        };
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let pulled = client.pull_blob(reference, layer, &mut file).await;
        if let Err(e) = pulled {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(classify(uri, e));
        }
        // tokio writes in the background: all of it lands before the blob
        // is named (and unpacked), not when the handle is dropped.
        file.sync_all().await.map_err(io)?;
        drop(file);
        tokio::fs::rename(&tmp, &path).await.map_err(io)?;
        downloaded += 1;
    }
    Ok(downloaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn registry_auth_files() {
        let creds = RegistryCredentials::parse(
            r#"{"auths": {
                "127.0.0.1:5000": {"auth": "YWxpY2U6czNjcjp0"},
                "https://registry.example.com/v1/": {"username": "bob", "password": "pw"}
            }, "credHelpers": {}}"#,
        )
        .unwrap();
        let auth = |host: &'static str| {
            let creds = creds.clone();
            async move { creds.auth_for("uri", host).await.unwrap() }
        };
        assert!(matches!(auth("127.0.0.1:5000").await,
            RegistryAuth::Basic(u, p) if u == "alice" && p == "s3cr:t"));
        assert!(matches!(auth("registry.example.com").await,
            RegistryAuth::Basic(u, p) if u == "bob" && p == "pw"));
        assert!(matches!(
            auth("127.0.0.1:5001").await,
            RegistryAuth::Anonymous
        ));
        let shown = format!("{creds:?}");
        assert!(
            shown.contains("127.0.0.1:5000") && !shown.contains("s3cr") && !shown.contains("pw")
        );
        let err = RegistryCredentials::parse(r#"{"auths": {"h:1": {"auth": "!!"}}}"#).unwrap_err();
        assert!(err.contains("h:1"), "{err}");
        assert!(RegistryCredentials::parse(r#"{"auths": 5}"#).is_err());
        assert!(RegistryCredentials::parse("{}").unwrap().0.basic.is_empty());
    }

    #[tokio::test]
    async fn credential_helpers_as_docker_names_them() {
        // Docker's placeholder entries beside a store; a helper per host.
        let creds = RegistryCredentials::parse(
            r#"{"auths": {"a.example.com": {}}, "credsStore": "desktop",
                "credHelpers": {"https://b.example.com": "ecr-login"}}"#,
        )
        .unwrap();
        assert_eq!(creds.0.helpers["b.example.com"], "ecr-login");
        assert_eq!(creds.0.store.as_deref(), Some("desktop"));
        assert!(creds.0.basic.is_empty());
        for bad in [
            r#"{"credsStore": "../../bin/sh"}"#,
            r#"{"credHelpers": {"h": "a b"}}"#,
            r#"{"auths": {"h": {}}}"#,
        ] {
            assert!(RegistryCredentials::parse(bad).is_err(), "{bad}");
        }
        // A helper that is not installed is the registry's failure, named.
        let err = creds
            .auth_for("uri", "b.example.com")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("docker-credential-ecr-login get"), "{err}");
    }

    #[test]
    fn uris_and_registries() {
        assert!(parse_uri("127.0.0.1:5000/fn:latest").is_ok());
        assert!(
            parse_uri(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            )
            .is_ok()
        );
        for bad in ["repo:tag", "busybox", "", "a b/c:d"] {
            assert!(
                matches!(parse_uri(bad), Err(ImageError::Invalid(_))),
                "{bad}"
            );
        }
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com"));
        use LayerCompression as C;
        for (media_type, compression) in [
            ("application/vnd.oci.image.layer.v1.tar+gzip", Some(C::Gzip)),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Some(C::Gzip),
            ),
            ("application/vnd.oci.image.layer.v1.tar", Some(C::None)),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Some(C::Zstd)),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+bzip2",
                None,
            ),
        ] {
            assert_eq!(layer_compression(media_type), compression, "{media_type}");
        }
    }
}
