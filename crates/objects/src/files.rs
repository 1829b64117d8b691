//! Object bytes on disk: `DIR/data/XX/BLOB` files, written to `DIR/tmp`
//! first, fsynced and renamed into place (and the directory fsynced) before
//! their record is committed, so no reader ever sees a half-written object.
//! A crash can leave an unreferenced file behind, never a partial object.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;
use s3s::crypto::Checksum as _;
use s3s::dto::StreamingBlob;
use s3s::{S3Error, S3ErrorCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::meta::Checksums;

/// The largest object one PUT (or one part) may carry: 5 GiB, as S3.
pub const MAX_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// Where object files live.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    dir: PathBuf,
    idle: std::time::Duration,
}

/// A file written and in place.
#[derive(Debug)]
pub(crate) struct Written {
    pub blob: String,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: Checksums,
}

/// Which checksums to compute while writing.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Want {
    pub crc32: bool,
    pub crc32c: bool,
    pub sha1: bool,
    pub sha256: bool,
    pub crc64nvme: bool,
}

pub(crate) fn io_error(e: &std::io::Error) -> S3Error {
    if e.raw_os_error() == Some(28) {
        return S3Error::with_message(
            S3ErrorCode::ServiceUnavailable,
            "The object store is out of disk space; nothing was stored. Please try again later.",
        );
    }
    tracing::error!(error = %e, "object store I/O failed");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

impl Files {
    /// Opens (creating) the directories; empties `tmp` (left by a crash).
    pub fn open(dir: &Path, idle: std::time::Duration) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("data"))?;
        let tmp = dir.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self {
            dir: dir.to_owned(),
            idle,
        })
    }

    /// Removes the files under `data/` that `in_use` does not name: those a
    /// crash left between a file's rename and its record's commit.
    pub fn collect(&self, in_use: &std::collections::HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        for shard in std::fs::read_dir(self.dir.join("data"))? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&shard)? {
                let f = f?;
                let name = f.file_name().to_string_lossy().into_owned();
                if !in_use.contains(&name) {
                    std::fs::remove_file(f.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    pub fn path(&self, blob: &str) -> PathBuf {
        let shard = blob.get(..2).unwrap_or("00");
        self.dir.join("data").join(shard).join(blob)
    }

    /// Streams `body` into a new file (at most `limit` bytes), computing its
    /// MD5 and the checksums asked for; fsynced and in place on return.
    pub async fn write(
        &self,
        mut body: StreamingBlob,
        limit: u64,
        want: Want,
    ) -> Result<Written, S3Error> {
        let blob = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.dir.join("tmp").join(&blob);
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io_error(&e))?;
        let mut hasher = Hasher::new(want);
        let mut size = 0u64;
        let result: Result<(), S3Error> = async {
            loop {
                // A client that stalls mid-body is cut off, as S3 does.
                let Ok(next) = tokio::time::timeout(self.idle, body.next()).await else {
                    return Err(S3Error::with_message(
                        S3ErrorCode::RequestTimeout,
                        "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
                    ));
                };
                let Some(chunk) = next else {
                    break;
                };
                let chunk: Bytes = chunk.map_err(|e| {
                    S3Error::with_message(
                        S3ErrorCode::IncompleteBody,
                        format!("The request body could not be read: {e}"),
                    )
                })?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(S3Error::with_message(
                        S3ErrorCode::EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size",
                    ));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| io_error(&e))?;
            }
            file.sync_all().await.map_err(|e| io_error(&e))?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let (md5, checksums) = hasher.finish();
        self.place(&tmp, &blob).await?;
        Ok(Written {
            blob,
            size,
            md5,
            checksums,
        })
    }

    /// Concatenates files (a multipart upload's parts) into a new one.
    pub async fn concat(&self, blobs: &[String]) -> Result<(String, u64), S3Error> {
        let blob = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.dir.join("tmp").join(&blob);
        let result: Result<u64, S3Error> = async {
            let mut out = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| io_error(&e))?;
            let mut size = 0;
            for b in blobs {
                let mut part = tokio::fs::File::open(self.path(b))
                    .await
                    .map_err(|e| io_error(&e))?;
                size += tokio::io::copy(&mut part, &mut out)
                    .await
                    .map_err(|e| io_error(&e))?;
            }
            out.sync_all().await.map_err(|e| io_error(&e))?;
            Ok(size)
        }
        .await;
        let size = match result {
            Ok(s) => s,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        self.place(&tmp, &blob).await?;
        Ok((blob, size))
    }

    /// Copies an object's file to a new blob.
    pub async fn copy(&self, from: &str) -> Result<String, S3Error> {
        self.concat(&[from.to_owned()]).await.map(|(b, _)| b)
    }

    async fn place(&self, tmp: &Path, blob: &str) -> Result<(), S3Error> {
        let dest = self.path(blob);
        let parent = dest.parent().map(Path::to_owned);
        let tmp = tmp.to_owned();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(p) = &parent {
                std::fs::create_dir_all(p)?;
            }
            std::fs::rename(&tmp, &dest)?;
            if let Some(p) = &parent {
                std::fs::File::open(p)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, e.to_string()))?
        .map_err(|e| io_error(&e))
    }

    /// Removes files no record names any more (best effort).
    pub async fn remove(&self, blobs: impl IntoIterator<Item = String>) {
        for b in blobs {
            if let Err(e) = tokio::fs::remove_file(self.path(&b)).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(blob = %b, error = %e, "could not remove an object file");
            }
        }
    }

    /// A stream of bytes `start..end` of a blob.
    pub async fn read(&self, blob: &str, start: u64, end: u64) -> Result<StreamingBlob, S3Error> {
        let mut file = tokio::fs::File::open(self.path(blob))
            .await
            .map_err(|e| io_error(&e))?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| io_error(&e))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(end - start), 64 * 1024);
        Ok(StreamingBlob::wrap(stream))
    }

    /// A whole blob in memory (function code, at most `limit` bytes).
    pub async fn read_all(&self, blob: &str, limit: u64) -> Result<Vec<u8>, std::io::Error> {
        let file = tokio::fs::File::open(self.path(blob)).await?;
        let mut out = Vec::new();
        file.take(limit).read_to_end(&mut out).await?;
        Ok(out)
    }
}

