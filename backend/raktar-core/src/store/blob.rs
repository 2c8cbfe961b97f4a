//! The blob-storage port: `.crate` files and other large values (spilled READMEs).

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use super::item::BoxError;

/// A stream of blob chunks.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send + 'static>>;

/// A blob read back from the store.
pub struct Blob {
    /// Length in bytes.
    pub len: u64,
    pub body: BlobStream,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob").field("len", &self.len).finish_non_exhaustive()
    }
}

impl Blob {
    /// A blob of bytes already in memory (served without reading the store again).
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self { len: bytes.len() as u64, body: Box::pin(futures::stream::once(async move { Ok(bytes) })) }
    }

    /// Collects the whole blob into memory (for small blobs and tests).
    pub async fn into_bytes(self) -> Result<Bytes, BlobError> {
        use futures::TryStreamExt;
        let chunks: Vec<Bytes> = self.body.try_collect().await?;
        if chunks.len() == 1 {
            return Ok(chunks.into_iter().next().unwrap_or_default());
        }
        let mut out = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        for c in chunks {
            out.extend_from_slice(&c);
        }
        Ok(Bytes::from(out))
    }
}

/// Outcome of a put-if-absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// This call stored the blob.
    Created,
    /// A blob already existed under the key; it was left untouched.
    AlreadyExists,
}

/// Where a client can fetch a blob directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// The server streams the blob itself (embedded home).
    Local,
    /// A short-lived URL the client is redirected to (presigned S3 URL).
    Redirect(String),
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
    /// Reading or writing failed; `message` says what, `source` why.
    #[error("blob store I/O error: {message}")]
    Io {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The backend failed; `message` says what, `source` why.
    #[error("blob store backend error: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl BlobError {
    /// An I/O failure without an underlying error.
    pub fn io(message: impl Into<String>) -> Self {
        BlobError::Io { message: message.into(), source: None }
    }

    /// An I/O failure caused by `source`.
    pub fn io_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        BlobError::Io { message: message.into(), source: Some(source.into()) }
    }

    /// A backend failure without an underlying error.
    pub fn backend(message: impl Into<String>) -> Self {
        BlobError::Backend { message: message.into(), source: None }
    }

    /// A backend failure caused by `source`.
    pub fn backend_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        BlobError::Backend { message: message.into(), source: Some(source.into()) }
    }
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        BlobError::io_source("reading or writing a blob", e)
    }
}

/// Checks a blob key: relative, `/`-separated segments of `[A-Za-z0-9._+-]`, no empty, `.` or `..`
/// segment, at most 512 bytes. Every driver calls this before touching its backend.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
        });
    if ok { Ok(()) } else { Err(BlobError::InvalidKey(key.to_owned())) }
}

/// Checks a list prefix: whole valid key segments, then an optional partial segment (which may be
/// empty, i.e. the prefix ends with `/`). Every driver calls this before listing.
pub fn validate_prefix(prefix: &str) -> Result<(), BlobError> {
    let bad = || BlobError::InvalidKey(prefix.to_owned());
    if prefix.len() > 512 {
        return Err(bad());
    }
    let (dirs, partial) = match prefix.rsplit_once('/') {
        Some((dirs, partial)) => (Some(dirs), partial),
        None => (None, prefix),
    };
    if let Some(dirs) = dirs {
        validate_key(dirs).map_err(|_| bad())?;
    }
    if !partial.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-')) {
        return Err(bad());
    }
    Ok(())
}

/// The blob-store port.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `data` under `key` unless a blob already exists there; never overwrites. Atomic: a
    /// reader sees either no blob or the whole blob.
    async fn put_if_absent(&self, key: &str, data: Bytes, content_type: &str) -> Result<PutOutcome, BlobError>;

    /// Reads a blob as a stream, or `None` when absent.
    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError>;

    /// Deletes a blob; deleting an absent blob succeeds.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;

    /// Whether a blob exists.
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;

    /// Where a client should fetch this blob: served locally, or a redirect (presigned URL).
    async fn location(&self, key: &str) -> Result<BlobLocation, BlobError>;

    /// Lists every key under a prefix (used by migration and verification).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;

    /// Lists every key under a prefix with the time its blob was written (used by the orphan
    /// sweep, which keeps blobs younger than a grace period).
    async fn list_modified(&self, prefix: &str) -> Result<Vec<(String, SystemTime)>, BlobError>;

    /// Removes leftovers of interrupted writes (temporary files of the filesystem store) last
    /// modified before `before`; returns how many were removed. Stores whose writes leave nothing
    /// behind (S3 uploads are atomic) keep this default.
    async fn remove_stale_temporaries(&self, before: SystemTime) -> Result<u64, BlobError> {
        let _ = before;
        Ok(0)
    }

    fn describe(&self) -> String;
}
