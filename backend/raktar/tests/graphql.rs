//! GraphQL API v1 over HTTP against the real `raktar serve`: every query and mutation, the
//! authorization matrix (anonymous, member, owner, admin, disabled user) with its error codes, the
//! HTTP edge (content type, body limit, GraphiQL switch) and the audit trail of mutations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::graphql::{assert_code, error_codes, gql, gql_ok, post};
use common::publish::{PublishRequest, dependency};
use common::{Http, TestServer};
use serde_json::{Value, json};

/// A server with users `admin` (admin), `alice` (owner of `demo` and `demo-app`), `bob` (member),
/// `carol` (member, no token), and a few downloads.
struct World {
    server: TestServer,
    http: Http,
    admin: String,
    alice: String,
    bob: String,
}

fn publish(http: &Http, token: &str, req: PublishRequest) {
    let resp = http.put_crate(req.body(), Some(token));
    resp.assert_status(200);
}

fn world_with(server: TestServer) -> World {
    server.create_user("admin", true);
    let admin = server.create_token("admin", "admin-token");
    let alice = server.user_with_token("alice");
    let bob = server.user_with_token("bob");
    server.create_user_named("carol", "Carol C.");
    let http = server.http();

    publish(
        &http,
        &alice,
        PublishRequest::new("demo", "1.0.0")
            .field("readme", json!("# Demo 1.0\n"))
            .field("keywords", json!(["demo", "graphql"]))
            .field("categories", json!(["development-tools"]))
            .field("homepage", json!("https://demo.example"))
            .field("repository", json!("https://git.example/demo"))
            .field("documentation", json!("https://docs.example/demo"))
            .field("rust_version", json!("1.70"))
            .field("features", json!({"default": ["extra"], "extra": []})),
    );
    // 1.1.0: a README too large for the version item (read back from the blob store).
    let big_readme = format!("# Demo 1.1\n{}", "All work and no play. ".repeat(2000));
    publish(
        &http,
        &alice,
        PublishRequest::new("demo", "1.1.0")
            .field("readme", json!(big_readme))
            .field("keywords", json!(["demo", "graphql"]))
            .field("description", json!("The demo crate")),
    );
    let mut dev_dep = dependency("demo", "^1.0");
    dev_dep["kind"] = json!("dev");
    dev_dep["target"] = json!("cfg(unix)");
    publish(
        &http,
        &alice,
        PublishRequest::new("demo-app", "0.1.0")
            .dep(dependency("demo", "^1"))
            .dep(dev_dep)
            .field("features", json!({"fancy": []})),
    );
    for (vers, times) in [("1.1.0", 2), ("1.0.0", 1)] {
        let cksum = gql_ok(
            &http,
            Some(&alice),
            "query($v: String!) { crate(name: \"demo\") { version(version: $v) { checksum } } }",
            json!({"v": vers}),
        )["crate"]["version"]["checksum"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = http.download_url(Some(&alice), "demo", vers, &cksum);
        for _ in 0..times {
            http.get(&url, Some(&alice)).assert_status(200);
        }
    }
    World { server, http, admin, alice, bob }
}

fn world() -> World {
    world_with(TestServer::start())
}

const CRATE_PAGE: &str = r#"
query CratePage($name: String!) {
  crate(name: $name) {
    name description keywords categories license maxVersion versionCount createdAt updatedAt
    links { homepage repository documentation }
    owners { id login name email role disabled }
    readme
    downloads { total daily(days: 90) { date downloads } }
    versions {
      version yanked publishedAt checksum size unpackedSize rustVersion downloads description license
      authors keywords categories nativeLibrary
      links { homepage }
      publisher { login }
      features { name enables }
      dependencies { name alias req kind target optional defaultFeatures features registry crate { name } }
      crate { name }
    }
    first: versions(first: 1) { version readme }
    defaultVersion { version }
    version(version: "1.0.0") { version readme }
    missing: version(version: "9.9.9") { version }
    reverseDependencies(first: 10) { totalCount nodes { name } }
  }
}"#;

#[test]
fn crate_page_over_http() {
    let w = world();
    // Any spelling of the normalized name finds the crate.
    let data = gql_ok(&w.http, Some(&w.bob), CRATE_PAGE, json!({"name": "DEMO"}));
    let c = &data["crate"];
    assert_eq!(c["name"], "demo");
    assert_eq!(c["description"], "The demo crate", "crate metadata follows the highest version");
    assert_eq!(c["keywords"], json!(["demo", "graphql"]));
    assert_eq!(c["maxVersion"], "1.1.0");
    assert_eq!(c["versionCount"], 2);
    assert_eq!(c["license"], "MIT");
    assert!(c["createdAt"].as_str().is_some_and(common::is_cargo_pubtime), "{c}");
    assert_eq!(
        c["owners"],
        json!([{"id": 2, "login": "alice", "name": null, "email": null, "role": "MEMBER", "disabled": false}])
    );
    assert!(c["readme"].as_str().unwrap().starts_with("# Demo 1.1\nAll work"), "large README from the blob store");
    assert!(c["readme"].as_str().unwrap().len() > 40_000);
    assert_eq!(c["downloads"]["total"], 3);
    let daily = c["downloads"]["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 90);
    assert_eq!(daily[89]["downloads"], 3, "today is the last day of the series");
    assert!(daily[..89].iter().all(|d| d["downloads"] == 0));

    let versions = c["versions"].as_array().unwrap();
    assert_eq!(versions.iter().map(|v| v["version"].clone()).collect::<Vec<_>>(), [json!("1.1.0"), json!("1.0.0")]);
    let v1 = &versions[1];
    assert_eq!(v1["yanked"], false);
    assert_eq!(v1["downloads"], 1);
    assert_eq!(versions[0]["downloads"], 2);
    assert!(common::is_lower_hex_sha256(v1["checksum"].as_str().unwrap()));
    assert!(v1["size"].as_u64().unwrap() > 0 && v1["unpackedSize"].as_u64().unwrap() > 0);
    assert_eq!(v1["rustVersion"], "1.70");
    assert_eq!(v1["publisher"]["login"], "alice");
    assert_eq!(v1["links"]["homepage"], "https://demo.example");
    assert_eq!(v1["features"], json!([{"name": "default", "enables": ["extra"]}, {"name": "extra", "enables": []}]));
    assert_eq!(v1["crate"]["name"], "demo");
    assert_eq!(c["first"], json!([{"version": "1.1.0", "readme": c["readme"]}]));
    assert_eq!(c["version"], json!({"version": "1.0.0", "readme": "# Demo 1.0\n"}));
    assert!(c["missing"].is_null());
    assert_eq!(c["defaultVersion"]["version"], "1.1.0");
    assert_eq!(c["reverseDependencies"], json!({"totalCount": 1, "nodes": [{"name": "demo-app"}]}));

    // Dependencies with kind, target, optional flag and the local crate they point at.
    let data = gql_ok(&w.http, Some(&w.bob), CRATE_PAGE, json!({"name": "demo_app"}));
    let deps = &data["crate"]["versions"][0]["dependencies"];
    assert_eq!(
        deps,
        &json!([
            {"name": "demo", "alias": null, "req": "^1", "kind": "NORMAL", "target": null, "optional": false,
             "defaultFeatures": true, "features": [], "registry": null, "crate": {"name": "demo"}},
            {"name": "demo", "alias": null, "req": "^1.0", "kind": "DEV", "target": "cfg(unix)", "optional": false,
             "defaultFeatures": true, "features": [], "registry": null, "crate": {"name": "demo"}},
        ])
    );
    assert_eq!(data["crate"]["downloads"]["total"], 0);

    // Unknown crates are null; malformed names are bad input.
    assert!(gql_ok(&w.http, Some(&w.bob), "{ crate(name: \"nope\") { name } }", json!({}))["crate"].is_null());
    assert_code(&gql(&w.http, Some(&w.bob), "{ crate(name: \"no pe\") { name } }", json!({})), "BAD_USER_INPUT");
}

#[test]
fn search_users_and_tokens_queries() {
    let w = world();
    // Search: the same ranking as cargo search (exact name first), cursor paging, totalCount.
    let q = "query($q: String!, $after: String) { crates(query: $q, first: 1, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { name maxVersion description } } } }";
    let page1 = gql_ok(&w.http, Some(&w.bob), q, json!({"q": "demo"}))["crates"].clone();
    assert_eq!(page1["totalCount"], 2);
    assert_eq!(page1["edges"][0]["node"]["name"], "demo");
    assert_eq!(page1["pageInfo"]["hasNextPage"], true);
    assert_eq!(page1["pageInfo"]["hasPreviousPage"], false);
    let after = page1["pageInfo"]["endCursor"].clone();
    let page2 = gql_ok(&w.http, Some(&w.bob), q, json!({"q": "demo", "after": after}))["crates"].clone();
    assert_eq!(page2["edges"][0]["node"]["name"], "demo-app");
    assert_eq!(
        page2["pageInfo"],
        json!({"hasNextPage": false, "hasPreviousPage": true, "endCursor": page2["edges"][0]["cursor"]})
    );
    let cargo_search = w.http.get("/api/v1/crates?q=demo&per_page=10", Some(&w.bob)).json();
    let cargo_names: Vec<Value> =
        cargo_search["crates"].as_array().unwrap().iter().map(|c| c["name"].clone()).collect();
    assert_eq!(cargo_names, [page1["edges"][0]["node"]["name"].clone(), page2["edges"][0]["node"]["name"].clone()]);
    let keyword =
        gql_ok(&w.http, Some(&w.bob), "{ crates(query: \"graphql\") { totalCount nodes { name } } }", json!({}));
    assert_eq!(keyword["crates"], json!({"totalCount": 1, "nodes": [{"name": "demo"}]}));

    // me: own e-mail visible; others' hidden unless admin.
    let me = gql_ok(&w.http, Some(&w.alice), "{ me { login role crates { name } } }", json!({}));
    assert_eq!(
        me["me"],
        json!({"login": "alice", "role": "MEMBER", "crates": [{"name": "demo"}, {"name": "demo-app"}]})
    );
    let admin_me = gql_ok(&w.http, Some(&w.admin), "{ me { login role } }", json!({}));
    assert_eq!(admin_me["me"], json!({"login": "admin", "role": "ADMIN"}));

    // The directory, a page at a time, by login.
    let q = "query($after: String) { users(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { login name } } }";
    let p1 = gql_ok(&w.http, Some(&w.bob), q, json!({}))["users"].clone();
    assert_eq!(p1["nodes"], json!([{"login": "admin", "name": null}, {"login": "alice", "name": null}]));
    assert_eq!(p1["pageInfo"]["hasNextPage"], true);
    let p2 = gql_ok(&w.http, Some(&w.bob), q, json!({"after": p1["pageInfo"]["endCursor"]}))["users"].clone();
    assert_eq!(p2["nodes"], json!([{"login": "bob", "name": null}, {"login": "carol", "name": "Carol C."}]));
    assert_eq!(p2["pageInfo"]["hasNextPage"], false);
    assert_code(
        &gql(&w.http, Some(&w.bob), "{ users(after: \"garbage\") { nodes { login } } }", json!({})),
        "BAD_USER_INPUT",
    );

    // A user with the crates they own; unknown users are null.
    let user =
        gql_ok(&w.http, Some(&w.bob), "{ user(login: \"ALICE\") { login crates { name maxVersion } } }", json!({}));
    assert_eq!(
        user["user"]["crates"],
        json!([{"name": "demo", "maxVersion": "1.1.0"}, {"name": "demo-app", "maxVersion": "0.1.0"}])
    );
    assert!(gql_ok(&w.http, Some(&w.bob), "{ user(login: \"nobody\") { login } }", json!({}))["user"].is_null());

    // My tokens: never the secret.
    let tokens = gql_ok(
        &w.http,
        Some(&w.bob),
        "{ myTokens { name scopes crates hint expired expiresAt createdAt lastUsedAt } }",
        json!({}),
    );
    let t = &tokens["myTokens"][0];
    assert_eq!(t["name"], "bob-token");
    assert_eq!(t["scopes"], json!(["READ", "PUBLISH_NEW", "PUBLISH_UPDATE", "YANK", "CHANGE_OWNERS"]));
    assert!(w.bob.starts_with(t["hint"].as_str().unwrap()));
    assert!(!tokens.to_string().contains(&w.bob), "a token listing must never contain the secret");
}

/// Expected outcome of one operation for one caller: `None` = success, else the error code.
type Expect = Option<&'static str>;
const OK: Expect = None;
const UNAUTH: Expect = Some("UNAUTHENTICATED");
const FORBID: Expect = Some("FORBIDDEN");

#[test]
fn authorization_matrix() {
    let w = world();
    // The disabled user: created by an admin mutation, given a token, then disabled by a mutation.
    let created = gql_ok(
        &w.http,
        Some(&w.admin),
        "mutation { createUser(input: { login: \"Dora\", name: \"Dora D.\", email: \"dora@example.com\" }) { login role disabled email } }",
        json!({}),
    );
    assert_eq!(
        created["createUser"],
        json!({"login": "dora", "role": "MEMBER", "disabled": false, "email": "dora@example.com"})
    );
    let dora = w.server.create_token("dora", "dora-token");
    assert_eq!(gql_ok(&w.http, Some(&dora), "{ me { login } }", json!({}))["me"]["login"], "dora");
    gql_ok(&w.http, Some(&w.admin), "mutation { disableUser(login: \"dora\") { disabled } }", json!({}));

    let callers: [(&str, Option<&str>); 5] = [
        ("anonymous", None),
        ("disabled", Some(&dora)),
        ("member", Some(&w.bob)),
        ("owner", Some(&w.alice)),
        ("admin", Some(&w.admin)),
    ];
    //              operation                                                            anon    disabled member  owner   admin
    let matrix: Vec<(String, [Expect; 5])> = vec![
        ("{ crate(name: \"demo\") { name owners { login } } }".into(), [UNAUTH, UNAUTH, OK, OK, OK]),
        ("{ crates(query: \"demo\") { totalCount } }".into(), [UNAUTH, UNAUTH, OK, OK, OK]),
        ("{ users { nodes { login } } }".into(), [UNAUTH, UNAUTH, OK, OK, OK]),
        ("{ user(login: \"alice\") { login crates { name } } }".into(), [UNAUTH, UNAUTH, OK, OK, OK]),
        ("{ myTokens { name } }".into(), [UNAUTH, UNAUTH, OK, OK, OK]),
        ("{ auditEvents { nodes { action } } }".into(), [UNAUTH, UNAUTH, FORBID, FORBID, OK]),
        // Introspection of a private registry: callers only, like every other read.
        ("{ __schema { queryType { name } } }".into(), [UNAUTH, UNAUTH, OK, OK, OK]),
        ("{ __type(name: \"Crate\") { name } }".into(), [UNAUTH, UNAUTH, OK, OK, OK]),
        (
            "mutation { yankVersion(crate: \"demo\", version: \"1.0.0\") { yanked } }".into(),
            [UNAUTH, UNAUTH, FORBID, OK, OK],
        ),
        (
            "mutation { unyankVersion(crate: \"demo\", version: \"1.0.0\") { yanked } }".into(),
            [UNAUTH, UNAUTH, FORBID, OK, OK],
        ),
        (
            "mutation { addCrateOwners(crate: \"demo\", logins: [\"carol\"]) { name } }".into(),
            [UNAUTH, UNAUTH, FORBID, OK, OK],
        ),
        (
            "mutation { a: addCrateOwners(crate: \"demo\", logins: [\"carol\"]) { name } \
             r: removeCrateOwners(crate: \"demo\", logins: [\"carol\"]) { name } }"
                .into(),
            [UNAUTH, UNAUTH, FORBID, OK, OK],
        ),
        ("mutation { createUser(input: { login: \"erin\" }) { login } }".into(), [UNAUTH, UNAUTH, FORBID, FORBID, OK]),
        (
            "mutation { setUserRole(login: \"erin\", role: ADMIN) { role } }".into(),
            [UNAUTH, UNAUTH, FORBID, FORBID, OK],
        ),
        ("mutation { disableUser(login: \"erin\") { disabled } }".into(), [UNAUTH, UNAUTH, FORBID, FORBID, OK]),
        ("mutation { enableUser(login: \"erin\") { disabled } }".into(), [UNAUTH, UNAUTH, FORBID, FORBID, OK]),
    ];
    let mut failures = Vec::new();
    for (query, expected) in &matrix {
        for ((who, token), want) in callers.iter().zip(expected) {
            let body = gql(&w.http, *token, query, json!({}));
            let codes = error_codes(&body);
            let ok = match want {
                None => codes.is_empty(),
                Some(code) => !codes.is_empty() && codes.iter().all(|c| c == code),
            };
            if !ok {
                failures.push(format!("{who}: {query}\n  expected {want:?}, got {codes:?}: {body}"));
            }
        }
    }
    // Token mutations: every authenticated caller manages their own tokens; nobody else's.
    for (who, token) in callers {
        let name = format!("{who}-extra");
        let create = format!("mutation {{ createToken(input: {{ name: \"{name}\", scopes: [READ] }}) {{ secret }} }}");
        let revoke = format!("mutation {{ revokeToken(name: \"{name}\") {{ name }} }}");
        let want = if matches!(who, "anonymous" | "disabled") { UNAUTH } else { OK };
        for query in [create, revoke] {
            let body = gql(&w.http, token, &query, json!({}));
            let codes = error_codes(&body);
            let ok = match want {
                None => codes.is_empty(),
                Some(code) => codes == [code],
            };
            if !ok {
                failures.push(format!("{who}: {query}\n  expected {want:?}, got {codes:?}: {body}"));
            }
        }
    }
    assert!(failures.is_empty(), "authorization matrix mismatches:\n{}", failures.join("\n"));

    // Anonymous `me` is null, not an error.
    assert!(gql_ok(&w.http, None, "{ me { login } }", json!({}))["me"].is_null());
    // E-mail: self and admins only.
    let email = "{ user(login: \"dora\") { email } }";
    assert_eq!(gql_ok(&w.http, Some(&w.admin), email, json!({}))["user"]["email"], "dora@example.com");
    assert!(gql_ok(&w.http, Some(&w.bob), email, json!({}))["user"]["email"].is_null());
}

#[test]
fn disabled_users_tokens_stop_at_once() {
    let w = world();
    gql_ok(&w.http, Some(&w.admin), "mutation { createUser(input: { login: \"dora\" }) { login } }", json!({}));
    let dora = w.server.create_token("dora", "laptop");
    assert_eq!(gql_ok(&w.http, Some(&dora), "{ me { login } }", json!({}))["me"]["login"], "dora");
    w.http.get("/index/config.json", Some(&dora)).assert_status(200);

    let disabled =
        gql_ok(&w.http, Some(&w.admin), "mutation { disableUser(login: \"dora\") { login disabled } }", json!({}));
    assert_eq!(disabled["disableUser"], json!({"login": "dora", "disabled": true}));
    // The very next request with her token fails, on GraphQL and on the Cargo API.
    let body = gql(&w.http, Some(&dora), "{ me { login } }", json!({}));
    let message = assert_code(&body, "UNAUTHENTICATED");
    assert!(message.contains("disabled"), "{message}");
    w.http.get("/index/config.json", Some(&dora)).assert_status(401);
    assert_code(&gql(&w.http, Some(&dora), "{ crates { totalCount } }", json!({})), "UNAUTHENTICATED");

    // Admins may not disable or demote themselves.
    assert_code(
        &gql(&w.http, Some(&w.admin), "mutation { disableUser(login: \"admin\") { login } }", json!({})),
        "FORBIDDEN",
    );
    assert_code(
        &gql(&w.http, Some(&w.admin), "mutation { setUserRole(login: \"admin\", role: MEMBER) { login } }", json!({})),
        "FORBIDDEN",
    );

    let enabled = gql_ok(&w.http, Some(&w.admin), "mutation { enableUser(login: \"dora\") { disabled } }", json!({}));
    assert_eq!(enabled["enableUser"]["disabled"], false);
    assert_eq!(gql_ok(&w.http, Some(&dora), "{ me { login } }", json!({}))["me"]["login"], "dora");

    // Role changes take effect at once too.
    let promoted =
        gql_ok(&w.http, Some(&w.admin), "mutation { setUserRole(login: \"dora\", role: ADMIN) { role } }", json!({}));
    assert_eq!(promoted["setUserRole"]["role"], "ADMIN");
    gql_ok(&w.http, Some(&dora), "{ auditEvents(first: 1) { nodes { action } } }", json!({}));
    gql_ok(&w.http, Some(&w.admin), "mutation { setUserRole(login: \"dora\", role: MEMBER) { role } }", json!({}));
    assert_code(&gql(&w.http, Some(&dora), "{ auditEvents { nodes { action } } }", json!({})), "FORBIDDEN");

    // Admin actions through a limited admin token are refused.
    let limited = w.server.create_token_with("admin", "admin-readonly", &["--scope", "read"]);
    assert_code(
        &gql(&w.http, Some(&limited), "mutation { disableUser(login: \"dora\") { login } }", json!({})),
        "FORBIDDEN",
    );
    // So are administrator reads: the audit log and other users' e-mail (a limited admin token
    // reads what a member reads). Dora's own token still sees her e-mail.
    let pattern = w.server.create_token_with("admin", "admin-acme", &["--crate", "acme-*"]);
    for token in [&limited, &pattern] {
        assert_code(&gql(&w.http, Some(token), "{ auditEvents { nodes { action } } }", json!({})), "FORBIDDEN");
    }
    gql_ok(
        &w.http,
        Some(&w.admin),
        "mutation { createUser(input: { login: \"erin\", email: \"erin@example.com\" }) { login } }",
        json!({}),
    );
    let email = "{ user(login: \"erin\") { email } }";
    assert_eq!(gql_ok(&w.http, Some(&w.admin), email, json!({}))["user"]["email"], "erin@example.com");
    assert!(gql_ok(&w.http, Some(&limited), email, json!({}))["user"]["email"].is_null());
    assert!(gql_ok(&w.http, Some(&pattern), email, json!({}))["user"]["email"].is_null());
    let erin = w.server.create_token_with("erin", "erin-read", &["--scope", "read"]);
    assert_eq!(gql_ok(&w.http, Some(&erin), email, json!({}))["user"]["email"], "erin@example.com");
    // Unknown users are NOT_FOUND; duplicates CONFLICT; bad logins BAD_USER_INPUT.
    assert_code(
        &gql(&w.http, Some(&w.admin), "mutation { disableUser(login: \"ghost\") { login } }", json!({})),
        "NOT_FOUND",
    );
    assert_code(
        &gql(&w.http, Some(&w.admin), "mutation { createUser(input: { login: \"DORA\" }) { login } }", json!({})),
        "CONFLICT",
    );
    assert_code(
        &gql(&w.http, Some(&w.admin), "mutation { createUser(input: { login: \"-x\" }) { login } }", json!({})),
        "BAD_USER_INPUT",
    );
}

#[test]
fn crate_mutations_and_their_audit_trail() {
    let w = world();
    let yanked = gql_ok(
        &w.http,
        Some(&w.alice),
        "mutation { yankVersion(crate: \"Demo\", version: \"1.1.0\") { version yanked crate { maxVersion } } }",
        json!({}),
    );
    assert_eq!(yanked["yankVersion"], json!({"version": "1.1.0", "yanked": true, "crate": {"maxVersion": "1.0.0"}}));
    // The Cargo API sees the same state (one domain service).
    let lines = w.http.index_lines("demo", Some(&w.alice));
    assert_eq!(lines[1]["yanked"], true);
    let unyanked = gql_ok(
        &w.http,
        Some(&w.alice),
        "mutation { unyankVersion(crate: \"demo\", version: \"1.1.0\") { yanked } }",
        json!({}),
    );
    assert_eq!(unyanked["unyankVersion"]["yanked"], false);
    assert_eq!(w.http.index_lines("demo", Some(&w.alice))[1]["yanked"], false);

    let added = gql_ok(
        &w.http,
        Some(&w.alice),
        "mutation { addCrateOwners(crate: \"demo\", logins: [\"bob\", \"carol\"]) { owners { login } } }",
        json!({}),
    );
    assert_eq!(added["addCrateOwners"]["owners"], json!([{"login": "alice"}, {"login": "bob"}, {"login": "carol"}]));
    // bob is an owner now: he may yank.
    gql_ok(
        &w.http,
        Some(&w.bob),
        "mutation { yankVersion(crate: \"demo\", version: \"1.0.0\") { yanked } }",
        json!({}),
    );
    let removed = gql_ok(
        &w.http,
        Some(&w.bob),
        "mutation { removeCrateOwners(crate: \"demo\", logins: [\"carol\", \"alice\"]) { owners { login } } }",
        json!({}),
    );
    assert_eq!(removed["removeCrateOwners"]["owners"], json!([{"login": "bob"}]));
    let owners = w.http.get("/api/v1/crates/demo/owners", Some(&w.bob)).json();
    assert_eq!(owners["users"].as_array().unwrap().len(), 1, "{owners}");

    // Error codes of crate mutations.
    let cases = [
        ("mutation { yankVersion(crate: \"nope\", version: \"1.0.0\") { yanked } }", "NOT_FOUND"),
        ("mutation { yankVersion(crate: \"demo\", version: \"9.0.0\") { yanked } }", "NOT_FOUND"),
        ("mutation { yankVersion(crate: \"demo\", version: \"one\") { yanked } }", "BAD_USER_INPUT"),
        ("mutation { removeCrateOwners(crate: \"demo\", logins: [\"bob\"]) { name } }", "BAD_USER_INPUT"),
        ("mutation { addCrateOwners(crate: \"demo\", logins: [\"ghost\"]) { name } }", "NOT_FOUND"),
        ("mutation { addCrateOwners(crate: \"demo\", logins: []) { name } }", "BAD_USER_INPUT"),
    ];
    for (query, code) in cases {
        assert_code(&gql(&w.http, Some(&w.bob), query, json!({})), code);
    }
    // alice is no longer an owner.
    assert_code(
        &gql(
            &w.http,
            Some(&w.alice),
            "mutation { yankVersion(crate: \"demo\", version: \"1.1.0\") { yanked } }",
            json!({}),
        ),
        "FORBIDDEN",
    );

    // Every change is in the audit log, newest first, with its actor; paged by cursor.
    let audit = gql_ok(
        &w.http,
        Some(&w.admin),
        "{ auditEvents(first: 100) { pageInfo { hasNextPage } nodes { at actor action crateName version detail { key value } } } }",
        json!({}),
    );
    let events = audit["auditEvents"]["nodes"].as_array().unwrap();
    let actions: Vec<(&str, &str)> =
        events.iter().map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap())).collect();
    for wanted in [
        ("owner-remove", "bob"),
        ("yank", "bob"),
        ("owner-add", "alice"),
        ("unyank", "alice"),
        ("yank", "alice"),
        ("publish", "alice"),
        ("token-create", "cli"),
        ("user-create", "cli"),
    ] {
        assert!(actions.contains(&wanted), "missing audit event {wanted:?} in {actions:?}");
    }
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|p| p[0] >= p[1]), "newest first: {times:?}");
    let owner_remove = events.iter().find(|e| e["action"] == "owner-remove").unwrap();
    assert_eq!(owner_remove["crateName"], "demo");
    assert_eq!(owner_remove["detail"], json!([{"key": "users", "value": "alice,carol"}]));

    // Paging: two at a time until the end, same events in the same order.
    let q = "query($after: String) { auditEvents(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { at action } } }";
    let mut after = Value::Null;
    let mut paged = Vec::new();
    for _ in 0..50 {
        let page = gql_ok(&w.http, Some(&w.admin), q, json!({"after": after}))["auditEvents"].clone();
        paged.extend(page["nodes"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()));
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(paged, events.iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect::<Vec<_>>());
    // A day range in the past is empty; a reversed or oversized range is bad input.
    let past = gql_ok(
        &w.http,
        Some(&w.admin),
        "{ auditEvents(since: \"2020-01-01\", until: \"2020-01-31\") { nodes { action } } }",
        json!({}),
    );
    assert_eq!(past["auditEvents"]["nodes"], json!([]));
    assert_code(
        &gql(
            &w.http,
            Some(&w.admin),
            "{ auditEvents(since: \"2020-02-01\", until: \"2020-01-01\") { nodes { action } } }",
            json!({}),
        ),
        "BAD_USER_INPUT",
    );
    assert_code(
        &gql(
            &w.http,
            Some(&w.admin),
            "{ auditEvents(since: \"2020-01-01\", until: \"2022-01-01\") { nodes { action } } }",
            json!({}),
        ),
        "BAD_USER_INPUT",
    );
}

