//! Snapshots of a server's persistent state, to prove that a refused request changed nothing.
//!
//! - the item store: every row of `DATA_DIR/raktar.db` (`pk`, `sk`, `data`), read through a
//!   read-only SQLite connection, except the `TOKEN#...` items (a token's last-used time may be
//!   recorded by any authenticated request);
//! - the blobs: every file under `DATA_DIR/blobs` with its sha256.
//!
//! On the AWS home (`RAKTAR_TEST_HOME=aws`) [`Snapshot::of`] reads the same from moto instead: a
//! consistent scan of the table and every object under the bucket's blob prefix.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::sha256_hex;

/// One item row: `(pk, sk, data)`.
pub type ItemRow = (String, String, String);

/// The persistent state of a data directory at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Item rows ordered by `(pk, sk)`, `TOKEN#` partitions excluded.
    pub items: Vec<ItemRow>,
    /// Blob file path (relative to `DATA_DIR/blobs`, `/`-separated) -> sha256 of its bytes.
    pub blobs: BTreeMap<String, String>,
}

impl Snapshot {
    /// Reads the store and the blobs of a server, on either home.
    pub fn of(server: &super::TestServer) -> Self {
        match server.aws() {
            Some(home) => Snapshot {
                items: home.items().into_iter().filter(|(pk, _, _)| !pk.starts_with("TOKEN#")).collect(),
                blobs: home.blob_sums(),
            },
            None => Self::take(server.data_dir()),
        }
    }

    /// Reads the store and the blobs of `data_dir` (embedded home).
    pub fn take(data_dir: &Path) -> Self {
        Snapshot { items: store_items(data_dir), blobs: blob_files(data_dir) }
    }

    /// A readable description of what changed from `self` to `after` (empty when nothing did).
    pub fn diff(&self, after: &Snapshot) -> String {
        let mut out = String::new();
        let before_items: BTreeMap<(&str, &str), &str> =
            self.items.iter().map(|(pk, sk, d)| ((pk.as_str(), sk.as_str()), d.as_str())).collect();
        let after_items: BTreeMap<(&str, &str), &str> =
            after.items.iter().map(|(pk, sk, d)| ((pk.as_str(), sk.as_str()), d.as_str())).collect();
        for (key, data) in &after_items {
            match before_items.get(key) {
                None => writeln!(out, "item added: {key:?} = {}", shorten(data)).unwrap(),
                Some(old) if old != data => {
                    writeln!(out, "item changed: {key:?}\n  before: {}\n  after:  {}", shorten(old), shorten(data))
                        .unwrap();
                }
                Some(_) => {}
            }
        }
        for key in before_items.keys() {
            if !after_items.contains_key(key) {
                writeln!(out, "item removed: {key:?}").unwrap();
            }
        }
        for (path, sum) in &after.blobs {
            match self.blobs.get(path) {
                None => writeln!(out, "blob added: {path}").unwrap(),
                Some(old) if old != sum => writeln!(out, "blob changed: {path}").unwrap(),
                Some(_) => {}
            }
        }
        for path in self.blobs.keys() {
            if !after.blobs.contains_key(path) {
                writeln!(out, "blob removed: {path}").unwrap();
            }
        }
        out
    }

    /// Panics with `context` and the differences unless `after` equals `self`.
    #[track_caller]
    pub fn assert_unchanged(&self, after: &Snapshot, context: &str) {
        if self != after {
            panic!("{context}: the store or the blobs changed:\n{}", self.diff(after));
        }
    }
}

fn shorten(s: &str) -> String {
    if s.len() > 600 {
        let mut end = 600;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes)", &s[..end], s.len())
    } else {
        s.to_string()
    }
}

/// Every item of `DATA_DIR/raktar.db` except `TOKEN#` items, ordered by `(pk, sk)`.
pub fn store_items(data_dir: &Path) -> Vec<ItemRow> {
    let path = data_dir.join("raktar.db");
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .unwrap_or_else(|e| panic!("cannot open {} read-only: {e}", path.display()));
    // Bounded wait if the server holds a lock at this moment.
    conn.busy_timeout(Duration::from_secs(10)).expect("busy_timeout");
    let mut stmt = conn.prepare("SELECT pk, sk, data FROM items ORDER BY pk, sk").expect("prepare snapshot query");
    let rows = stmt
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)))
        .expect("snapshot query");
    rows.map(|r| r.expect("snapshot row")).filter(|(pk, _, _)| !pk.starts_with("TOKEN#")).collect()
}

/// Every file under `DATA_DIR/blobs` (relative path -> sha256).
pub fn blob_files(data_dir: &Path) -> BTreeMap<String, String> {
    let root = data_dir.join("blobs");
    let mut out = BTreeMap::new();
    collect(&root, &root, &mut out);
    out
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>();
            let sum = match std::fs::read(&path) {
                Ok(bytes) => sha256_hex(&bytes),
                Err(e) => format!("<unreadable: {e}>"),
            };
            out.insert(rel.join("/"), sum);
        }
    }
}
