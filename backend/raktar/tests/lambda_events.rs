//! API Gateway HTTP API events (payload v2, `fixtures/lambda/`) through the Lambda entry point:
//! `lambda_http::request::from_str` -> `raktar::lambda::service` (the router `raktar lambda` runs)
//! -> `lambda_http`'s response conversion, exactly the path of an invocation minus the runtime API.
//!
//! The embedded-home tests need nothing else. The S3 download redirect runs on the AWS home and
//! needs moto: run with `bash .ci/with-moto cargo test -p raktar --test lambda_events`. Without
//! `RAKTAR_TEST_AWS_ENDPOINT` that test fails with instructions (it never passes silently).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::publish::PublishRequest;
use lambda_http::{Body, http};
use raktar::home::{self, BlobStoreKind, HomeArgs, ItemStoreKind, Platform};
use raktar::lambda;
use raktar_core::domain::Login;
use raktar_core::model::Role;
use raktar_core::services::Limits;
use raktar_core::services::tokens::NewToken;
use raktar_core::{Registry, RegistryConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The API's URL in the fixtures (`host` header and `domainName`).
const PUBLIC_URL: &str = "https://abc123xyz0.execute-api.eu-west-1.amazonaws.com";
const CRATE: &str = "lambda-demo";

/// A router as `raktar lambda` builds it, with a token of user `alice`.
struct LambdaApp {
    router: axum::Router,
    token: String,
    _data_dir: Option<tempfile::TempDir>,
}

async fn app_on(home: home::HomeSettings, data_dir: Option<tempfile::TempDir>) -> LambdaApp {
    let opened = home::open_home(&home).await.unwrap();
    let config = RegistryConfig {
        auth_required: true,
        limits: lambda::fit_limits(Limits::default()).unwrap(),
        ..RegistryConfig::default()
    };
    let registry = Arc::new(Registry::new(opened.items, opened.blobs, config));
    let login = Login::parse("alice").unwrap();
    registry.create_user("test", &login, None, None, Role::Member).await.unwrap();
    let token = registry
        .create_token(
            "test",
            &login,
            NewToken { name: "lambda".into(), scopes: vec![], crates: vec![], expires_in_secs: None },
        )
        .await
        .unwrap()
        .secret;
    let router = raktar_http::router(raktar_http::AppState::new(registry, PUBLIC_URL));
    LambdaApp { router, token, _data_dir: data_dir }
}

/// The embedded home in a temporary directory.
async fn embedded_app() -> LambdaApp {
    let dir = tempfile::Builder::new().prefix("raktar-lambda-").tempdir().unwrap();
    let settings = home::resolve(HomeArgs::default(), None, dir.path(), Platform::Process).unwrap();
    app_on(settings, Some(dir)).await
}

/// The Lambda home (DynamoDB + S3, presigned downloads) on a fresh table and bucket on moto.
async fn aws_app() -> LambdaApp {
    let endpoint = common::aws::endpoint();
    let table = common::aws::unique("raktar-lambda");
    let bucket = common::aws::unique("raktar-lambda");
    let args = HomeArgs {
        item_store: Some(ItemStoreKind::Dynamodb),
        blob_store: Some(BlobStoreKind::S3),
        dynamodb_table: Some(table.clone()),
        s3_bucket: Some(bucket.clone()),
        s3_prefix: Some("blobs".into()),
        aws_endpoint_url: Some(endpoint),
        aws_region: Some(common::aws::REGION.into()),
        ..HomeArgs::default()
    };
    let settings = home::resolve(args, None, std::path::Path::new("/nonexistent"), Platform::Lambda).unwrap();
    home::create_table(&settings.aws, &table).await.unwrap();
    home::create_bucket(&settings.aws, &bucket).await.unwrap();
    home::check_aws(&settings).await.unwrap();
    app_on(settings, None).await
}

/// `fixtures/lambda/{name}` with `${KEY}` placeholders replaced by JSON-escaped values.
fn event(name: &str, vars: &[(&str, &str)]) -> String {
    let path = common::fixtures_dir().join("lambda").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    for (key, value) in vars {
        let escaped = serde_json::to_string(value).unwrap();
        text = text.replace(&format!("${{{key}}}"), &escaped[1..escaped.len() - 1]);
    }
    assert!(!text.contains("${"), "unreplaced placeholder in {name}");
    text
}

/// One invocation: the event as `lambda_http` parses it, through the Lambda service, and the
/// response as `lambda_http` converts it for API Gateway (text or base64 body).
async fn invoke(app: &LambdaApp, event: &str) -> http::Response<Body> {
    let request = lambda_http::request::from_str(event).expect("the fixture is an API Gateway v2 event");
    let response = lambda::service(app.router.clone()).oneshot(request).await.unwrap();
    lambda_http::IntoResponse::into_response(response).await
}

fn text(resp: &http::Response<Body>) -> String {
    match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Empty => String::new(),
        other => panic!("expected a text body, got {other:?}"),
    }
}

