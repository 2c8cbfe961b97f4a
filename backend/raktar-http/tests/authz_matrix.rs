//! The authorization matrix as one table: every cargo endpoint and every GraphQL mutation, called
//! by every kind of caller (no token, a read-only token, a token limited to other crates, a
//! non-owner, a revoked token, an expired token, a disabled user, the owner, an administrator),
//! through the router in process (`common::App`: the real routes, authentication and services over
//! in-memory stores) in private mode.
//!
//! The table must cover the API: [`table_covers_every_endpoint_and_mutation`] reads the cargo routes
//! from the router's source and the mutations from the committed schema, so a new endpoint or
//! mutation fails this suite until it is added to the table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{App, Reply};
use raktar_core::domain::{Login, Scope};
use raktar_core::services::trustpub::{MAX_TOKEN_LIFETIME_SECS, TrustPolicy};
use raktar_core::services::upstream::{UncheckedNames, Upstream, UpstreamSettings};
use raktar_core::testkit::app::TestRegistry;
use raktar_core::testkit::fixtures::PublishRequest;
use raktar_core::testkit::wire::graphql_error_codes as error_codes;
use raktar_core::{Registry, RegistryConfig};
use raktar_http::trustpub::TrustedPublishing;
use raktar_http::upstream::HttpUpstream;
use serde_json::{Value, json};

/// The callers, in column order.
const CALLERS: [&str; 9] =
    ["anonymous", "read", "pattern", "non-owner", "revoked", "expired", "disabled", "owner", "admin"];

/// What one call must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Success (cargo: 2xx; GraphQL: no errors).
    Ok,
    /// Cargo: this status with a cargo error body. GraphQL: not used.
    Status(u16),
    /// GraphQL: every error carries this `extensions.code`.
    Code(&'static str),
}

use Want::{Code, Ok as OK, Status};

const C401: Want = Status(401);
const C403: Want = Status(403);
const UNAUTH: Want = Code("UNAUTHENTICATED");
const FORBID: Want = Code("FORBIDDEN");

/// One request to make: built fresh for every caller (`n` is unique per call).
enum Call {
    Cargo { method: &'static str, path: String, body: Option<Vec<u8>> },
    Graphql(String),
}

/// What a row runs (as the admin) before each call, to put the state the call needs back in place.
type Setup = for<'a> fn(&'a World) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One row of the table.
struct Row {
    /// `METHOD /path` of the cargo route (as written in the router) or `mutation NAME`.
    covers: &'static str,
    build: fn(usize) -> Call,
    /// Run before each call (as the admin), to put the state the call needs back in place.
    setup: Option<Setup>,
    want: [Want; 9],
}

struct World {
    app: App,
    admin: String,
    /// Tokens by caller, in [`CALLERS`] order (`None` for anonymous).
    tokens: Vec<Option<String>>,
    counter: AtomicUsize,
}

impl World {
    fn admin(&self) -> Option<&str> {
        Some(&self.admin)
    }

    async fn gql_admin(&self, query: &str) {
        let body = self.app.graphql(self.admin(), query).await.json();
        assert!(error_codes(&body).is_empty(), "setup `{query}` failed: {body}");
    }
}

/// Puts the reservation of `held-name` (back) in place for the `releaseName` row.
fn reserve_held_name(w: &World) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let _ = w.app.graphql(w.admin(), "mutation { releaseName(name: \"held-name\") }").await;
        w.gql_admin("mutation { reserveName(name: \"held-name\") { name } }").await;
    })
}

fn owners_body(logins: &[&str]) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&json!({ "users": logins })).unwrap())
}

/// The id of the trust configuration the `removeTrustConfig` row's setup added last.
static TRUST_ID: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Adds a trust configuration to `demo` as the admin; remembers its id in [`TRUST_ID`].
fn add_trust_config(w: &World) -> Pin<Box<dyn Future<Output = ()> + '_>> {
    Box::pin(async move {
        let n = w.counter.load(Ordering::Relaxed);
        let query = format!(
            "mutation {{ addTrustConfig(crate: \"demo\", input: {{ issuer: \"https://ci.example\", \
             claims: [{{ name: \"repository\", value: \"acme/setup-{n}\" }}] }}) {{ id }} }}"
        );
        let body = w.app.graphql(w.admin(), &query).await.json();
        let id = body["data"]["addTrustConfig"]["id"].as_str().unwrap_or_else(|| panic!("setup failed: {body}"));
        *TRUST_ID.lock().unwrap() = id.to_owned();
    })
}

