//! Store errors as domain errors. The mapping lives here, in the services layer that calls the
//! stores, so that `domain` does not depend on the store ports. A store failure is an internal
//! error: the client gets a generic text, the log gets the message with its whole cause chain.

use crate::domain::DomainError;
use crate::store::{BlobError, StoreError};

/// `error: cause: cause ...` (the `source()` chain, for logs).
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    // Bounded: a chain is a handful of links; a cycle must not hang the process.
    for _ in 0..16 {
        let Some(cause) = source else { break };
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        DomainError::Internal(with_causes(&e))
    }
}

impl From<BlobError> for DomainError {
    fn from(e: BlobError) -> Self {
        DomainError::Internal(with_causes(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_kept_in_the_message() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(with_causes(&e), "outer: disk on fire");
        let d: DomainError = StoreError::backend_source("sqlite", std::io::Error::other("locked")).into();
        assert!(matches!(d, DomainError::Internal(ref m) if m == "store backend error: sqlite: locked"));
    }
}
