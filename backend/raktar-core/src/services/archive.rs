//! The one bounded walker over `.crate` archives (gzip + tar), used by publish verification
//! ([`super::package`]) and by imports ([`super::import`]).
//!
//! The archive is read in the tar crate's raw mode: no extension header is preprocessed (the
//! default iteration reads GNU long names and PAX records into memory whole, whatever their size).
//! This walker handles them itself:
//! - GNU long name (`L`), GNU long link (`K`), PAX local (`x`) and PAX global (`g`) records are
//!   refused when their header claims more than [`MAX_EXTENSION_BYTES`], before one byte of them
//!   is read;
//! - the long name, or the PAX `path`, becomes the path of the entry that follows (as the tar crate,
//!   and therefore cargo, would unpack it); both on one entry, two of a kind, a PAX `size` record,
//!   or an extension with no entry after it are refused;
//! - every entry's claimed size (directories, special entries and extension records included) is
//!   checked against the remaining unpacked budget before it is read, and the real bytes read are
//!   counted against the same budget.

use std::io::Read;

use flate2::read::GzDecoder;

use crate::domain::names::truncate_for_message;

/// Largest GNU long-name/long-link or PAX record accepted (cargo's long paths are far below).
pub const MAX_EXTENSION_BYTES: u64 = 4 * 1024;
/// Most raw tar headers (extension records included) one archive may hold.
pub const MAX_ENTRIES: usize = 100_000;

/// Why an archive was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveError {
    /// Not a valid or acceptable archive.
    Invalid(String),
    /// The unpacked contents exceed the limit.
    TooLarge(String),
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Invalid(m) | ArchiveError::TooLarge(m) => f.write_str(m),
        }
    }
}

fn invalid(msg: impl Into<String>) -> ArchiveError {
    ArchiveError::Invalid(msg.into())
}

/// What an entry is (extension records never reach the visitor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// Anything else (links, devices, FIFOs, sparse files...), with its tar type byte.
    Other(u8),
}

/// Whether the visitor wants more entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// One entry handed to the visitor: its effective path (long name or PAX path applied), kind and
/// size; its data can be read once, bounded.
pub struct ArchiveEntry<'e> {
    /// The effective path (UTF-8, no NUL byte).
    pub path: String,
    pub kind: EntryKind,
    /// The data size the header claims (already checked against the unpacked budget).
    pub size: u64,
    reader: &'e mut dyn Read,
    read: u64,
}

impl ArchiveEntry<'_> {
    /// The path quoted for an error message (escaped and truncated).
    pub fn shown_path(&self) -> String {
        truncate_for_message(&self.path)
    }

    /// Reads the whole entry when its size is at most `max` bytes; `None` (nothing read) when it
    /// is larger.
    pub fn read_bounded(&mut self, max: u64) -> Result<Option<Vec<u8>>, ArchiveError> {
        if self.size > max {
            return Ok(None);
        }
        let remaining = self.size - self.read;
        let mut buf = Vec::with_capacity(usize::try_from(remaining).unwrap_or(0));
        let n = (&mut *self.reader).take(remaining).read_to_end(&mut buf).map_err(corrupt)? as u64;
        self.read += n;
        if n < remaining {
            return Err(truncated());
        }
        Ok(Some(buf))
    }
}

fn corrupt(e: std::io::Error) -> ArchiveError {
    invalid(format!("corrupt archive ({})", truncate_for_message(&e.to_string())))
}

fn truncated() -> ArchiveError {
    invalid("corrupt archive (an entry is shorter than its header says)")
}

/// Extension records waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: bool,
    pax: bool,
    pax_path: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && !self.long_link && !self.pax
    }
}

/// Parses PAX records (`"<len> key=value\n"`), keeping `path` and refusing `size`.
fn parse_pax(data: &[u8], pending: &mut Pending) -> Result<(), ArchiveError> {
    for record in tar::PaxExtensions::new(data) {
        let record = record.map_err(|_| invalid("malformed PAX extension record"))?;
        match record.key_bytes() {
            b"path" => pending.pax_path = Some(record.value_bytes().to_vec()),
            // The tar crate lets a PAX size override the header's; cargo never writes one, and two
            // readers disagreeing on where an entry ends is how archives smuggle content.
            b"size" => return Err(invalid("PAX `size` records are not accepted")),
            _ => {}
        }
    }
    Ok(())
}

