//! Reading a `.crate` for an import: its top directory, packaged `Cargo.toml` and README, through the
//! shared bounded archive walker ([`super::super::archive`]).

use super::super::archive::{self, ArchiveError, EntryKind, Flow};
use crate::domain::names::truncate_for_message;

/// Largest README read from an archive (the publish metadata JSON is bounded the same way).
const MAX_README: u64 = 1024 * 1024;
/// Largest packaged `Cargo.toml` read.
const MAX_MANIFEST: u64 = 1024 * 1024;
/// README files cargo picks when the manifest names none (in this order).
const DEFAULT_READMES: [&str; 3] = ["README.md", "README.txt", "README"];

/// What an import needs from a `.crate`: its top directory, manifest and README.
#[derive(Debug)]
pub(super) struct CrateArchive {
    /// The first path component of the archive's entries (`{name}-{version}` in a valid crate).
    pub(super) top: String,
    pub(super) manifest: toml::Table,
    /// The README as cargo would send it: `(path in the package, contents)`.
    pub(super) readme: Option<(String, String)>,
}

/// An entry looked for in an archive.
#[derive(Debug)]
enum Entry {
    Missing,
    Found(Vec<u8>),
    /// Present but larger than the bound.
    Oversized,
}

/// Reads the entry `pick` selects (by path) with the shared bounded walker, which bounds the
/// unpacked bytes walked through and every extension header. Returns the archive's top directory
/// and the entry (at most `max_len` bytes).
fn find_entry(
    bytes: &[u8],
    max_unpacked: u64,
    max_len: u64,
    pick: &dyn Fn(&str, &str) -> bool,
) -> Result<(String, Entry), ArchiveError> {
    let mut top: Option<String> = None;
    let mut found = Entry::Missing;
    archive::walk(bytes, max_unpacked, &mut |entry| {
        let first = entry.path.split('/').next().unwrap_or_default().to_owned();
        let top = top.get_or_insert(first);
        if entry.kind == EntryKind::File && pick(top, &entry.path) {
            found = match entry.read_bounded(max_len)? {
                Some(data) => Entry::Found(data),
                None => Entry::Oversized,
            };
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    })?;
    Ok((top.unwrap_or_default(), found))
}

/// Reads the manifest and the README of a `.crate` (two bounded passes over the archive).
pub(super) fn read_archive(bytes: &[u8], max_unpacked: u64) -> Result<CrateArchive, ArchiveError> {
    let (top, manifest) =
        find_entry(bytes, max_unpacked, MAX_MANIFEST, &|top, path| path == format!("{top}/Cargo.toml"))?;
    let manifest = match manifest {
        Entry::Found(manifest) => manifest,
        Entry::Oversized => return Err(ArchiveError::Invalid("Cargo.toml is too large".into())),
        Entry::Missing if top.is_empty() => return Err(ArchiveError::Invalid("the archive is empty".into())),
        Entry::Missing => {
            return Err(ArchiveError::Invalid(format!("`{}/Cargo.toml` is missing", truncate_for_message(&top))));
        }
    };
    let text = String::from_utf8(manifest).map_err(|_| ArchiveError::Invalid("Cargo.toml is not UTF-8".into()))?;
    let manifest: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ArchiveError::Invalid(format!(
            "the packaged Cargo.toml does not parse ({})",
            truncate_for_message(&e.to_string())
        ))
    })?;

    let candidates: Vec<String> = match manifest.get("package").and_then(|p| p.get("readme")) {
        Some(toml::Value::String(path)) => vec![normalize_package_path(path)],
        Some(toml::Value::Boolean(true)) => vec!["README.md".to_owned()],
        Some(_) => Vec::new(),
        None => DEFAULT_READMES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut readme = None;
    for candidate in candidates {
        let want = format!("{top}/{candidate}");
        match find_entry(bytes, max_unpacked, MAX_README, &|_, path| path == want)?.1 {
            Entry::Found(found) => {
                readme = Some((candidate, String::from_utf8_lossy(&found).into_owned()));
                break;
            }
            // Too large to keep: the version is imported without its README (cargo would have sent
            // it, but the publish metadata is bounded in size too).
            Entry::Oversized => {
                tracing::warn!(readme = %candidate, "README larger than {MAX_README} bytes; imported without it");
                break;
            }
            Entry::Missing => {}
        }
    }
    Ok(CrateArchive { top, manifest, readme })
}

/// A path relative to the package root as it appears in the archive (`./a/b` -> `a/b`).
fn normalize_package_path(path: &str) -> String {
    path.split('/').filter(|seg| !seg.is_empty() && *seg != ".").collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A gzipped tar of `(path, contents)` entries.
    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    const MANIFEST: &[u8] = b"[package]\nname = \"a\"\nversion = \"1.0.0\"\n";

    #[test]
    fn archives_give_manifest_and_readme() {
        // No `readme` key: cargo's default names are tried in order.
        let bytes = archive(&[("a-1.0.0/README.txt", b"txt"), ("a-1.0.0/Cargo.toml", MANIFEST)]);
        let a = read_archive(&bytes, 1 << 20).unwrap();
        assert_eq!(a.top, "a-1.0.0");
        assert_eq!(a.readme, Some(("README.txt".to_owned(), "txt".to_owned())));

        // `readme = false`: none; an explicit path with `./` is found.
        let no = archive(&[
            ("a-1.0.0/Cargo.toml", b"[package]\nname = \"a\"\nversion = \"1.0.0\"\nreadme = false\n"),
            ("a-1.0.0/README.md", b"x"),
        ]);
        assert_eq!(read_archive(&no, 1 << 20).unwrap().readme, None);
        let path = archive(&[
            ("a-1.0.0/Cargo.toml", b"[package]\nname = \"a\"\nversion = \"1.0.0\"\nreadme = \"./docs/R.md\"\n"),
            ("a-1.0.0/docs/R.md", b"docs"),
        ]);
        assert_eq!(read_archive(&path, 1 << 20).unwrap().readme, Some(("docs/R.md".to_owned(), "docs".to_owned())));

        // An oversized README is left out, not fatal.
        let big = vec![b'x'; (MAX_README + 1) as usize];
        let bytes = archive(&[("a-1.0.0/Cargo.toml", MANIFEST), ("a-1.0.0/README.md", &big)]);
        assert_eq!(read_archive(&bytes, 1 << 30).unwrap().readme, None);
    }

    #[test]
    fn broken_archives_are_errors() {
        assert!(matches!(read_archive(b"not gzip", 1 << 20), Err(ArchiveError::Invalid(_))));
        let no_manifest = archive(&[("a-1.0.0/src/lib.rs", b"")]);
        assert!(matches!(read_archive(&no_manifest, 1 << 20), Err(ArchiveError::Invalid(m)) if m.contains("missing")));
        let huge = vec![0u8; 4096];
        let bomb = archive(&[("a-1.0.0/big", &huge), ("a-1.0.0/Cargo.toml", MANIFEST)]);
        assert!(matches!(read_archive(&bomb, 1000), Err(ArchiveError::TooLarge(_))));
    }
}
