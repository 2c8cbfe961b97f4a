//! Verification of an uploaded `.crate` file (gzip + tar), without trusting anything in it.

use sha2::{Digest, Sha256};

use super::archive::{self, ArchiveError, EntryKind, Flow};
use crate::domain::names::truncate_for_message;
use crate::domain::{DomainError, DomainResult};

/// What we learned from a verified `.crate` file.
#[derive(Debug, Clone)]
pub struct VerifiedPackage {
    /// Lowercase hex SHA-256 of the uploaded bytes.
    pub cksum: String,
    /// Size of the uploaded `.crate` in bytes.
    pub size: u64,
    /// Sum of the sizes of all files in the archive.
    pub unpacked_size: u64,
    /// `[package] name` of the packaged `Cargo.toml`.
    pub manifest_name: String,
    /// `[package] version` of the packaged `Cargo.toml`.
    pub manifest_version: String,
}

/// Largest packaged `Cargo.toml` we parse.
const MAX_MANIFEST: u64 = 1024 * 1024;

fn bad(msg: impl std::fmt::Display) -> DomainError {
    DomainError::bad_request(format!("invalid .crate file: {msg}"))
}

/// Checks a `.crate`: valid gzip and tar (walked by the bounded [`archive::walk`]), every entry a
/// regular file or directory under `{name}-{vers}/` with no `..`/absolute components, total
/// unpacked size (every entry and extension record) within `max_unpacked`, and a
/// `{name}-{vers}/Cargo.toml` whose package name and version match.
pub fn verify(bytes: &[u8], name: &str, vers: &str, max_unpacked: u64) -> DomainResult<VerifiedPackage> {
    let cksum = hex::encode(Sha256::digest(bytes));
    let prefix = format!("{name}-{vers}");
    let manifest_path = format!("{prefix}/Cargo.toml");
    let mut manifest: Option<Vec<u8>> = None;
    let mut files_size: u64 = 0;
    let walked = archive::walk(bytes, max_unpacked, &mut |entry| {
        let path = std::path::Path::new(&entry.path);
        let mut comps = path.components();
        let first_ok =
            matches!(comps.next(), Some(std::path::Component::Normal(c)) if c.to_str() == Some(prefix.as_str()));
        if !first_ok || !comps.all(|c| matches!(c, std::path::Component::Normal(_))) {
            return Err(ArchiveError::Invalid(format!("entry `{}` is not inside `{prefix}/`", entry.shown_path())));
        }
        if entry.kind == EntryKind::File {
            files_size += entry.size;
        }
        match entry.kind {
            EntryKind::Dir => {}
            EntryKind::File if entry.path == manifest_path => {
                if manifest.is_some() {
                    return Err(ArchiveError::Invalid(format!("`{manifest_path}` appears twice")));
                }
                match entry.read_bounded(MAX_MANIFEST)? {
                    Some(data) => manifest = Some(data),
                    None => return Err(ArchiveError::Invalid("Cargo.toml is too large".into())),
                }
            }
            EntryKind::File => {}
            EntryKind::Other(_) => {
                return Err(ArchiveError::Invalid(format!(
                    "entry `{}` is not a regular file or directory",
                    entry.shown_path()
                )));
            }
        }
        Ok(Flow::Continue)
    });
    match walked {
        Ok(_) => {}
        Err(ArchiveError::Invalid(msg)) => return Err(bad(msg)),
        Err(ArchiveError::TooLarge(msg)) => return Err(DomainError::PayloadTooLarge(msg)),
    }
    let manifest = match manifest {
        Some(m) => String::from_utf8(m).map_err(|_| bad("Cargo.toml is not UTF-8"))?,
        None => return Err(bad(format!("`{prefix}/Cargo.toml` is missing"))),
    };
    let doc: toml::Table = manifest.parse().map_err(|e: toml::de::Error| {
        bad(format!("the packaged Cargo.toml does not parse ({})", truncate_for_message(&e.to_string())))
    })?;
    let package =
        doc.get("package").and_then(|p| p.as_table()).ok_or_else(|| bad("the packaged Cargo.toml has no [package]"))?;
    let manifest_name = package.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let manifest_version = package.get("version").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    if manifest_name != name {
        return Err(bad(format!(
            "the packaged Cargo.toml names the crate `{}`, but the upload is for `{name}`",
            truncate_for_message(&manifest_name)
        )));
    }
    if manifest_version != vers {
        return Err(bad(format!(
            "the packaged Cargo.toml has version `{}`, but the upload is for version `{vers}`",
            truncate_for_message(&manifest_version)
        )));
    }
    Ok(VerifiedPackage { cksum, size: bytes.len() as u64, unpacked_size: files_size, manifest_name, manifest_version })
}
