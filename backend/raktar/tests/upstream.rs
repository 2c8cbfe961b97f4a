//! The pull-through cache of an upstream registry and the dependency-confusion guard, with the
//! real cargo against servers on loopback.
//!
//! The fake upstream is a second `raktar serve --public-read` (always on the embedded home) loaded
//! with the crates of `fixtures/mirror/` as a crates-io mirror; the registry under test follows
//! `RAKTAR_TEST_HOME` (embedded, or DynamoDB + S3 on moto) and is started with
//! `--upstream-sparse` pointing at it.
//!
//! - `pull_through_builds_offline_and_refuses_tampered_crates`: a real project resolves and builds
//!   through the cache from an empty cargo home; a tampered upstream `.crate` is refused and never
//!   stored; the upstream is stopped and the project builds again from another empty cargo home
//!   (stale index files, cached crates); an uncached name gets a clear error; the admin figures,
//!   the audit events and the purge.
//! - `guard_refuses_upstream_names_unless_reserved`: publishing a new name that exists upstream
//!   (any `-`/`_` spelling) is refused; reserved, it is accepted, and a build through the
//!   pull-through index resolves the private crate; reservations in GraphQL; an unreachable
//!   upstream refuses new names by default and allows them (audited) when configured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::graphql::{assert_code, gql, gql_ok};
use common::mirror::load_mirror;
use common::*;
use serde_json::json;

/// The registry name of the pull-through index in the cargo configurations below.
const UPSTREAM_REGISTRY: &str = "raktar-upstream";

/// The fake upstream: a public-read Raktar holding the mirror fixtures.
fn fake_upstream() -> TestServer {
    let upstream = TestServer::start_embedded_with_args(&["--public-read"]);
    load_mirror(&upstream);
    upstream
}

/// `http://.../index/` of a server (what `--upstream-sparse` takes).
fn sparse_url(server: &TestServer) -> String {
    format!("{}/index/", server.url)
}

/// A cargo home whose crates-io is replaced by the registry's pull-through index (with `token`).
fn cargo_through_cache(registry: &TestServer, token: &str) -> CargoEnv {
    let env = CargoEnv::new(registry, Some(token));
    let config = format!(
        "[source.crates-io]\nreplace-with = \"{UPSTREAM_REGISTRY}\"\n\n\
         [registries.{UPSTREAM_REGISTRY}]\nindex = \"sparse+{}/upstream/index/\"\n\n\
         [registries.{REGISTRY}]\nindex = \"{}\"\n\n\
         [registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n[net]\ngit-fetch-with-cli = false\n",
        registry.url,
        registry.index_url()
    );
    std::fs::write(env.home().join("config.toml"), config).unwrap();
    std::fs::write(
        env.home().join("credentials.toml"),
        format!(
            "[registries.{UPSTREAM_REGISTRY}]\ntoken = \"{token}\"\n\n[registries.{REGISTRY}]\ntoken = \"{token}\"\n"
        ),
    )
    .unwrap();
    env
}

/// Builds and runs `fixtures/mirror/consumer` from `env` (an empty cargo home); asserts its output.
fn build_consumer(env: &CargoEnv) -> std::path::PathBuf {
    let project = env.fresh_dir("mirror-consumer");
    copy_dir(&fixtures_dir().join("mirror/consumer"), &project);
    let run = env.cargo(&["run", "--quiet"], &project);
    run.assert_success().assert_no_panic();
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        vec!["mid uses leaf 1.1.0 (extra), sys says BUILT WITH LEAF 1.1.0", "leaf=1.1.0"],
        "{run}"
    );
    project
}

fn upstream_get(http: &Http, path: &str, token: &str) -> HttpResponse {
    http.request(
        "GET",
        &format!("/upstream/index/{path}"),
        Some(token),
        &[("cargo-protocol", "version=1"), ("accept", "text/plain")],
        None,
    )
}

