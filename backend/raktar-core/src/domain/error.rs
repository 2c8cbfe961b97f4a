//! The domain error: what a client did wrong (or what failed inside), independent of transport.
//! Edges map it to HTTP statuses / cargo error bodies / GraphQL codes in one place each.

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or credentials that are invalid, expired or revoked (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated but not allowed: missing scope, not an owner, not an admin (403).
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state: duplicate version, name taken (409).
    #[error("{0}")]
    Conflict(String),
    /// The request body is too large (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Too many attempts (429).
    #[error("{0}")]
    RateLimited(String),
    /// A service this request needs is unreachable or answered wrongly (the upstream registry of
    /// the pull-through cache): 502.
    #[error("{0}")]
    Upstream(String),
    /// Something failed inside; the message is for logs only, clients get a generic text (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn unauthenticated(msg: impl Into<String>) -> Self {
        Self::Unauthenticated(msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }
    pub fn upstream(msg: impl Into<String>) -> Self {
        Self::Upstream(msg.into())
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