fn json_body(resp: &http::Response<Body>) -> Value {
    serde_json::from_str(&text(resp)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(resp)))
}

fn header(resp: &http::Response<Body>, name: &str) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

/// The publish event for `req`: cargo's body, base64-encoded.
fn publish_event(req: &PublishRequest, token: &str) -> String {
    let body = req.body();
    event("publish.json", &[("TOKEN", token), ("BODY", &STANDARD.encode(&body)), ("LENGTH", &body.len().to_string())])
}

async fn publish(app: &LambdaApp, req: &PublishRequest) {
    let resp = invoke(app, &publish_event(req, &app.token)).await;
    assert_eq!(resp.status(), 200, "publish: {}", text(&resp));
    assert!(json_body(&resp).is_object());
}

#[tokio::test]
async fn config_json_names_the_public_url() {
    let app = embedded_app().await;
    let resp = invoke(&app, &event("config-json.json", &[("TOKEN", &app.token)])).await;
    assert_eq!(resp.status(), 200, "{}", text(&resp));
    let config = json_body(&resp);
    assert_eq!(config["dl"], json!(format!("{PUBLIC_URL}/api/v1/dl/{{crate}}/{{version}}/{{sha256-checksum}}")));
    assert_eq!(config["api"], json!(PUBLIC_URL));
    assert_eq!(config["auth-required"], json!(true));
}

/// A Lambda function URL (payload 2.0, auth type `NONE`) reaches the same router as the HTTP
/// API: the index file with its ETag, a 304 on revalidation, the caller's address from the
/// request context.
#[tokio::test]
async fn function_url_events_serve_the_index() {
    let app = embedded_app().await;
    let req = PublishRequest::new(CRATE, "1.0.0");
    publish(&app, &req).await;

    let request =
        lambda_http::request::from_str(&event("function-url-index-file.json", &[("TOKEN", &app.token), ("ETAG", "")]))
            .expect("a function URL event parses as payload 2.0");
    let request = lambda::with_source_ip(request);
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    assert_eq!(peer.as_deref(), Some("198.51.100.23"), "the function URL's sourceIp is the peer address");

    let resp = invoke(&app, &event("function-url-index-file.json", &[("TOKEN", &app.token), ("ETAG", "")])).await;
    assert_eq!(resp.status(), 200, "{}", text(&resp));
    let line: Value = serde_json::from_str(text(&resp).trim_end()).unwrap();
    assert_eq!((line["name"].as_str(), line["cksum"].as_str()), (Some(CRATE), Some(req.cksum().as_str())));
    let etag = header(&resp, "etag").expect("an ETag");

    let resp = invoke(&app, &event("function-url-index-file.json", &[("TOKEN", &app.token), ("ETAG", &etag)])).await;
    assert_eq!(resp.status(), 304, "{}", text(&resp));

    let resp = invoke(&app, &event("function-url-index-file.json", &[("TOKEN", "rkt_revoked"), ("ETAG", "")])).await;
    assert_eq!(resp.status(), 401, "an unknown token through the function URL: {}", text(&resp));
}

#[tokio::test]
async fn anonymous_config_json_gets_the_cargo_challenge() {
    let app = embedded_app().await;
    let resp = invoke(&app, &event("config-json-anonymous.json", &[])).await;
    assert_eq!(resp.status(), 401, "{}", text(&resp));
    assert_eq!(header(&resp, "www-authenticate"), Some(format!("Cargo login_url=\"{PUBLIC_URL}/me\"")));
    let detail = json_body(&resp)["errors"][0]["detail"].as_str().unwrap().to_string();
    assert!(!detail.is_empty());
}

