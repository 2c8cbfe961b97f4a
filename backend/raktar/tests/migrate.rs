//! `raktar migrate`: a round trip embedded -> AWS (moto) -> embedded, with an interrupted and
//! resumed first leg. The index files served by a real server on each home, every blob, and the
//! tokens come out identical.
//!
//! Needs `RAKTAR_TEST_AWS_ENDPOINT` (a moto server): run with
//! `bash .ci/with-moto cargo test -p raktar --test migrate`. Without it the test fails (never passes
//! silently).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::aws::{self, AwsHome};
use common::publish::{CrateTarball, PublishRequest, dependency};
use common::*;
use serde_json::json;

/// The crates the seed publishes (name, versions).
const CRATES: &[(&str, &[&str])] =
    &[("alpha", &["1.0.0", "1.1.0"]), ("beta", &["0.1.0+build.1"]), ("gamma", &["2.0.0"]), ("Mixed_Case", &["0.1.0"])];

/// A registry with a bit of everything: several versions, a yank, build metadata, a dependency
/// and `dep:` features (a v2 line), a README large enough to live in the blob store, a second
/// owner, a download counter, two users with tokens.
fn seed(server: &TestServer) -> String {
    let token = server.user_with_token("alice");
    server.create_user("bob", false);
    server.create_token("bob", "bob-laptop");
    let http = server.http();
    let publish = |req: PublishRequest| {
        http.put_crate(req.body(), Some(&token)).assert_status(200);
    };
    publish(PublishRequest::new("alpha", "1.0.0"));
    publish(PublishRequest::new("alpha", "1.1.0").field("keywords", json!(["migrate", "test"])));
    let mut beta_dep = dependency("alpha", "^1");
    beta_dep["optional"] = json!(true);
    publish(
        PublishRequest::new("beta", "0.1.0+build.1")
            .dep(beta_dep)
            .field("features", json!({ "a": ["dep:alpha"], "b": ["alpha?/x"], "default": [] })),
    );
    let readme = "# gamma\n\n".to_owned() + &"All work and no play. ".repeat(3000);
    publish(
        PublishRequest::new("gamma", "2.0.0")
            .with_tarball(CrateTarball::new("gamma", "2.0.0").file("README.md", readme.as_bytes()).build())
            .field("readme", json!(readme))
            .field("readme_file", json!("README.md")),
    );
    publish(PublishRequest::new("Mixed_Case", "0.1.0"));
    http.request("DELETE", "/api/v1/crates/alpha/1.0.0/yank", Some(&token), &[("accept", "application/json")], None)
        .assert_status(200);
    http.request(
        "PUT",
        "/api/v1/crates/alpha/owners",
        Some(&token),
        &[("accept", "application/json"), ("content-type", "application/json")],
        Some(br#"{"users":["bob"]}"#.to_vec()),
    )
    .assert_status(200);
    let cksum = parse_index_file(&http.get_index(&index_path("alpha"), Some(&token), &[]))
        .last()
        .and_then(|l| l["cksum"].as_str().map(str::to_owned))
        .expect("alpha cksum");
    let dl = http.download_url(Some(&token), "alpha", "1.1.0", &cksum);
    let resp = http.get(&dl, Some(&token));
    assert!(matches!(resp.status, 200 | 302 | 307), "download failed:\n{resp}");
    token
}

/// The configuration file of a server's home.
fn write_config(path: &Path, server: &TestServer) {
    let text = match server.aws() {
        Some(home) => aws_config(home),
        None => format!("data_dir = {:?}\n", server.data_dir().to_string_lossy()),
    };
    std::fs::write(path, text).unwrap();
}

fn aws_config(home: &AwsHome) -> String {
    format!(
        "[store]\nitem_store = \"dynamodb\"\nblob_store = \"s3\"\ndynamodb_table = {:?}\ns3_bucket = {:?}\n\
         s3_prefix = {:?}\naws_endpoint_url = {:?}\naws_region = {:?}\n",
        home.table,
        home.bucket,
        aws::S3_PREFIX,
        home.endpoint,
        aws::REGION
    )
}

/// `serve` flags that put a server on an AWS home (they override any `RAKTAR_*` of the harness).
fn aws_flags(home: &AwsHome) -> Vec<String> {
    [
        ("--item-store", "dynamodb"),
        ("--blob-store", "s3"),
        ("--dynamodb-table", home.table.as_str()),
        ("--s3-bucket", home.bucket.as_str()),
        ("--s3-prefix", aws::S3_PREFIX),
        ("--aws-endpoint-url", home.endpoint.as_str()),
        ("--aws-region", aws::REGION),
    ]
    .iter()
    .flat_map(|(k, v)| [k.to_string(), v.to_string()])
    .collect()
}

fn migrate(from: &Path, to: &Path, extra: &[&str]) -> CmdOutput {
    let mut cmd = raktar_command();
    cmd.arg("migrate").arg("--from").arg(from).arg("--to").arg(to).args(extra);
    run_with_timeout(cmd, CLI_TIMEOUT * 4)
}

/// Every blob of a server's home: key -> bytes.
fn blobs_of(server: &TestServer) -> BTreeMap<String, Vec<u8>> {
    match server.aws() {
        Some(home) => home.blobs(),
        None => {
            let root = server.data_dir().join("blobs");
            let mut out = BTreeMap::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        let key = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
                        out.insert(key, std::fs::read(&path).unwrap());
                    }
                }
            }
            out
        }
    }
}

