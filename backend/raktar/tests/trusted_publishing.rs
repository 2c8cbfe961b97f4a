//! Trusted publishing from CI, end to end: a fake CI OIDC issuer on 127.0.0.1 (discovery document
//! and JWKS, ID tokens signed with a test RSA key), a real `raktar serve` (embedded home, or the
//! AWS home on moto with `RAKTAR_TEST_HOME=aws`), the `raktar trust` CLI and the real cargo.
//!
//! Run on the AWS home: `bash .ci/with-moto env RAKTAR_TEST_HOME=aws cargo test -p raktar --test
//! trusted_publishing` (`.ci/test-aws` does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use common::graphql::gql;
use common::{CargoEnv, Http, REGISTRY, TestServer};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const AUDIENCE: &str = "raktar-ci-test";
const REPO: &str = "acme/widgets";

fn fixture_key(name: &str) -> EncodingKey {
    let path = common::fixtures_dir().join("oidc").join(name);
    EncodingKey::from_rsa_pem(&std::fs::read(&path).unwrap()).unwrap()
}

fn public_jwk(key: &EncodingKey, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    serde_json::to_value(jwk).unwrap()
}

/// A CI's OIDC issuer on 127.0.0.1: `/.well-known/openid-configuration` and `/jwks`.
struct FakeCi {
    _rt: tokio::runtime::Runtime,
    issuer: String,
    key: EncodingKey,
    /// How often the JWKS was fetched.
    jwks_fetches: Arc<AtomicUsize>,
}