fn cache_status(resp: &HttpResponse) -> String {
    resp.header("x-raktar-upstream").unwrap_or_else(|| panic!("no X-Raktar-Upstream header:\n{resp}"))
}

/// Waits (bounded) until `check` holds: figures flushed by the server in the background.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..50 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn pull_through_builds_offline_and_refuses_tampered_crates() {
    let mut upstream = fake_upstream();
    let leaf_lines = upstream.http().index_lines("mirror-leaf", None);
    let leaf_100 = leaf_lines.iter().find(|l| l["vers"] == "1.0.0").unwrap()["cksum"].as_str().unwrap().to_owned();

    let registry =
        TestServer::start_with_args(&["--upstream-sparse", &sparse_url(&upstream), "--upstream-freshness", "1s"]);
    registry.create_user("root", true);
    registry.create_user("dev", false);
    let admin = registry.create_token("root", "admin");
    let token = registry.create_token("dev", "build");
    let http = registry.http();

    // The pull-through index's config: downloads through Raktar, private like `/index/`.
    let config = http.get("/upstream/index/config.json", Some(&token));
    config.assert_status(200);
    assert_eq!(config.json()["dl"], format!("{}/upstream/crates/{{crate}}/{{version}}/download", registry.url));
    assert_eq!(config.json()["auth-required"], true);
    http.get("/upstream/index/config.json", None).assert_status(401);
    upstream_get(&http, "mi/rr/mirror-leaf", "").assert_status(401);

    // A real project resolves and builds through the cache from an empty cargo home.
    let first = cargo_through_cache(&registry, &token);
    let project = build_consumer(&first);
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(!lock.contains(&registry.url), "the lockfile records crates-io, not the cache:\n{lock}");
    // Cached now: the next request is answered from the cache (a hit, or revalidated when the
    // one-second freshness already passed), with a working ETag.
    let hit = upstream_get(&http, "mi/rr/mirror-leaf", &token);
    hit.assert_status(200);
    assert!(matches!(cache_status(&hit).as_str(), "hit" | "revalidated"), "{hit}");
    let etag = hit.header("etag").unwrap();
    let again = upstream_get(&http, "mi/rr/mirror-leaf", &token);
    assert_eq!(again.text(), hit.text());
    let not_modified = http.request(
        "GET",
        "/upstream/index/mi/rr/mirror-leaf",
        Some(&token),
        &[("if-none-match", etag.as_str())],
        None,
    );
    not_modified.assert_status(304);
    // A crate the upstream does not have: 404, like cargo expects.
    upstream_get(&http, "no/ne/nonexistent-crate", &token).assert_status(404);

    // A tampered upstream `.crate` (its bytes no longer match the upstream's index line) is
    // refused, and never stored.
    let tampered = upstream
        .crate_files()
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("mirror_leaf-1.0.0-"))
        .unwrap_or_else(|| panic!("no stored mirror-leaf 1.0.0 in {:?}", upstream.all_files()));
    let mut bytes = std::fs::read(&tampered).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&tampered, &bytes).unwrap();
    for _ in 0..2 {
        let refused = http.get("/upstream/crates/mirror-leaf/1.0.0/download", Some(&token));
        refused.assert_status(502);
        let detail = refused.cargo_error_details();
        assert!(detail.contains("does not match the checksum"), "{detail}");
    }
    assert!(
        !registry.stored_blobs().iter().any(|k| k.contains(&leaf_100)),
        "a refused .crate must not be stored: {:?}",
        registry.stored_blobs()
    );

    // The upstream goes away: the same project builds again from another empty cargo home, from
    // stale index files and cached crates.
    upstream.stop();
    std::thread::sleep(Duration::from_millis(1200));
    let stale = upstream_get(&http, "mi/rr/mirror-leaf", &token);
    stale.assert_status(200);
    assert_eq!(cache_status(&stale), "stale", "{stale}");
    assert!(stale.header("warning").is_some_and(|w| w.starts_with("110")), "{stale}");
    let second = cargo_through_cache(&registry, &token);
    build_consumer(&second);
    // What was never cached gets a clear error.
    let missing = upstream_get(&http, "ot/he/other-crate", &token);
    missing.assert_status(502);
    let detail = missing.cargo_error_details();
    assert!(detail.contains("not cached") && detail.contains("unreachable"), "{detail}");

    // What an administrator sees: sizes, hits, the most fetched crates, first fetches audited.
    let figures = || {
        gql_ok(
            &http,
            Some(&admin),
            "{ upstreamCache(mostFetched: 5) { upstreamUrl crateFiles indexFiles crateBytes hits revalidated misses stale rejected hitRatio mostFetched { name version downloads } } }",
            json!({}),
        )["upstreamCache"]
            .clone()
    };
    eventually("the cache's figures", || {
        let f = figures();
        f["crateFiles"] == 3
            && f["hits"].as_i64().unwrap_or(0) + f["revalidated"].as_i64().unwrap_or(0) > 0
            && f["stale"].as_i64().unwrap_or(0) > 0
    });
    let f = figures();
    assert_eq!(f["upstreamUrl"], sparse_url(&upstream), "{f}");
    assert_eq!(f["indexFiles"], 3, "{f}");
    assert!(f["crateBytes"].as_f64().unwrap() > 0.0, "{f}");
    // Three index files and three crates fetched once each.
    assert_eq!(f["misses"], 6, "{f}");
    assert!(f["rejected"].as_i64().unwrap() >= 2, "{f}");
    let ratio = f["hitRatio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "{f}");
    let most = f["mostFetched"].as_array().unwrap();
    assert_eq!(most.len(), 3, "{f}");
    // Two builds, each downloading every crate once (the second from the cache); the whole
    // consumer graph: `mirror-mid`, `mirror-leaf`, `mirror-sys`.
    assert!(most.iter().all(|c| c["downloads"] == 2), "{f}");
    let body = gql(&http, Some(&token), "{ upstreamCache { hits } }", json!({}));
    assert_code(&body, "FORBIDDEN");
    let audit = gql_ok(
        &http,
        Some(&admin),
        "{ auditEvents(action: UPSTREAM_FETCH, first: 20) { nodes { action crateName version } } }",
        json!({}),
    );
    let fetched = audit["auditEvents"]["nodes"].as_array().unwrap();
    assert_eq!(fetched.len(), 3, "{audit}");

    // The command line agrees, and a purge empties the cache of a name.
    // (The server adds its answer counts to the stored figures within two seconds.)
    let stored =
        || -> serde_json::Value { serde_json::from_str(&registry.cli_ok(&["upstream", "stats", "--json"])).unwrap() };
    eventually("the stored figures", || {
        let s = stored();
        s["misses"] == 6 && s["stale"].as_i64().unwrap_or(0) > 0 && s["rejected"].as_i64().unwrap_or(0) >= 2
    });
    let stats = stored();
    assert_eq!(stats["crate_files"], 3, "{stats}");
    let purged = registry.cli_ok(&["upstream", "purge", "mirror-leaf"]);
    assert!(purged.contains("1 crate file(s)"), "{purged}");
    let after: serde_json::Value = serde_json::from_str(&registry.cli_ok(&["upstream", "stats", "--json"])).unwrap();
    assert_eq!(after["crate_files"], 2, "{after}");
    // Purged and the upstream down: now an error, not a stale answer.
    upstream_get(&http, "mi/rr/mirror-leaf", &token).assert_status(502);
    let purge = gql_ok(&http, Some(&admin), "mutation { purgeUpstreamCache { crateFiles indexFiles } }", json!({}));
    assert_eq!(purge["purgeUpstreamCache"]["crateFiles"], 2, "{purge}");
    let empty: serde_json::Value = serde_json::from_str(&registry.cli_ok(&["upstream", "stats", "--json"])).unwrap();
    assert_eq!((empty["crate_files"].as_i64(), empty["index_files"].as_i64()), (Some(0), Some(0)), "{empty}");
}

