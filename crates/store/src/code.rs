//! Function code, content-addressed by SHA-256 under `DATA_DIR/code/`.
//!
//! `put_zip` checks the archive completely before anything becomes visible:
//! it extracts into a private temporary directory under the code root,
//! counting the bytes it really writes (never trusting the sizes in the zip
//! headers), refusing entries that would escape the directory (absolute
//! paths, `..`, links pointing outside), and only then renames the directory
//! to `<hex-sha256>/` and the archive to `<hex-sha256>.zip`. A refused
//! archive leaves nothing behind.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use lambdad_model::{AwsError, Code, ErrorCode};
use sha2::{Digest, Sha256};

/// Largest zip accepted (AWS: 50 MB).
pub const MAX_ZIPPED_BYTES: usize = 52_428_800;
/// Largest unpacked size accepted (AWS: 250 MB).
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// Most entries an archive may hold.
pub const MAX_ENTRIES: usize = 100_000;

/// What is known about a stored code archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    /// base64(SHA-256(zip)), AWS's `CodeSha256`.
    pub sha256_b64: String,
    /// hex(SHA-256(zip)), the storage key.
    pub sha256_hex: String,
    /// Size of the zip in bytes, AWS's `CodeSize`.
    pub size: u64,
    /// Unpacked code directory.
    pub dir: PathBuf,
}

/// Largest uncompressed image accepted (AWS: 10 GB, all layers).
pub const MAX_IMAGE_BYTES: u64 = 10_737_418_240;

/// Why an archive was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Over 50 MB zipped.
    #[error("Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes")]
    ZippedTooLarge,
    /// Over 250 MB unpacked.
    #[error("Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")]
    UnzippedTooLarge,
    /// Not a readable zip archive.
    #[error("Could not unzip uploaded file. Please check your file, then try to upload again.")]
    NotAZip,
    /// An entry would land outside the code directory.
    #[error(
        "Could not unzip uploaded file. Please check your file, then try to upload again. Entry '{0}' would be extracted outside the code directory."
    )]
    EscapingEntry(String),
    /// Too many entries.
    #[error(
        "Could not unzip uploaded file. Please check your file, then try to upload again. The archive has more than 100000 entries."
    )]
    TooManyEntries,
    /// A container image layer that is not a readable tar archive.
    #[error("The image has a layer that cannot be unpacked: {0}")]
    BadLayer(String),
    /// A container image over 10 GB unpacked.
    #[error(
        "The image's uncompressed size must be smaller than {max} bytes. The actual size is at least {0} bytes.",
        max = MAX_IMAGE_BYTES
    )]
    ImageTooLarge(u64),
    /// Disk trouble.
    #[error("could not store function code at {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        #[source]
        source: io::Error,
    },
}

impl ErrorCode for CodeError {
    fn error_code(&self) -> Code {
        match self {
            CodeError::ZippedTooLarge => Code::RequestEntityTooLarge,
            CodeError::Io { .. } => Code::Service,
            _ => Code::InvalidParameterValue,
        }
    }
}

