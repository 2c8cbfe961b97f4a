//! The one place where errors become GraphQL errors with a stable `extensions.code`.
//!
//! Resolvers return [`Res<T>`]: `?` on a [`DomainError`] maps it here. [`ResolverError`] deliberately
//! does not implement `Display`, so async-graphql's blanket `From<impl Display>` (which would copy
//! any message and drop the code) never applies to resolver errors. Errors raised by async-graphql
//! itself (parse, validation, limits, argument coercion) get their code from [`fill_codes`].

use async_graphql::{ErrorExtensions, Response, ServerError};
use raktar_core::domain::DomainError;

/// The stable error codes of the v1 contract (`extensions.code`).
pub mod codes {
    /// No credentials, or invalid, expired or revoked ones, or a disabled account.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// Authenticated but not allowed (scope, ownership, role).
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// The thing acted on does not exist.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// Invalid input: arguments, the query document itself, or a query over the limits.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// The change conflicts with the current state (duplicate name, concurrent change).
    pub const CONFLICT: &str = "CONFLICT";
    /// Too many attempts; retry later.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// The upstream registry (of the pull-through cache or the name guard) is unreachable or
    /// answered wrongly.
    pub const UPSTREAM_UNAVAILABLE: &str = "UPSTREAM_UNAVAILABLE";
    /// Something failed inside; the cause is logged, never shown.
    pub const INTERNAL: &str = "INTERNAL";
    /// The answer would be larger than the server sends for one request; ask for less (fewer
    /// aliases, smaller pages, READMEs one at a time).
    pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";
}

/// The message clients see for internal errors.
pub const INTERNAL_MESSAGE: &str = "internal server error; the error has been logged";

/// The error type of every resolver: a GraphQL error that carries a code. Built only from a
/// [`DomainError`] (mapped by [`to_graphql`]) or from an error that already has a code.
#[derive(Clone)]
pub struct ResolverError(async_graphql::Error);

/// The result type of every resolver.
pub type Res<T> = Result<T, ResolverError>;

impl From<DomainError> for ResolverError {
    fn from(e: DomainError) -> Self {
        ResolverError(to_graphql(&e))
    }
}

impl From<async_graphql::Error> for ResolverError {
    /// For errors of this crate's DataLoaders, which are mapped already.
    fn from(e: async_graphql::Error) -> Self {
        ResolverError(e)
    }
}

impl From<ResolverError> for async_graphql::Error {
    fn from(e: ResolverError) -> Self {
        e.0
    }
}

/// The code of a domain error.
pub fn code_of(e: &DomainError) -> &'static str {
    match e {
        DomainError::BadRequest(_) | DomainError::PayloadTooLarge(_) => codes::BAD_USER_INPUT,
        DomainError::Unauthenticated(_) => codes::UNAUTHENTICATED,
        DomainError::Forbidden(_) => codes::FORBIDDEN,
        DomainError::NotFound(_) => codes::NOT_FOUND,
        DomainError::Conflict(_) => codes::CONFLICT,
        DomainError::RateLimited(_) => codes::RATE_LIMITED,
        DomainError::Upstream(_) => codes::UPSTREAM_UNAVAILABLE,
        DomainError::Internal(_) => codes::INTERNAL,
    }
}

/// Maps a domain error to a GraphQL error: the domain message (or a generic one for internal
/// errors, whose cause is logged) and `extensions.code`.
pub fn to_graphql(e: &DomainError) -> async_graphql::Error {
    let message = match e {
        DomainError::Internal(cause) => {
            tracing::error!(error = %cause, "internal error in a GraphQL request");
            INTERNAL_MESSAGE.to_owned()
        }
        other => other.to_string(),
    };
    let code = code_of(e);
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// The error of a request whose answer would exceed `limit` bytes.
pub fn response_too_large(limit: usize) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "the response would be larger than {limit} bytes; ask for less (fewer aliases, smaller pages, \
         one README at a time)"
    ))
    .extend_with(|_, ext| ext.set("code", codes::RESPONSE_TOO_LARGE))
}

/// A GraphQL error for an error outside any resolver (authentication of the HTTP request).
pub fn request_error(e: &DomainError) -> ServerError {
    to_graphql(e).into_server_error(async_graphql::Pos::default())
}

/// The request-level error of an answer over `limit` bytes.
pub fn response_too_large_error(limit: usize) -> ServerError {
    response_too_large(limit).into_server_error(async_graphql::Pos::default())
}

fn has_code(e: &ServerError) -> bool {
    e.extensions.as_ref().is_some_and(|x| x.get("code").is_some())
}

fn with_code(mut e: ServerError, code: &'static str) -> ServerError {
    if !has_code(&e) {
        let ext = e.extensions.get_or_insert_with(Default::default);
        ext.set("code", code);
    }
    e
}

/// Gives every error async-graphql raised by itself a code: parse and validation failures
/// (including the depth and complexity limits) and argument coercion are `BAD_USER_INPUT`.
/// Errors of resolvers have theirs already ([`ResolverError`]). (A function applied to the response
/// rather than a schema extension: any extension puts a per-field hook on every resolved field.)
pub fn fill_codes(response: &mut Response) {
    for e in std::mem::take(&mut response.errors) {
        response.errors.push(with_code(e, codes::BAD_USER_INPUT));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_error_has_its_code_and_internal_causes_stay_inside() {
        let cases = [
            (DomainError::bad_request("b"), codes::BAD_USER_INPUT),
            (DomainError::PayloadTooLarge("p".into()), codes::BAD_USER_INPUT),
            (DomainError::unauthenticated("u"), codes::UNAUTHENTICATED),
            (DomainError::forbidden("f"), codes::FORBIDDEN),
            (DomainError::not_found("n"), codes::NOT_FOUND),
            (DomainError::conflict("c"), codes::CONFLICT),
            (DomainError::RateLimited("r".into()), codes::RATE_LIMITED),
            (DomainError::Upstream("u".into()), codes::UPSTREAM_UNAVAILABLE),
            (DomainError::internal("disk on fire at /var/secret"), codes::INTERNAL),
        ];
        for (error, code) in cases {
            let gql = to_graphql(&error);
            let ext = gql.extensions.as_ref().and_then(|e| e.get("code")).cloned();
            assert_eq!(ext, Some(async_graphql::Value::from(code)), "{error:?}");
            if code == codes::INTERNAL {
                assert_eq!(gql.message, INTERNAL_MESSAGE);
            } else {
                assert_eq!(gql.message, error.to_string());
            }
        }
    }
}