async fn world() -> World {
    // Trusted publishing enabled (an issuer that is never contacted: no row sends a valid JWT), and
    // an upstream that is never reached (the pull-through rows ask for the private `demo`, which is
    // served without the upstream; new names are allowed unchecked so the setup can publish).
    let upstream = |registry: Registry| {
        let source = HttpUpstream::new("http://127.0.0.1:9/index/").unwrap();
        let settings = UpstreamSettings { unchecked_names: UncheckedNames::Allow, ..UpstreamSettings::default() };
        registry.with_upstream(Upstream::new(Arc::new(source), settings))
    };
    let policy =
        TrustPolicy { issuers: vec!["https://ci.example".into()], token_lifetime_secs: MAX_TOKEN_LIFETIME_SECS };
    let trustpub = TrustedPublishing::new(policy, "127.0.0.1".into()).unwrap();
    let mut app = App::with(TestRegistry::build(RegistryConfig::default(), upstream), |state| {
        state.with_trusted_publishing(Some(trustpub))
    });
    let test = &mut app.test;
    test.add_admin("admin").await;
    for login in ["alice", "bob", "carol", "erin", "dora"] {
        test.add_user(login).await;
    }
    let admin = test.mint("admin", &[], &[]).await.secret;
    let alice = test.mint("alice", &[], &[]).await.secret;
    let bob = test.mint("bob", &[], &[]).await.secret;
    let read = test.mint("alice", &[Scope::Read], &[]).await.secret;
    let pattern = test.mint("alice", &[], &["other-*"]).await.secret;
    let revoked = test.mint("alice", &[], &[]).await;
    let expired = test.mint("alice", &[], &[]).await;
    let dora = test.mint("dora", &[], &[]).await.secret;

    // `demo` (owned by alice and dora), `1.0.0` downloadable.
    let first = PublishRequest::new("demo", "1.0.0");
    app.put_crate(first.body(), Some(&alice)).await.assert_status(200);
    let resp = app
        .call(
            "PUT",
            "/api/v1/crates/demo/owners",
            Some(&alice),
            &[("content-type", "application/json")],
            owners_body(&["dora"]),
        )
        .await;
    resp.assert_status(200);
    // Every token works before it is revoked, expires or its user is disabled.
    for token in [&read, &pattern, &revoked.secret, &expired.secret, &dora] {
        app.call("GET", "/index/config.json", Some(token), &[], None).await.assert_status(200);
    }
    app.test.revoke("alice", &revoked).await;
    app.test.expire(&expired).await;
    let admin_principal = app.test.registry.authenticate(Some(&admin)).await.unwrap();
    app.test.registry.set_user_disabled(admin_principal.as_ref(), &Login::parse("dora").unwrap(), true).await.unwrap();

    let tokens = vec![
        None,
        Some(read),
        Some(pattern),
        Some(bob),
        Some(revoked.secret),
        Some(expired.secret),
        Some(dora),
        Some(alice),
        Some(admin.clone()),
    ];
    World { app, admin, tokens, counter: AtomicUsize::new(0) }
}

/// The download URL of `demo 1.0.0` by checksum.
fn checksum_path() -> String {
    let cksum = PublishRequest::new("demo", "1.0.0").cksum();
    format!("/api/v1/dl/demo/1.0.0/{cksum}")
}

fn cargo(method: &'static str, path: impl Into<String>, body: Option<Vec<u8>>) -> Call {
    Call::Cargo { method, path: path.into(), body }
}