impl From<CodeError> for AwsError {
    fn from(e: CodeError) -> Self {
        AwsError::new(e.error_code(), e.to_string())
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CodeError + '_ {
    move |source| CodeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The code blob store.
#[derive(Debug, Clone)]
pub struct CodeStore {
    root: PathBuf,
}

impl CodeStore {
    /// Opens (creating) the code root and removes leftovers of interrupted uploads.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, CodeError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        for entry in fs::read_dir(&root).map_err(io_err(&root))?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let path = entry.path();
                let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
            }
        }
        Ok(Self { root })
    }

    /// The code root.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Directory holding the unpacked code of `sha256_hex`.
    pub fn dir(&self, sha256_hex: &str) -> PathBuf {
        self.root.join(sha256_hex)
    }

    /// Path of the stored archive of `sha256_hex`.
    pub fn zip_path(&self, sha256_hex: &str) -> PathBuf {
        self.root.join(format!("{sha256_hex}.zip"))
    }

    fn size_path(&self, sha256_hex: &str) -> PathBuf {
        self.root.join(format!("{sha256_hex}.unzipped"))
    }

    /// Bytes the archive unpacks to (0 when unknown).
    pub fn unzipped_size(&self, sha256_hex: &str) -> u64 {
        fs::read_to_string(self.size_path(sha256_hex))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether the archive and its unpacked directory are both present.
    pub fn contains(&self, sha256_hex: &str) -> bool {
        self.zip_path(sha256_hex).is_file() && self.dir(sha256_hex).is_dir()
    }

    /// Validates, stores and unpacks `zip`; idempotent for identical archives.
    pub fn put_zip(&self, zip: &[u8]) -> Result<CodeInfo, CodeError> {
        if zip.len() > MAX_ZIPPED_BYTES {
            return Err(CodeError::ZippedTooLarge);
        }
        let digest = Sha256::digest(zip);
        let hex = hex::encode(digest);
        let info = CodeInfo {
            sha256_b64: base64::engine::general_purpose::STANDARD.encode(digest),
            sha256_hex: hex.clone(),
            size: zip.len() as u64,
            dir: self.dir(&hex),
        };
        if self.contains(&hex) {
            return Ok(info);
        }
        let tmp = self
            .root
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let result = extract(zip, &tmp).and_then(|unzipped| {
            let size_file = self.size_path(&hex);
            fs::write(&size_file, unzipped.to_string()).map_err(io_err(&size_file))?;
            let tmp_zip = self
                .root
                .join(format!(".tmp-{}.zip", uuid::Uuid::new_v4().simple()));
            write_synced(&tmp_zip, zip)?;
            let final_zip = self.zip_path(&hex);
            fs::rename(&tmp_zip, &final_zip).map_err(io_err(&final_zip))?;
            let dir = self.dir(&hex);
            if dir.exists() {
                let _ = fs::remove_dir_all(&dir);
            }
            fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
            sync_dir(&self.root)
        });
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result.map(|()| info)
    }

    /// A fresh temporary path under the root (removed at the next open).
    pub fn temp_path(&self, suffix: &str) -> PathBuf {
        self.root
            .join(format!(".tmp-{}{suffix}", uuid::Uuid::new_v4().simple()))
    }

    /// Makes the unpacked tree `tmp` the directory of `key`, of `size` bytes.
    pub(crate) fn commit_tree(&self, key: &str, tmp: &Path, size: u64) -> Result<(), CodeError> {
        let size_file = self.size_path(key);
        fs::write(&size_file, size.to_string()).map_err(io_err(&size_file))?;
        let dir = self.dir(key);
        if dir.exists() {
            // A concurrent unpack of the same content won: keep its tree,
            // environments may run in it already.
            let _ = fs::remove_dir_all(tmp);
            return Ok(());
        }
        fs::rename(tmp, &dir).map_err(io_err(&dir))?;
        sync_dir(&self.root)
    }

    /// Reads a stored archive.
    pub fn read_zip(&self, sha256_hex: &str) -> Result<Vec<u8>, CodeError> {
        let path = self.zip_path(sha256_hex);
        fs::read(&path).map_err(io_err(&path))
    }

    /// Removes an archive and its unpacked directory (when no function uses it any more).
    /// An image's root also gives up its layers, unless another image has them.
    pub fn remove(&self, sha256_hex: &str) {
        let _ = fs::remove_file(self.zip_path(sha256_hex));
        let _ = fs::remove_file(self.size_path(sha256_hex));
        let _ = fs::remove_dir_all(self.dir(sha256_hex));
        let layers = self.image_layers(sha256_hex);
        if !layers.is_empty() {
            let _ = fs::remove_file(self.dir(&format!("{sha256_hex}.layers")));
            self.collect_layers(&layers);
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CodeError> {
    let mut f = fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn sync_dir(dir: &Path) -> Result<(), CodeError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// A relative path with only normal components, or `None`.
pub(crate) fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Whether a symlink at `link` (relative to the root) pointing to `target` stays inside.
fn link_stays_inside(link: &Path, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in Path::new(target).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

fn extract(zip: &[u8], dest: &Path) -> Result<u64, CodeError> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(zip)).map_err(|_| CodeError::NotAZip)?;
    if archive.len() > MAX_ENTRIES {
        return Err(CodeError::TooManyEntries);
    }
    let mut written: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|_| CodeError::NotAZip)?;
        let name = entry.name().to_owned();
        let rel = safe_relative(&name).ok_or_else(|| CodeError::EscapingEntry(name.clone()))?;
        let out = dest.join(&rel);
        let mode = entry.unix_mode();
        let is_link = mode.is_some_and(|m| m & 0o170000 == 0o120000);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        if entry.is_dir() {
            fs::create_dir_all(&out).map_err(io_err(&out))?;
            continue;
        }
        if is_link {
            let mut target = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|_| CodeError::NotAZip)?;
            if !link_stays_inside(&rel, &target) {
                return Err(CodeError::EscapingEntry(name));
            }
            std::os::unix::fs::symlink(&target, &out).map_err(io_err(&out))?;
            continue;
        }
        // A path component may be a link extracted earlier: refuse to write through it.
        if rel
            .ancestors()
            .skip(1)
            .any(|a| !a.as_os_str().is_empty() && dest.join(a).is_symlink())
        {
            return Err(CodeError::EscapingEntry(name));
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&out)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => CodeError::EscapingEntry(name.clone()),
                _ => CodeError::Io {
                    path: out.clone(),
                    source: e,
                },
            })?;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => return Err(CodeError::NotAZip),
            };
            written += n as u64;
            if written > MAX_UNZIPPED_BYTES {
                return Err(CodeError::UnzippedTooLarge);
            }
            file.write_all(&buf[..n]).map_err(io_err(&out))?;
        }
        let perm = if mode.is_some_and(|m| m & 0o111 != 0) {
            0o755
        } else {
            0o644
        };
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&out, fs::Permissions::from_mode(perm)).map_err(io_err(&out))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, mode) in entries {
            w.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn stores_and_unpacks_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path().join("code")).unwrap();
        let zip = zip_of(&[
            ("bootstrap", b"#!/bin/sh\n", 0o755),
            ("lib/a.txt", b"a", 0o644),
        ]);
        let info = store.put_zip(&zip).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(info.dir.join("bootstrap"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs::read(info.dir.join("lib/a.txt")).unwrap(), b"a");
        assert_eq!(store.read_zip(&info.sha256_hex).unwrap(), zip);
        assert_eq!(store.unzipped_size(&info.sha256_hex), 11);
        assert_eq!(store.put_zip(&zip).unwrap(), info);
    }

    #[test]
    fn refuses_escapes_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("code");
        let store = CodeStore::open(&root).unwrap();
        for name in ["../evil", "/abs/evil", "a/../../evil"] {
            let zip = zip_of(&[("ok", b"1", 0o644), (name, b"x", 0o644)]);
            assert!(
                matches!(store.put_zip(&zip), Err(CodeError::EscapingEntry(_))),
                "{name}"
            );
        }
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
        assert!(!dir.path().join("evil").exists());
        assert!(matches!(
            store.put_zip(b"not a zip"),
            Err(CodeError::NotAZip)
        ));
    }

    #[test]
    fn link_checks() {
        assert!(link_stays_inside(Path::new("a/b"), "../c"));
        assert!(!link_stays_inside(Path::new("a"), "../c"));
        assert!(!link_stays_inside(Path::new("a"), "/etc/passwd"));
    }
}
