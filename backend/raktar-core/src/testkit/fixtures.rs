//! Raw publish helpers: build a `.crate` (tar.gz) and the `PUT /api/v1/crates/new` body exactly as
//! cargo does, with every part overridable so malformed variants are one call away.
//!
//! ```ignore
//! let req = PublishRequest::new("demo", "1.0.0")
//!     .field("description", json!("changed"))
//!     .dep(dependency("other", "^1"));
//! let resp = server.http().put_crate(req.body(), Some(&token));   // over HTTP
//! let outcome = app.publish(&principal, req.body()).await;          // in process (TestRegistry)
//! ```
//!
//! Body framing (cargo's `crates-io` crate): u32 LE JSON length, JSON, u32 LE `.crate` length,
//! `.crate` bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::Digest;

/// What a tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symlink pointing at the target.
    Symlink(String),
    /// A hard link to the target path.
    Hardlink(String),
}

/// One raw tar entry. `path` is written byte-for-byte into the header's name field (at most 100
/// bytes, no validation), so `../x`, `/abs` or paths outside the crate prefix are possible.
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub path: String,
    pub kind: EntryKind,
    pub data: Vec<u8>,
    pub mode: u32,
}

impl TarEntry {
    pub fn file(path: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        TarEntry { path: path.into(), kind: EntryKind::File, data: data.into(), mode: 0o644 }
    }

    pub fn dir(path: impl Into<String>) -> Self {
        TarEntry { path: path.into(), kind: EntryKind::Dir, data: Vec::new(), mode: 0o755 }
    }

    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        TarEntry { path: path.into(), kind: EntryKind::Symlink(target.into()), data: Vec::new(), mode: 0o777 }
    }

    pub fn hardlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        TarEntry { path: path.into(), kind: EntryKind::Hardlink(target.into()), data: Vec::new(), mode: 0o644 }
    }
}

/// The `Cargo.toml` packaged by default: `[package]` name, version, edition, description, license.
pub fn default_manifest(name: &str, vers: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\n\
         description = \"raw publish test crate\"\nlicense = \"MIT\"\n"
    )
}

/// A `.crate` archive builder. By default: `{name}-{vers}/Cargo.toml` ([`default_manifest`]) and
/// `{name}-{vers}/src/lib.rs`, gzip-compressed.
#[derive(Debug, Clone)]
pub struct CrateTarball {
    pub name: String,
    pub vers: String,
    /// Directory every file is placed under; `{name}-{vers}` by default.
    pub prefix: String,
    /// Files relative to `prefix`, in archive order.
    pub files: Vec<(String, Vec<u8>)>,
    /// Raw entries appended after `files`, with full paths (not under `prefix`).
    pub extra_entries: Vec<TarEntry>,
    /// gzip the tar (true by default).
    pub gzip: bool,
}

impl CrateTarball {
    pub fn new(name: &str, vers: &str) -> Self {
        CrateTarball {
            name: name.to_string(),
            vers: vers.to_string(),
            prefix: format!("{name}-{vers}"),
            files: vec![
                ("Cargo.toml".to_string(), default_manifest(name, vers).into_bytes()),
                ("src/lib.rs".to_string(), b"pub fn it_works() -> bool {\n    true\n}\n".to_vec()),
            ],
            extra_entries: Vec::new(),
            gzip: true,
        }
    }

    /// Replaces the packaged `Cargo.toml`.
    pub fn manifest(self, toml: &str) -> Self {
        self.file("Cargo.toml", toml)
    }

    /// Adds or replaces a file under the prefix.
    pub fn file(mut self, rel: &str, contents: impl Into<Vec<u8>>) -> Self {
        let contents = contents.into();
        if let Some(slot) = self.files.iter_mut().find(|(p, _)| p == rel) {
            slot.1 = contents;
        } else {
            self.files.push((rel.to_string(), contents));
        }
        self
    }

    /// Drops a file from under the prefix.
    pub fn without_file(mut self, rel: &str) -> Self {
        self.files.retain(|(p, _)| p != rel);
        self
    }

    /// Changes the directory the files are placed under.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Appends a raw entry (full path).
    pub fn entry(mut self, entry: TarEntry) -> Self {
        self.extra_entries.push(entry);
        self
    }

    /// A plain tar instead of tar.gz.
    pub fn uncompressed(mut self) -> Self {
        self.gzip = false;
        self
    }

    /// The uncompressed tar stream.
    pub fn tar_bytes(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (rel, data) in &self.files {
            let path = if self.prefix.is_empty() { rel.clone() } else { format!("{}/{rel}", self.prefix) };
            append_raw(&mut builder, &TarEntry::file(path, data.clone()));
        }
        for entry in &self.extra_entries {
            append_raw(&mut builder, entry);
        }
        builder.into_inner().expect("finish tar")
    }

