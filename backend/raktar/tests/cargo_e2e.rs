//! End-to-end tests: the real `cargo` against the real `raktar serve`.
//!
//! Each test starts its own server (temporary data dir, 127.0.0.1, random port) and its own
//! temporary CARGO_HOME. Fixture crates live in `fixtures/crates/` (see `fixtures/README.md`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::publish::PublishRequest;
use common::{
    CargoEnv, CmdOutput, REGISTRY, TestServer, TokenSource, index_path, is_cargo_pubtime, is_lower_hex_sha256,
    locked_versions, sha256_hex,
};
use serde_json::{Value, json};

/// Fixtures in dependency order (directory names under `fixtures/crates/`).
const PUBLISH_ORDER: [&str; 6] =
    ["raktar-base-1.0.0", "raktar-base-1.1.0", "raktar-util", "Raktar_Mixed-Case", "raktar-sys", "raktar-features"];

const BASE_DEP: &str = r#"raktar-base = { version = "1", registry = "raktar" }"#;

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

fn versions(lines: &[Value]) -> Vec<String> {
    lines.iter().map(|l| l["vers"].as_str().unwrap_or("<no vers>").to_string()).collect()
}

/// Checks what every index line must satisfy; `name` is the exact canonical name.
#[track_caller]
fn check_line_basics(line: &Value, name: &str) {
    assert_eq!(line["name"], json!(name), "canonical name in {line}");
    let cksum = line["cksum"].as_str().unwrap_or_default();
    assert!(is_lower_hex_sha256(cksum), "cksum must be lowercase 64-hex: {line}");
    let pubtime = line["pubtime"].as_str().unwrap_or_default();
    assert!(is_cargo_pubtime(pubtime), "pubtime must be exactly YYYY-MM-DDTHH:MM:SSZ: {line}");
    assert!(line["deps"].is_array(), "deps must be an array: {line}");
    assert!(line.get("yanked").is_none_or(|y| y.is_boolean()), "yanked must be a boolean: {line}");
    let v = line.get("v").and_then(Value::as_u64).unwrap_or(1);
    assert!(v == 1 || v == 2, "v must be 1 or 2: {line}");
    if line.get("features2").is_some_and(|f| !f.is_null()) {
        assert_eq!(v, 2, "a line with features2 must carry \"v\":2: {line}");
    }
    for dep in line["deps"].as_array().unwrap() {
        assert!(dep["name"].is_string(), "dep without name: {dep}");
        assert!(dep["req"].is_string(), "dep without req: {dep}");
        assert!(
            dep.get("registry").is_none_or(Value::is_null),
            "a same-registry dependency must have a null/absent registry: {dep}"
        );
    }
}

fn is_yanked(line: &Value) -> bool {
    line.get("yanked").and_then(Value::as_bool).unwrap_or(false)
}

/// The dependency entry with this name, kind (`normal` also matches an absent kind) and target.
#[track_caller]
fn find_dep<'a>(line: &'a Value, name: &str, kind: &str, target: Option<&str>) -> &'a Value {
    line["deps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            let dkind = d.get("kind").and_then(Value::as_str).unwrap_or("normal");
            let dtarget = d.get("target").and_then(Value::as_str);
            d["name"] == json!(name) && dkind == kind && dtarget == target
        })
        .unwrap_or_else(|| panic!("no dependency name={name} kind={kind} target={target:?} in {line}"))
}

/// `features` merged with `features2`, as cargo does.
fn merged_features(line: &Value) -> serde_json::Map<String, Value> {
    let mut all = line.get("features").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(f2) = line.get("features2").and_then(Value::as_object) {
        for (k, v) in f2 {
            all.insert(k.clone(), v.clone());
        }
    }
    all
}

/// The part of cargo's output after "the remote server responded with an error" (the server's
/// `errors[].detail`), or panics with the whole output if cargo did not get a cargo-style error.
#[track_caller]
fn server_error(out: &CmdOutput) -> String {
    let all = out.all();
    match all.find("the remote server responded with an error") {
        Some(i) => all[i..].lines().take(6).collect::<Vec<_>>().join("\n"),
        None => panic!(
            "expected cargo to report `the remote server responded with an error` (a 4xx with a \
             {{\"errors\":[{{\"detail\":...}}]}} body):\n{out}"
        ),
    }
}

