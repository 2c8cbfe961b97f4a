//! `raktar import`: `.crate` files packaged by the real `cargo package`, imported from a fake cargo
//! registry cache, then used by the real cargo.
//!
//! - `private_mirror_replaces_crates_io`, `public_mirror_and_default_mode`: crates as if from
//!   crates-io (`fixtures/mirror/`), imported with `--as-mirror`; a project depending on them
//!   builds from an empty CARGO_HOME with crates-io replaced by Raktar
//!   (`[source.crates-io] replace-with = ...`), through a `[registries]` entry with a token or a
//!   plain `[source]` entry on a public-read server. The default mode records the same
//!   dependencies with the upstream URL instead.
//! - `import_rebuilds_what_cargo_publish_sent`: the fixtures published with `cargo publish` to one
//!   server, downloaded, and imported into another: the index lines and the version metadata are
//!   the same (only `pubtime` differs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::graphql::gql_ok;
use common::mirror::{cache_dir, import, package_mirror_fixtures};
use common::*;
use serde_json::{Value, json};

/// The upstream index URL the tests pass (a test value: which URL it is does not matter to the
/// mirror; the default mode must record it verbatim).
const UPSTREAM: &str = "https://index.upstream.test/";

fn line_of<'a>(lines: &'a [Value], vers: &str) -> &'a Value {
    lines.iter().find(|l| l["vers"] == vers).unwrap_or_else(|| panic!("no line for {vers} in {lines:#?}"))
}

/// A fake cargo registry cache holding the packaged mirror fixtures (not the dev-only helper),
/// a corrupt file, a file whose name does not match its contents, and a file that is not a
/// `.crate`. Returns the cache root (`.../registry/cache`) and the packaged files.
fn fake_cache(server: &TestServer) -> (tempfile::TempDir, BTreeMap<String, PathBuf>) {
    let packager = CargoEnv::anonymous(server);
    let crates = package_mirror_fixtures(&packager);
    for name in
        ["mirror-leaf-1.0.0.crate", "mirror-leaf-1.1.0.crate", "mirror-sys-0.1.0.crate", "mirror-mid-0.2.0.crate"]
    {
        assert!(crates.contains_key(name), "cargo package made {crates:?}");
    }
    let fake_home = tempfile::Builder::new().prefix("raktar-import-cache-").tempdir().unwrap();
    let cache = cache_dir(fake_home.path());
    std::fs::create_dir_all(&cache).unwrap();
    for (name, path) in crates.iter().filter(|(n, _)| !n.starts_with("mirror-dev-helper")) {
        std::fs::copy(path, cache.join(name)).unwrap();
    }
    std::fs::write(cache.join("broken-0.1.0.crate"), b"not a gzip archive").unwrap();
    std::fs::copy(&crates["mirror-leaf-1.0.0.crate"], cache.join("mirror-leaf-9.9.9.crate")).unwrap();
    std::fs::write(cache.join(".package-cache"), b"").unwrap();
    // Keep the packaged files alive with the cache (the packager's directory goes away).
    let kept = fake_home.path().join("packaged");
    std::fs::create_dir_all(&kept).unwrap();
    let crates = crates
        .into_iter()
        .map(|(name, path)| {
            let to = kept.join(&name);
            std::fs::copy(&path, &to).unwrap();
            (name, to)
        })
        .collect();
    (fake_home, crates)
}

fn cache_root(home: &tempfile::TempDir) -> String {
    home.path().join("registry/cache").to_str().unwrap().to_owned()
}

/// Builds and runs `fixtures/mirror/consumer` from an empty CARGO_HOME whose config replaces
/// crates-io (`config` is the whole config.toml); asserts the program's output.
fn build_consumer(server: &TestServer, token: Option<&str>, config: &str) {
    let env = CargoEnv::anonymous(server);
    std::fs::write(env.home().join("config.toml"), config).unwrap();
    if let Some(token) = token {
        std::fs::write(
            env.home().join("credentials.toml"),
            format!("[registries.raktar-mirror]\ntoken = \"{token}\"\n"),
        )
        .unwrap();
    }
    let project = env.fresh_dir("mirror-consumer");
    copy_dir(&fixtures_dir().join("mirror/consumer"), &project);
    let run = env.cargo(&["run", "--quiet"], &project);
    run.assert_success().assert_no_panic();
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        vec!["mid uses leaf 1.1.0 (extra), sys says BUILT WITH LEAF 1.1.0", "leaf=1.1.0"],
        "{run}"
    );
    assert_eq!(locked_versions(&project, "mirror-leaf"), vec!["1.1.0"]);
    // The lockfile records crates-io, not the mirror: the project builds unchanged without it.
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(!lock.contains(&server.url), "{lock}");
}