    /// The `.crate` bytes.
    pub fn build(&self) -> Vec<u8> {
        let tar = self.tar_bytes();
        if self.gzip { gzip(&tar) } else { tar }
    }
}

/// gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn append_raw(builder: &mut tar::Builder<Vec<u8>>, entry: &TarEntry) {
    let mut header = tar::Header::new_gnu();
    {
        let name = entry.path.as_bytes();
        assert!(name.len() <= 100, "raw tar entry paths are limited to 100 bytes: {:?}", entry.path);
        let old = header.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
    }
    header.set_mode(entry.mode);
    header.set_mtime(1_700_000_000);
    header.set_uid(0);
    header.set_gid(0);
    match &entry.kind {
        EntryKind::File => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(entry.data.len() as u64);
        }
        EntryKind::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
        }
        EntryKind::Symlink(target) | EntryKind::Hardlink(target) => {
            header.set_entry_type(if matches!(entry.kind, EntryKind::Symlink(_)) {
                tar::EntryType::Symlink
            } else {
                tar::EntryType::Link
            });
            header.set_size(0);
            let t = target.as_bytes();
            assert!(t.len() <= 100, "link target too long: {target:?}");
            let old = header.as_old_mut();
            old.linkname = [0; 100];
            old.linkname[..t.len()].copy_from_slice(t);
        }
    }
    header.set_cksum();
    let data: &[u8] = if matches!(entry.kind, EntryKind::File) { &entry.data } else { &[] };
    builder.append(&header, data).expect("append tar entry");
}

/// The publish metadata cargo sends for a crate without dependencies.
pub fn default_metadata(name: &str, vers: &str) -> Value {
    json!({
        "name": name,
        "vers": vers,
        "deps": [],
        "features": {},
        "authors": [],
        "description": "raw publish test crate",
        "documentation": null,
        "homepage": null,
        "readme": null,
        "readme_file": null,
        "keywords": [],
        "categories": [],
        "license": "MIT",
        "license_file": null,
        "repository": null,
        "badges": {},
        "links": null,
        "rust_version": null,
    })
}

/// A dependency as cargo sends it in the publish metadata (normal kind, same registry).
pub fn dependency(name: &str, version_req: &str) -> Value {
    json!({
        "optional": false,
        "default_features": true,
        "name": name,
        "features": [],
        "version_req": version_req,
        "target": null,
        "kind": "normal",
    })
}

/// A publish request: metadata JSON plus `.crate` bytes, framed by [`Self::body`].
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub metadata: Value,
    pub tarball: Vec<u8>,
}

impl PublishRequest {
    /// Consistent metadata and tarball for `name` `vers`.
    pub fn new(name: &str, vers: &str) -> Self {
        PublishRequest { metadata: default_metadata(name, vers), tarball: CrateTarball::new(name, vers).build() }
    }

    /// Same metadata, another archive.
    pub fn with_tarball(mut self, tarball: Vec<u8>) -> Self {
        self.tarball = tarball;
        self
    }

    /// Sets (or adds) a top-level metadata field.
    pub fn field(mut self, key: &str, value: Value) -> Self {
        self.metadata.as_object_mut().expect("metadata is an object").insert(key.to_string(), value);
        self
    }

    /// Removes a top-level metadata field.
    pub fn without_field(mut self, key: &str) -> Self {
        self.metadata.as_object_mut().expect("metadata is an object").remove(key);
        self
    }

    /// Appends a dependency (see [`dependency`]).
    pub fn dep(mut self, dep: Value) -> Self {
        self.metadata["deps"].as_array_mut().expect("deps is an array").push(dep);
        self
    }

    /// The serialized metadata.
    pub fn metadata_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.metadata).unwrap()
    }

    /// The lowercase hex sha256 of the `.crate` (what the index `cksum` must be).
    pub fn cksum(&self) -> String {
        hex::encode(sha2::Sha256::digest(&self.tarball))
    }

    /// The framed request body.
    pub fn body(&self) -> Vec<u8> {
        frame(&self.metadata_bytes(), &self.tarball)
    }
}

/// u32 LE JSON length, JSON, u32 LE crate length, crate.
pub fn frame(json: &[u8], krate: &[u8]) -> Vec<u8> {
    frame_with_lengths(
        u32::try_from(json.len()).expect("json length fits u32"),
        json,
        u32::try_from(krate.len()).expect("crate length fits u32"),
        krate,
    )
}

/// Framing with explicit (possibly lying) length prefixes.
pub fn frame_with_lengths(json_len: u32, json: &[u8], crate_len: u32, krate: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + json.len() + krate.len());
    body.extend_from_slice(&json_len.to_le_bytes());
    body.extend_from_slice(json);
    body.extend_from_slice(&crate_len.to_le_bytes());
    body.extend_from_slice(krate);
    body
}