/// Every index file of the seeded crates, with its ETag.
fn index_files(server: &TestServer, token: &str) -> BTreeMap<String, (String, Vec<u8>)> {
    let http = server.http();
    CRATES
        .iter()
        .map(|(name, _)| {
            let resp = http.get_index(&index_path(name), Some(token), &[]);
            assert_eq!(resp.status, 200, "index of {name} on {}:\n{resp}\n{}", server.url, server.logs());
            (name.to_string(), (resp.header("etag").unwrap_or_default(), resp.body))
        })
        .collect()
}

fn config_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("raktar-migrate-").tempdir().unwrap()
}

fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn round_trip_embedded_aws_embedded_is_identical() {
    // Fail clearly without moto, before doing anything else.
    let _ = aws::endpoint();
    let dir = config_dir();

    // 1. The source: a real server with data.
    let source = TestServer::start();
    let token = seed(&source);
    let source_index = index_files(&source, &token);
    let source_blobs = blobs_of(&source);
    assert!(source_blobs.keys().any(|k| k.starts_with("readmes/")), "the seed spills a README: {source_blobs:?}");
    assert_eq!(source_blobs.keys().filter(|k| k.ends_with(".crate")).count(), 5);
    let source_cfg = path_in(&dir, "source.toml");
    write_config(&source_cfg, &source);

    // 2. To AWS, interrupted after a few copies, then resumed.
    let middle = create_aws_home();
    let middle_cfg = path_in(&dir, "aws.toml");
    std::fs::write(&middle_cfg, aws_config(&middle)).unwrap();
    let out = migrate(&source_cfg, &middle_cfg, &["--limit", "7", "--page-size", "3"]);
    out.assert_success().assert_output_contains("stopped after copying 7 items and blobs");
    let partial = middle.items().into_iter().filter(|(pk, _, _)| !pk.starts_with("MIGRATION#")).count();
    assert_eq!(partial, 7, "the interrupted run copied exactly 7 items:\n{out}");
    // A second interrupted run continues where the first stopped.
    let out = migrate(&source_cfg, &middle_cfg, &["--limit", "5", "--page-size", "2"]);
    out.assert_success().assert_output_contains("resuming the migration");
    let partial = middle.items().into_iter().filter(|(pk, _, _)| !pk.starts_with("MIGRATION#")).count();
    assert_eq!(partial, 12, "the second interrupted run copied 5 more items:\n{out}");
    let out = migrate(&source_cfg, &middle_cfg, &["--page-size", "4"]);
    out.assert_success().assert_output_contains("resuming the migration").assert_output_contains("verification passed");
    // Re-running a finished migration copies nothing and verifies again.
    let out = migrate(&source_cfg, &middle_cfg, &[]);
    out.assert_success().assert_output_contains("verification passed").assert_output_lacks("stopped after");

    // The AWS home serves the same index files and the same bytes.
    let flags = aws_flags(&middle);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let on_aws = TestServer::start_with_args(&flags);
    assert_eq!(index_files(&on_aws, &token), source_index, "index files on the AWS home");
    assert_eq!(middle.blobs(), source_blobs, "blobs on the AWS home");
    let http = on_aws.http();
    let (_, body) = &source_index["alpha"];
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(body).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cksum = lines[1]["cksum"].as_str().unwrap();
    let dl = http.download_url(Some(&token), "alpha", "1.1.0", cksum);
    let mut resp = http.get(&dl, Some(&token));
    if let Some(location) = resp.header("location") {
        resp = http.get(&location, None);
    }
    resp.assert_status(200);
    assert_eq!(sha256_hex(&resp.body), cksum, "download from the AWS home");
    drop(on_aws);
    // That download changed the AWS home: verifying against the source now reports it.
    let out = migrate(&source_cfg, &middle_cfg, &["--verify-only"]);
    out.assert_failure().assert_output_contains("the `downloads` items differ");

    // 3. Back to a fresh embedded home (a running server's own data directory).
    let back = TestServer::start();
    let back_cfg = path_in(&dir, "back.toml");
    write_config(&back_cfg, &back);
    let out = migrate(&middle_cfg, &back_cfg, &[]);
    out.assert_success().assert_output_contains("verification passed");
    assert_eq!(index_files(&back, &token), source_index, "index files after the round trip");
    assert_eq!(blobs_of(&back), source_blobs, "blobs after the round trip");
    // Tokens, owners and users came along.
    let owners = back.http().request(
        "GET",
        "/api/v1/crates/alpha/owners",
        Some(&token),
        &[("accept", "application/json")],
        None,
    );
    owners.assert_status(200);
    let logins: Vec<String> =
        owners.json()["users"].as_array().unwrap().iter().map(|u| u["login"].as_str().unwrap().to_owned()).collect();
    assert_eq!(logins, vec!["alice", "bob"]);
    let listed = back.cli_ok(&["token", "list", "--user", "bob"]);
    assert!(listed.contains("bob-laptop"), "{listed}");

    // A destination that already holds data is refused (no checkpoint of this source there).
    let out = migrate(&middle_cfg, &source_cfg, &[]);
    out.assert_failure().assert_output_contains("already holds");
}

#[test]
fn migrate_refuses_the_same_home_and_unknown_stores() {
    let dir = config_dir();
    let data = dir.path().join("data");
    let a = path_in(&dir, "a.toml");
    std::fs::write(&a, format!("data_dir = {:?}\n", data.to_string_lossy())).unwrap();
    migrate(&a, &a, &[]).assert_failure().assert_output_contains("same home");
    let bad = path_in(&dir, "bad.toml");
    std::fs::write(&bad, "[store]\nitem_store = \"postgres\"\n").unwrap();
    migrate(&a, &bad, &[]).assert_failure().assert_output_contains("bad.toml");
}