/// A private mirror: crates-io replaced by a registry defined in `[registries]`, so cargo sends
/// the registry's token on every index and download request.
#[test]
fn private_mirror_replaces_crates_io() {
    let server = TestServer::start();
    server.create_user("mirror-admin", false);
    let token = server.create_token("mirror-admin", "mirror");
    let (fake_home, crates) = fake_cache(&server);
    let root = cache_root(&fake_home);
    let out = import(&server, &[&root, "--owner", "mirror-admin", "--as-mirror", "--upstream-index", UPSTREAM]);
    out.assert_success()
        .assert_output_contains("imported 4 crate version(s), skipped 2 (1 invalid archive, 1 name/version mismatch)")
        .assert_output_contains("broken-0.1.0.crate: invalid archive")
        .assert_output_contains("mirror-leaf-9.9.9.crate: name/version mismatch")
        .assert_output_contains("1 dev-dependency requirement(s) cannot be resolved")
        .assert_output_lacks("warning:");

    // The index looks like the upstream's own: dependencies on it are same-registry.
    let http = server.http();
    let mid = http.index_lines("mirror-mid", Some(&token));
    let mid = line_of(&mid, "0.2.0");
    assert_eq!(mid["v"], 2, "dep: features need a v2 line: {mid}");
    assert_eq!(mid["features2"], json!({ "native": ["dep:mirror-sys"], "loud": ["mirror-sys?/loud"] }));
    let deps = mid["deps"].as_array().unwrap();
    assert!(deps.iter().all(|d| d.get("registry").is_none_or(Value::is_null)), "{mid}");
    let leaf = deps.iter().find(|d| d["name"] == "leaf").unwrap();
    assert_eq!(leaf["package"], "mirror-leaf");
    assert_eq!(leaf["req"], "^1.1");
    assert_eq!(leaf["features"], json!(["extra"]));
    let sys = deps.iter().find(|d| d["name"] == "mirror-sys").unwrap();
    assert_eq!(sys["target"], "cfg(any(unix, windows))");
    assert_eq!(sys["optional"], true);
    let dev = deps.iter().find(|d| d["name"] == "mirror-dev-helper").unwrap();
    assert_eq!(dev["kind"], "dev");
    let sys_line = http.index_lines("mirror-sys", Some(&token));
    assert_eq!(line_of(&sys_line, "0.1.0")["links"], "mirror_native");
    let leaf_lines = http.index_lines("mirror-leaf", Some(&token));
    let versions: Vec<&str> = leaf_lines.iter().map(|l| l["vers"].as_str().unwrap()).collect();
    assert_eq!(versions, vec!["1.0.0", "1.1.0"], "versions in version order");
    assert_eq!(line_of(&leaf_lines, "1.1.0")["rust_version"], "1.70");
    assert_eq!(
        line_of(&leaf_lines, "1.1.0")["cksum"],
        sha256_hex(&std::fs::read(&crates["mirror-leaf-1.1.0.crate"]).unwrap()),
        "the mirror serves the upstream's bytes"
    );
    // The README came from the archive; the owner is the one given.
    let data = gql_ok(
        &http,
        Some(&token),
        "query { crate(name: \"mirror-leaf\") { owners { login } version(version: \"1.1.0\") { readme description } } }",
        json!({}),
    );
    assert_eq!(data["crate"]["owners"], json!([{ "login": "mirror-admin" }]));
    assert!(
        data["crate"]["version"]["readme"].as_str().unwrap_or_default().contains("The leaf of the mirror"),
        "{data}"
    );

    // Importing again changes nothing.
    let again = import(&server, &[&root, "--owner", "mirror-admin", "--as-mirror", "--upstream-index", UPSTREAM]);
    again.assert_success().assert_output_contains("imported 0 crate version(s), skipped 6 (4 already present");

    // A project depending on them builds from Raktar alone, with the token.
    build_consumer(
        &server,
        Some(&token),
        &format!(
            "[source.crates-io]\nreplace-with = \"raktar-mirror\"\n\n\
             [registries.raktar-mirror]\nindex = \"{}\"\n\n\
             [registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n[net]\ngit-fetch-with-cli = false\n",
            server.index_url()
        ),
    );
}