/// Asserts that the command failed with a server error mentioning `needle` (case-insensitive).
#[track_caller]
fn assert_refused_mentioning(out: &CmdOutput, needle: &str) {
    out.assert_failure().assert_no_panic();
    let err = server_error(out);
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "the server's error should mention {needle:?}; got:\n{err}\n\nfull output:\n{out}"
    );
}

fn read_lock(project: &Path) -> String {
    std::fs::read_to_string(project.join("Cargo.lock")).unwrap()
}

fn remove_lock(project: &Path) {
    std::fs::remove_file(project.join("Cargo.lock")).unwrap();
}

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

/// Publishes every fixture, checks the raw index lines and downloads over HTTP, then builds and
/// runs the consumer from an empty CARGO_HOME.
#[test]
fn publish_all_fixtures_check_index_lines_and_build_consumer() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let cargo = CargoEnv::new(&server, Some(&token));
    for fixture in PUBLISH_ORDER {
        cargo.publish_fixture(fixture);
    }
    let http = server.http();
    let t = Some(token.as_str());

    // config.json
    let config = http.index_config(t);
    assert!(config["dl"].is_string(), "config.json needs `dl`: {config}");
    if let Some(api) = config.get("api").and_then(Value::as_str) {
        assert!(!api.ends_with('/'), "`api` must not end with a slash: {config}");
        assert_eq!(api, server.url, "`api` should be the public URL: {config}");
    }
    assert_eq!(config["auth-required"], json!(true), "private mode must advertise `auth-required`: {config}");

    // raktar-base: two versions, in publish order.
    let base = http.index_lines("raktar-base", t);
    assert_eq!(versions(&base), ["1.0.0", "1.1.0"], "raktar-base lines: {base:?}");
    for line in &base {
        check_line_basics(line, "raktar-base");
        assert!(!is_yanked(line), "{line}");
        assert_eq!(merged_features(line).get("extra"), Some(&json!([])), "{line}");
        assert_eq!(line["deps"], json!([]), "{line}");
    }
    assert_ne!(base[0]["cksum"], base[1]["cksum"]);

    // raktar-util: build metadata verbatim, rust_version.
    let util = http.index_lines("raktar-util", t);
    assert_eq!(versions(&util), ["0.1.0+build.5"], "build metadata must be kept: {util:?}");
    check_line_basics(&util[0], "raktar-util");
    assert_eq!(util[0]["rust_version"], json!("1.70"), "{}", util[0]);

    // Raktar_Mixed-Case: lowercased path, canonical name in the line.
    assert_eq!(index_path("Raktar_Mixed-Case"), "ra/kt/raktar_mixed-case");
    let mixed = http.index_lines("Raktar_Mixed-Case", t);
    assert_eq!(versions(&mixed), ["0.1.0"]);
    check_line_basics(&mixed[0], "Raktar_Mixed-Case");

    // raktar-sys: links, build/dev/target-specific dependencies.
    let sys = http.index_lines("raktar-sys", t);
    assert_eq!(versions(&sys), ["0.1.0"]);
    let sys = &sys[0];
    check_line_basics(sys, "raktar-sys");
    assert_eq!(sys["links"], json!("raktar_native"), "{sys}");
    assert_eq!(sys["deps"].as_array().unwrap().len(), 4, "{sys}");
    let unix = find_dep(sys, "raktar-base", "normal", Some("cfg(unix)"));
    assert_eq!(unix["req"], json!("^1"), "{unix}");
    let windows = find_dep(sys, "raktar-base", "normal", Some("cfg(windows)"));
    assert_eq!(windows["features"], json!(["extra"]), "{windows}");
    let build = find_dep(sys, "raktar-util", "build", None);
    assert_eq!(build["req"], json!("^0.1"), "{build}");
    let dev = find_dep(sys, "raktar-base", "dev", None);
    assert_eq!(dev["req"], json!("^1.0"), "{dev}");
    assert_eq!(dev["features"], json!(["extra"]), "{dev}");

    // raktar-features: features2 + v:2, renamed dependency.
    let feats = http.index_lines("raktar-features", t);
    assert_eq!(versions(&feats), ["0.2.0"]);
    let feats = &feats[0];
    check_line_basics(feats, "raktar-features");
    assert_eq!(feats["v"], json!(2), "dep:/?/ features need \"v\":2: {feats}");
    let f2 = feats["features2"].as_object().unwrap_or_else(|| panic!("`features2` missing: {feats}"));
    assert_eq!(f2.get("base"), Some(&json!(["dep:raktar-base"])), "{feats}");
    assert_eq!(f2.get("base-extra"), Some(&json!(["raktar-base?/extra"])), "{feats}");
    if let Some(f1) = feats.get("features").and_then(Value::as_object) {
        for (k, v) in f1 {
            let s = v.to_string();
            assert!(
                !s.contains("dep:") && !s.contains("?/"),
                "feature {k} must be in features2, not features: {feats}"
            );
        }
    }
    let all = merged_features(feats);
    assert_eq!(all.get("full"), Some(&json!(["base", "base-extra"])), "{feats}");
    assert_eq!(all.get("default"), Some(&json!([])), "{feats}");
    let optional = find_dep(feats, "raktar-base", "normal", None);
    assert_eq!(optional["optional"], json!(true), "{optional}");
    assert!(optional.get("package").is_none_or(Value::is_null), "{optional}");
    let renamed = find_dep(feats, "mixed", "normal", None);
    assert_eq!(
        renamed["package"],
        json!("Raktar_Mixed-Case"),
        "a renamed dependency keeps the real name in `package`: {renamed}"
    );
    assert_eq!(renamed["req"], json!("^0.1"), "{renamed}");

    // Missing crates get a clean 404 (cargo's -/_ probes depend on it).
    for missing in ["ra/kt/raktar-nope", "ra/kt/raktar_nope", "3/x/xyz", "1/q"] {
        let resp = http.get_index(missing, t, &[]);
        assert_eq!(resp.status, 404, "missing index file:\n{resp}");
    }

    // Every version downloads with exactly 200, no Content-Encoding, matching cksum.
    for (name, lines) in [
        ("raktar-base", http.index_lines("raktar-base", t)),
        ("raktar-util", http.index_lines("raktar-util", t)),
        ("Raktar_Mixed-Case", http.index_lines("Raktar_Mixed-Case", t)),
        ("raktar-sys", http.index_lines("raktar-sys", t)),
        ("raktar-features", http.index_lines("raktar-features", t)),
    ] {
        for line in lines {
            let vers = line["vers"].as_str().unwrap();
            let cksum = line["cksum"].as_str().unwrap();
            let url = http.download_url(t, name, vers, cksum);
            let resp = http.get(&url, t);
            assert_eq!(resp.status, 200, "download of {name} {vers}:\n{resp}");
            assert!(resp.header("content-encoding").is_none(), "downloads must not carry Content-Encoding:\n{resp}");
            assert_eq!(
                sha256_hex(&resp.body),
                cksum,
                "sha256 of the download of {name} {vers} must equal the index cksum"
            );
        }
    }

    // The consumer, from an empty CARGO_HOME (token from the environment variable this time).
    let fresh = CargoEnv::with_source(&server, Some(&token), TokenSource::EnvVar);
    let consumer = fresh.copy_consumer();
    let build = fresh.cargo(&["build"], &consumer);
    build.assert_success();
    assert_eq!(locked_versions(&consumer, "raktar-util"), ["0.1.0+build.5"]);
    assert_eq!(locked_versions(&consumer, "raktar-base"), ["1.1.0"]);
    assert_eq!(locked_versions(&consumer, "Raktar_Mixed-Case"), ["0.1.0"]);
    let exe = fresh.target_dir().join("debug").join("raktar-consumer");
    let mut cmd = std::process::Command::new(&exe);
    cmd.current_dir(&consumer);
    let run = common::run_with_timeout(cmd, Duration::from_secs(30));
    run.assert_success();
    let expected = "base=1.1.0\n\
                    features=mixed:Raktar_Mixed-Case says hi,base:1.1.0,extra:extra-enabled\n\
                    sys=HELLO FROM BUILD.RS\n\
                    platform=base 1.1.0\n\
                    util=UTIL\n\
                    mixed=Raktar_Mixed-Case says hi\n";
    assert_eq!(run.stdout, expected, "consumer output:\n{run}");

    // A lowercased spelling (same index path) does not resolve: names are exact, and cargo
    // suggests the canonical name from the index line.
    let wrong = fresh.project("wrong-spelling", r#"raktar_mixed-case = { version = "0.1", registry = "raktar" }"#);
    let out = fresh.cargo(&["generate-lockfile"], &wrong);
    out.assert_failure()
        .assert_no_panic()
        .assert_output_contains("perhaps you meant")
        .assert_output_contains("Raktar_Mixed-Case");
}

