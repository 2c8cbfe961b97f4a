//! Concurrent raw publishes against the real server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::publish::{CrateTarball, PublishRequest};
use common::{HttpResponse, TestServer, index_path, sha256_hex};

const ATTEMPTS: usize = 20;

/// Sends all requests at once (one task each) and returns the responses in request order.
fn put_all(server: &TestServer, token: &str, bodies: Vec<Vec<u8>>) -> Vec<HttpResponse> {
    let http = server.http();
    let url = http.url("/api/v1/crates/new");
    let client = http.client().clone();
    http.runtime().block_on(async move {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(bodies.len()));
        let mut tasks = Vec::new();
        for body in bodies {
            let client = client.clone();
            let url = url.clone();
            let token = token.to_string();
            let barrier = std::sync::Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                common::send(&client, "PUT", &url, Some(&token), &[("accept", "application/json")], Some(body)).await
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.expect("publish task"));
        }
        out
    })
}

fn summary(responses: &[HttpResponse]) -> String {
    responses.iter().enumerate().map(|(i, r)| format!("#{i}: {} {}", r.status, r.text())).collect::<Vec<_>>().join("\n")
}

/// 20 concurrent publishes of ONE version, each with a different archive: exactly one wins, the
/// others get a 4xx cargo error, and no trace of the losers remains (one index line, one `.crate`
/// file, and the stored file is the winner's).
#[test]
fn concurrent_publishes_of_one_version_have_exactly_one_winner() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let requests: Vec<PublishRequest> = (0..ATTEMPTS)
        .map(|i| {
            let tarball = CrateTarball::new("raktar-race", "1.0.0")
                .file("src/lib.rs", format!("pub const ATTEMPT: u32 = {i};\n"))
                .build();
            PublishRequest::new("raktar-race", "1.0.0").with_tarball(tarball)
        })
        .collect();
    let cksums: Vec<String> = requests.iter().map(PublishRequest::cksum).collect();
    assert_eq!(cksums.iter().collect::<BTreeSet<_>>().len(), ATTEMPTS, "every attempt must carry a distinct archive");

    let responses = put_all(&server, &token, requests.iter().map(PublishRequest::body).collect());
    let winners: Vec<usize> = responses.iter().enumerate().filter(|(_, r)| r.status == 200).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "exactly one concurrent publish must succeed:\n{}", summary(&responses));
    let winner = winners[0];
    for (i, resp) in responses.iter().enumerate() {
        if i != winner {
            let detail = resp.assert_cargo_error();
            assert!(!detail.is_empty(), "#{i}: empty error detail:\n{resp}");
        }
    }

    let http = server.http();
    let lines = http.index_lines("raktar-race", Some(&token));
    assert_eq!(lines.len(), 1, "exactly one index line: {lines:?}");
    assert_eq!(lines[0]["vers"], "1.0.0");
    assert_eq!(
        lines[0]["cksum"].as_str(),
        Some(cksums[winner].as_str()),
        "the index line must describe the winning upload (#{winner})"
    );

    // The blob store of either home (data dir files, or S3 objects on RAKTAR_TEST_HOME=aws).
    let crate_blobs = server.crate_blobs();
    let keys: Vec<&String> = crate_blobs.iter().map(|(k, _)| k).collect();
    assert_eq!(
        crate_blobs.len(),
        1,
        "exactly one .crate blob must remain (winner: #{winner}); found {keys:?}\n\
         all blobs: {:?}\nresponses:\n{}",
        server.stored_blobs(),
        summary(&responses)
    );
    assert_eq!(sha256_hex(&crate_blobs[0].1), cksums[winner], "the stored .crate must be the winner's archive");

    let url = http.download_url(Some(&token), "raktar-race", "1.0.0", &cksums[winner]);
    let download = http.get(&url, Some(&token));
    download.assert_status(200);
    assert_eq!(sha256_hex(&download.body), cksums[winner], "the download must match the index cksum");
}

/// 20 concurrent publishes of 20 different versions of one existing crate all land: no lost
/// index line, each line's cksum matches its upload.
#[test]
fn concurrent_publishes_of_distinct_versions_all_land() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let http = server.http();
    http.put_crate(PublishRequest::new("raktar-many", "1.0.0").body(), Some(&token)).assert_status(200);

    let requests: Vec<PublishRequest> =
        (1..=ATTEMPTS).map(|i| PublishRequest::new("raktar-many", &format!("1.0.{i}"))).collect();
    let responses = put_all(&server, &token, requests.iter().map(PublishRequest::body).collect());
    assert!(responses.iter().all(|r| r.status == 200), "every distinct version must publish:\n{}", summary(&responses));

    let resp = http.get_index(&index_path("raktar-many"), Some(&token), &[]);
    resp.assert_status(200);
    let lines = common::parse_index_file(&resp);
    assert_eq!(lines.len(), ATTEMPTS + 1, "one line per version:\n{resp}");
    let versions: BTreeSet<String> = lines.iter().map(|l| l["vers"].as_str().unwrap().to_string()).collect();
    assert_eq!(versions.len(), ATTEMPTS + 1, "no duplicate lines:\n{resp}");
    for req in &requests {
        let vers = req.metadata["vers"].as_str().unwrap();
        let line = lines
            .iter()
            .find(|l| l["vers"] == vers)
            .unwrap_or_else(|| panic!("version {vers} missing from the index:\n{resp}"));
        assert_eq!(line["cksum"].as_str(), Some(req.cksum().as_str()), "{line}");
    }
    assert_eq!(server.crate_blobs().len(), ATTEMPTS + 1, "{:?}", server.stored_blobs());
}
