//! Token scopes and crate-name patterns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::names::{CrateName, MAX_NAME_LEN};

/// What a cargo token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Read the index, download crates, search (every other scope implies it).
    Read,
    /// Publish a crate name that does not exist yet.
    PublishNew,
    /// Publish a new version of a crate the user owns.
    PublishUpdate,
    /// Yank and unyank versions.
    Yank,
    /// Add and remove owners.
    ChangeOwners,
}

impl Scope {
    pub const ALL: [Scope; 5] =
        [Scope::Read, Scope::PublishNew, Scope::PublishUpdate, Scope::Yank, Scope::ChangeOwners];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::PublishNew => "publish-new",
            Scope::PublishUpdate => "publish-update",
            Scope::Yank => "yank",
            Scope::ChangeOwners => "change-owners",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL.into_iter().find(|sc| sc.as_str() == s).ok_or_else(|| {
            DomainError::bad_request(format!(
                "unknown scope `{}`; valid scopes: read, publish-new, publish-update, yank, change-owners",
                super::names::truncate_for_message(s)
            ))
        })
    }
}

/// A crate-name pattern limiting a token: an exact name, or a prefix followed by `*` (`acme-*`).
/// Matching is on normalized names (`-` = `_`, case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CratePattern(String);

impl CratePattern {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let body = raw.strip_suffix('*').unwrap_or(raw);
        let ok = raw.len() <= MAX_NAME_LEN + 1
            && (raw == "*"
                || (!body.is_empty()
                    && body.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::bad_request(format!(
                "invalid crate pattern `{}`: use a crate name, optionally ending in `*`",
                super::names::truncate_for_message(raw)
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, name: &CrateName) -> bool {
        let norm = name.normalized();
        let norm = norm.as_str();
        match self.0.strip_suffix('*') {
            Some(prefix) => {
                let p: String = prefix.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }).collect();
                norm.starts_with(&p)
            }
            None => CrateName::parse(&self.0).map(|n| n.normalized().as_str() == norm).unwrap_or(false),
        }
    }
}

impl TryFrom<String> for CratePattern {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CratePattern> for String {
    fn from(p: CratePattern) -> Self {
        p.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn patterns() {
        let n = |s| CrateName::parse(s).unwrap();
        assert!(CratePattern::parse("acme-*").unwrap().matches(&n("Acme_Core")));
        assert!(!CratePattern::parse("acme-*").unwrap().matches(&n("other")));
        assert!(CratePattern::parse("serde").unwrap().matches(&n("serde")));
        assert!(!CratePattern::parse("serde").unwrap().matches(&n("serde_json")));
        assert!(CratePattern::parse("*").unwrap().matches(&n("x")));
        assert!(CratePattern::parse("a*b").is_err());
        assert!(CratePattern::parse("").is_err());
        assert_eq!("publish-new".parse::<Scope>().unwrap(), Scope::PublishNew);
        assert!("admin".parse::<Scope>().is_err());
    }
}