/// Yank hides a version from fresh resolution but keeps it downloadable for existing lockfiles;
/// unyank brings it back. Also checks ETag revalidation and build-metadata versions in the path.
#[test]
fn yank_and_unyank_change_fresh_resolution() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let cargo = CargoEnv::new(&server, Some(&token));
    for fixture in ["raktar-base-1.0.0", "raktar-base-1.1.0", "raktar-util"] {
        cargo.publish_fixture(fixture);
    }
    let http = server.http();
    let t = Some(token.as_str());
    let path = index_path("raktar-base");

    let probe = cargo.project("yank-probe", BASE_DEP);
    cargo.cargo(&["generate-lockfile"], &probe).assert_success();
    assert_eq!(locked_versions(&probe, "raktar-base"), ["1.1.0"]);
    let lock_with_yanked = read_lock(&probe);

    let before = http.get_index(&path, t, &[]);
    before.assert_status(200);
    let etag = before.header("etag").unwrap_or_else(|| panic!("index responses need an ETag:\n{before}"));
    let not_modified = http.get_index(&path, t, &[("if-none-match", &etag)]);
    assert_eq!(not_modified.status, 304, "If-None-Match with the current ETag:\n{not_modified}");
    let lines_before = http.index_lines("raktar-base", t);

    cargo.cargo_here(&["yank", "raktar-base@1.1.0", "--registry", REGISTRY]).assert_success().assert_no_panic();

    let lines = http.index_lines("raktar-base", t);
    assert_eq!(versions(&lines), ["1.0.0", "1.1.0"]);
    assert!(!is_yanked(&lines[0]), "{}", lines[0]);
    assert!(is_yanked(&lines[1]), "1.1.0 must be yanked: {}", lines[1]);
    for field in ["cksum", "pubtime", "name", "vers", "deps", "features"] {
        assert_eq!(lines[1].get(field), lines_before[1].get(field), "yank may only change `yanked`, not `{field}`");
    }
    let after = http.get_index(&path, t, &[("if-none-match", &etag)]);
    assert_eq!(after.status, 200, "the ETag must change when the file changes:\n{after}");
    assert_ne!(after.header("etag").as_deref(), Some(etag.as_str()), "{after}");

    remove_lock(&probe);
    cargo.cargo(&["generate-lockfile"], &probe).assert_success();
    assert_eq!(locked_versions(&probe, "raktar-base"), ["1.0.0"], "a fresh resolution must skip the yanked 1.1.0");

    // An existing lockfile pinning the yanked version still downloads it.
    std::fs::write(probe.join("Cargo.lock"), &lock_with_yanked).unwrap();
    cargo.cargo(&["fetch", "--locked"], &probe).assert_success();

    cargo
        .cargo_here(&["yank", "--undo", "raktar-base@1.1.0", "--registry", REGISTRY])
        .assert_success()
        .assert_no_panic();
    let lines = http.index_lines("raktar-base", t);
    assert!(!is_yanked(&lines[1]), "1.1.0 must be unyanked: {}", lines[1]);
    assert_eq!(lines[1]["pubtime"], lines_before[1]["pubtime"]);

    remove_lock(&probe);
    cargo.cargo(&["generate-lockfile"], &probe).assert_success();
    assert_eq!(locked_versions(&probe, "raktar-base"), ["1.1.0"]);

    // Build metadata goes verbatim into the yank path (`+` is a literal plus).
    cargo
        .cargo_here(&["yank", "raktar-util", "--version", "0.1.0+build.5", "--registry", REGISTRY])
        .assert_success()
        .assert_no_panic();
    assert!(is_yanked(&http.index_lines("raktar-util", t)[0]));
    cargo
        .cargo_here(&["yank", "--undo", "raktar-util", "--version", "0.1.0+build.5", "--registry", REGISTRY])
        .assert_success()
        .assert_no_panic();
    assert!(!is_yanked(&http.index_lines("raktar-util", t)[0]));
}

