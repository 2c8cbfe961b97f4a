//! Crate names, user logins and versions: parsed once at the edge, trusted everywhere after.

use std::fmt;

use super::error::DomainError;

/// The maximum length of a crate name.
pub const MAX_NAME_LEN: usize = 64;
/// The maximum length of a version string.
pub const MAX_VERSION_LEN: usize = 150;

/// Names nobody may publish (compared normalized), as on the public registry.
const RESERVED: &[&str] = &[
    "alloc",
    "arena",
    "ast",
    "builtins",
    "collections",
    "compiler-builtins",
    "compiler-rt",
    "compiletest",
    "core",
    "coretest",
    "debug",
    "driver",
    "flate",
    "fmt_macros",
    "grammar",
    "graphviz",
    "macro",
    "macros",
    "proc_macro",
    "rbml",
    "rust-installer",
    "rustbook",
    "rustc",
    "rustc_back",
    "rustc_borrowck",
    "rustc_driver",
    "rustc_llvm",
    "rustc_resolve",
    "rustc_trans",
    "rustc_typeck",
    "rustdoc",
    "rustllvm",
    "rustuv",
    "serialize",
    "std",
    "syntax",
    "test",
    "unicode",
    // Windows device names
    "nul",
    "con",
    "prn",
    "aux",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

/// A syntactically valid crate name in its original spelling (as published).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CrateName(String);

impl CrateName {
    /// Parses a crate name: ASCII, starts with a letter, then letters, digits, `-`, `_`, at most 64.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty() {
            return Err(DomainError::bad_request("crate name must not be empty"));
        }
        if raw.len() > MAX_NAME_LEN {
            return Err(DomainError::bad_request(format!(
                "crate name `{}` is too long: at most {MAX_NAME_LEN} characters are allowed",
                truncate_for_message(raw)
            )));
        }
        let mut chars = raw.chars();
        let first = chars.next().unwrap_or(' ');
        if !first.is_ascii_alphabetic() {
            return Err(DomainError::bad_request(format!(
                "invalid crate name `{}`: the first character must be an ASCII letter",
                truncate_for_message(raw)
            )));
        }
        if let Some(bad) = raw.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(DomainError::bad_request(format!(
                "invalid character `{}` in crate name `{}`: only ASCII letters, digits, `-` and `_` are allowed",
                bad.escape_default(),
                truncate_for_message(raw)
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalized form used in keys and for uniqueness.
    pub fn normalized(&self) -> NormalizedName {
        NormalizedName(normalize(&self.0))
    }

    /// Whether this name (normalized) is reserved.
    pub fn is_reserved(&self) -> bool {
        let n = normalize(&self.0);
        RESERVED.iter().any(|r| normalize(r) == n)
    }
}

impl fmt::Display for CrateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn normalize(s: &str) -> String {
    s.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }).collect()
}

/// A crate name normalized for identity: lowercase, `-` written as `_`. Two names with the same
/// normalized form are the same crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NormalizedName(String);

impl NormalizedName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds from a stored key value (already normalized).
    pub fn from_stored(s: &str) -> Self {
        Self(normalize(s))
    }
}

