//! Container image root file systems in the code store: the layers of one
//! image (tar archives: plain, gzip- or zstd-compressed) applied in order
//! into one directory, `DATA_DIR/code/image-<hex of the manifest digest>/`,
//! with the OCI whiteouts (`.wh.NAME` deletes NAME of the layers below,
//! `.wh..wh..opq` empties its directory of them).
//!
//! The layer blobs are kept too, by digest (`layer-<hex>`), shared by every
//! image that has them: a new image pulls only the layers no stored image
//! has. `image-<hex>.layers` lists an image's layers; when the last image
//! listing a layer is removed, so is the layer ([`CodeStore::collect_layers`]).
//!
//! Like `put_zip`, nothing becomes visible before the whole image is
//! unpacked: layers go into a private temporary directory that is renamed
//! into place at the end. Entries never land outside the root (`tar`'s
//! `unpack_in` refuses `..`, absolute paths and writes through links),
//! device nodes and FIFOs are skipped, owners are not kept (files belong
//! to lambdad; the environment's user reads what others may read, as on
//! Lambda), and the bytes written count against [`MAX_IMAGE_BYTES`].

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::code::{CodeError, CodeStore, MAX_IMAGE_BYTES};

/// Directories every image root gets, as the mount points of the sandbox.
const MOUNT_POINTS: [&str; 3] = ["proc", "dev", "tmp"];

/// The prefix of a whiteout entry's file name.
const WHITEOUT: &str = ".wh.";
/// The file name of an opaque-directory whiteout.
const OPAQUE: &str = ".wh..wh..opq";

/// How a layer's tar archive is compressed (its media type's suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `…tar`.
    None,
    /// `…tar+gzip`, Docker's `…tar.gzip`.
    Gzip,
    /// `…tar+zstd`.
    Zstd,
}

/// One layer to apply: its verified blob, its compression and its digest.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The downloaded blob.
    pub path: PathBuf,
    /// How the blob is compressed.
    pub compression: Compression,
    /// The hex of the blob's sha256 (what `image-<hex>.layers` lists).
    pub digest_hex: String,
}

/// Whether `hex` is a sha256 in hex (a layer's cache name is made of it).
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CodeError + '_ {
    move |source| CodeError::Io {
        path: path.to_owned(),
        source,
    }
}

fn bad_layer(e: impl std::fmt::Display) -> CodeError {
    CodeError::BadLayer(e.to_string())
}

impl CodeStore {
    /// Whether the root file system `key` is unpacked.
    pub fn contains_tree(&self, key: &str) -> bool {
        self.dir(key).is_dir()
    }

    /// Where the blob of the layer whose sha256 is `hex` is kept.
    pub fn layer_path(&self, hex: &str) -> PathBuf {
        self.dir(&format!("layer-{hex}"))
    }

    fn layer_list_path(&self, key: &str) -> PathBuf {
        self.dir(&format!("{key}.layers"))
    }

