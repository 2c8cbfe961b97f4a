//! Verification of an uploaded `.crate` file (gzip + tar), without trusting anything in it.

use std::io::Read;

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

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

/// Most entries one archive may hold.
const MAX_ENTRIES: usize = 100_000;
/// Largest packaged `Cargo.toml` we parse.
const MAX_MANIFEST: u64 = 1024 * 1024;

/// Checks a `.crate`: valid gzip and tar, every entry a regular file or directory under
/// `{name}-{vers}/` with no `..`/absolute components, total unpacked size within `max_unpacked`,
/// and a `{name}-{vers}/Cargo.toml` whose package name and version match.
pub fn verify(bytes: &[u8], name: &str, vers: &str, max_unpacked: u64) -> DomainResult<VerifiedPackage> {
    let cksum = hex::encode(Sha256::digest(bytes));
    let prefix = format!("{name}-{vers}");
    let bad = |msg: String| DomainError::bad_request(format!("invalid .crate file: {msg}"));

    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let entries = archive.entries().map_err(|e| bad(format!("not a gzip-compressed tar archive ({e})")))?;
    let mut unpacked: u64 = 0;
    let mut manifest: Option<String> = None;
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt archive ({e})")))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} entries")));
        }
        let path = entry.path().map_err(|e| bad(format!("invalid entry path ({e})")))?.into_owned();
        let path_str = path.to_string_lossy().into_owned();
        let mut comps = path.components();
        let first_ok =
            matches!(comps.next(), Some(std::path::Component::Normal(c)) if c.to_str() == Some(prefix.as_str()));
        if !first_ok || !comps.all(|c| matches!(c, std::path::Component::Normal(_))) {
            return Err(bad(format!("entry `{}` is not inside `{prefix}/`", path_str.escape_default())));
        }
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions()) {
            return Err(bad(format!("entry `{}` is not a regular file or directory", path_str.escape_default())));
        }
        if kind.is_dir() {
            continue;
        }
        let is_manifest = path_str == format!("{prefix}/Cargo.toml");
        // Count real bytes, not header claims.
        let mut limited = (&mut entry).take(max_unpacked.saturating_sub(unpacked) + 1);
        let n = if is_manifest {
            let mut buf = Vec::new();
            let n = (&mut limited)
                .take(MAX_MANIFEST + 1)
                .read_to_end(&mut buf)
                .map_err(|e| bad(format!("corrupt archive ({e})")))?;
            if n as u64 > MAX_MANIFEST {
                return Err(bad("Cargo.toml is too large".into()));
            }
            manifest = Some(String::from_utf8(buf).map_err(|_| bad("Cargo.toml is not UTF-8".into()))?);
            n as u64
        } else {
            std::io::copy(&mut limited, &mut std::io::sink()).map_err(|e| bad(format!("corrupt archive ({e})")))?
        };
        unpacked += n;
        if unpacked > max_unpacked {
            return Err(DomainError::PayloadTooLarge(format!(
                "the unpacked crate is larger than the limit of {max_unpacked} bytes"
            )));
        }
    }
    let Some(manifest) = manifest else {
        return Err(bad(format!("`{prefix}/Cargo.toml` is missing")));
    };
    let doc: toml::Table =
        manifest.parse().map_err(|e| bad(format!("the packaged Cargo.toml does not parse ({e})")))?;
    let package = doc
        .get("package")
        .and_then(|p| p.as_table())
        .ok_or_else(|| bad("the packaged Cargo.toml has no [package]".into()))?;
    let manifest_name = package.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let manifest_version = package.get("version").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    if manifest_name != name {
        return Err(bad(format!(
            "the packaged Cargo.toml names the crate `{}`, but the upload is for `{name}`",
            manifest_name.escape_default()
        )));
    }
    if manifest_version != vers {
        return Err(bad(format!(
            "the packaged Cargo.toml has version `{}`, but the upload is for version `{vers}`",
            manifest_version.escape_default()
        )));
    }
    Ok(VerifiedPackage { cksum, size: bytes.len() as u64, unpacked_size: unpacked, manifest_name, manifest_version })
}