/// Concurrent first downloads of one uncached `.crate` fetch it from the upstream once: the fake
/// upstream counts its own downloads.
#[test]
fn concurrent_first_downloads_fetch_once() {
    let upstream = fake_upstream();
    let registry = TestServer::start_with_args(&["--upstream-sparse", &sparse_url(&upstream)]);
    registry.create_user("dev", false);
    let token = registry.create_token("dev", "build");
    let url = registry.url.clone();
    let answers: Vec<(u16, usize, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (url, token) = (url.clone(), token.clone());
                scope.spawn(move || {
                    let r = Http::new(&url).get("/upstream/crates/mirror-mid/0.2.0/download", Some(&token));
                    (r.status, r.body.len(), r.header("x-raktar-upstream").unwrap_or_default())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|(status, len, _)| *status == 200 && *len > 0), "{answers:?}");
    let misses = answers.iter().filter(|(_, _, s)| s == "miss").count();
    assert_eq!(misses, 1, "one request fetches, the others wait and hit: {answers:?}");
    let counted = gql_ok(
        &upstream.http(),
        None,
        "{ crate(name: \"mirror-mid\") { version(version: \"0.2.0\") { downloads } } }",
        json!({}),
    );
    assert_eq!(counted["crate"]["version"]["downloads"], 1, "the upstream served it once: {counted}");
}

/// Writes a library crate `name` `version` whose `origin()` says `origin`.
fn private_crate(env: &CargoEnv, name: &str, version: &str, origin: &str) -> std::path::PathBuf {
    let dir = env.fresh_dir(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\ndescription = \"private\"\n\
             license = \"MIT\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), format!("pub fn origin() -> &'static str {{ \"{origin}\" }}\n")).unwrap();
    dir
}

fn publish(env: &CargoEnv, dir: &Path) -> CmdOutput {
    env.cargo(&["publish", "--registry", REGISTRY, "--no-verify", "--allow-dirty"], dir)
}

#[test]
fn guard_refuses_upstream_names_unless_reserved() {
    let upstream = fake_upstream();
    let registry = TestServer::start_with_args(&["--upstream-sparse", &sparse_url(&upstream)]);
    registry.create_user("root", true);
    registry.create_user("dev", false);
    let admin = registry.create_token("root", "admin");
    let token = registry.create_token("dev", "publish");
    let env = CargoEnv::new(&registry, Some(&token));
    let http = registry.http();

    // A new crate whose name exists upstream, in any spelling: refused, with the way out.
    for name in ["mirror-leaf", "mirror_leaf", "Mirror-Leaf"] {
        let out = publish(&env, &private_crate(&env, name, "1.1.0", "private"));
        out.assert_failure().assert_output_contains("exists in the upstream registry");
        out.assert_output_contains("raktar name reserve");
    }
    // A name the upstream does not have is fine.
    publish(&env, &private_crate(&env, "acme-internal", "0.1.0", "private")).assert_success();

    // Reserved by an administrator, the name can be published.
    let out = registry.cli_ok(&["name", "reserve", "mirror-leaf", "--note", "our own leaf"]);
    assert!(out.contains("reserved crate name `mirror-leaf`"), "{out}");
    registry.cli(&["name", "reserve", "mirror-leaf"]).assert_failure().assert_output_contains("already reserved");
    // Reserved but not yet published: the pull-through index serves nothing for it.
    upstream_get(&http, "mi/rr/mirror-leaf", &token).assert_status(404);
    publish(&env, &private_crate(&env, "mirror-leaf", "1.1.0", "private")).assert_success();
    let listed = registry.cli_ok(&["name", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["name"], "mirror-leaf", "{listed}");
    assert_eq!(listed[0]["published"], true, "{listed}");
    assert_eq!(listed[0]["note"], "our own leaf", "{listed}");

    // A build through the pull-through index resolves the private crate, never the upstream's.
    let consumer = cargo_through_cache(&registry, &token);
    let project = consumer.fresh_dir("uses-leaf");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"uses-leaf\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nmirror-leaf = \"1\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(project.join("src/main.rs"), "fn main() { println!(\"leaf={}\", mirror_leaf::origin()); }\n")
        .unwrap();
    // `origin()` exists only in the private crate: the upstream's would not compile.
    let run = consumer.cargo(&["run", "--quiet"], &project);
    run.assert_success();
    assert_eq!(run.stdout.trim(), "leaf=private", "{run}");
    let private = upstream_get(&http, "mi/rr/mirror-leaf", &token);
    assert_eq!(cache_status(&private), "private", "{private}");

    // Administrators see reservations and collisions in GraphQL; others may not.
    let q = gql_ok(
        &http,
        Some(&admin),
        "{ reservedNames { name note published reservedBy } nameCollisions { name upstreamNames reserved } }",
        json!({}),
    );
    assert_eq!(q["reservedNames"][0]["reservedBy"], "cli", "{q}");
    assert_eq!(
        q["nameCollisions"],
        json!([{"name": "mirror-leaf", "upstreamNames": ["mirror-leaf"], "reserved": true}])
    );
    assert_code(&gql(&http, Some(&token), "{ reservedNames { name } }", json!({})), "FORBIDDEN");
    assert_code(
        &gql(&http, Some(&token), "mutation { reserveName(name: \"mirror-mid\") { name } }", json!({})),
        "FORBIDDEN",
    );
    let reserved = gql_ok(
        &http,
        Some(&admin),
        "mutation { reserveName(name: \"mirror-mid\", note: \"later\") { name published } }",
        json!({}),
    );
    assert_eq!(reserved["reserveName"], json!({"name": "mirror-mid", "published": false}));
    gql_ok(&http, Some(&admin), "mutation { releaseName(name: \"mirror-mid\") }", json!({}));
    assert_code(&gql(&http, Some(&admin), "mutation { releaseName(name: \"mirror-mid\") }", json!({})), "NOT_FOUND");
    let audit = gql_ok(
        &http,
        Some(&admin),
        "{ auditEvents(action: NAME_RESERVE, first: 10) { nodes { crateName actor } } }",
        json!({}),
    );
    assert_eq!(audit["auditEvents"]["nodes"].as_array().unwrap().len(), 2, "{audit}");

    // An upstream that cannot be reached: new names are refused by default (the safe choice)...
    let dead = "http://127.0.0.1:9/index/";
    let strict = TestServer::start_with_args(&["--upstream-sparse", dead]);
    strict.create_user("dev", false);
    let strict_token = strict.create_token("dev", "publish");
    let strict_env = CargoEnv::new(&strict, Some(&strict_token));
    publish(&strict_env, &private_crate(&strict_env, "fresh-name", "0.1.0", "private"))
        .assert_failure()
        .assert_output_contains("cannot check whether crate name `fresh-name` exists");
    // ...and accepted with an audit event when so configured.
    let lenient = TestServer::start_with_args(&["--upstream-sparse", dead, "--upstream-unchecked-names", "allow"]);
    lenient.create_user("root", true);
    lenient.create_user("dev", false);
    let lenient_admin = lenient.create_token("root", "admin");
    let lenient_token = lenient.create_token("dev", "publish");
    let lenient_env = CargoEnv::new(&lenient, Some(&lenient_token));
    publish(&lenient_env, &private_crate(&lenient_env, "fresh-name", "0.1.0", "private")).assert_success();
    let skipped = gql_ok(
        &lenient.http(),
        Some(&lenient_admin),
        "{ auditEvents(action: NAME_CHECK_SKIPPED, first: 5) { nodes { crateName actor } } }",
        json!({}),
    );
    assert_eq!(skipped["auditEvents"]["nodes"], json!([{"crateName": "fresh-name", "actor": "dev"}]));
}
