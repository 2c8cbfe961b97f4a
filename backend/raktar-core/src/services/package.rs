//! Verification of an uploaded `.crate` file (gzip + tar), without trusting anything in it.

use sha2::{Digest, Sha256};

use super::archive::{self, ArchiveError, EntryKind, Flow};
use super::publish::PublishError;
use crate::domain::names::truncate_for_message;

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

fn bad(msg: impl std::fmt::Display) -> PublishError {
    PublishError::InvalidArchive(format!("invalid .crate file: {msg}"))
}

/// Checks a `.crate`: valid gzip and tar (walked by the bounded [`archive::walk`]), every entry a
/// regular file or directory under `{name}-{vers}/` with no `..`/absolute components, total
/// unpacked size (every entry and extension record) within `max_unpacked`, and a
/// `{name}-{vers}/Cargo.toml` whose package name and version match.
pub fn verify(bytes: &[u8], name: &str, vers: &str, max_unpacked: u64) -> Result<VerifiedPackage, PublishError> {
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
        Err(ArchiveError::TooLarge(msg)) => return Err(PublishError::TooLarge(msg)),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const MANIFEST: &[u8] = b"[package]\nname = \"demo\"\nversion = \"1.0.0\"\n";

    fn gzip(tar: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, tar).unwrap();
        enc.finish().unwrap()
    }

    /// A `.crate` as cargo writes it (tar::Builder: GNU long names for paths over 100 bytes).
    fn cargo_crate(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, *data).unwrap();
        }
        gzip(&b.into_inner().unwrap())
    }

    /// A raw GNU header (no data appended).
    fn raw_header(name: &[u8], kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    #[test]
    fn cargo_crates_with_long_paths_verify() {
        let long = format!("demo-1.0.0/src/{}/mod.rs", "deeply_nested_module".repeat(8));
        assert!(long.len() > 100);
        let bytes = cargo_crate(&[("demo-1.0.0/Cargo.toml", MANIFEST), (&long, b"pub fn f() {}\n")]);
        let pkg = verify(&bytes, "demo", "1.0.0", 1 << 20).unwrap();
        assert_eq!(pkg.unpacked_size, (MANIFEST.len() + 14) as u64);
        assert_eq!(pkg.manifest_name, "demo");

        // The long name is the path checked: a long path outside the crate is refused.
        let evil = format!("demo-1.0.0/{}/../../../evil", "a".repeat(120));
        let bytes = cargo_crate(&[("demo-1.0.0/Cargo.toml", MANIFEST)]);
        let mut tar = flate2::read::GzDecoder::new(&bytes[..]);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut tar, &mut plain).unwrap();
        plain.truncate(plain.len() - 1024);
        plain.extend(raw_header(b"././@LongLink", tar::EntryType::GNULongName, evil.len() as u64));
        plain.extend(evil.as_bytes());
        plain.extend(vec![0u8; 512 - evil.len() % 512]);
        plain.extend(raw_header(b"demo-1.0.0/ok.rs", tar::EntryType::Regular, 0));
        plain.extend(vec![0u8; 1024]);
        let err = verify(&gzip(&plain), "demo", "1.0.0", 1 << 20).unwrap_err().to_string();
        assert!(err.contains("evil") && err.contains("not inside"), "{err}");
    }

    /// The issue-8 upload bomb: a GNU long-name header claiming hundreds of megabytes of NULs. It
    /// is refused on the header's claim, before any of it is read, with a short message.
    #[test]
    fn long_name_bombs_are_refused_on_the_claim() {
        let mut tar = raw_header(b"././@LongLink", tar::EntryType::GNULongName, 500_000_000);
        tar.extend(vec![0u8; 1 << 20]); // the first megabyte of the claimed NULs
        let err = verify(&gzip(&tar), "demo", "1.0.0", 512 << 20).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PublishError::InvalidArchive(_)), "{err:?}");
        assert!(msg.contains("4096") && msg.len() < 300, "{msg}");
    }

    #[test]
    fn paths_in_errors_are_truncated() {
        // A 4000-byte path (accepted as a long name) outside the crate: quoted at most 200 chars.
        let path = format!("elsewhere/{}", "\u{7f}".repeat(3990));
        let bytes = cargo_crate(&[("demo-1.0.0/Cargo.toml", MANIFEST), (&path, b"x")]);
        let msg = verify(&bytes, "demo", "1.0.0", 1 << 20).unwrap_err().to_string();
        assert!(msg.contains("not inside") && msg.contains("...") && msg.len() < 400, "{} bytes: {msg}", msg.len());
    }

    #[test]
    fn directories_and_special_entries_count_against_the_limit() {
        let mut tar = raw_header(b"demo-1.0.0/src", tar::EntryType::Directory, 4096);
        tar.extend(vec![0u8; 4096 + 1024]);
        let err = verify(&gzip(&tar), "demo", "1.0.0", 1000).unwrap_err();
        assert!(matches!(err, PublishError::TooLarge(_)), "{err:?}");
    }
}