/// `cargo owner --list/--add/--remove`; the last owner cannot be removed.
#[test]
fn owners_add_list_remove() {
    let server = TestServer::start();
    let alice_token = server.user_with_token("alice");
    server.create_user_named("bob", "Bob Builder");
    let bob_token = server.create_token("bob", "bob-token");
    let alice = CargoEnv::new(&server, Some(&alice_token));
    let bob = CargoEnv::new(&server, Some(&bob_token));
    alice.publish_fixture("raktar-base-1.0.0");

    let list = |env: &CargoEnv| {
        let out = env.cargo_here(&["owner", "--list", "raktar-base", "--registry", REGISTRY]);
        out.assert_success().assert_no_panic();
        out
    };
    let owners = list(&alice);
    owners.assert_output_contains("alice").assert_output_lacks("bob");

    alice
        .cargo_here(&["owner", "--add", "bob", "raktar-base", "--registry", REGISTRY])
        .assert_success()
        .assert_no_panic();
    let owners = list(&alice);
    owners.assert_output_contains("alice").assert_output_contains("bob");

    // The raw owners API: numeric ids, logins, display name.
    let resp = server.http().get("/api/v1/crates/raktar-base/owners", Some(&alice_token));
    resp.assert_status(200);
    let users =
        resp.json()["users"].as_array().cloned().unwrap_or_else(|| panic!("owners list needs `users`:\n{resp}"));
    assert_eq!(users.len(), 2, "{resp}");
    for user in &users {
        assert!(user["id"].is_u64(), "owner id must be a number: {user}");
        assert!(user["login"].is_string(), "{user}");
    }
    let bob_entry = users.iter().find(|u| u["login"] == json!("bob")).unwrap_or_else(|| panic!("bob missing:\n{resp}"));
    assert_eq!(bob_entry["name"], json!("Bob Builder"), "{bob_entry}");

    // Unknown users cannot be added; cargo reports the server's error cleanly.
    let out = alice.cargo_here(&["owner", "--add", "nosuchuser", "raktar-base", "--registry", REGISTRY]);
    out.assert_failure().assert_no_panic();
    server_error(&out);

    alice
        .cargo_here(&["owner", "--remove", "bob", "raktar-base", "--registry", REGISTRY])
        .assert_success()
        .assert_no_panic();
    list(&alice).assert_output_contains("alice").assert_output_lacks("bob");

    // The last owner cannot be removed.
    let out = alice.cargo_here(&["owner", "--remove", "alice", "raktar-base", "--registry", REGISTRY]);
    out.assert_failure().assert_no_panic();
    server_error(&out);
    list(&alice).assert_output_contains("alice");

    // Hand the crate over: bob becomes the only owner, alice loses her rights.
    alice.cargo_here(&["owner", "--add", "bob", "raktar-base", "--registry", REGISTRY]).assert_success();
    alice
        .cargo_here(&["owner", "--remove", "alice", "raktar-base", "--registry", REGISTRY])
        .assert_success()
        .assert_no_panic();
    list(&bob).assert_output_contains("bob").assert_output_lacks("alice");
    let out = alice.cargo_here(&["yank", "raktar-base@1.0.0", "--registry", REGISTRY]);
    assert_refused_mentioning(&out, "owner");
    bob.publish_fixture("raktar-base-1.1.0");
    let lines = server.http().index_lines("raktar-base", Some(&bob_token));
    assert_eq!(versions(&lines), ["1.0.0", "1.1.0"]);
    assert!(!is_yanked(&lines[0]));
}