impl fmt::Display for NormalizedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The sparse-index path of a (lowercased) crate name: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd`.
pub fn index_path(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.len() {
        0 => String::new(),
        1 => format!("1/{lower}"),
        2 => format!("2/{lower}"),
        3 => format!("3/{}/{lower}", &lower[..1]),
        _ => format!("{}/{}/{lower}", &lower[..2], &lower[2..4]),
    }
}

/// Parses a sparse-index request path (`ab/cd/abcd`) back to the lowercased crate name it names,
/// or `None` when the path is not a well-formed index path.
pub fn parse_index_path(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    let name = *parts.last()?;
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return None;
    }
    if name.bytes().any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
        return None;
    }
    // cargo always requests the lowercased path; refuse anything else rather than guess.
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    if index_path(name) == path { Some(name.to_owned()) } else { None }
}

/// A user login: 1 to 64 characters of ASCII letters, digits, `-`, `_`, `.`, starting with a letter
/// or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            // Logins are case-insensitive; store them lowercased.
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(DomainError::bad_request(format!(
                "invalid login `{}`: use 1 to 64 ASCII letters, digits, `-`, `_` or `.`",
                truncate_for_message(raw)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A crate version: valid semver, at most 150 characters. Keeps the exact published string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrateVersion {
    raw: String,
    parsed: semver::Version,
}

impl CrateVersion {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.len() > MAX_VERSION_LEN {
            return Err(DomainError::bad_request(format!(
                "version is too long: at most {MAX_VERSION_LEN} characters are allowed"
            )));
        }
        let parsed = semver::Version::parse(raw)
            .map_err(|e| DomainError::bad_request(format!("invalid version `{}`: {e}", truncate_for_message(raw))))?;
        Ok(Self { raw: raw.to_owned(), parsed })
    }

    /// The version exactly as published (with build metadata).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn semver(&self) -> &semver::Version {
        &self.parsed
    }

    /// The identity of the version for uniqueness: the version without build metadata.
    pub fn identity(&self) -> String {
        let mut v = self.parsed.clone();
        v.build = semver::BuildMetadata::EMPTY;
        v.to_string()
    }

    pub fn is_prerelease(&self) -> bool {
        !self.parsed.pre.is_empty()
    }
}

impl fmt::Display for CrateVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Longest quote of client-provided text in an error message (characters, escapes included).
pub const MESSAGE_QUOTE_CHARS: usize = 200;

/// Quotes client-provided text for an error message: escaped (control characters, quotes and
/// non-ASCII become `\n`, `\u{..}`...) and cut to at most [`MESSAGE_QUOTE_CHARS`] characters,
/// with `...` when something was cut. Every error that quotes client input goes through this.
pub fn truncate_for_message(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let escaped = c.escape_default();
        if out.len() + escaped.len() > MESSAGE_QUOTE_CHARS {
            out.push_str("...");
            return out;
        }
        out.extend(escaped);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn index_paths() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("cargo"), "ca/rg/cargo");
        assert_eq!(index_path("BigCrate"), "bi/gc/bigcrate");
        assert_eq!(parse_index_path("bi/gc/bigcrate").as_deref(), Some("bigcrate"));
        assert_eq!(parse_index_path("3/a/abc").as_deref(), Some("abc"));
        assert_eq!(parse_index_path("3/b/abc"), None);
        assert_eq!(parse_index_path("fo/o-/foo-bar_baz").as_deref(), Some("foo-bar_baz"));
        assert_eq!(parse_index_path("../etc/passwd"), None);
        assert_eq!(parse_index_path("Bi/gc/BigCrate"), None);
    }

    #[test]
    fn names() {
        assert!(CrateName::parse("serde").is_ok());
        assert!(CrateName::parse("Foo-Bar_baz").is_ok());
        assert!(CrateName::parse("1abc").is_err());
        assert!(CrateName::parse("").is_err());
        assert!(CrateName::parse("a b").is_err());
        assert!(CrateName::parse("é").is_err());
        assert!(CrateName::parse(&"a".repeat(65)).is_err());
        assert_eq!(CrateName::parse("Foo-Bar").unwrap().normalized().as_str(), "foo_bar");
        assert!(CrateName::parse("proc-macro").unwrap().is_reserved());
        assert!(CrateName::parse("Compiler_Builtins").unwrap().is_reserved());
        assert!(CrateName::parse("COM1").unwrap().is_reserved());
        assert!(!CrateName::parse("serde").unwrap().is_reserved());
    }

    #[test]
    fn quotes_are_bounded() {
        assert_eq!(truncate_for_message("a\"b"), "a\\\"b");
        let long = truncate_for_message(&"x".repeat(10_000));
        assert_eq!(long, format!("{}...", "x".repeat(MESSAGE_QUOTE_CHARS)));
        // Six characters per NUL once escaped: still bounded.
        let nuls = truncate_for_message(&"\0".repeat(1_000_000));
        assert!(nuls.len() <= MESSAGE_QUOTE_CHARS + 3 && nuls.ends_with("..."), "{}", nuls.len());
    }

    #[test]
    fn versions() {
        let v = CrateVersion::parse("1.0.0+build.5").unwrap();
        assert_eq!(v.identity(), "1.0.0");
        assert_eq!(v.as_str(), "1.0.0+build.5");
        assert!(CrateVersion::parse("1.0").is_err());
        assert!(CrateVersion::parse(&format!("1.0.0-{}", "a".repeat(150))).is_err());
    }
}