fn table() -> Vec<Row> {
    // Reads: every valid token of an enabled user may read (scopes and crate patterns limit writes).
    let read_ok = [C401, OK, OK, OK, C401, C401, C401, OK, OK];
    // Writes on `demo` (owners and admins, with the right scope and a matching crate pattern).
    let owner_write = [C401, C403, C403, C403, C401, C401, C401, OK, OK];
    let gql_owner_write = [UNAUTH, FORBID, FORBID, FORBID, UNAUTH, UNAUTH, UNAUTH, OK, OK];
    let gql_admin_only = [UNAUTH, FORBID, FORBID, FORBID, UNAUTH, UNAUTH, UNAUTH, FORBID, OK];
    let gql_own_tokens = [UNAUTH, OK, OK, OK, UNAUTH, UNAUTH, UNAUTH, OK, OK];
    // The caller's own password and web sessions: a web session only, never a cargo token.
    let gql_session_only = [UNAUTH, FORBID, FORBID, FORBID, UNAUTH, UNAUTH, UNAUTH, FORBID, FORBID];
    vec![
        Row {
            covers: "GET /index/config.json",
            build: (|_| cargo("GET", "/index/config.json", None)),
            setup: None,
            want: read_ok,
        },
        Row {
            covers: "GET /index/{*path}",
            build: (|_| cargo("GET", "/index/de/mo/demo", None)),
            setup: None,
            want: read_ok,
        },
        Row {
            covers: "GET /api/v1/crates",
            build: (|_| cargo("GET", "/api/v1/crates?q=demo&per_page=5", None)),
            setup: None,
            want: read_ok,
        },
        Row {
            covers: "GET /api/v1/crates/{name}/owners",
            build: (|_| cargo("GET", "/api/v1/crates/demo/owners", None)),
            setup: None,
            want: read_ok,
        },
        Row {
            covers: "GET /api/v1/crates/{name}/{version}/download",
            build: (|_| cargo("GET", "/api/v1/crates/demo/1.0.0/download", None)),
            setup: None,
            want: read_ok,
        },
        Row {
            covers: "GET /upstream/index/config.json",
            build: (|_| cargo("GET", "/upstream/index/config.json", None)),
            setup: None,
            want: read_ok,
        },
        Row {
            covers: "GET /upstream/index/{*path}",
            build: (|_| cargo("GET", "/upstream/index/de/mo/demo", None)),
            setup: None,
            want: read_ok,
        },
        Row {
            covers: "GET /upstream/crates/{name}/{version}/download",
            build: (|_| cargo("GET", "/upstream/crates/demo/1.0.0/download", None)),
            setup: None,
            want: read_ok,
        },
        Row {
            covers: "GET /api/v1/dl/{name}/{version}/{cksum}",
            build: (|_| cargo("GET", checksum_path(), None)),
            setup: None,
            want: read_ok,
        },
        Row { covers: "GET /health", build: (|_| cargo("GET", "/health", None)), setup: None, want: [OK; 9] },
        Row {
            covers: "PUT /api/v1/crates/new",
            // A new version of an existing crate: publish-update scope, ownership.
            build: (|n| {
                cargo("PUT", "/api/v1/crates/new", Some(PublishRequest::new("demo", &format!("1.1.{n}")).body()))
            }),
            setup: None,
            want: owner_write,
        },
        Row {
            covers: "PUT /api/v1/crates/new",
            // A new crate: publish-new scope and a matching crate pattern; anyone enabled may.
            build: (|n| {
                cargo("PUT", "/api/v1/crates/new", Some(PublishRequest::new(&format!("fresh-{n}"), "0.1.0").body()))
            }),
            setup: None,
            want: [C401, C403, C403, OK, C401, C401, C401, OK, OK],
        },
        Row {
            covers: "DELETE /api/v1/crates/{name}/{version}/yank",
            build: (|_| cargo("DELETE", "/api/v1/crates/demo/1.0.0/yank", None)),
            setup: None,
            want: owner_write,
        },
        Row {
            covers: "PUT /api/v1/crates/{name}/{version}/unyank",
            build: (|_| cargo("PUT", "/api/v1/crates/demo/1.0.0/unyank", None)),
            setup: None,
            want: owner_write,
        },
        Row {
            covers: "PUT /api/v1/crates/{name}/owners",
            build: (|_| cargo("PUT", "/api/v1/crates/demo/owners", owners_body(&["carol"]))),
            setup: None,
            want: owner_write,
        },
        Row {
            covers: "DELETE /api/v1/crates/{name}/owners",
            build: (|_| cargo("DELETE", "/api/v1/crates/demo/owners", owners_body(&["carol"]))),
            setup: Some(|w| {
                Box::pin(w.gql_admin("mutation { addCrateOwners(crate: \"demo\", logins: [\"carol\"]) { name } }"))
            }),
            want: owner_write,
        },
        Row {
            // The exchange authenticates by the CI's ID token only: the caller's token changes
            // nothing, and an ID token that does not verify is refused for everyone.
            covers: "POST /api/v1/trusted_publishing/tokens",
            build: (|_| cargo("POST", "/api/v1/trusted_publishing/tokens", Some(br#"{"jwt":"not-a-jwt"}"#.to_vec()))),
            setup: None,
            want: [Status(400); 9],
        },
        Row {
            // Revocation takes the trusted-publishing token itself: account tokens are refused
            // (400), unknown ones get the 401 challenge.
            covers: "DELETE /api/v1/trusted_publishing/tokens",
            build: (|_| cargo("DELETE", "/api/v1/trusted_publishing/tokens", None)),
            setup: None,
            want: [
                C401,
                Status(400),
                Status(400),
                Status(400),
                C401,
                Status(400),
                Status(400),
                Status(400),
                Status(400),
            ],
        },
        Row {
            covers: "mutation addTrustConfig",
            build: (|n| {
                Call::Graphql(format!(
                    "mutation {{ addTrustConfig(crate: \"demo\", input: {{ issuer: \"https://ci.example\", \
                     claims: [{{ name: \"repository\", value: \"acme/r-{n}\" }}] }}) {{ id }} }}"
                ))
            }),
            setup: None,
            want: gql_owner_write,
        },
        Row {
            covers: "mutation removeTrustConfig",
            build: (|_| {
                let id = TRUST_ID.lock().unwrap().clone();
                Call::Graphql(format!("mutation {{ removeTrustConfig(crate: \"demo\", id: \"{id}\") {{ id }} }}"))
            }),
            setup: Some(add_trust_config),
            want: gql_owner_write,
        },
        Row {
            covers: "mutation yankVersion",
            build: (|_| {
                Call::Graphql("mutation { yankVersion(crate: \"demo\", version: \"1.0.0\") { yanked } }".into())
            }),
            setup: None,
            want: gql_owner_write,
        },
        Row {
            covers: "mutation unyankVersion",
            build: (|_| {
                Call::Graphql("mutation { unyankVersion(crate: \"demo\", version: \"1.0.0\") { yanked } }".into())
            }),
            setup: None,
            want: gql_owner_write,
        },
        Row {
            covers: "mutation addCrateOwners",
            build: (|_| {
                Call::Graphql("mutation { addCrateOwners(crate: \"demo\", logins: [\"carol\"]) { name } }".into())
            }),
            setup: None,
            want: gql_owner_write,
        },
        Row {
            covers: "mutation removeCrateOwners",
            build: (|_| {
                Call::Graphql("mutation { removeCrateOwners(crate: \"demo\", logins: [\"carol\"]) { name } }".into())
            }),
            setup: Some(|w| {
                Box::pin(w.gql_admin("mutation { addCrateOwners(crate: \"demo\", logins: [\"carol\"]) { name } }"))
            }),
            want: gql_owner_write,
        },
        Row {
            covers: "mutation reserveName",
            build: (|n| Call::Graphql(format!("mutation {{ reserveName(name: \"reserved-{n}\") {{ name }} }}"))),
            setup: None,
            want: gql_admin_only,
        },
        Row {
            covers: "mutation releaseName",
            build: (|_| Call::Graphql("mutation { releaseName(name: \"held-name\") }".into())),
            setup: Some(reserve_held_name),
            want: gql_admin_only,
        },
        Row {
            covers: "mutation purgeUpstreamCache",
            build: (|_| Call::Graphql("mutation { purgeUpstreamCache(name: \"serde\") { crateFiles } }".into())),
            setup: None,
            want: gql_admin_only,
        },
        Row {
            covers: "mutation createUser",
            build: (|n| {
                Call::Graphql(format!("mutation {{ createUser(input: {{ login: \"new-user-{n}\" }}) {{ login }} }}"))
            }),
            setup: None,
            want: gql_admin_only,
        },
        Row {
            covers: "mutation setUserRole",
            build: (|_| Call::Graphql("mutation { setUserRole(login: \"erin\", role: MEMBER) { role } }".into())),
            setup: None,
            want: gql_admin_only,
        },
        Row {
            covers: "mutation disableUser",
            build: (|_| Call::Graphql("mutation { disableUser(login: \"erin\") { disabled } }".into())),
            setup: Some(|w| Box::pin(w.gql_admin("mutation { enableUser(login: \"erin\") { disabled } }"))),
            want: gql_admin_only,
        },
        Row {
            covers: "mutation enableUser",
            build: (|_| Call::Graphql("mutation { enableUser(login: \"erin\") { disabled } }".into())),
            setup: Some(|w| Box::pin(w.gql_admin("mutation { disableUser(login: \"erin\") { disabled } }"))),
            want: gql_admin_only,
        },
        Row {
            covers: "mutation linkIdentity",
            build: |n| {
                Call::Graphql(format!(
                    "mutation {{ linkIdentity(issuer: \"https://idp.example\", login: \"erin\", subject: \"sub-{n}\") {{ login }} }}"
                ))
            },
            setup: None,
            want: gql_admin_only,
        },
        Row {
            covers: "mutation unlinkIdentity",
            build: |n| {
                Call::Graphql(format!(
                    "mutation {{ unlinkIdentity(issuer: \"https://idp.example\", login: \"erin\", subject: \"sub-{n}\") {{ login }} }}"
                ))
            },
            // Links the identity the call (numbered `n`, the next counter value) will unlink.
            setup: Some(|w| {
                Box::pin(async move {
                    let n = w.counter.load(Ordering::Relaxed);
                    w.gql_admin(&format!(
                        "mutation {{ linkIdentity(issuer: \"https://idp.example\", login: \"erin\", subject: \"sub-{n}\") {{ login }} }}"
                    ))
                    .await;
                })
            }),
            want: gql_admin_only,
        },
        Row {
            covers: "mutation createToken",
            // Own tokens: every enabled caller. The new token is no more than any caller holds (READ,
            // limited to the crate pattern of the `pattern` caller's token).
            build: (|n| {
                Call::Graphql(format!(
                    "mutation {{ createToken(input: {{ name: \"minted-{n}\", scopes: [READ], crates: [\"other-*\"] }}) {{ secret }} }}"
                ))
            }),
            setup: None,
            want: gql_own_tokens,
        },
        Row {
            covers: "mutation revokeToken",
            build: (|n| {
                Call::Graphql(format!(
                    "mutation {{ c: createToken(input: {{ name: \"gone-{n}\", scopes: [READ], crates: [\"other-*\"] }}) {{ secret }} \
                     r: revokeToken(name: \"gone-{n}\") {{ name }} }}"
                ))
            }),
            setup: None,
            want: gql_own_tokens,
        },
        Row {
            covers: "mutation resetUserPassword",
            build: (|_| Call::Graphql("mutation { resetUserPassword(login: \"erin\") { temporaryPassword } }".into())),
            setup: None,
            want: gql_admin_only,
        },
        Row {
            covers: "mutation revokeUserSessions",
            build: (|_| Call::Graphql("mutation { revokeUserSessions(login: \"erin\") { login } }".into())),
            setup: None,
            want: gql_admin_only,
        },
        Row {
            covers: "mutation changePassword",
            build: (|_| {
                Call::Graphql(
                    "mutation { changePassword(current: \"old password here\", new: \"a new password here\") }".into(),
                )
            }),
            setup: None,
            want: gql_session_only,
        },
        Row {
            covers: "mutation revokeSession",
            build: (|_| Call::Graphql("mutation { revokeSession(id: \"session:00\") { id } }".into())),
            setup: None,
            want: gql_session_only,
        },
        Row {
            covers: "mutation signOutEverywhere",
            build: (|_| Call::Graphql("mutation { signOutEverywhere }".into())),
            setup: None,
            want: gql_session_only,
        },
    ]
}

/// Which outcome a response is, in the table's terms.
fn outcome(call: &Call, resp: &Reply) -> Result<Want, String> {
    match call {
        Call::Cargo { .. } => {
            if (200..300).contains(&resp.status) {
                let is_error =
                    serde_json::from_slice::<Value>(&resp.body).ok().is_some_and(|v| v.get("errors").is_some());
                return if is_error { Err(format!("2xx with an error body: {resp}")) } else { Ok(OK) };
            }
            let json: Value =
                serde_json::from_slice(&resp.body).map_err(|_| format!("error without a JSON body: {resp}"))?;
            let detail = json["errors"][0]["detail"].as_str().unwrap_or_default();
            if detail.is_empty() {
                return Err(format!("error without `errors[].detail`: {resp}"));
            }
            if resp.status == 401 && resp.header("www-authenticate").is_none_or(|h| !h.starts_with("Cargo login_url="))
            {
                return Err(format!("401 without the cargo login challenge: {resp}"));
            }
            Ok(Status(resp.status))
        }
        Call::Graphql(_) => {
            let body = resp.json();
            let codes = error_codes(&body);
            match codes.first() {
                None => Ok(OK),
                Some(first) if codes.iter().all(|c| c == first) => Ok(Code(Box::leak(first.clone().into_boxed_str()))),
                Some(_) => Err(format!("mixed error codes {codes:?}: {body}")),
            }
        }
    }
}

#[tokio::test]
async fn every_endpoint_and_mutation_for_every_caller() {
    let w = world().await;
    let started = std::time::Instant::now();
    let mut calls = 0;
    let mut failures = Vec::new();
    for row in table() {
        for (i, who) in CALLERS.iter().enumerate() {
            if let Some(setup) = &row.setup {
                setup(&w).await;
            }
            calls += 1;
            let n = w.counter.fetch_add(1, Ordering::Relaxed);
            let call = (row.build)(n);
            let token = w.tokens[i].as_deref();
            let resp = match &call {
                Call::Cargo { method, path, body } => {
                    let mut headers = vec![("accept", "application/json")];
                    if *method != "GET" && path.contains("owners") {
                        headers.push(("content-type", "application/json"));
                    }
                    w.app.call(method, path, token, &headers, body.clone()).await
                }
                Call::Graphql(query) => w.app.graphql(token, query).await,
            };
            match outcome(&call, &resp) {
                Ok(got) if got == row.want[i] => {}
                Ok(got) => {
                    failures.push(format!("{} as {who}: expected {:?}, got {got:?}\n{resp}", row.covers, row.want[i]))
                }
                Err(e) => failures.push(format!("{} as {who}: {e}", row.covers)),
            }
        }
    }
    eprintln!("{calls} calls in {:?}", started.elapsed());
    assert!(failures.is_empty(), "{} authorization mismatches:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// The cargo routes as written in the router (`.route("/path", get(..).put(..))`).
fn cargo_routes() -> BTreeSet<String> {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/cargo/mod.rs")).unwrap();
    let mut routes = BTreeSet::new();
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix(".route(\"") else { continue };
        let Some((path, methods)) = rest.split_once('"') else { continue };
        for method in ["get", "put", "post", "delete", "patch"] {
            if methods.contains(&format!("{method}(")) {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

/// The mutation names in the committed schema.
fn schema_mutations() -> BTreeSet<String> {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema/raktar.v1.graphql")).unwrap();
    let body = sdl.split("type Mutation {").nth(1).expect("the schema has a Mutation type");
    let body = &body[..body.find("\n}").expect("end of the Mutation type")];
    let mut in_doc = false;
    let mut names = BTreeSet::new();
    for line in body.lines().map(str::trim) {
        if line.starts_with("\"\"\"") {
            // A one-line description opens and closes on the same line.
            if !(line.len() > 3 && line.ends_with("\"\"\"")) {
                in_doc = !in_doc;
            }
            continue;
        }
        if in_doc || line.is_empty() {
            continue;
        }
        let name: String = line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            names.insert(format!("mutation {name}"));
        }
    }
    names
}

#[test]
fn table_covers_every_endpoint_and_mutation() {
    let covered: BTreeSet<String> = table().iter().map(|r| r.covers.to_owned()).collect();
    let routes = cargo_routes();
    assert!(routes.len() >= 10, "the route scan found too few routes: {routes:?}");
    let mutations = schema_mutations();
    assert!(mutations.len() >= 10, "the schema scan found too few mutations: {mutations:?}");
    let missing: Vec<&String> = routes.iter().chain(&mutations).filter(|r| !covered.contains(*r)).collect();
    assert!(missing.is_empty(), "add these to the authorization matrix: {missing:?}");
    let stale: Vec<&String> = covered.iter().filter(|c| !routes.contains(*c) && !mutations.contains(*c)).collect();
    assert!(stale.is_empty(), "the matrix lists endpoints that no longer exist: {stale:?}");
}