/// A user who does not own a crate can neither publish to it, yank it nor change its owners.
#[test]
fn non_owner_is_refused() {
    let server = TestServer::start();
    let alice_token = server.user_with_token("alice");
    let bob_token = server.user_with_token("bob");
    let alice = CargoEnv::new(&server, Some(&alice_token));
    let bob = CargoEnv::new(&server, Some(&bob_token));
    alice.publish_fixture("raktar-base-1.0.0");

    let out = bob.try_publish_fixture("raktar-base-1.1.0");
    assert_refused_mentioning(&out, "owner");
    let out = bob.cargo_here(&["yank", "raktar-base@1.0.0", "--registry", REGISTRY]);
    assert_refused_mentioning(&out, "owner");
    let out = bob.cargo_here(&["owner", "--add", "bob", "raktar-base", "--registry", REGISTRY]);
    assert_refused_mentioning(&out, "owner");

    let lines = server.http().index_lines("raktar-base", Some(&alice_token));
    assert_eq!(versions(&lines), ["1.0.0"]);
    assert!(!is_yanked(&lines[0]));
    alice
        .cargo_here(&["owner", "--list", "raktar-base", "--registry", REGISTRY])
        .assert_success()
        .assert_output_lacks("bob");
}

/// Token scopes and crate patterns: each refusal names the missing scope.
#[test]
fn token_scopes_are_enforced() {
    let server = TestServer::start();
    server.create_user("alice", false);
    let read_only = server.create_token_with("alice", "ro", &["--scope", "read"]);
    let new_only = server.create_token_with("alice", "new", &["--scope", "read", "--scope", "publish-new"]);
    let util_only = server.create_token_with("alice", "util", &["--crate", "raktar-util"]);

    let ro = CargoEnv::new(&server, Some(&read_only));
    let out = ro.try_publish_fixture("raktar-base-1.0.0");
    assert_refused_mentioning(&out, "publish-new");

    let new = CargoEnv::new(&server, Some(&new_only));
    new.publish_fixture("raktar-base-1.0.0");
    let out = new.try_publish_fixture("raktar-base-1.1.0");
    assert_refused_mentioning(&out, "publish-update");
    let out = new.cargo_here(&["yank", "raktar-base@1.0.0", "--registry", REGISTRY]);
    assert_refused_mentioning(&out, "yank");
    let out = new.cargo_here(&["owner", "--add", "alice", "raktar-base", "--registry", REGISTRY]);
    assert_refused_mentioning(&out, "change-owners");

    // A token limited to `raktar-util` publishes that crate but nothing else.
    let util = CargoEnv::new(&server, Some(&util_only));
    util.publish_fixture("raktar-util");
    let out = util.try_publish_fixture("raktar-base-1.1.0");
    out.assert_failure().assert_no_panic();

    let lines = server.http().index_lines("raktar-base", Some(&read_only));
    assert_eq!(versions(&lines), ["1.0.0"]);
    assert!(!is_yanked(&lines[0]));
}