#[test]
fn token_mutations() {
    let w = world();
    let created = gql_ok(
        &w.http,
        Some(&w.bob),
        "mutation { createToken(input: { name: \"ci\", scopes: [READ, PUBLISH_UPDATE], crates: [\"bob-*\"], expiresInDays: 30 }) {
            secret token { name scopes crates expiresAt expired hint } } }",
        json!({}),
    );
    let secret = created["createToken"]["secret"].as_str().unwrap().to_owned();
    let token = &created["createToken"]["token"];
    assert!(secret.starts_with("rkt_") && secret.starts_with(token["hint"].as_str().unwrap()));
    assert_eq!(token["scopes"], json!(["READ", "PUBLISH_UPDATE"]));
    assert_eq!(token["crates"], json!(["bob-*"]));
    assert_eq!(token["expired"], false);
    assert!(token["expiresAt"].as_str().is_some_and(common::is_cargo_pubtime));
    // The secret works with cargo's API at once, and only with its scopes.
    w.http.get("/index/config.json", Some(&secret)).assert_status(200);
    let listed = gql_ok(&w.http, Some(&secret), "{ myTokens { name } }", json!({}));
    assert_eq!(listed["myTokens"], json!([{"name": "bob-token"}, {"name": "ci"}]));

    // A token cannot mint a more powerful token.
    for (input, why) in [
        ("{ name: \"x1\", scopes: [YANK], crates: [\"bob-*\"], expiresInDays: 1 }", "scope"),
        ("{ name: \"x2\", scopes: [READ], expiresInDays: 1 }", "all crates"),
        ("{ name: \"x3\", scopes: [READ], crates: [\"other\"], expiresInDays: 1 }", "other crates"),
        ("{ name: \"x4\", scopes: [READ], crates: [\"bob-x\"] }", "no expiry"),
        ("{ name: \"x5\", scopes: [READ], crates: [\"bob-x\"], expiresInDays: 60 }", "later expiry"),
    ] {
        let body =
            gql(&w.http, Some(&secret), &format!("mutation {{ createToken(input: {input}) {{ secret }} }}"), json!({}));
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{why}: {body}");
    }
    let narrower = gql_ok(
        &w.http,
        Some(&secret),
        "mutation { createToken(input: { name: \"narrow\", scopes: [READ], crates: [\"bob-core\"], expiresInDays: 7 }) { token { name } } }",
        json!({}),
    );
    assert_eq!(narrower["createToken"]["token"]["name"], "narrow");
    // The limited token may not revoke the more powerful full token, but may revoke itself.
    assert_code(
        &gql(&w.http, Some(&secret), "mutation { revokeToken(name: \"bob-token\") { name } }", json!({})),
        "FORBIDDEN",
    );
    gql_ok(&w.http, Some(&secret), "mutation { revokeToken(name: \"narrow\") { name } }", json!({}));

    // Input errors and conflicts.
    for (input, code) in [
        ("{ name: \"ci\", scopes: [READ] }", "CONFLICT"),
        ("{ name: \"empty\", scopes: [] }", "BAD_USER_INPUT"),
        ("{ name: \"bad/name\", scopes: [READ] }", "BAD_USER_INPUT"),
        ("{ name: \"pattern\", scopes: [READ], crates: [\"a*b\"] }", "BAD_USER_INPUT"),
        ("{ name: \"forever\", scopes: [READ], expiresInDays: 0 }", "BAD_USER_INPUT"),
        ("{ name: \"scope\", scopes: [ADMIN] }", "BAD_USER_INPUT"),
    ] {
        let body =
            gql(&w.http, Some(&w.bob), &format!("mutation {{ createToken(input: {input}) {{ secret }} }}"), json!({}));
        assert_code(&body, code);
    }

    // Revocation takes effect at once.
    let revoked = gql_ok(&w.http, Some(&w.bob), "mutation { revokeToken(name: \"ci\") { name } }", json!({}));
    assert_eq!(revoked["revokeToken"]["name"], "ci");
    w.http.get("/index/config.json", Some(&secret)).assert_status(401);
    assert_code(&gql(&w.http, Some(&secret), "{ me { login } }", json!({})), "UNAUTHENTICATED");
    assert_code(&gql(&w.http, Some(&w.bob), "mutation { revokeToken(name: \"ci\") { name } }", json!({})), "NOT_FOUND");
    // Tokens are per user: bob cannot revoke alice's token by name.
    assert_code(
        &gql(&w.http, Some(&w.bob), "mutation { revokeToken(name: \"alice-token\") { name } }", json!({})),
        "NOT_FOUND",
    );
    w.http.get("/index/config.json", Some(&w.alice)).assert_status(200);

    let audit = gql_ok(
        &w.http,
        Some(&w.admin),
        "{ auditEvents(first: 200) { nodes { action actor detail { key value } } } }",
        json!({}),
    );
    let events = audit["auditEvents"]["nodes"].as_array().unwrap();
    assert!(events.iter().any(|e| e["action"] == "token-create" && e["actor"] == "bob"), "{audit}");
    assert!(events.iter().any(|e| e["action"] == "token-revoke" && e["actor"] == "bob"), "{audit}");
}

