//! Blob-store conformance suite.
//!
//! Every [`BlobStore`] driver must pass these tests. Each test works under its own random key
//! prefix (`ct/<test>-<random>/`), so the suite can run against a shared, non-empty bucket or
//! directory, and tests may run concurrently. The expected behaviour is S3's (keys are flat strings,
//! prefixes are plain string prefixes).
//!
//! Use [`blob_store_conformance!`](crate::blob_store_conformance) in a driver's test file to get one
//! `#[tokio::test]` per case, or [`run_all`] to run everything in one go.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::store::blob::{BlobError, BlobStore, PutOutcome};

/// What a test fixture hands to the suite: the store under test, plus anything that must stay
/// alive while the test runs (a temporary directory, an emulator handle).
pub trait BlobStoreFixture {
    /// The store under test.
    fn blob_store(&self) -> Arc<dyn BlobStore>;
}

impl BlobStoreFixture for Arc<dyn BlobStore> {
    fn blob_store(&self) -> Arc<dyn BlobStore> {
        Arc::clone(self)
    }
}

/// A store plus a guard kept alive for the duration of the test.
impl<G> BlobStoreFixture for (Arc<dyn BlobStore>, G) {
    fn blob_store(&self) -> Arc<dyn BlobStore> {
        Arc::clone(&self.0)
    }
}

/// One test of the suite.
pub type BlobStoreTest = fn(Arc<dyn BlobStore>) -> BoxFuture<'static, ()>;

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        /// Every test of the suite, with its name, in suite order.
        pub fn all_tests() -> Vec<(&'static str, BlobStoreTest)> {
            vec![$((stringify!($name), (|store| Box::pin($name(store))) as BlobStoreTest)),*]
        }
    };
}

suite!(
    put_if_absent_never_overwrites,
    get_streams_exact_bytes,
    get_streams_large_blob,
    empty_blob,
    get_absent_is_none,
    delete_and_delete_absent,
    exists_tracks_blobs,
    list_by_prefix,
    invalid_keys_are_rejected,
    keys_with_plus_round_trip,
    location_of_a_key,
    directory_like_keys_are_not_blobs,
    concurrent_put_if_absent_has_one_winner,
);

/// Runs every test of the suite in order against one store (panics on the first failure).
pub async fn run_all(store: Arc<dyn BlobStore>) {
    for (name, test) in all_tests() {
        tracing::info!(test = name, store = %store.describe(), "blob store conformance");
        test(Arc::clone(&store)).await;
    }
}

/// Every test of the suite at once, concurrently, against one shared store (the tests' key spaces
/// must keep them apart on a shared, non-empty backend); then [`run_all`] on the same store.
pub async fn run_all_concurrently_then_in_order(store: Arc<dyn BlobStore>) {
    super::run_concurrently(&store, all_tests()).await;
    run_all(store).await;
}

// ----------------------------------------------------------------------------------------------
// Helpers

/// A fresh key prefix for one test (ends with `/`).
fn space(test: &str) -> String {
    format!("ct/{test}-{:016x}/", rand::random::<u64>())
}

/// Deterministic pseudo-random content (xorshift), so failures are reproducible.
fn content(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

async fn put_new(store: &dyn BlobStore, key: &str, data: Bytes) {
    let outcome = store.put_if_absent(key, data, "application/octet-stream").await;
    assert_eq!(outcome.unwrap_or_else(|e| panic!("put {key}: {e}")), PutOutcome::Created, "put {key}");
}

/// Reads a blob completely, checking the declared length against the bytes streamed.
async fn read(store: &dyn BlobStore, key: &str) -> Option<Bytes> {
    let blob = store.get(key).await.unwrap_or_else(|e| panic!("get {key}: {e}"))?;
    let len = blob.len;
    let mut body = blob.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("reading {key}: {e}")));
    }
    assert_eq!(out.len() as u64, len, "declared length of {key}");
    Some(Bytes::from(out))
}

fn assert_invalid_key<T: std::fmt::Debug>(result: Result<T, BlobError>, what: &str) {
    match result {
        Err(BlobError::InvalidKey(_)) => {}
        other => panic!("{what}: expected InvalidKey, got {other:?}"),
    }
}

// ----------------------------------------------------------------------------------------------
// Tests