/// Without a token: config.json answers 401 with the Cargo challenge, cargo prints the login
/// hint, and `cargo login` points at the token page.
#[test]
fn missing_token_gets_challenge_and_login_hint() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    CargoEnv::new(&server, Some(&token)).publish_fixture("raktar-base-1.0.0");
    let http = server.http();

    let resp = http.get_index("config.json", None, &[]);
    resp.assert_status(401);
    let challenge = resp.header("www-authenticate").unwrap_or_else(|| panic!("401 needs WWW-Authenticate:\n{resp}"));
    assert!(challenge.starts_with("Cargo"), "the challenge scheme must be Cargo:\n{resp}");
    assert!(
        challenge.contains(&format!("login_url=\"{}\"", server.login_url())),
        "the challenge must carry login_url=\"{}\":\n{resp}",
        server.login_url()
    );
    let resp = http.get_index(&index_path("raktar-base"), None, &[]);
    resp.assert_status(401);
    let resp = http.get("/api/v1/crates?q=raktar&per_page=10", None);
    assert!(resp.status == 401 || resp.status == 403, "API without a token:\n{resp}");
    resp.cargo_error_details();

    let anon = CargoEnv::anonymous(&server);
    let probe = anon.project("anon-probe", BASE_DEP);
    let out = anon.cargo(&["generate-lockfile"], &probe);
    out.assert_failure()
        .assert_no_panic()
        .assert_output_contains("no token found for `raktar`")
        .assert_output_contains("cargo login --registry raktar");

    let out = anon.cargo_here(&["login", "--registry", REGISTRY]);
    out.assert_no_panic().assert_output_contains(&format!("please paste the token found on {}", server.login_url()));

    // A wrong token is rejected with cargo's login hint.
    let bad = CargoEnv::new(&server, Some("raktar_not_a_real_token"));
    let probe = bad.project("bad-probe", BASE_DEP);
    let out = bad.cargo(&["generate-lockfile"], &probe);
    out.assert_failure()
        .assert_no_panic()
        .assert_output_contains("token rejected for `raktar`")
        .assert_output_contains("cargo login --registry raktar");
}

