//! Running on AWS Lambda: the same `Router` as `raktar serve`, under `lambda_http`.
//!
//! API Gateway HTTP APIs (payload format 2.0) and Lambda function URLs deliver requests as JSON
//! events; `lambda_http` turns each event into an `http::Request` and the router's response back
//! into the event answer. A synchronous invocation carries at most 6 MB each way, and binary bodies
//! travel base64-encoded (4/3 of their size), which bounds the publish body ([`fit_limits`]).
//! Downloads never pass through the function: the S3 home answers them with a redirect to a
//! presigned URL.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::ConnectInfo;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use raktar_core::services::Limits;

/// The synchronous invocation payload limit (request and response), in bytes.
pub const LAMBDA_PAYLOAD_BYTES: u64 = 6_000_000;
/// Room left in the invocation payload for the event around the body (headers, request context,
/// cookies): API Gateway limits headers to about 10 KB; this keeps a wide margin.
pub const EVENT_ENVELOPE_BYTES: u64 = 256 * 1024;
/// The default `.crate` limit on Lambda: with the default 1 MiB metadata limit the whole publish
/// body is 4 MiB + 8 bytes, 5.6 MB as base64.
pub const LAMBDA_DEFAULT_MAX_CRATE_BYTES: u64 = 3 * 1024 * 1024;

/// The size of `n` bytes encoded as (padded) base64.
pub const fn base64_len(n: u64) -> u64 {
    n.div_ceil(3) * 4
}

/// The largest publish body whose event still fits the invocation payload.
pub fn max_publish_body() -> u64 {
    // base64_len(b) <= LAMBDA_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES
    (LAMBDA_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES) / 4 * 3
}

/// Makes the publish limits fit a Lambda invocation. A `.crate` limit left at the general default
/// (10 MiB) is lowered to [`LAMBDA_DEFAULT_MAX_CRATE_BYTES`]; limits set explicitly that do not fit
/// are an error (larger uploads would fail inside API Gateway without a cargo error message).
pub fn fit_limits(mut limits: Limits) -> anyhow::Result<Limits> {
    if limits.max_crate_bytes == Limits::default().max_crate_bytes {
        limits.max_crate_bytes = LAMBDA_DEFAULT_MAX_CRATE_BYTES;
    }
    let body = limits.max_body_bytes();
    if base64_len(body) + EVENT_ENVELOPE_BYTES > LAMBDA_PAYLOAD_BYTES {
        anyhow::bail!(
            "the publish limits allow request bodies of {body} bytes, which do not fit a Lambda invocation \
             (6 MB, base64-encoded): keep max_crate_bytes + max_json_bytes at most {} bytes",
            max_publish_body() - 8
        );
    }
    Ok(limits)
}

/// The caller's address from the request context (API Gateway's `sourceIp`), as the
/// `ConnectInfo` that `raktar serve` gets from the socket: the per-address sign-in limit then
/// works the same on both.
pub fn with_source_ip(mut request: lambda_http::Request) -> lambda_http::Request {
    let ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()),
        _ => None,
    };
    if let Some(ip) = ip {
        request.extensions_mut().insert(ConnectInfo(SocketAddr::new(ip, 0)));
        request.extensions_mut().insert(raktar_http::ClientAddr(SocketAddr::new(ip, 0)));
    }
    request
}

/// The service `lambda_http` runs: the router behind [`with_source_ip`].
pub fn service(
    router: Router,
) -> impl tower::Service<
    lambda_http::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::ServiceBuilder::new().map_request(with_source_ip).service(router)
}

/// Polls the Lambda runtime API for events until the process ends.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(service(router)).await
}

/// The environment variables the Lambda runtime client requires (it panics without them).
pub const RUNTIME_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Checks the runtime variables (`get` reads one), so a missing one is an error message rather
/// than a panic inside the runtime client.
pub fn check_runtime_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let missing: Vec<&str> = RUNTIME_VARIABLES.iter().copied().filter(|v| get(v).is_none()).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "`raktar lambda` runs inside AWS Lambda (or `cargo lambda watch`), which sets {}; missing: {}",
            RUNTIME_VARIABLES.join(", "),
            missing.join(", ")
        );
    }
    if get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").is_some_and(|m| m.trim().parse::<i32>().is_err()) {
        anyhow::bail!("AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a whole number of megabytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_limits_fit_and_oversized_explicit_limits_do_not() {
        let limits = fit_limits(Limits::default()).unwrap();
        assert_eq!(limits.max_crate_bytes, LAMBDA_DEFAULT_MAX_CRATE_BYTES);
        assert!(base64_len(limits.max_body_bytes()) + EVENT_ENVELOPE_BYTES <= LAMBDA_PAYLOAD_BYTES);
        let custom = Limits { max_crate_bytes: 1024, ..Limits::default() };
        assert_eq!(fit_limits(custom).unwrap().max_crate_bytes, 1024);
        let too_big = Limits { max_crate_bytes: 5 * 1024 * 1024, ..Limits::default() };
        assert!(fit_limits(too_big).is_err());
        // The advertised maximum fits exactly.
        let max =
            Limits { max_crate_bytes: max_publish_body() - 8 - Limits::default().max_json_bytes, ..Limits::default() };
        assert!(fit_limits(max).is_ok());
    }

    #[test]
    fn runtime_env_is_checked_without_panicking() {
        let none = |_: &str| None;
        let e = check_runtime_env(none).unwrap_err().to_string();
        assert!(e.contains("AWS_LAMBDA_FUNCTION_NAME"), "{e}");
        let all = |v: &str| Some(if v == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" { "128".into() } else { "x".into() });
        check_runtime_env(all).unwrap();
        let bad_memory =
            |v: &str| Some(if v == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" { "lots".into() } else { "x".into() });
        assert!(check_runtime_env(bad_memory).is_err());
    }
}