/// The first put creates the blob; a second put under the same key leaves it untouched.
pub async fn put_if_absent_never_overwrites(store: Arc<dyn BlobStore>) {
    let key = format!("{}crates/se/rd/serde-1.0.0.crate", space("put_if_absent_never_overwrites"));
    let first = content(1000, 1);
    put_new(&*store, &key, first.clone()).await;
    let again = store.put_if_absent(&key, content(2000, 2), "application/octet-stream").await.unwrap();
    assert_eq!(again, PutOutcome::AlreadyExists);
    assert_eq!(read(&*store, &key).await, Some(first.clone()));
    let same = store.put_if_absent(&key, first.clone(), "application/octet-stream").await.unwrap();
    assert_eq!(same, PutOutcome::AlreadyExists);
    assert_eq!(read(&*store, &key).await, Some(first));
}

/// A blob reads back byte for byte with its length.
pub async fn get_streams_exact_bytes(store: Arc<dyn BlobStore>) {
    let p = space("get_streams_exact_bytes");
    for (i, len) in [1usize, 7, 4096, 65_536, 65_537, 200_001].into_iter().enumerate() {
        let key = format!("{p}blob-{i}");
        let data = content(len, i as u64 + 10);
        put_new(&*store, &key, data.clone()).await;
        let blob = store.get(&key).await.unwrap().expect("blob present");
        assert_eq!(blob.len, len as u64);
        assert_eq!(blob.into_bytes().await.unwrap(), data, "content of {key}");
    }
    let text = format!("{p}readme.md");
    put_new(&*store, &text, Bytes::from_static("# Hello \u{1F980}\n".as_bytes())).await;
    assert_eq!(read(&*store, &text).await, Some(Bytes::from_static("# Hello \u{1F980}\n".as_bytes())));
}

/// A multi-megabyte blob streams back complete.
pub async fn get_streams_large_blob(store: Arc<dyn BlobStore>) {
    let key = format!("{}big.crate", space("get_streams_large_blob"));
    let data = content(6 * 1024 * 1024 + 123, 99);
    put_new(&*store, &key, data.clone()).await;
    let blob = store.get(&key).await.unwrap().expect("blob present");
    assert_eq!(blob.len, data.len() as u64);
    let mut body = blob.body;
    let mut offset = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(&chunk[..], &data[offset..offset + chunk.len()], "chunk at offset {offset}");
        offset += chunk.len();
    }
    assert_eq!(offset, data.len());
}

/// An empty blob is a blob.
pub async fn empty_blob(store: Arc<dyn BlobStore>) {
    let key = format!("{}empty", space("empty_blob"));
    put_new(&*store, &key, Bytes::new()).await;
    assert!(store.exists(&key).await.unwrap());
    assert_eq!(read(&*store, &key).await, Some(Bytes::new()));
    assert_eq!(store.put_if_absent(&key, content(10, 3), "text/plain").await.unwrap(), PutOutcome::AlreadyExists);
    assert_eq!(read(&*store, &key).await, Some(Bytes::new()));
}

/// Reading a blob that does not exist gives `None`.
pub async fn get_absent_is_none(store: Arc<dyn BlobStore>) {
    let p = space("get_absent_is_none");
    assert!(store.get(&format!("{p}nothing")).await.unwrap().is_none());
    assert!(store.get(&format!("{p}deep/er/nothing.crate")).await.unwrap().is_none());
}

/// Delete removes a blob; deleting an absent blob succeeds; the key can then be written again.
pub async fn delete_and_delete_absent(store: Arc<dyn BlobStore>) {
    let p = space("delete_and_delete_absent");
    let key = format!("{p}a/b.crate");
    let sibling = format!("{p}a/c.crate");
    put_new(&*store, &key, content(100, 4)).await;
    put_new(&*store, &sibling, content(100, 5)).await;
    store.delete(&key).await.unwrap();
    assert!(!store.exists(&key).await.unwrap());
    assert!(store.get(&key).await.unwrap().is_none());
    assert_eq!(read(&*store, &sibling).await, Some(content(100, 5)));
    store.delete(&key).await.unwrap();
    store.delete(&format!("{p}never/written")).await.unwrap();
    put_new(&*store, &key, content(50, 6)).await;
    assert_eq!(read(&*store, &key).await, Some(content(50, 6)));
}

/// `exists` follows puts and deletes.
pub async fn exists_tracks_blobs(store: Arc<dyn BlobStore>) {
    let key = format!("{}x.crate", space("exists_tracks_blobs"));
    assert!(!store.exists(&key).await.unwrap());
    put_new(&*store, &key, content(10, 7)).await;
    assert!(store.exists(&key).await.unwrap());
    store.delete(&key).await.unwrap();
    assert!(!store.exists(&key).await.unwrap());
}