/// Expired and revoked tokens stop working at once.
#[test]
fn expired_and_revoked_tokens_are_refused() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    CargoEnv::new(&server, Some(&token)).publish_fixture("raktar-base-1.0.0");
    let http = server.http();

    // Days form: valid now.
    let month = server.create_token_with("alice", "month", &["--expires-in", "30"]);
    http.get_index("config.json", Some(&month), &[]).assert_status(200);

    // Seconds form: valid right away, refused after expiry.
    let created = Instant::now();
    let short = server.create_token_with("alice", "short", &["--expires-in", "3s"]);
    let early = http.get_index("config.json", Some(&short), &[]);
    if created.elapsed() < Duration::from_secs(2) {
        assert_eq!(early.status, 200, "a fresh 3s token must work:\n{early}");
    }
    std::thread::sleep(Duration::from_secs(4).saturating_sub(created.elapsed()));
    let resp = http.get_index("config.json", Some(&short), &[]);
    resp.assert_status(401);
    let expired = CargoEnv::new(&server, Some(&short));
    let probe = expired.project("expired-probe", BASE_DEP);
    expired
        .cargo(&["generate-lockfile"], &probe)
        .assert_failure()
        .assert_no_panic()
        .assert_output_contains("token rejected for `raktar`");

    // Revocation.
    let ci = server.create_token("alice", "ci");
    let listed = server.cli_ok(&["token", "list", "--user", "alice"]);
    assert!(listed.contains("ci"), "token list must show `ci`:\n{listed}");
    for secret in [&token, &ci, &month] {
        assert!(!listed.contains(secret.as_str()), "token list must never print token secrets:\n{listed}");
    }
    let revoked = CargoEnv::new(&server, Some(&ci));
    let probe = revoked.project("revoked-probe", BASE_DEP);
    revoked.cargo(&["generate-lockfile"], &probe).assert_success();
    server.revoke_token("alice", "ci");
    http.get_index("config.json", Some(&ci), &[]).assert_status(401);
    remove_lock(&probe);
    revoked
        .cargo(&["generate-lockfile"], &probe)
        .assert_failure()
        .assert_no_panic()
        .assert_output_contains("token rejected for `raktar`");
    // Other tokens of the same user still work.
    http.get_index("config.json", Some(&token), &[]).assert_status(200);
}

/// `--public-read`: anonymous reads (index, downloads, search) work; writes still need a token.
#[test]
fn public_read_allows_anonymous_reads_only() {
    let server = TestServer::start_public_read();
    let token = server.user_with_token("alice");
    let http = server.http();

    let config = http.index_config(None);
    assert_ne!(
        config.get("auth-required"),
        Some(&json!(true)),
        "a public-read registry must not advertise auth-required: {config}"
    );

    CargoEnv::new(&server, Some(&token)).publish_fixture("raktar-base-1.0.0");
    let lines = http.index_lines("raktar-base", None);
    assert_eq!(versions(&lines), ["1.0.0"]);

    let anon = CargoEnv::anonymous(&server);
    let probe = anon.project("public-probe", BASE_DEP);
    anon.cargo(&["generate-lockfile"], &probe).assert_success();
    assert_eq!(locked_versions(&probe, "raktar-base"), ["1.0.0"]);
    anon.cargo(&["fetch"], &probe).assert_success();
    anon.cargo_here(&["search", "raktar-base", "--registry", REGISTRY])
        .assert_success()
        .assert_output_contains("raktar-base");

    // Writes need a token.
    anon.try_publish_fixture("raktar-base-1.1.0").assert_failure().assert_no_panic();
    let req = PublishRequest::new("raktar-base", "1.2.0");
    for bad in [None, Some("raktar_not_a_real_token")] {
        let resp = http.put_crate(req.body(), bad);
        assert!(resp.status == 401 || resp.status == 403, "publish without a valid token must be refused:\n{resp}");
        resp.cargo_error_details();
        let resp = http.request(
            "DELETE",
            "/api/v1/crates/raktar-base/1.0.0/yank",
            bad,
            &[("accept", "application/json")],
            None,
        );
        assert!(resp.status == 401 || resp.status == 403, "yank without a valid token must be refused:\n{resp}");
    }
    let lines = http.index_lines("raktar-base", None);
    assert_eq!(versions(&lines), ["1.0.0"]);
    assert!(!is_yanked(&lines[0]));
}