/// Reads the data of an entry the visitor did not consume, counting the real bytes.
fn drain(reader: &mut dyn Read, remaining: u64) -> Result<u64, ArchiveError> {
    let n = std::io::copy(&mut reader.take(remaining), &mut std::io::sink()).map_err(corrupt)?;
    if n < remaining {
        return Err(truncated());
    }
    Ok(n)
}

/// Walks a gzip-compressed tar archive, calling `visit` for every entry (extension records are
/// applied, not visited), within `max_unpacked` bytes of unpacked data. Returns the unpacked
/// bytes walked through (every entry's data and every extension record).
pub fn walk(
    bytes: &[u8],
    max_unpacked: u64,
    visit: &mut dyn FnMut(&mut ArchiveEntry<'_>) -> Result<Flow, ArchiveError>,
) -> Result<u64, ArchiveError> {
    let too_large =
        || ArchiveError::TooLarge(format!("the unpacked crate is larger than the limit of {max_unpacked} bytes"));
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let entries = archive.entries().map_err(|e| {
        invalid(format!("not a gzip-compressed tar archive ({})", truncate_for_message(&e.to_string())))
    })?;
    let entries = entries.raw(true);
    let mut unpacked: u64 = 0;
    let mut count = 0usize;
    let mut pending = Pending::default();
    for entry in entries {
        let mut entry = entry.map_err(corrupt)?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(invalid(format!("more than {MAX_ENTRIES} entries")));
        }
        let header = entry.header();
        let size = header.entry_size().map_err(corrupt)?;
        let entry_type = header.entry_type();
        // The tar crate treats these types as extensions only in GNU or ustar headers.
        let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
        let extension = recognized
            && (entry_type.is_gnu_longname()
                || entry_type.is_gnu_longlink()
                || entry_type.is_pax_local_extensions()
                || entry_type.is_pax_global_extensions());
        if extension && size > MAX_EXTENSION_BYTES {
            return Err(invalid(format!(
                "a tar extension header (long name or PAX record) of {size} bytes; at most {MAX_EXTENSION_BYTES} bytes are accepted"
            )));
        }
        if size > max_unpacked - unpacked {
            return Err(too_large());
        }
        if extension {
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            let n = (&mut entry).take(size).read_to_end(&mut data).map_err(corrupt)? as u64;
            if n < size {
                return Err(truncated());
            }
            unpacked += n;
            if entry_type.is_gnu_longname() {
                if pending.long_name.is_some() {
                    return Err(invalid("two GNU long names describe the same entry"));
                }
                while data.last() == Some(&0) {
                    data.pop();
                }
                pending.long_name = Some(data);
            } else if entry_type.is_gnu_longlink() {
                if pending.long_link {
                    return Err(invalid("two GNU long link names describe the same entry"));
                }
                pending.long_link = true;
            } else if entry_type.is_pax_local_extensions() {
                if pending.pax {
                    return Err(invalid("two PAX extension headers describe the same entry"));
                }
                pending.pax = true;
                parse_pax(&data, &mut pending)?;
            } else {
                // A global PAX header: nothing in it is applied (the tar crate ignores it), but it
                // may not separate an extension from its entry.
                if !pending.is_empty() {
                    return Err(invalid("a tar extension header is not followed by its entry"));
                }
                let mut global = Pending::default();
                parse_pax(&data, &mut global)?;
            }
            continue;
        }
        let described = std::mem::take(&mut pending);
        let path_bytes = match (described.long_name, described.pax_path) {
            (Some(_), Some(_)) => return Err(invalid("an entry has both a GNU long name and a PAX path")),
            (Some(name), None) | (None, Some(name)) => name,
            (None, None) => entry.header().path_bytes().into_owned(),
        };
        if path_bytes.contains(&0) {
            return Err(invalid("an entry path contains a NUL byte"));
        }
        let path = String::from_utf8(path_bytes).map_err(|e| {
            invalid(format!(
                "the entry path `{}` is not UTF-8",
                truncate_for_message(&String::from_utf8_lossy(e.as_bytes()))
            ))
        })?;
        let kind = if entry_type.is_file() {
            EntryKind::File
        } else if entry_type.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::Other(entry_type.as_byte())
        };
        let mut visited = ArchiveEntry { path, kind, size, reader: &mut entry, read: 0 };
        let flow = visit(&mut visited)?;
        let (read, size) = (visited.read, visited.size);
        unpacked += read;
        if flow == Flow::Stop {
            return Ok(unpacked);
        }
        unpacked += drain(&mut entry, size - read)?;
        if unpacked > max_unpacked {
            return Err(too_large());
        }
    }
    if !pending.is_empty() {
        return Err(invalid("a tar extension header is not followed by an entry"));
    }
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn gz(tar: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, tar).unwrap();
        enc.finish().unwrap()
    }

    /// A raw header of `kind` with `name` claiming `size` bytes (no data appended).
    fn header(name: &str, kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    fn paths(bytes: &[u8], max: u64) -> Result<Vec<String>, ArchiveError> {
        let mut out = Vec::new();
        walk(bytes, max, &mut |e| {
            out.push(e.path.clone());
            Ok(Flow::Continue)
        })?;
        Ok(out)
    }

    #[test]
    fn huge_extension_claims_are_refused_before_reading() {
        for kind in [
            tar::EntryType::GNULongName,
            tar::EntryType::GNULongLink,
            tar::EntryType::XHeader,
            tar::EntryType::XGlobalHeader,
        ] {
            // 500 MB claimed, nothing behind it: only the header decides.
            let tar = header("././@LongLink", kind, 500_000_000);
            let err = paths(&gz(&tar), u64::MAX).unwrap_err();
            assert!(matches!(&err, ArchiveError::Invalid(m) if m.contains("4096")), "{kind:?}: {err:?}");
        }
        // Just over the bound, with the data present, is refused too.
        let mut tar = header("././@LongLink", tar::EntryType::GNULongName, MAX_EXTENSION_BYTES + 1);
        tar.extend(vec![b'a'; 4608]);
        assert!(matches!(paths(&gz(&tar), u64::MAX), Err(ArchiveError::Invalid(_))));
    }

    #[test]
    fn every_entry_counts_against_the_budget() {
        // A directory (or any special entry) claiming more than the budget is refused on its claim.
        for kind in [tar::EntryType::Directory, tar::EntryType::Fifo, tar::EntryType::Regular] {
            let tar = header("a-1.0.0/x", kind, 10_000);
            assert!(matches!(paths(&gz(&tar), 1000), Err(ArchiveError::TooLarge(_))), "{kind:?}");
        }
        // Extension records count too.
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("a-1.0.0/{}/lib.rs", "d".repeat(300));
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &[][..]).unwrap();
        let tar = b.into_inner().unwrap();
        assert!(matches!(paths(&gz(&tar), 100), Err(ArchiveError::TooLarge(_))));
        assert_eq!(paths(&gz(&tar), 1000).unwrap(), vec![long]);
    }

    #[test]
    fn long_names_and_pax_paths_apply_to_the_next_entry() {
        // tar::Builder writes a GNU long name for paths over 100 bytes (as cargo does).
        let long = format!("a-1.0.0/{}/lib.rs", "nested/".repeat(30));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "a-1.0.0/short.rs", &b"x"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        assert_eq!(paths(&gz(&tar), 1 << 20).unwrap(), vec![long.clone(), "a-1.0.0/short.rs".to_owned()]);

        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("path", long.as_bytes())]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_path("a-1.0.0/ignored.rs").unwrap();
        h.set_cksum();
        b.append(&h, &b"abc"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        assert_eq!(paths(&gz(&tar), 1 << 20).unwrap(), vec![long]);

        // A PAX size override is refused; so is an extension with nothing after it.
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", &b"1"[..])]).unwrap();
        let tar = b.into_inner().unwrap();
        assert!(matches!(paths(&gz(&tar), 1 << 20), Err(ArchiveError::Invalid(m)) if m.contains("size")));
        let mut tar = header("././@LongLink", tar::EntryType::GNULongName, 3);
        tar.extend(b"abc");
        tar.extend(vec![0u8; 509 + 1024]);
        assert!(matches!(paths(&gz(&tar), 1 << 20), Err(ArchiveError::Invalid(m)) if m.contains("not followed")));
    }

    #[test]
    fn short_entries_are_corrupt() {
        let mut tar = header("a-1.0.0/x", tar::EntryType::Regular, 5000);
        tar.extend(vec![b'x'; 100]);
        assert!(matches!(paths(&gz(&tar), 1 << 20), Err(ArchiveError::Invalid(_))));
    }
}
