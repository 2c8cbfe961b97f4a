//! The embedded blob store: one file per blob under a root directory.
//!
//! A key `a/b/c.crate` is the file `<root>/a/b/c.crate`. Writes go to a temporary file in the
//! target directory (named `.~tmp-<random>`: `~` never occurs in a valid key, so temporary files
//! cannot collide with blobs and are skipped by `list`), are flushed to disk, and are then
//! published with a hard link, which fails when the target exists: readers see either no blob or
//! the whole blob, and concurrent writers of one key get exactly one `Created`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use raktar_core::store::blob::{Blob, BlobError, BlobLocation, BlobStore, PutOutcome, validate_key, validate_prefix};
use tokio_util::io::ReaderStream;

/// Size of the chunks a blob is streamed in.
const CHUNK: usize = 64 * 1024;
/// Prefix of temporary files (contains `~`, which valid keys cannot).
const TMP_PREFIX: &str = ".~tmp-";

/// The embedded [`BlobStore`]: blobs as files under a root directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// A store rooted at `root`; the directory is created on the first write.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a (validated) key.
    fn path(&self, key: &str) -> PathBuf {
        key.split('/').fold(self.root.clone(), |path, segment| path.join(segment))
    }
}

fn join_error(e: tokio::task::JoinError) -> BlobError {
    BlobError::backend_source("blob store task failed", e)
}

/// Errors that mean "no such file": the file, or a directory on its path, is missing, or a path
/// component is a file.
fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn io_error(path: &Path, e: io::Error) -> BlobError {
    BlobError::io_source(path.display().to_string(), e)
}

/// Writes `data` under `path` unless a file exists there.
fn put_blocking(path: &Path, data: &[u8]) -> Result<PutOutcome, BlobError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(BlobError::io(format!("{}: a directory (the key is a prefix of other keys)", path.display())));
        }
        Ok(_) => return Ok(PutOutcome::AlreadyExists),
        Err(e) if is_missing(&e) => {}
        Err(e) => return Err(io_error(path, e)),
    }
    let parent = path.parent().ok_or_else(|| BlobError::io(format!("{}: no parent directory", path.display())))?;
    fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    let tmp = parent.join(format!("{TMP_PREFIX}{:016x}", rand::random::<u64>()));
    let outcome = write_and_publish(&tmp, path, data);
    if let Err(e) = fs::remove_file(&tmp)
        && e.kind() != ErrorKind::NotFound
    {
        tracing::warn!(tmp = %tmp.display(), error = %e, "could not remove temporary blob file");
    }
    if matches!(outcome, Ok(PutOutcome::Created)) {
        sync_dir(parent);
    }
    outcome
}

fn write_and_publish(tmp: &Path, path: &Path, data: &[u8]) -> Result<PutOutcome, BlobError> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(tmp).map_err(|e| io_error(tmp, e))?;
    file.write_all(data).map_err(|e| io_error(tmp, e))?;
    file.sync_all().map_err(|e| io_error(tmp, e))?;
    drop(file);
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(PutOutcome::Created),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(PutOutcome::AlreadyExists),
        Err(e) if matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::PermissionDenied) => {
            // A filesystem without hard links: publish by rename. Still atomic for readers, but two
            // concurrent writers of one key may both report `Created` (the last one wins).
            tracing::warn!(path = %path.display(), error = %e, "hard links unsupported; publishing blob by rename");
            if path.exists() {
                return Ok(PutOutcome::AlreadyExists);
            }
            fs::rename(tmp, path).map_err(|e| io_error(path, e))?;
            Ok(PutOutcome::Created)
        }
        Err(e) => Err(io_error(path, e)),
    }
}

/// Makes a new directory entry durable (best effort: not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "could not sync directory");
    }
}

/// Whether a file name can be a key segment (anything else, like temporary files, is not a blob).
fn is_key_segment(name: &str) -> bool {
    validate_key(name).is_ok()
}

/// Every key under a prefix with its file's modification time.
fn list_blocking(root: &Path, prefix: &str) -> Result<Vec<(String, SystemTime)>, BlobError> {
    let (dirs, partial) = match prefix.rsplit_once('/') {
        Some((dirs, partial)) => (dirs, partial),
        None => ("", prefix),
    };
    let (start, start_key) = if dirs.is_empty() {
        (root.to_path_buf(), String::new())
    } else {
        (dirs.split('/').fold(root.to_path_buf(), |p, s| p.join(s)), format!("{dirs}/"))
    };
    let mut keys = Vec::new();
    // (directory, key prefix of its entries, only entries starting with this)
    let mut stack = vec![(start, start_key, partial.to_owned())];
    while let Some((dir, key_prefix, name_prefix)) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => continue,
            Err(e) => return Err(io_error(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if !is_key_segment(&name) || !name.starts_with(&name_prefix) {
                continue;
            }
            let file_type = entry.file_type().map_err(|e| io_error(&entry.path(), e))?;
            if file_type.is_dir() {
                stack.push((entry.path(), format!("{key_prefix}{name}/"), String::new()));
            } else if file_type.is_file() {
                let modified = entry.metadata().and_then(|m| m.modified()).map_err(|e| io_error(&entry.path(), e))?;
                keys.push((format!("{key_prefix}{name}"), modified));
            }
        }
    }
    keys.sort();
    Ok(keys)
}