/// A version can be published once; `1.0.0+meta` next to `1.0.0` is refused too.
#[test]
fn duplicate_version_is_refused() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let cargo = CargoEnv::new(&server, Some(&token));
    cargo.publish_fixture("raktar-base-1.0.0");
    let out = cargo.try_publish_fixture("raktar-base-1.0.0");
    out.assert_failure().assert_no_panic().assert_output_contains("already exists");

    // The server refuses too, even when cargo's own index check is bypassed.
    let http = server.http();
    let resp = http.put_crate(PublishRequest::new("raktar-base", "1.0.0").body(), Some(&token));
    let detail = resp.assert_cargo_error();
    assert!(
        detail.to_lowercase().contains("exist"),
        "the error should say the version already exists: {detail}\n{resp}"
    );
    let resp = http.put_crate(PublishRequest::new("raktar-base", "1.0.0+other").body(), Some(&token));
    resp.assert_cargo_error();
    let lines = http.index_lines("raktar-base", Some(&token));
    assert_eq!(versions(&lines), ["1.0.0"]);
}

/// `cargo search` and `cargo info` against the registry.
#[test]
fn search_and_info() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let cargo = CargoEnv::new(&server, Some(&token));
    for fixture in ["raktar-base-1.0.0", "raktar-base-1.1.0", "raktar-util"] {
        cargo.publish_fixture(fixture);
    }

    let out = cargo.cargo_here(&["search", "raktar", "--registry", REGISTRY]);
    out.assert_success()
        .assert_output_contains("raktar-base = \"1.1.0\"")
        .assert_output_contains("Raktar test fixture: the base crate")
        .assert_output_contains("raktar-util");
    let out = cargo.cargo_here(&["search", "raktar-util", "--registry", REGISTRY]);
    out.assert_success()
        .assert_output_contains("raktar-util")
        .assert_output_contains("a utility crate with build metadata");

    let resp = server.http().get("/api/v1/crates?q=raktar&per_page=10", Some(&token));
    resp.assert_status(200);
    let json = resp.json();
    assert!(json["crates"].is_array(), "{resp}");
    assert!(json["meta"]["total"].is_u64(), "search needs meta.total:\n{resp}");

    let out = cargo.cargo_here(&["info", "raktar-base", "--registry", REGISTRY]);
    out.assert_success()
        .assert_no_panic()
        .assert_output_contains("raktar-base")
        .assert_output_contains("1.1.0")
        .assert_output_contains("Raktar test fixture: the base crate")
        .assert_output_contains("extra");
    let out = cargo.cargo_here(&["info", "raktar-util", "--registry", REGISTRY]);
    out.assert_success().assert_no_panic().assert_output_contains("0.1.0+build.5").assert_output_contains("1.70");
}

/// A full `cargo publish` (packaging, verification build downloading registry deps, upload).
#[test]
fn verified_publish_works() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let cargo = CargoEnv::new(&server, Some(&token));
    cargo.publish_fixture("raktar-base-1.0.0");
    cargo.publish_fixture("Raktar_Mixed-Case");

    let dir = cargo.copy_fixture("raktar-features");
    let out = cargo.cargo(&["publish", "--registry", REGISTRY, "--allow-dirty"], &dir);
    out.assert_success()
        .assert_output_contains("Verifying raktar-features")
        .assert_output_contains("Compiling raktar-features");
    let lines = server.http().index_lines("raktar-features", Some(&token));
    assert_eq!(versions(&lines), ["0.2.0"]);
}
