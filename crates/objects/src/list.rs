//! ListObjectsV2 and ListObjects (v1): prefix, delimiter (common
//! prefixes), start-after / marker, continuation tokens, max-keys, and
//! `encoding-type=url`.

use base64::Engine as _;
use lambdad_store::objects::ObjectRecord;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::Objects;
use crate::request::{etag, ts};

/// Rows fetched from the store at a time.
const PAGE: usize = 1000;

/// Sorts after every key that starts with the string it is appended to
/// (bytewise, for valid UTF-8 keys).
const SKIP: char = '\u{10FFFF}';

struct Listing {
    objects: Vec<ObjectRecord>,
    prefixes: Vec<String>,
    truncated: bool,
    /// The last key or common prefix returned.
    last: Option<String>,
}

/// A key encoded as `encoding-type=url` asks (space as `+`).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Where to resume after `after`: past the whole group when `after` is a common prefix.
fn resume_after(after: &str, prefix: &str, delimiter: &str) -> String {
    if !delimiter.is_empty()
        && let Some(rest) = after.strip_prefix(prefix)
        && let Some(i) = rest.find(delimiter)
        && i + delimiter.len() == rest.len()
    {
        return format!("{after}{SKIP}");
    }
    after.to_owned()
}

impl Objects {
    async fn scan(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: &str,
        max_keys: usize,
    ) -> S3Result<Listing> {
        self.bucket(bucket).await?;
        let mut out = Listing {
            objects: Vec::new(),
            prefixes: Vec::new(),
            truncated: false,
            last: None,
        };
        let mut cursor = resume_after(after, prefix, delimiter);
        'pages: loop {
            let (b, p, c) = (bucket.to_owned(), prefix.to_owned(), cursor.clone());
            let page = self.db(move |s| s.list_objects(&b, &p, &c, PAGE)).await?;
            let full = page.len() == PAGE;
            for o in page {
                let group = if delimiter.is_empty() {
                    None
                } else {
                    o.key[prefix.len()..]
                        .find(delimiter)
                        .map(|i| o.key[..prefix.len() + i + delimiter.len()].to_owned())
                };
                if out.objects.len() + out.prefixes.len() == max_keys {
                    out.truncated = true;
                    break 'pages;
                }
                match group {
                    Some(cp) => {
                        cursor = format!("{cp}{SKIP}");
                        out.last = Some(cp.clone());
                        out.prefixes.push(cp);
                        // Re-query past the group.
                        continue 'pages;
                    }
                    None => {
                        cursor = o.key.clone();
                        out.last = Some(o.key.clone());
                        out.objects.push(o);
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }

    fn contents(&self, objects: Vec<ObjectRecord>, url: bool, owner: bool) -> Vec<Object> {
        objects
            .into_iter()
            .map(|o| Object {
                e_tag: Some(etag(&o.etag)),
                key: Some(if url { url_encode(&o.key) } else { o.key }),
                last_modified: Some(ts(o.modified_ms)),
                size: Some(i64::try_from(o.size).unwrap_or(i64::MAX)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                owner: owner.then(|| self.owner()),
                ..Default::default()
            })
            .collect()
    }

    pub(crate) async fn list_v2(&self, input: ListObjectsV2Input) -> S3Result<ListObjectsV2Output> {
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().unwrap_or_default();
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let after = match &input.continuation_token {
            Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "The continuation token provided is incorrect",
                    )
                })?,
            None => input.start_after.clone().unwrap_or_default(),
        };
        let l = self
            .scan(&input.bucket, &prefix, &delimiter, &after, max_keys)
            .await?;
        let count = l.objects.len() + l.prefixes.len();
        let next = l
            .truncated
            .then(|| {
                l.last
                    .as_deref()
                    .map(|k| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k))
            })
            .flatten();
        let enc = |s: String| if url { url_encode(&s) } else { s };
        Ok(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            max_keys: Some(max_keys as i32),
            key_count: Some(count as i32),
            continuation_token: input.continuation_token,
            is_truncated: Some(l.truncated),
            next_continuation_token: next,
            contents: Some(self.contents(l.objects, url, input.fetch_owner.unwrap_or(false))),
            common_prefixes: Some(
                l.prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            delimiter: input.delimiter.map(enc),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(enc),
            ..Default::default()
        })
    }

    pub(crate) async fn list_v1(&self, input: ListObjectsInput) -> S3Result<ListObjectsOutput> {
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.clone().unwrap_or_default();
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let marker = input.marker.clone().unwrap_or_default();
        let l = self
            .scan(&input.bucket, &prefix, &delimiter, &marker, max_keys)
            .await?;
        let enc = |s: String| if url { url_encode(&s) } else { s };
        // S3 gives NextMarker only when a delimiter was asked for.
        let next_marker = (l.truncated && !delimiter.is_empty())
            .then(|| l.last.clone().map(enc))
            .flatten();
        Ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            marker: Some(enc(marker)),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(l.truncated),
            contents: Some(self.contents(l.objects, url, true)),
            common_prefixes: Some(
                l.prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            delimiter: input.delimiter.map(enc),
            next_marker,
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_common_prefix_marker_resumes_past_its_group() {
        assert_eq!(resume_after("a/", "", "/"), format!("a/{SKIP}"));
        assert_eq!(resume_after("a/b", "", "/"), "a/b");
        assert_eq!(resume_after("x", "", ""), "x");
        assert_eq!(url_encode("a b/c+d"), "a+b/c%2Bd");
    }
}