impl FakeCi {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let key = fixture_key("test-signing-key.pem");
        let keys = Arc::new(Mutex::new(vec![public_jwk(&key, "ci-key")]));
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let discovery = json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks") });
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let fetches = jwks_fetches.clone();
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let d = discovery.clone();
                    async move { axum::Json(d) }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    let k = keys.clone();
                    fetches.fetch_add(1, Ordering::SeqCst);
                    async move { axum::Json(json!({ "keys": *k.lock().unwrap() })) }
                }),
            );
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCi { _rt: rt, issuer, key, jwks_fetches }
    }

    /// GitHub-Actions-like claims of a release job of `acme/widgets`, with `overrides` (null
    /// removes a claim).
    fn claims(&self, overrides: Value) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        let mut c = json!({
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": format!("repo:{REPO}:environment:release"),
            "repository": REPO,
            "repository_owner": "acme",
            "job_workflow_ref": format!("{REPO}/.github/workflows/release.yml@refs/tags/v0.2.0"),
            "environment": "release",
            "ref": "refs/tags/v0.2.0",
            "jti": format!("jti-{:016x}", rand::random::<u64>()),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn sign_with(&self, key: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn jwt(&self, overrides: Value) -> String {
        self.sign_with(&self.key, "ci-key", &self.claims(overrides))
    }
}

fn exchange(http: &Http, jwt: &str) -> common::HttpResponse {
    let body = serde_json::to_vec(&json!({ "jwt": jwt })).unwrap();
    http.request(
        "POST",
        "/api/v1/trusted_publishing/tokens",
        None,
        &[("content-type", "application/json"), ("accept", "application/json")],
        Some(body),
    )
}

#[track_caller]
fn exchange_ok(http: &Http, jwt: &str) -> String {
    let resp = exchange(http, jwt);
    assert_eq!(resp.status, 200, "exchange refused:\n{resp}");
    let token = resp.json()["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("rkt_"), "{token}");
    token
}

#[track_caller]
fn exchange_refused(http: &Http, jwt: &str, needle: &str) {
    let resp = exchange(http, jwt);
    assert_eq!(resp.status, 400, "expected 400 containing {needle:?}:\n{resp}");
    let detail = resp.cargo_error_details();
    assert!(detail.contains(needle), "expected {needle:?} in {detail:?}");
}

fn start_server(ci: &FakeCi, extra: &[&str]) -> TestServer {
    let mut args = vec!["--trusted-publishing-issuers", ci.issuer.as_str()];
    args.extend_from_slice(extra);
    TestServer::start_with_args(&args)
}

/// A minimal crate directory `name` at `version`.
fn crate_dir(env: &CargoEnv, name: &str, version: &str) -> PathBuf {
    let dir = env.fresh_dir(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
             description = \"trusted publishing test\"\nlicense = \"MIT\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    dir
}

fn publish(env: &CargoEnv, name: &str, version: &str) -> common::CmdOutput {
    let dir = crate_dir(env, name, version);
    env.cargo(&["publish", "--registry", REGISTRY, "--no-verify", "--allow-dirty"], &dir)
}

/// The owner publishes the first versions and trusts the release workflow of `acme/widgets`.
fn owner_setup(server: &TestServer, ci: &FakeCi) -> (String, String) {
    server.create_user("alice", true);
    let owner = server.create_token("alice", "alice-token");
    let env = CargoEnv::new(server, Some(&owner));
    for name in ["tp-widget", "tp-other"] {
        let out = publish(&env, name, "0.1.0");
        assert!(out.success(), "{out}");
    }
    let out = server.cli_ok(&[
        "trust",
        "add",
        "tp-widget",
        "--issuer",
        &ci.issuer,
        "--claim",
        &format!("repository={REPO}"),
        "--claim",
        &format!("job_workflow_ref^={REPO}/.github/workflows/release.yml@"),
        "--claim",
        "environment=release",
    ]);
    let id = out.split_whitespace().nth(3).unwrap().to_owned();
    (owner, id)
}

#[test]
fn a_ci_job_publishes_with_a_minted_token_and_nothing_else() {
    let ci = FakeCi::start();
    let server = start_server(&ci, &["--trusted-publishing-audience", AUDIENCE]);
    let http = server.http();
    let (owner, id) = owner_setup(&server, &ci);
    let listed = server.cli_ok(&["trust", "list", "tp-widget"]);
    assert!(listed.contains(&id) && listed.contains(&ci.issuer), "{listed}");
    assert!(listed.contains("job_workflow_ref^=acme/widgets/.github/workflows/release.yml@"), "{listed}");

    let token = exchange_ok(&http, &ci.jwt(json!({})));
    let env = CargoEnv::new(&server, Some(&token));
    let out = publish(&env, "tp-widget", "0.2.0");
    assert!(out.success(), "publish through the trusted-publishing token failed:\n{out}\n{}", server.logs());
    let versions: Vec<String> =
        http.index_lines("tp-widget", Some(&owner)).iter().map(|l| l["vers"].as_str().unwrap().to_owned()).collect();
    assert_eq!(versions, ["0.1.0", "0.2.0"]);
    env.cargo_here(&["yank", "--registry", REGISTRY, "tp-widget@0.1.0"]).assert_success();

    // Only the configured crate, only publish-update and yank.
    publish(&env, "tp-other", "0.2.0").assert_failure().assert_output_contains("limited to crates");
    publish(&env, "tp-brand-new", "0.1.0").assert_failure().assert_output_contains("publish-new");
    env.cargo_here(&["owner", "--registry", REGISTRY, "--add", "alice", "tp-widget"])
        .assert_failure()
        .assert_output_contains("change-owners");
    let resp = common::graphql::post(&http, Some(&token), "{ me { login } }", json!({}));
    assert_eq!(resp.status, 403, "{resp}");
    let resp = common::graphql::post(
        &http,
        Some(&token),
        "mutation { createToken(input: {name: \"x\"}) { token } }",
        json!({}),
    );
    assert_eq!(resp.status, 403, "{resp}");

    // The audit log shows the CI identity: the mint (with its claims) and the publish.
    let body = gql(
        &http,
        Some(&owner),
        "{ auditEvents(first: 50) { nodes { action actor crateName version detail { key value } } } }",
        json!({}),
    );
    let events = body["data"]["auditEvents"]["nodes"].as_array().unwrap().clone();
    let ci_actor = format!("ci:{}:repo:{REPO}:environment:release", ci.issuer.trim_start_matches("http://"));
    let mint = events.iter().find(|e| e["action"] == "trustpub-token-create").expect("mint audited");
    assert_eq!(mint["actor"], ci_actor.as_str());
    let detail = mint["detail"].to_string();
    for needle in [ci.issuer.as_str(), REPO, "release.yml", "tp-widget"] {
        assert!(detail.contains(needle), "{needle} in {detail}");
    }
    let published = events.iter().find(|e| e["action"] == "publish" && e["version"] == "0.2.0").expect("publish");
    assert_eq!(published["actor"], ci_actor.as_str());
    let trusted = events.iter().find(|e| e["action"] == "trust-add").expect("trust-add audited");
    assert_eq!(trusted["actor"], "cli");

    // Revocation: 204, then the token is dead; a second revocation is 401.
    let resp = http.request("DELETE", "/api/v1/trusted_publishing/tokens", Some(&token), &[], None);
    assert_eq!(resp.status, 204, "{resp}");
    env.cargo_here(&["yank", "--registry", REGISTRY, "--undo", "tp-widget@0.1.0"]).assert_failure();
    let resp = http.request("DELETE", "/api/v1/trusted_publishing/tokens", Some(&token), &[], None);
    assert_eq!(resp.status, 401, "{resp}");
    // An account token cannot be revoked through this endpoint.
    let resp = http.request("DELETE", "/api/v1/trusted_publishing/tokens", Some(&owner), &[], None);
    assert_eq!(resp.status, 400, "{resp}");

    // Once the configuration is removed, the same identity gets nothing.
    server.cli_ok(&["trust", "remove", "tp-widget", &id]);
    exchange_refused(&http, &ci.jwt(json!({})), "no trusted publishing configuration matches");
}

#[test]
fn id_tokens_that_do_not_fit_are_refused() {
    let ci = FakeCi::start();
    let server = start_server(&ci, &["--trusted-publishing-audience", AUDIENCE]);
    let http = server.http();
    owner_setup(&server, &ci);
    let now = jsonwebtoken::get_current_timestamp();
    let no_config = "no trusted publishing configuration matches";

    exchange_refused(&http, &ci.jwt(json!({ "repository": "acme/other" })), no_config);
    exchange_refused(
        &http,
        &ci.jwt(json!({ "job_workflow_ref": format!("{REPO}/.github/workflows/ci.yml@refs/heads/main") })),
        no_config,
    );
    exchange_refused(
        &http,
        &ci.jwt(json!({ "job_workflow_ref": format!("{REPO}/.github/workflows/release.yml.evil@refs/heads/x") })),
        no_config,
    );
    exchange_refused(&http, &ci.jwt(json!({ "environment": "staging" })), no_config);
    exchange_refused(&http, &ci.jwt(json!({ "environment": null })), no_config);
    exchange_refused(&http, &ci.jwt(json!({ "iat": now - 900, "nbf": now - 900, "exp": now - 300 })), "expired");
    exchange_refused(&http, &ci.jwt(json!({ "nbf": now + 600, "exp": now + 900 })), "not valid yet");
    exchange_refused(&http, &ci.jwt(json!({ "aud": "crates-io" })), "audience");
    exchange_refused(&http, &ci.jwt(json!({ "jti": null })), "jti");
    // Unknown issuer: never contacted, refused by the allowed list.
    exchange_refused(&http, &ci.jwt(json!({ "iss": "http://127.0.0.1:9/" })), "not allowed");
    // Signed by a key the issuer does not publish (unknown kid), or by the wrong key under its kid.
    let other = fixture_key("test-other-key.pem");
    let fetched = ci.jwks_fetches.load(Ordering::SeqCst);
    assert!(fetched >= 1, "the issuer's JWKS was fetched");
    for _ in 0..5 {
        exchange_refused(&http, &ci.sign_with(&other, "rogue", &ci.claims(json!({}))), "does not publish");
    }
    // Unknown keys make the JWKS be fetched again at most every 30 s, however many tokens name them.
    assert!(ci.jwks_fetches.load(Ordering::SeqCst) <= fetched + 1, "JWKS refetches are throttled");
    exchange_refused(&http, &ci.sign_with(&other, "ci-key", &ci.claims(json!({}))), "signature");
    // HS256 (with any secret) and `none` are never accepted.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &ci.claims(json!({})),
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    exchange_refused(&http, &hs, "algorithm");
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT" })), b64(&ci.claims(json!({}))));
    exchange_refused(&http, &none, "not a JWT");
    // Not JSON / not a JWT at all.
    let resp = http.request(
        "POST",
        "/api/v1/trusted_publishing/tokens",
        None,
        &[("content-type", "application/json")],
        Some(b"{\"token\": 1}".to_vec()),
    );
    assert_eq!(resp.status, 400, "{resp}");
    exchange_refused(&http, "garbage", "not a JSON Web Token");

    // Single use: the same ID token works once, also when replayed concurrently.
    let jwt = ci.jwt(json!({}));
    exchange_ok(&http, &jwt);
    exchange_refused(&http, &jwt, "already exchanged");
    let jwt = ci.jwt(json!({}));
    let statuses: Vec<u16> = http.runtime().block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let client = http.client().clone();
            let url = http.url("/api/v1/trusted_publishing/tokens");
            let body = json!({ "jwt": jwt }).to_string();
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
}

#[test]
fn minted_tokens_expire_and_the_audience_defaults_to_the_public_host() {
    let ci = FakeCi::start();
    let server = start_server(&ci, &["--trusted-publishing-token-lifetime", "3s"]);
    let http = server.http();
    owner_setup(&server, &ci);
    // The same identity trusted by a second crate: one exchange covers both.
    server.cli_ok(&["trust", "add", "tp-other", "--issuer", &ci.issuer, "--claim", &format!("repository={REPO}")]);
    // The default audience is the host of the public URL (127.0.0.1 here).
    exchange_refused(&http, &ci.jwt(json!({})), "audience");
    let token = exchange_ok(&http, &ci.jwt(json!({ "aud": "127.0.0.1" })));
    for name in ["tp-widget", "tp-other"] {
        let resp = http.request("DELETE", &format!("/api/v1/crates/{name}/0.1.0/yank"), Some(&token), &[], None);
        assert_eq!(resp.status, 200, "{resp}");
    }
    std::thread::sleep(Duration::from_secs(4));
    let resp = http.request("PUT", "/api/v1/crates/tp-widget/0.1.0/unyank", Some(&token), &[], Some(Vec::new()));
    assert_eq!(resp.status, 401, "an expired trusted-publishing token must be refused:\n{resp}");
    assert!(resp.cargo_error_details().contains("expired"), "{resp}");
}

#[test]
fn trust_configurations_are_validated() {
    let ci = FakeCi::start();
    let server = start_server(&ci, &[]);
    server.create_user("alice", true);
    let owner = server.create_token("alice", "alice-token");
    let env = CargoEnv::new(&server, Some(&owner));
    assert!(publish(&env, "tp-widget", "0.1.0").success());
    // No claim rule: every job of the issuer could publish.
    server
        .cli(&["trust", "add", "tp-widget", "--issuer", &ci.issuer])
        .assert_failure()
        .assert_output_contains("at least one");
    server
        .cli(&["trust", "add", "tp-missing", "--issuer", &ci.issuer, "--claim", "repository=a/b"])
        .assert_failure()
        .assert_output_contains("does not exist");
    server
        .cli(&["trust", "add", "tp-widget", "--issuer", &ci.issuer, "--claim", "aud=x"])
        .assert_failure()
        .assert_output_contains("checked by the registry");
    server.cli(&["trust", "list", "tp-missing"]).assert_failure().assert_output_contains("does not exist");
    let added = server.cli(&[
        "trust",
        "add",
        "tp-widget",
        "--github-repository",
        REPO,
        "--workflow",
        "release.yml",
        "--environment",
        "release",
    ]);
    // The CLI warns when the issuer is not allowed by the configuration (here: no configuration).
    added.assert_success().assert_output_contains("not among the allowed trusted-publishing issuers");
    let out = added.stdout.clone();
    assert!(out.contains("https://token.actions.githubusercontent.com"), "{out}");
    assert!(out.contains("job_workflow_ref^=acme/widgets/.github/workflows/release.yml@"), "{out}");
    let out = server.cli_ok(&[
        "trust",
        "add",
        "tp-widget",
        "--gitlab-project",
        "acme/widgets",
        "--workflow",
        ".gitlab-ci.yml",
    ]);
    assert!(out.contains("project_path=acme/widgets"), "{out}");
    assert!(out.contains("ci_config_ref_uri^=gitlab.com/acme/widgets//.gitlab-ci.yml@"), "{out}");
    let json: Value = serde_json::from_str(&server.cli_ok(&["trust", "list", "tp-widget", "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    server.cli(&["trust", "remove", "tp-widget", "0123456789"]).assert_failure();

    // GraphQL: owners (and admins) list, add and remove; other users are refused.
    let http = server.http();
    let bob = server.user_with_token("bob");
    let list = "query { trustConfigs(crate: \"tp-widget\") { id issuer claims { name value prefix } createdBy } }";
    let body = gql(&http, Some(&owner), list, json!({}));
    assert_eq!(body["data"]["trustConfigs"].as_array().unwrap().len(), 2, "{body}");
    common::graphql::assert_code(&gql(&http, Some(&bob), list, json!({})), "FORBIDDEN");
    let add = "mutation($input: AddTrustConfigInput!) { addTrustConfig(crate: \"tp-widget\", input: $input) { id claims { name value prefix } createdBy } }";
    let input = json!({ "input": { "githubRepository": "acme/gadgets", "workflow": "publish.yml" } });
    let body = gql(&http, Some(&owner), add, input.clone());
    let added = &body["data"]["addTrustConfig"];
    assert_eq!(added["createdBy"], "alice", "{body}");
    let claims = added["claims"].as_array().unwrap();
    let workflow = claims.iter().find(|c| c["name"] == "job_workflow_ref").expect("workflow rule");
    assert_eq!(workflow["value"], "acme/gadgets/.github/workflows/publish.yml@");
    assert_eq!(workflow["prefix"], true);
    common::graphql::assert_code(&gql(&http, Some(&bob), add, input), "FORBIDDEN");
    let no_rules = json!({ "input": { "issuer": ci.issuer } });
    common::graphql::assert_code(&gql(&http, Some(&owner), add, no_rules), "BAD_USER_INPUT");
    let id = added["id"].as_str().unwrap();
    let remove = format!("mutation {{ removeTrustConfig(crate: \"tp-widget\", id: \"{id}\") {{ id }} }}");
    common::graphql::assert_code(&gql(&http, Some(&bob), &remove, json!({})), "FORBIDDEN");
    let body = gql(&http, Some(&owner), &remove, json!({}));
    assert_eq!(body["data"]["removeTrustConfig"]["id"], id, "{body}");
    assert!(!server.cli_ok(&["trust", "list", "tp-widget"]).contains(id));
}
