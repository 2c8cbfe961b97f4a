//! Why a publish (or an import) was refused, typed by step: callers (the cargo edge through
//! [`DomainError`], `raktar import` through its skip reasons) map variants, never HTTP classes.

use crate::domain::DomainError;
use crate::store::{BlobError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The body's framing is malformed: truncated, trailing bytes (400).
    #[error("{0}")]
    Framing(String),
    /// A part is over its limit: body, metadata, `.crate`, unpacked size, stored item (413).
    #[error("{0}")]
    TooLarge(String),
    /// The metadata breaks a rule: name, version, fields, dependencies, features (400).
    #[error("{0}")]
    InvalidMetadata(String),
    /// The `.crate` is not a valid package for the metadata (400).
    #[error("{0}")]
    InvalidArchive(String),
    /// A dependency on this registry names a crate that does not exist here (400).
    #[error("{0}")]
    MissingDependency(String),
    /// The crate exists under another spelling (400).
    #[error("{0}")]
    NameSpelling(String),
    /// The version exists already (409).
    #[error("{0}")]
    Duplicate(String),
    /// Too many lost races with concurrent writers of the crate (409).
    #[error("{0}")]
    Contention(String),
    /// Refused by authorization or the name guard, or failed inside: the domain error as is.
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl PublishError {
    pub(crate) fn metadata(msg: impl Into<String>) -> Self {
        Self::InvalidMetadata(msg.into())
    }

    /// A metadata value a domain type refused to parse (a crate name, a version).
    pub(crate) fn metadata_from(e: DomainError) -> Self {
        Self::InvalidMetadata(e.to_string())
    }
}

impl From<PublishError> for DomainError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Framing(m)
            | PublishError::InvalidMetadata(m)
            | PublishError::InvalidArchive(m)
            | PublishError::MissingDependency(m)
            | PublishError::NameSpelling(m) => DomainError::BadRequest(m),
            PublishError::TooLarge(m) => DomainError::PayloadTooLarge(m),
            PublishError::Duplicate(m) | PublishError::Contention(m) => DomainError::Conflict(m),
            PublishError::Domain(e) => e,
        }
    }
}

impl From<StoreError> for PublishError {
    fn from(e: StoreError) -> Self {
        Self::Domain(e.into())
    }
}

impl From<BlobError> for PublishError {
    fn from(e: BlobError) -> Self {
        Self::Domain(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_the_domain_error_of_its_class() {
        assert!(matches!(DomainError::from(PublishError::Framing("f".into())), DomainError::BadRequest(_)));
        assert!(matches!(DomainError::from(PublishError::TooLarge("t".into())), DomainError::PayloadTooLarge(_)));
        assert!(matches!(DomainError::from(PublishError::Duplicate("d".into())), DomainError::Conflict(_)));
        assert!(matches!(DomainError::from(PublishError::Contention("c".into())), DomainError::Conflict(_)));
        let forbidden = PublishError::from(DomainError::forbidden("no"));
        assert!(matches!(DomainError::from(forbidden), DomainError::Forbidden(_)));
    }
}
