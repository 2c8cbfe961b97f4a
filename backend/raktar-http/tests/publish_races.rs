//! Concurrent raw publishes through the router in process (`common::App` over in-memory stores),
//! from one registry instance (its per-crate locks take turns) and from several instances over the
//! same stores (as several server processes or Lambda instances: only the store's conditional
//! writes and the optimistic retries decide).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use common::{App, Reply, send};
use raktar_core::testkit::fixtures::{CrateTarball, PublishRequest};
use sha2::{Digest, Sha256};

const ATTEMPTS: usize = 20;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends every body at once (one task each, released together), the i-th through
/// `routers[i % routers.len()]`; returns the responses in request order.
async fn put_all(routers: &[Router], token: &str, bodies: Vec<Vec<u8>>) -> Vec<Reply> {
    let barrier = Arc::new(tokio::sync::Barrier::new(bodies.len()));
    let mut tasks = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let router = routers[i % routers.len()].clone();
        let token = token.to_owned();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            send(&router, "PUT", "/api/v1/crates/new", Some(&token), &[("accept", "application/json")], Some(body))
                .await
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("publish task"));
    }
    out
}

fn summary(responses: &[Reply]) -> String {
    responses.iter().enumerate().map(|(i, r)| format!("#{i}: {} {}", r.status, r.text())).collect::<Vec<_>>().join("\n")
}

/// The `.crate` blobs of the store: (key, bytes).
fn crate_blobs(app: &App) -> Vec<(String, Vec<u8>)> {
    app.test.blobs.snapshot().into_iter().filter(|(k, _)| k.ends_with(".crate")).map(|(k, v)| (k, v.to_vec())).collect()
}

/// `instances` registries over one store; alice's token.
async fn setup(instances: usize) -> (App, Vec<Router>, String) {
    let mut app = App::new();
    app.test.add_user("alice").await;
    let token = app.test.mint("alice", &[], &[]).await.secret;
    let mut routers = vec![app.router()];
    routers.extend((1..instances).map(|_| app.second_instance()));
    (app, routers, token)
}

/// 20 concurrent publishes of ONE version, each with a different archive: exactly one wins, the
/// others get a 4xx cargo error, and no trace of the losers remains (one index line, one `.crate`
/// blob, and the stored file is the winner's).
async fn one_version_has_exactly_one_winner(instances: usize) {
    let (app, routers, token) = setup(instances).await;
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

    let responses = put_all(&routers, &token, requests.iter().map(PublishRequest::body).collect()).await;
    let winners: Vec<usize> = responses.iter().enumerate().filter(|(_, r)| r.status == 200).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "exactly one concurrent publish must succeed:\n{}", summary(&responses));
    let winner = winners[0];
    for (i, resp) in responses.iter().enumerate() {
        if i != winner {
            assert!((400..500).contains(&resp.status), "#{i}: a loser gets a 4xx:\n{resp}");
            let detail = resp.assert_cargo_error();
            assert!(!detail.is_empty(), "#{i}: empty error detail:\n{resp}");
        }
    }

    // Every instance serves the winner's line.
    for router in &routers {
        let resp = send(router, "GET", "/index/ra/kt/raktar-race", Some(&token), &[], None).await;
        resp.assert_status(200);
        let lines: Vec<serde_json::Value> = resp.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1, "exactly one index line: {lines:?}");
        assert_eq!(lines[0]["vers"], "1.0.0");
        assert_eq!(
            lines[0]["cksum"].as_str(),
            Some(cksums[winner].as_str()),
            "the index line must describe the winning upload (#{winner})"
        );
    }

    let blobs = crate_blobs(&app);
    let keys: Vec<&String> = blobs.iter().map(|(k, _)| k).collect();
    assert_eq!(blobs.len(), 1, "exactly one .crate blob must remain (winner: #{winner}); found {keys:?}");
    assert_eq!(sha256_hex(&blobs[0].1), cksums[winner], "the stored .crate must be the winner's archive");

    let download = app.call("GET", "/api/v1/crates/raktar-race/1.0.0/download", Some(&token), &[], None).await;
    download.assert_status(200);
    assert_eq!(sha256_hex(&download.body), cksums[winner], "the download must match the index cksum");
}

/// 20 concurrent publishes of 20 different versions of one existing crate all land: no lost
/// index line, each line's cksum matches its upload.
async fn distinct_versions_all_land(instances: usize) {
    let (app, routers, token) = setup(instances).await;
    app.put_crate(PublishRequest::new("raktar-many", "1.0.0").body(), Some(&token)).await.assert_status(200);

    let requests: Vec<PublishRequest> =
        (1..=ATTEMPTS).map(|i| PublishRequest::new("raktar-many", &format!("1.0.{i}"))).collect();
    let responses = put_all(&routers, &token, requests.iter().map(PublishRequest::body).collect()).await;
    assert!(responses.iter().all(|r| r.status == 200), "every distinct version must publish:\n{}", summary(&responses));

    for router in &routers {
        let resp = send(router, "GET", "/index/ra/kt/raktar-many", Some(&token), &[], None).await;
        resp.assert_status(200);
        let lines: Vec<serde_json::Value> = resp.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
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
    }
    assert_eq!(crate_blobs(&app).len(), ATTEMPTS + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_of_one_version_have_exactly_one_winner() {
    one_version_has_exactly_one_winner(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_of_distinct_versions_all_land() {
    distinct_versions_all_land(1).await;
}

/// Four instances, no shared lock: the conditional writes alone leave one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_version_from_four_instances_has_exactly_one_winner() {
    one_version_has_exactly_one_winner(4).await;
}

/// Four instances, no shared lock: the optimistic retries lose no version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distinct_versions_from_four_instances_all_land() {
    distinct_versions_all_land(4).await;
}