struct Hasher {
    md5: s3s::crypto::Md5,
    crc32: Option<s3s::crypto::Crc32>,
    crc32c: Option<s3s::crypto::Crc32c>,
    sha1: Option<s3s::crypto::Sha1>,
    sha256: Option<s3s::crypto::Sha256>,
    crc64nvme: Option<s3s::crypto::Crc64Nvme>,
}

impl Hasher {
    fn new(w: Want) -> Self {
        Self {
            md5: s3s::crypto::Md5::new(),
            crc32: w.crc32.then(s3s::crypto::Crc32::new),
            crc32c: w.crc32c.then(s3s::crypto::Crc32c::new),
            sha1: w.sha1.then(s3s::crypto::Sha1::new),
            sha256: w.sha256.then(s3s::crypto::Sha256::new),
            crc64nvme: w.crc64nvme.then(s3s::crypto::Crc64Nvme::new),
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(h) = &mut self.crc32 {
            h.update(data);
        }
        if let Some(h) = &mut self.crc32c {
            h.update(data);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(h) = &mut self.crc64nvme {
            h.update(data);
        }
    }

    fn finish(self) -> ([u8; 16], Checksums) {
        use base64::Engine;
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let mut md5 = [0u8; 16];
        md5.copy_from_slice(self.md5.finalize().as_ref());
        let sums = Checksums {
            crc32: self.crc32.map(|h| b64(h.finalize().as_ref())),
            crc32c: self.crc32c.map(|h| b64(h.finalize().as_ref())),
            sha1: self.sha1.map(|h| b64(h.finalize().as_ref())),
            sha256: self.sha256.map(|h| b64(h.finalize().as_ref())),
            crc64nvme: self.crc64nvme.map(|h| b64(h.finalize().as_ref())),
        };
        (md5, sums)
    }
}