/// A public-read mirror: crates-io replaced by a plain `[source]` entry. And the default mode,
/// which records the same dependencies with the upstream URL.
#[test]
fn public_mirror_and_default_mode() {
    let server = TestServer::start_public_read();
    server.create_user("mirror-admin", false);
    let (fake_home, _) = fake_cache(&server);
    let root = cache_root(&fake_home);
    let out = import(&server, &[&root, "--owner", "mirror-admin", "--as-mirror", "--upstream-index", UPSTREAM]);
    out.assert_success().assert_output_contains("imported 4 crate version(s)");
    build_consumer(
        &server,
        None,
        &format!(
            "[source.crates-io]\nreplace-with = \"raktar-mirror\"\n\n\
             [source.raktar-mirror]\nregistry = \"{}\"\n\n[net]\ngit-fetch-with-cli = false\n",
            server.index_url()
        ),
    );

    // The default mode records the dependencies with the upstream URL, as cargo would send them
    // to a registry that is not crates-io.
    let plain = TestServer::start_public_read();
    plain.create_user("importer", false);
    let out = import(&plain, &[&root, "--owner", "importer", "--upstream-index", UPSTREAM]);
    out.assert_success().assert_output_contains("imported 4 crate version(s)");
    let mid = plain.http().index_lines("mirror-mid", None);
    for dep in line_of(&mid, "0.2.0")["deps"].as_array().unwrap() {
        assert_eq!(dep["registry"], UPSTREAM, "{dep}");
    }
    // The owner must exist, and the upstream URL must be configured.
    import(&plain, &[&root, "--owner", "nobody", "--upstream-index", UPSTREAM])
        .assert_failure()
        .assert_output_contains("no user with login `nobody`");
    import(&plain, &[&root, "--owner", "importer"]).assert_failure().assert_output_contains("--upstream-index");
}

/// The fixtures in publish order (dependencies first), as in `cargo_e2e.rs`.
const FIXTURES: &[&str] =
    &["raktar-base-1.0.0", "raktar-base-1.1.0", "raktar-util", "Raktar_Mixed-Case", "raktar-sys", "raktar-features"];

/// `(name, version)` of every published fixture version.
const VERSIONS: &[(&str, &str)] = &[
    ("raktar-base", "1.0.0"),
    ("raktar-base", "1.1.0"),
    ("raktar-util", "0.1.0+build.5"),
    ("Raktar_Mixed-Case", "0.1.0"),
    ("raktar-sys", "0.1.0"),
    ("raktar-features", "0.2.0"),
];

fn without_pubtime(mut line: Value) -> Value {
    assert!(line.get("pubtime").and_then(Value::as_str).is_some_and(is_cargo_pubtime), "{line}");
    line.as_object_mut().unwrap().remove("pubtime");
    line
}

const VERSION_QUERY: &str = "query($name: String!) { crate(name: $name) { name versions { version checksum \
    rustVersion description license authors keywords categories readme links { homepage repository documentation } \
    nativeLibrary features { name enables } dependencies { name } } } }";

#[test]
fn import_rebuilds_what_cargo_publish_sent() {
    // Publish the fixtures with the real cargo.
    let original = TestServer::start();
    let token = original.user_with_token("alice");
    let cargo = CargoEnv::new(&original, Some(&token));
    for fixture in FIXTURES {
        cargo.publish_fixture(fixture);
    }

    // Download every .crate as published.
    let http = original.http();
    let downloads = tempfile::Builder::new().prefix("raktar-import-downloads-").tempdir().unwrap();
    for (name, vers) in VERSIONS {
        let line = http.index_lines(name, Some(&token)).into_iter().find(|l| l["vers"] == *vers).unwrap();
        let url = http.download_url(Some(&token), name, vers, line["cksum"].as_str().unwrap());
        let resp = http.get(&url, Some(&token));
        resp.assert_status(200);
        std::fs::write(downloads.path().join(format!("{name}-{vers}.crate")), &resp.body).unwrap();
    }

    // Import them into another registry as a mirror of the first.
    let copy = TestServer::start();
    copy.create_user("importer", false);
    let copy_token = copy.create_token("importer", "read");
    let out = import(
        &copy,
        &[
            downloads.path().to_str().unwrap(),
            "--owner",
            "importer",
            "--upstream-index",
            UPSTREAM,
            "--mirror-of",
            &original.index_url(),
        ],
    );
    out.assert_success()
        .assert_output_contains("imported 6 crate version(s), skipped 0")
        .assert_output_lacks("warning");

    let copy_http = copy.http();
    for name in ["raktar-base", "raktar-util", "Raktar_Mixed-Case", "raktar-sys", "raktar-features"] {
        let published: Vec<Value> = http.index_lines(name, Some(&token)).into_iter().map(without_pubtime).collect();
        let imported: Vec<Value> =
            copy_http.index_lines(name, Some(&copy_token)).into_iter().map(without_pubtime).collect();
        assert_eq!(imported, published, "index lines of {name}");
        let a = gql_ok(&http, Some(&token), VERSION_QUERY, json!({ "name": name }));
        let b = gql_ok(&copy_http, Some(&copy_token), VERSION_QUERY, json!({ "name": name }));
        assert_eq!(b, a, "version metadata of {name}");
    }
}