/// `list` returns every full key that starts with the prefix (a plain string prefix, as in S3).
pub async fn list_by_prefix(store: Arc<dyn BlobStore>) {
    let p = space("list_by_prefix");
    let keys: Vec<String> = [
        "crates/fo/foo/foo-1.0.0.crate",
        "crates/fo/foo/foo-1.1.0.crate",
        "crates/fo/fox/fox-0.1.0.crate",
        "crab",
        "readmes/foo/1.0.0.md",
        "z",
    ]
    .iter()
    .map(|k| format!("{p}{k}"))
    .collect();
    for (i, key) in keys.iter().enumerate() {
        put_new(&*store, key, content(10, i as u64)).await;
    }
    let list = |prefix: String| {
        let store = Arc::clone(&store);
        async move {
            let mut got = store.list(&prefix).await.unwrap_or_else(|e| panic!("list {prefix}: {e}"));
            got.sort();
            got
        }
    };
    let mut all = keys.clone();
    all.sort();
    assert_eq!(list(p.clone()).await, all);
    assert_eq!(list(format!("{p}crates/fo/foo/")).await, keys[..2].to_vec());
    assert_eq!(list(format!("{p}crates/fo/fo")).await, keys[..3].to_vec());
    let mut cra = keys[..4].to_vec();
    cra.sort();
    assert_eq!(list(format!("{p}cra")).await, cra);
    assert_eq!(list(format!("{p}readmes")).await, vec![keys[4].clone()]);
    assert_eq!(list(format!("{p}z")).await, vec![keys[5].clone()]);
    assert_eq!(list(format!("{p}crates/fo/foo/foo-1.1.0.crate")).await, vec![keys[1].clone()]);
    assert!(list(format!("{p}nothing/")).await.is_empty());
    assert!(list(format!("{p}crates/fo/foo/foo-2")).await.is_empty());

    // `list_modified` lists the same keys, each with a plausible write time.
    let mut timed = store.list_modified(&format!("{p}cra")).await.unwrap_or_else(|e| panic!("list_modified: {e}"));
    timed.sort();
    assert_eq!(timed.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), cra);
    let now = std::time::SystemTime::now();
    let hour = std::time::Duration::from_secs(3600);
    for (key, at) in &timed {
        assert!(*at <= now + hour && *at + hour >= now, "{key} was written at {at:?}, not about {now:?}");
    }
}

/// Keys that are not relative, `/`-separated, non-empty segments of `[A-Za-z0-9._+-]` are
/// rejected by every operation before the backend is touched.
pub async fn invalid_keys_are_rejected(store: Arc<dyn BlobStore>) {
    let p = space("invalid_keys_are_rejected");
    let invalid = [
        String::new(),
        format!("/{p}abs"),
        format!("{p}a//b"),
        format!("{p}a/../b"),
        "..".to_owned(),
        format!("{p}."),
        format!("{p}a/./b"),
        format!("{p}has space"),
        format!("{p}back\\slash"),
        format!("{p}trailing/"),
        format!("{p}quest?ion"),
        format!("{p}caf\u{e9}"),
        format!("{p}{}", "x".repeat(600)),
    ];
    for key in &invalid {
        assert_invalid_key(store.put_if_absent(key, content(1, 1), "text/plain").await, &format!("put {key:?}"));
        assert_invalid_key(store.get(key).await, &format!("get {key:?}"));
        assert_invalid_key(store.exists(key).await, &format!("exists {key:?}"));
        assert_invalid_key(store.delete(key).await, &format!("delete {key:?}"));
        assert_invalid_key(store.location(key).await, &format!("location {key:?}"));
    }
    assert!(store.list(&p).await.unwrap().is_empty(), "an invalid key was stored");
}