    /// The layers `image-…` key was made of (none for other keys).
    pub(crate) fn image_layers(&self, key: &str) -> Vec<String> {
        fs::read_to_string(self.layer_list_path(key))
            .map(|t| {
                t.lines()
                    .filter(|l| is_sha256_hex(l))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes the layer blobs among `hexes` that no stored image lists
    /// (caller holds the code lock, as pulls do).
    pub fn collect_layers(&self, hexes: &[String]) {
        let mut listed: HashSet<String> = HashSet::new();
        for entry in fs::read_dir(self.root()).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(key) = name
                .strip_suffix(".layers")
                .filter(|k| k.starts_with("image-"))
            {
                listed.extend(self.image_layers(key));
            }
        }
        for hex in hexes
            .iter()
            .filter(|h| is_sha256_hex(h) && !listed.contains(*h))
        {
            let _ = fs::remove_file(self.layer_path(hex));
        }
    }

    /// Unpacks `layers` in order into the root file system `key` (see the
    /// module's documentation) and records their list; returns the bytes
    /// written. Idempotent.
    pub fn put_image(&self, key: &str, layers: &[Layer]) -> Result<u64, CodeError> {
        if self.contains_tree(key) {
            return Ok(self.unzipped_size(key));
        }
        let tmp = self.temp_path("");
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let result = (|| {
            let list = self.layer_list_path(key);
            let text: String = layers
                .iter()
                .map(|l| format!("{}\n", l.digest_hex))
                .collect();
            fs::write(&list, text).map_err(io_err(&list))?;
            let mut written = 0u64;
            for layer in layers {
                written = apply_layer(layer, &tmp, written)?;
            }
            for dir in MOUNT_POINTS {
                // A real directory: a link there would lead a mount elsewhere.
                let p = tmp.join(dir);
                if fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()) {
                    remove_path(&tmp, Path::new(dir))?;
                }
                if fs::symlink_metadata(&p).is_err() {
                    fs::create_dir(&p).map_err(io_err(&p))?;
                }
            }
            self.commit_tree(key, &tmp, written)?;
            Ok(written)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
            let _ = fs::remove_file(self.layer_list_path(key));
        }
        result
    }
}

/// Removes what `rel` names under `root`, if anything (never following a link).
fn remove_path(root: &Path, rel: &Path) -> Result<(), CodeError> {
    let path = root.join(rel);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&path).map_err(io_err(&path)),
        Ok(_) => fs::remove_file(&path).map_err(io_err(&path)),
        Err(_) => Ok(()),
    }
}

/// Whether some parent of `rel` under `root` is a symbolic link.
fn through_link(root: &Path, rel: &Path) -> bool {
    rel.ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| root.join(a).is_symlink())
}

/// A zstd stream's every frame in turn, skippable frames skipped: ruzstd's
/// decoder decodes one frame, and a layer may hold several (zstd:chunked
/// layers do).
struct ZstdFrames<R: io::BufRead> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: io::BufRead> ZstdFrames<R> {
    fn new(source: R) -> Self {
        Self {
            source,
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }
}

impl<R: io::BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                let d = &mut self.decoder;
                while d.can_collect() < buf.len() && !d.is_finished() {
                    let more = BlockDecodingStrategy::UptoBytes(buf.len() - d.can_collect());
                    d.decode_blocks(&mut self.source, more)
                        .map_err(io::Error::other)?;
                }
                let n = d.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false; // the frame is finished and collected
            }
            if self.source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skip = u64::from(length);
                    let skipped = io::copy(&mut (&mut self.source).take(skip), &mut io::sink())?;
                    if skipped != skip {
                        return Err(io::Error::other("a skippable zstd frame ends early"));
                    }
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
}