#[test]
fn public_read_mode_serves_anonymous_queries_only() {
    let w = world_with(TestServer::start_public_read());
    let data = gql_ok(
        &w.http,
        None,
        "{ crate(name: \"demo\") { name owners { login email } versions { version } } crates { totalCount } }",
        json!({}),
    );
    assert_eq!(data["crate"]["owners"], json!([{"login": "alice", "email": null}]));
    assert_eq!(data["crates"]["totalCount"], 2);
    assert_code(
        &gql(&w.http, None, "mutation { yankVersion(crate: \"demo\", version: \"1.0.0\") { yanked } }", json!({})),
        "UNAUTHENTICATED",
    );
    assert_code(&gql(&w.http, None, "{ myTokens { name } }", json!({})), "UNAUTHENTICATED");
    assert_code(&gql(&w.http, None, "{ auditEvents { nodes { action } } }", json!({})), "UNAUTHENTICATED");
    // Introspection is as public as the reads.
    let data = gql_ok(&w.http, None, "{ __schema { queryType { name } } }", json!({}));
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    // Partial answers: a public field and a private one in one query.
    let body = gql(&w.http, None, "{ crates { totalCount } myTokens { name } }", json!({}));
    assert_eq!(body["data"]["crates"]["totalCount"], 2, "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(body["errors"][0]["path"], json!(["myTokens"]));
}

#[test]
fn http_edge() {
    let w = world();
    // Invalid credentials: a GraphQL error, not the Cargo error shape.
    let body = gql(&w.http, Some("rkt_not-a-real-token"), "{ me { login } }", json!({}));
    assert_code(&body, "UNAUTHENTICATED");
    assert!(body["data"].is_null());
    // JSON only.
    let resp = w.http.request(
        "POST",
        "/graphql",
        Some(&w.bob),
        &[("content-type", "text/plain")],
        Some(b"{ me { login } }".to_vec()),
    );
    assert_eq!(resp.status, 415, "{resp}");
    assert_code(&resp.json(), "BAD_USER_INPUT");
    let resp = w.http.request(
        "POST",
        "/graphql",
        Some(&w.bob),
        &[("content-type", "application/json")],
        Some(b"{ me".to_vec()),
    );
    assert_eq!(resp.status, 400, "{resp}");
    assert_code(&resp.json(), "BAD_USER_INPUT");
    // Bodies are bounded.
    let huge = format!("{{ {} }}", "me { login } ".repeat(10_000));
    let resp = post(&w.http, Some(&w.bob), &huge, json!({}));
    assert_eq!(resp.status, 413, "{resp}");
    assert_code(&resp.json(), "BAD_USER_INPUT");
    // Abusive queries are refused with a clear message (a path without lists: lists multiply the
    // complexity, and a list in a list in a list is refused as too complex first).
    let mut deep = String::from("name");
    for _ in 0..7 {
        deep = format!("defaultVersion {{ crate {{ {deep} }} }}");
    }
    let message = assert_code(
        &gql(&w.http, Some(&w.bob), &format!("{{ crate(name: \"demo\") {{ {deep} }} }}"), json!({})),
        "BAD_USER_INPUT",
    );
    assert!(message.contains("too deep"), "{message}");
    // Response amplification: a thousand aliases of a README are refused before they run, with a
    // small answer; a few fit.
    let aliased: String = (0..1000).map(|i| format!("a{i}: crate(name: \"demo\") {{ readme }} ")).collect();
    let resp = post(&w.http, Some(&w.bob), &format!("{{ {aliased} }}"), json!({}));
    assert_eq!(resp.status, 200, "{resp}");
    assert!(resp.text().len() < 1000, "{resp}");
    let message = assert_code(&resp.json(), "BAD_USER_INPUT");
    assert!(message.contains("root fields"), "{message}");
    let data = gql_ok(&w.http, Some(&w.bob), "{ crate(name: \"demo\") { a: readme b: readme } }", json!({}));
    assert_eq!(data["crate"]["a"], data["crate"]["b"]);
    // GraphiQL is off unless configured.
    let resp = w.http.get("/graphql", None);
    assert_eq!(resp.status, 404, "{resp}");
    drop(w);

    let server = TestServer::start_with_args(&["--graphiql"]);
    let resp = server.http().get("/graphql", None);
    assert_eq!(resp.status, 200, "{resp}");
    assert!(resp.text().contains("graphiql"), "{resp}");
    assert!(resp.text().contains("/graphql"), "{resp}");
}