#[tokio::test]
async fn publish_with_a_base64_body_then_index_and_revalidation() {
    let app = embedded_app().await;
    let req = PublishRequest::new(CRATE, "1.0.0");
    publish(&app, &req).await;

    let resp = invoke(&app, &event("index-file.json", &[("TOKEN", &app.token)])).await;
    assert_eq!(resp.status(), 200, "{}", text(&resp));
    let body = text(&resp);
    let line: Value = serde_json::from_str(body.trim_end()).unwrap();
    assert_eq!(line["name"], json!(CRATE));
    assert_eq!(line["vers"], json!("1.0.0"));
    assert_eq!(line["cksum"], json!(req.cksum()), "the base64 body must arrive byte for byte");
    let etag = header(&resp, "etag").expect("an ETag");

    let resp = invoke(&app, &event("index-file-revalidate.json", &[("TOKEN", &app.token), ("ETAG", &etag)])).await;
    assert_eq!(resp.status(), 304);
    assert!(text(&resp).is_empty());
}

#[tokio::test]
async fn publish_over_the_lambda_limit_gets_a_clear_413() {
    let app = embedded_app().await;
    let limits = lambda::fit_limits(Limits::default()).unwrap();

    // The largest allowed body still fits a 6 MB invocation once base64-encoded into the event.
    let largest = vec![b'x'; usize::try_from(limits.max_body_bytes()).unwrap()];
    let event_len = event(
        "publish.json",
        &[("TOKEN", &app.token), ("BODY", &STANDARD.encode(&largest)), ("LENGTH", &largest.len().to_string())],
    )
    .len() as u64;
    assert!(event_len < lambda::LAMBDA_PAYLOAD_BYTES, "the largest publish event is {event_len} bytes");

    // A .crate just over the limit: refused with a cargo error that names the limit.
    let over = usize::try_from(limits.max_crate_bytes).unwrap() + 1;
    let req = PublishRequest::new(CRATE, "1.0.0").with_tarball(vec![0u8; over]);
    let resp = invoke(&app, &publish_event(&req, &app.token)).await;
    assert_eq!(resp.status(), 413, "{}", text(&resp));
    let detail = json_body(&resp)["errors"][0]["detail"].as_str().unwrap().to_string();
    assert!(detail.contains(&limits.max_crate_bytes.to_string()), "the error names the limit: {detail}");
}

#[tokio::test]
async fn graphql_query_event() {
    let app = embedded_app().await;
    publish(&app, &PublishRequest::new(CRATE, "1.2.0")).await;
    let resp = invoke(&app, &event("graphql.json", &[("TOKEN", &app.token)])).await;
    assert_eq!(resp.status(), 200, "{}", text(&resp));
    let body = json_body(&resp);
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["crate"], json!({ "name": CRATE, "maxVersion": "1.2.0" }));
    assert_eq!(body["data"]["me"]["login"], json!("alice"));
}

#[tokio::test]
async fn source_ip_of_the_request_context_becomes_the_peer_address() {
    let request = lambda_http::request::from_str(&event("config-json-anonymous.json", &[])).unwrap();
    let request = lambda::with_source_ip(request);
    let ConnectInfo(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>().expect("ConnectInfo");
    assert_eq!(peer.ip().to_string(), "203.0.113.7");
}

/// On the Lambda home a download is a redirect to a presigned S3 URL (the bytes never pass through
/// the function), and the URL serves the exact upload without the registry token.
#[tokio::test]
async fn download_redirects_to_a_presigned_s3_url() {
    let app = aws_app().await;
    let req = PublishRequest::new(CRATE, "1.0.0");
    publish(&app, &req).await;

    let resp = invoke(&app, &event("download.json", &[("TOKEN", &app.token)])).await;
    assert!(matches!(resp.status().as_u16(), 302 | 307), "status {}: {}", resp.status(), text(&resp));
    assert!(matches!(resp.body(), Body::Empty) || text(&resp).is_empty(), "a redirect carries no body");
    let location = header(&resp, "location").expect("Location");
    let endpoint = common::aws::endpoint();
    assert!(location.starts_with(&format!("{endpoint}/")), "{location}");
    assert!(location.contains("/blobs/"), "the object key carries the prefix: {location}");
    assert!(location.contains("X-Amz-Expires=300") && location.contains("X-Amz-Signature="), "{location}");

    let fetched = reqwest::Client::new().get(&location).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert!(fetched.headers().get("content-encoding").is_none());
    let bytes = fetched.bytes().await.unwrap();
    assert_eq!(common::sha256_hex(&bytes), req.cksum(), "the presigned URL serves the exact upload");

    // The same through the router's index: the new version is visible on DynamoDB.
    let resp = invoke(&app, &event("index-file.json", &[("TOKEN", &app.token)])).await;
    assert_eq!(resp.status(), 200, "{}", text(&resp));
    assert!(text(&resp).contains(&req.cksum()), "{}", text(&resp));
}