fn apply_layer(layer: &Layer, root: &Path, mut written: u64) -> Result<u64, CodeError> {
    let file = fs::File::open(&layer.path).map_err(io_err(&layer.path))?;
    let reader: Box<dyn Read> = match layer.compression {
        // Multi-member: parallel compressors (pgzip, as umoci uses) write several.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))),
        Compression::Zstd => Box::new(ZstdFrames::new(BufReader::new(file))),
        Compression::None => Box::new(BufReader::new(file)),
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(false);
    archive.set_unpack_xattrs(false);
    archive.set_overwrite(true);
    // Paths this layer wrote: an opaque whiteout hides only the layers below.
    let mut own: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(bad_layer)? {
        let mut entry = entry.map_err(bad_layer)?;
        let raw = entry.path().map_err(bad_layer)?.into_owned();
        let Some(rel) = crate::code::safe_relative(&raw.to_string_lossy()) else {
            // The root itself ("./") or an escaping name.
            if raw
                .components()
                .all(|c| matches!(c, std::path::Component::CurDir))
            {
                continue;
            }
            return Err(CodeError::EscapingEntry(raw.display().to_string()));
        };
        if through_link(root, &rel) {
            return Err(CodeError::EscapingEntry(rel.display().to_string()));
        }
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        if name == OPAQUE {
            let dir = root.join(&parent);
            if let Ok(children) = fs::read_dir(&dir) {
                for child in children.flatten() {
                    let child_rel = parent.join(child.file_name());
                    if !own.contains(&child_rel) {
                        remove_path(root, &child_rel)?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            remove_path(root, &parent.join(hidden))?;
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            continue;
        }
        if !kind.is_dir() {
            // A file replaces whatever a lower layer had there, a directory too.
            remove_path(root, &rel)?;
        } else if fs::symlink_metadata(root.join(&rel)).is_ok_and(|m| !m.is_dir()) {
            remove_path(root, &rel)?;
        }
        if kind.is_file() {
            written += entry.header().size().map_err(bad_layer)?;
            if written > MAX_IMAGE_BYTES {
                return Err(CodeError::ImageTooLarge(written));
            }
        }
        let unpacked = entry.unpack_in(root).map_err(bad_layer)?;
        if !unpacked {
            return Err(CodeError::EscapingEntry(rel.display().to_string()));
        }
        own.insert(rel);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(dir: &Path, name: &str, entries: &[(&str, Option<&[u8]>)]) -> Layer {
        let path = dir.join(name);
        let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
        for (p, data) in entries {
            let mut h = tar::Header::new_gnu();
            match data {
                Some(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    h.set_mode(0o644);
                    h.set_cksum();
                    b.append_data(&mut h, p, *d).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    h.set_cksum();
                    b.append_data(&mut h, p, io::empty()).unwrap();
                }
            }
        }
        b.finish().unwrap();
        Layer {
            path,
            compression: Compression::None,
            digest_hex: format!("{:064x}", name.len()),
        }
    }

    #[test]
    fn applies_layers_with_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path().join("code")).unwrap();
        let lower = layer(
            dir.path(),
            "l1.tar",
            &[
                ("etc/", None),
                ("etc/a", Some(b"a")),
                ("etc/b", Some(b"b")),
                ("var/", None),
                ("var/old", Some(b"o")),
                ("var/keep/", None),
            ],
        );
        let upper = layer(
            dir.path(),
            "l2.tar",
            &[
                ("etc/.wh.a", Some(b"")),
                ("var/new", Some(b"n")),
                ("var/.wh..wh..opq", Some(b"")),
                ("etc/b", Some(b"B2")),
            ],
        );
        let written = store.put_image("image-t", &[lower, upper]).unwrap();
        let root = store.dir("image-t");
        assert!(!root.join("etc/a").exists());
        assert_eq!(fs::read(root.join("etc/b")).unwrap(), b"B2");
        assert_eq!(fs::read(root.join("var/new")).unwrap(), b"n");
        assert!(!root.join("var/old").exists());
        assert!(!root.join("var/keep").exists());
        for d in MOUNT_POINTS {
            assert!(root.join(d).is_dir(), "{d}");
        }
        // Every byte written counts, also those a later layer replaced.
        assert_eq!(written, 6);
        assert_eq!(store.unzipped_size("image-t"), 6);
    }

    #[test]
    fn zstd_layers_decode_every_frame_and_skip_skippable_ones() {
        use ruzstd::encoding::{CompressionLevel, compress_to_vec};
        let mut stream = compress_to_vec(&b"hello "[..], CompressionLevel::Fastest);
        stream.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
        stream.extend_from_slice(&3u32.to_le_bytes());
        stream.extend_from_slice(b"xyz");
        stream.extend(compress_to_vec(&b"world"[..], CompressionLevel::Fastest));
        let mut out = String::new();
        ZstdFrames::new(&stream[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello world");
        let mut bad = stream.clone();
        bad.extend_from_slice(b"not zstd");
        assert!(
            ZstdFrames::new(&bad[..])
                .read_to_end(&mut Vec::new())
                .is_err()
        );
    }

    #[test]
    fn refuses_escapes_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("code");
        let store = CodeStore::open(&root).unwrap();
        let path = dir.path().join("evil.tar");
        let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_cksum();
        b.append_link(&mut h, "link", "/").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_cksum();
        b.append_data(&mut h, "link/evil", &b"x"[..]).unwrap();
        b.finish().unwrap();
        let r = store.put_image(
            "image-e",
            &[Layer {
                path,
                compression: Compression::None,
                digest_hex: "0".repeat(64),
            }],
        );
        assert!(matches!(r, Err(CodeError::EscapingEntry(_))), "{r:?}");
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
    }
}