/// Keys with `+` (semver build metadata) round-trip through every operation.
pub async fn keys_with_plus_round_trip(store: Arc<dyn BlobStore>) {
    let p = space("keys_with_plus_round_trip");
    let key = format!("{p}crates/foo/foo-1.0.0+build.5.crate");
    let dashed = format!("{p}crates/foo/foo-1.0.0-build.5.crate");
    let data = content(3000, 11);
    put_new(&*store, &key, data.clone()).await;
    assert!(store.exists(&key).await.unwrap());
    assert!(!store.exists(&dashed).await.unwrap());
    put_new(&*store, &dashed, content(10, 12)).await;
    assert_eq!(read(&*store, &key).await, Some(data));
    assert_eq!(read(&*store, &dashed).await, Some(content(10, 12)));
    let mut listed = store.list(&format!("{p}crates/foo/")).await.unwrap();
    listed.sort();
    let mut expected = vec![key.clone(), dashed.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    store.location(&key).await.unwrap();
    store.delete(&key).await.unwrap();
    assert!(!store.exists(&key).await.unwrap());
    assert!(store.exists(&dashed).await.unwrap());
}

/// Every valid key has a location (local or a redirect URL).
pub async fn location_of_a_key(store: Arc<dyn BlobStore>) {
    let key = format!("{}crates/a/a-0.1.0.crate", space("location_of_a_key"));
    put_new(&*store, &key, content(10, 12)).await;
    store.location(&key).await.unwrap();
}

/// A key that is only a prefix of other keys ("a directory") is not a blob.
pub async fn directory_like_keys_are_not_blobs(store: Arc<dyn BlobStore>) {
    let p = space("directory_like_keys_are_not_blobs");
    let deep = format!("{p}x/y/z.crate");
    put_new(&*store, &deep, content(10, 13)).await;
    for dir in [format!("{p}x"), format!("{p}x/y")] {
        assert!(!store.exists(&dir).await.unwrap(), "{dir} exists");
        assert!(store.get(&dir).await.unwrap().is_none(), "{dir} readable");
        store.delete(&dir).await.unwrap();
    }
    assert_eq!(read(&*store, &deep).await, Some(content(10, 13)));
}

/// Of 10 concurrent `put_if_absent` calls on one key exactly one creates the blob, and the stored
/// blob is that writer's complete content.
pub async fn concurrent_put_if_absent_has_one_winner(store: Arc<dyn BlobStore>) {
    let key = format!("{}race.crate", space("concurrent_put_if_absent_has_one_winner"));
    let inputs: Vec<Bytes> = (0..10).map(|i| content(300_000 + i * 1000, i as u64 + 100)).collect();
    let tasks: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let store = Arc::clone(&store);
            let key = key.clone();
            let data = data.clone();
            tokio::spawn(async move { (i, store.put_if_absent(&key, data, "application/octet-stream").await) })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (i, Ok(PutOutcome::Created)) => winners.push(i),
            (_, Ok(PutOutcome::AlreadyExists)) => {}
            (i, Err(e)) => panic!("writer {i}: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(read(&*store, &key).await, Some(inputs[winners[0]].clone()));
}

// ----------------------------------------------------------------------------------------------
// macro

/// Expands into a module with one `#[tokio::test]` per blob-store conformance test.
///
/// The argument is an expression (it may `.await`) evaluated once per test that yields a
/// [`BlobStoreFixture`]: an `Arc<dyn BlobStore>`, or `(Arc<dyn BlobStore>, guard)` where the guard
/// lives until the test ends. An optional first argument names the generated module (default
/// `blob_store_conformance`). The calling crate needs `tokio` with the `macros` and
/// `rt-multi-thread` features.
///
/// ```ignore
/// raktar_core::blob_store_conformance!(fs, {
///     let dir = tempfile::tempdir().unwrap();
///     let store = FsBlobStore::new(dir.path().to_path_buf());
///     (std::sync::Arc::new(store) as std::sync::Arc<dyn raktar_core::store::blob::BlobStore>, dir)
/// });
/// ```
#[macro_export]
macro_rules! blob_store_conformance {
    ($module:ident, $make:expr) => {
        $crate::__blob_store_conformance_tests!(
            $module, $make;
            put_if_absent_never_overwrites,
            get_streams_exact_bytes,
            get_streams_large_blob,
            empty_blob,
            get_absent_is_none,
            delete_and_delete_absent,
            exists_tracks_blobs,
            list_by_prefix,
            invalid_keys_are_rejected,
            keys_with_plus_round_trip,
            location_of_a_key,
            directory_like_keys_are_not_blobs,
            concurrent_put_if_absent_has_one_winner,
        );
    };
    ($make:expr) => {
        $crate::blob_store_conformance!(blob_store_conformance, $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __blob_store_conformance_tests {
    ($module:ident, $make:expr; $($name:ident),* $(,)?) => {
        #[allow(clippy::unwrap_used, clippy::expect_used)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fixture = $make;
                    let store = $crate::testkit::blob::BlobStoreFixture::blob_store(&fixture);
                    $crate::testkit::blob::$name(store).await;
                }
            )*

            #[test]
            fn macro_covers_the_whole_suite() {
                let suite: Vec<&str> = $crate::testkit::blob::all_tests().into_iter().map(|(name, _)| name).collect();
                assert_eq!(suite, vec![$(stringify!($name)),*]);
            }
        }
    };
}
