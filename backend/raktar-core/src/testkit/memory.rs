//! In-memory store drivers for fast service-level tests.
//!
//! [`MemoryBlobStore`] keeps every blob in a map; it passes the shared blob-store conformance suite
//! (`raktar_core::testkit::blob`, run in `raktar-core/tests/memory_conformance.rs`), so a test over
//! it sees the same semantics as over the filesystem or S3 driver, without touching a disk.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use crate::store::blob::{Blob, BlobError, BlobLocation, BlobStore, PutOutcome, validate_key, validate_prefix};

/// Size of the chunks a blob is streamed in (so readers see a multi-chunk body, as from a driver).
const CHUNK: usize = 64 * 1024;

/// A blob store held in memory: key → (content, time written).
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<BTreeMap<String, (Bytes, SystemTime)>>,
}

impl MemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn blobs(&self) -> MutexGuard<'_, BTreeMap<String, (Bytes, SystemTime)>> {
        // A test that panicked while holding the lock left the map consistent (every change is one
        // map operation), so a poisoned lock is still usable.
        self.blobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every blob, by key (for "a refusal changes nothing" snapshots).
    pub fn snapshot(&self) -> BTreeMap<String, Bytes> {
        self.blobs().iter().map(|(key, (data, _))| (key.clone(), data.clone())).collect()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put_if_absent(&self, key: &str, data: Bytes, _content_type: &str) -> Result<PutOutcome, BlobError> {
        validate_key(key)?;
        let mut blobs = self.blobs();
        if blobs.contains_key(key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        blobs.insert(key.to_owned(), (data, SystemTime::now()));
        Ok(PutOutcome::Created)
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        validate_key(key)?;
        let Some((data, _)) = self.blobs().get(key).cloned() else {
            return Ok(None);
        };
        let len = data.len() as u64;
        let chunks: Vec<Result<Bytes, BlobError>> = if data.is_empty() {
            Vec::new()
        } else {
            (0..data.len()).step_by(CHUNK).map(|start| Ok(data.slice(start..data.len().min(start + CHUNK)))).collect()
        };
        Ok(Some(Blob { len, body: Box::pin(futures::stream::iter(chunks)) }))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        self.blobs().remove(key);
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        validate_key(key)?;
        Ok(self.blobs().contains_key(key))
    }

    async fn location(&self, key: &str) -> Result<BlobLocation, BlobError> {
        validate_key(key)?;
        Ok(BlobLocation::Local)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        Ok(self.list_modified(prefix).await?.into_iter().map(|(key, _)| key).collect())
    }

    async fn list_modified(&self, prefix: &str) -> Result<Vec<(String, SystemTime)>, BlobError> {
        validate_prefix(prefix)?;
        Ok(self
            .blobs()
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, (_, modified))| (key.clone(), *modified))
            .collect())
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MemoryBlobStore;
    use crate::store::blob::BlobStore;

    crate::blob_store_conformance!(memory_blobs, {
        let store: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
        store
    });

    /// The whole blob suite at once, every test concurrently, against one shared store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn blob_suite_on_one_shared_store() {
        let store: Arc<dyn BlobStore> = Arc::new(MemoryBlobStore::new());
        crate::testkit::blob::run_all_concurrently_then_in_order(store).await;
    }
}