/// Removes temporary files (`.~tmp-*`, left by a process killed in the middle of a write) last
/// modified before `before`, anywhere under the root.
fn remove_temporaries_blocking(root: &Path, before: SystemTime) -> Result<u64, BlobError> {
    let mut removed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => continue,
            Err(e) => return Err(io_error(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&dir, e))?;
            let file_type = entry.file_type().map_err(|e| io_error(&entry.path(), e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if file_type.is_dir() {
                if is_key_segment(&name) {
                    stack.push(entry.path());
                }
            } else if file_type.is_file() && name.starts_with(TMP_PREFIX) {
                let modified = entry.metadata().and_then(|m| m.modified()).map_err(|e| io_error(&entry.path(), e))?;
                if modified < before {
                    match fs::remove_file(entry.path()) {
                        Ok(()) => removed += 1,
                        Err(e) if is_missing(&e) => {}
                        Err(e) => return Err(io_error(&entry.path(), e)),
                    }
                }
            }
        }
    }
    Ok(removed)
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put_if_absent(&self, key: &str, data: Bytes, _content_type: &str) -> Result<PutOutcome, BlobError> {
        validate_key(key)?;
        let path = self.path(key);
        let outcome = tokio::task::spawn_blocking(move || put_blocking(&path, &data)).await.map_err(join_error)??;
        tracing::debug!(key, ?outcome, "fs blob put");
        Ok(outcome)
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        validate_key(key)?;
        let path = self.path(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let meta = file.metadata().await.map_err(|e| io_error(&path, e))?;
        if !meta.is_file() {
            return Ok(None);
        }
        let body = ReaderStream::with_capacity(file, CHUNK).map_err(BlobError::from);
        Ok(Some(Blob { len: meta.len(), body: Box::pin(body) }))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            // A directory is not a blob: nothing to delete.
            Err(e) => match tokio::fs::symlink_metadata(&path).await {
                Ok(meta) if meta.is_dir() => Ok(()),
                _ => Err(io_error(&path, e)),
            },
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        validate_key(key)?;
        let path = self.path(key);
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    async fn location(&self, key: &str) -> Result<BlobLocation, BlobError> {
        validate_key(key)?;
        Ok(BlobLocation::Local)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        let listed = tokio::task::spawn_blocking(move || list_blocking(&root, &prefix)).await.map_err(join_error)??;
        Ok(listed.into_iter().map(|(key, _)| key).collect())
    }

    async fn list_modified(&self, prefix: &str) -> Result<Vec<(String, SystemTime)>, BlobError> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || list_blocking(&root, &prefix)).await.map_err(join_error)?
    }

    async fn remove_stale_temporaries(&self, before: SystemTime) -> Result<u64, BlobError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || remove_temporaries_blocking(&root, before)).await.map_err(join_error)?
    }

    fn describe(&self) -> String {
        format!("fs:{}", self.root.display())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for ok in ["", "a", "a/", "a/b", "a/b/", "crates/fo", "a/.", "a/.h"] {
            assert!(validate_prefix(ok).is_ok(), "{ok:?}");
        }
        for bad in ["/", "/a", "a//", "../a", "a/../", "a b", "a/~", "./a"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn temporary_files_are_cleaned_up_and_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path().join("blobs"));
        assert!(store.list("").await.unwrap().is_empty());
        assert_eq!(store.put_if_absent("a/b.crate", Bytes::from_static(b"x"), "x").await.unwrap(), PutOutcome::Created);
        assert_eq!(
            store.put_if_absent("a/b.crate", Bytes::from_static(b"y"), "x").await.unwrap(),
            PutOutcome::AlreadyExists
        );
        let names: Vec<String> = fs::read_dir(dir.path().join("blobs/a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["b.crate"]);
        fs::write(dir.path().join("blobs/a/.~tmp-leftover"), b"partial").unwrap();
        fs::write(dir.path().join("blobs/a/not a key"), b"junk").unwrap();
        assert_eq!(store.list("").await.unwrap(), vec!["a/b.crate"]);
        assert_eq!(store.list("a/").await.unwrap(), vec!["a/b.crate"]);
        assert_eq!(store.describe(), format!("fs:{}", dir.path().join("blobs").display()));
    }

    #[tokio::test]
    async fn stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path().join("blobs"));
        store.put_if_absent("crates/a/b.crate", Bytes::from_static(b"x"), "x").await.unwrap();
        let old = dir.path().join("blobs/crates/a/.~tmp-00000000000000aa");
        let fresh = dir.path().join("blobs/crates/.~tmp-00000000000000bb");
        fs::write(&old, b"partial").unwrap();
        fs::write(&fresh, b"partial").unwrap();
        let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options().write(true).open(&old).unwrap().set_modified(hour_ago).unwrap();
        let cutoff = SystemTime::now() - std::time::Duration::from_secs(600);
        assert_eq!(store.remove_stale_temporaries(cutoff).await.unwrap(), 1);
        assert!(!old.exists() && fresh.exists());
        assert!(dir.path().join("blobs/crates/a/b.crate").exists());
        // A missing root is nothing to clean.
        let empty = FsBlobStore::new(dir.path().join("none"));
        assert_eq!(empty.remove_stale_temporaries(SystemTime::now()).await.unwrap(), 0);
    }
}
