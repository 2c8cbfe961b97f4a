//! Soak: a minute of mixed load on loopback with bounded concurrency (index fetches, publishes,
//! downloads, searches, GraphQL crate pages, yanks), then kill -9 rounds during a publish storm.
//!
//! After the load: zero 5xx and zero dropped requests; every acknowledged publish is in the index
//! with its checksum and its last acknowledged yank state, and downloads with those bytes; the
//! index and the blobs agree (every index line has its `.crate`, and, without a crash, no `.crate`
//! is unreferenced). After each kill -9: everything acknowledged before the kill is there (a yank
//! whose answer the kill cut off may have committed or not: either state is right for that
//! version until its next acknowledged yank), and the index lines all have their blobs; then the orphan sweep leaves no unreferenced `.crate` and no
//! temporary file, and keeps everything a version refers to.
//!
//! `RAKTAR_SOAK_SECS` sets the duration of the mixed load (default 60).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::publish::PublishRequest;
use common::{TestServer, index_path, sha256_hex};
use serde_json::json;

/// Concurrent clients.
const WORKERS: usize = 8;
/// Crates the load works on.
const CRATES: [&str; 5] = ["soak-a", "soak-b", "soak-c", "Soak_D", "soak-e"];

/// A version the server acknowledged (200 to the publish).
#[derive(Debug, Clone)]
struct Acked {
    krate: &'static str,
    vers: String,
    cksum: String,
    /// The last acknowledged yank state (only the worker that published a version yanks it).
    yanked: bool,
    /// A later yank or unyank got no answer (the server was killed while it ran): it may or may
    /// not have committed, so either state is right until the next acknowledged one.
    in_doubt: bool,
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    by_kind: Mutex<BTreeMap<&'static str, u64>>,
    problems: Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, kind: &'static str, status: Option<u16>, detail: impl FnOnce() -> String) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *self.by_kind.lock().unwrap().entry(kind).or_default() += 1;
        let bad = match status {
            None => {
                self.transport_errors.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(s) if s >= 500 => {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => false,
        };
        if bad {
            let mut problems = self.problems.lock().unwrap();
            if problems.len() < 20 {
                problems.push(format!("{kind}: {status:?} {}", detail()));
            }
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A fresh version string, unique across workers and rounds.
fn next_version(counter: &AtomicU64) -> String {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    format!("1.{}.{}", n / 1000, n % 1000)
}

async fn publish(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    krate: &'static str,
    vers: &str,
) -> Result<Option<Acked>, String> {
    let req = PublishRequest::new(krate, vers).field("readme", json!(format!("# {krate} {vers}\n")));
    let cksum = req.cksum();
    let resp = client
        .put(format!("{base}/api/v1/crates/new"))
        .header("authorization", token)
        .body(req.body())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    if status >= 500 {
        return Err(format!("publish {krate}@{vers}: {status} {}", resp.text().await.unwrap_or_default()));
    }
    Ok((status == 200).then(|| Acked { krate, vers: vers.to_owned(), cksum, yanked: false, in_doubt: false }))
}

/// One worker's loop: a weighted mix of operations until `deadline`.
async fn worker(
    id: usize,
    base: String,
    token: String,
    deadline: Instant,
    tally: Arc<Tally>,
    counter: Arc<AtomicU64>,
    acked: Arc<Mutex<Vec<Acked>>>,
) {
    let client = client();
    let mut mine: Vec<usize> = Vec::new();
    let mut step = id as u64 * 7919;
    while Instant::now() < deadline {
        step = step.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let pick = (step >> 33) % 100;
        let krate = CRATES[((step >> 20) % CRATES.len() as u64) as usize];
        let known: Vec<Acked> = acked.lock().unwrap().clone();
        match pick {
            0..40 => {
                let url = format!("{base}/index/{}", index_path(krate));
                let r =
                    client.get(&url).header("authorization", &token).header("cargo-protocol", "version=1").send().await;
                let status = r.as_ref().ok().map(|r| r.status().as_u16());
                tally.record("index", status, || url.clone());
            }
            40..55 if !known.is_empty() => {
                let a = &known[(step >> 11) as usize % known.len()];
                let url = format!("{base}/api/v1/crates/{}/{}/download", a.krate, a.vers);
                // (Not `common::send`: a request to a server killed by the test must not panic.)
                let resp = client.get(&url).header("authorization", &token).send().await;
                let status = match resp {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.bytes().await.unwrap_or_default();
                        if status == 200 && sha256_hex(&body) != a.cksum {
                            tally.problems.lock().unwrap().push(format!("download {url}: wrong bytes"));
                        }
                        Some(status)
                    }
                    Err(_) => None,
                };
                tally.record("download", status, || url.clone());
            }
            55..65 => {
                let url = format!("{base}/api/v1/crates?q=soak&per_page=10");
                let r = client.get(&url).header("authorization", &token).send().await;
                let status = r.as_ref().ok().map(|r| r.status().as_u16());
                tally.record("search", status, || url.clone());
            }
            65..75 => {
                let query = "query($n: String!) { crate(name: $n) { name maxVersion description owners { login } \
                             versions { version yanked } defaultVersion { readme dependencies { name } } downloads { total } } }";
                let r = client
                    .post(format!("{base}/graphql"))
                    .header("authorization", &token)
                    .json(&json!({"query": query, "variables": {"n": krate}}))
                    .send()
                    .await;
                let status = r.as_ref().ok().map(|r| r.status().as_u16());
                tally.record("graphql", status, || krate.to_owned());
            }
            75..92 => {
                let vers = next_version(&counter);
                match publish(&client, &base, &token, krate, &vers).await {
                    Ok(Some(a)) => {
                        let mut all = acked.lock().unwrap();
                        all.push(a);
                        mine.push(all.len() - 1);
                        tally.record("publish", Some(200), String::new);
                    }
                    Ok(None) => tally.record("publish", Some(409), String::new),
                    Err(e) => tally.record("publish", if e.contains(": 5") { Some(500) } else { None }, || e),
                }
            }
            _ if !mine.is_empty() => {
                let i = mine[(step >> 13) as usize % mine.len()];
                let a = acked.lock().unwrap()[i].clone();
                let (method, action) =
                    if a.yanked { (reqwest::Method::PUT, "unyank") } else { (reqwest::Method::DELETE, "yank") };
                let url = format!("{base}/api/v1/crates/{}/{}/{action}", a.krate, a.vers);
                let r = client.request(method, &url).header("authorization", &token).send().await;
                let status = r.as_ref().ok().map(|r| r.status().as_u16());
                if status == Some(200) {
                    let mut all = acked.lock().unwrap();
                    all[i].yanked = !a.yanked;
                    all[i].in_doubt = false;
                } else if status.is_none() {
                    acked.lock().unwrap()[i].in_doubt = true;
                }
                tally.record("yank", status, || url.clone());
            }
            _ => {}
        }
    }
}

/// Every acknowledged version is in the index with its checksum and yank state; every index line
/// has its `.crate` blob; with `no_orphans`, every `.crate` blob is in the index.
fn check_consistency(server: &TestServer, token: &str, acked: &[Acked], no_orphans: bool) {
    let http = server.http();
    let mut lines: BTreeMap<String, (String, String, bool)> = BTreeMap::new();
    for krate in CRATES {
        let resp = http.get_index(&index_path(krate), Some(token), &[]);
        if resp.status == 404 {
            continue;
        }
        resp.assert_status(200);
        for line in common::parse_index_file(&resp) {
            let name = line["name"].as_str().unwrap().to_owned();
            let vers = line["vers"].as_str().unwrap().to_owned();
            lines.insert(
                format!("{}@{vers}", name.to_lowercase()),
                (name, line["cksum"].as_str().unwrap().to_owned(), line["yanked"].as_bool().unwrap_or(false)),
            );
        }
    }
    let mut missing = Vec::new();
    for a in acked {
        match lines.get(&format!("{}@{}", a.krate.to_lowercase(), a.vers)) {
            Some((name, cksum, yanked)) => {
                assert_eq!(name, a.krate, "the index keeps the published spelling");
                assert_eq!(cksum, &a.cksum, "{}@{}: checksum", a.krate, a.vers);
                if !a.in_doubt {
                    assert_eq!(*yanked, a.yanked, "{}@{}: last acknowledged yank state", a.krate, a.vers);
                }
            }
            None => missing.push(format!("{}@{}", a.krate, a.vers)),
        }
    }
    assert!(missing.is_empty(), "acknowledged publishes missing from the index: {missing:?}\n{}", server.logs());
    let blob_sums: BTreeMap<String, String> =
        server.crate_blobs().into_iter().map(|(key, bytes)| (sha256_hex(&bytes), key)).collect();
    let unbacked: Vec<&String> =
        lines.iter().filter(|(_, (_, c, _))| !blob_sums.contains_key(c)).map(|(k, _)| k).collect();
    assert!(unbacked.is_empty(), "index lines without their .crate: {unbacked:?}");
    if no_orphans {
        let indexed: std::collections::BTreeSet<&String> = lines.values().map(|(_, c, _)| c).collect();
        let orphans: Vec<&String> = blob_sums.iter().filter(|(c, _)| !indexed.contains(c)).map(|(_, k)| k).collect();
        assert!(orphans.is_empty(), ".crate blobs no version refers to: {orphans:?}");
    }
    // Every acknowledged version downloads with its bytes (a sample, to bound the time).
    for a in acked.iter().step_by((acked.len() / 25).max(1)) {
        let url = http.download_url(Some(token), a.krate, &a.vers, &a.cksum);
        let resp = http.get(&url, Some(token));
        resp.assert_status(200);
        assert_eq!(sha256_hex(&resp.body), a.cksum, "{}@{}: downloaded bytes", a.krate, a.vers);
    }
}

fn soak_secs() -> u64 {
    std::env::var("RAKTAR_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60)
}

/// Runs the mixed load against `server` for `secs` seconds.
fn run_load(
    server: &TestServer,
    token: &str,
    secs: f64,
    counter: &Arc<AtomicU64>,
    acked: &Arc<Mutex<Vec<Acked>>>,
) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    rt.block_on(async {
        let tasks: Vec<_> = (0..WORKERS)
            .map(|id| {
                tokio::spawn(worker(
                    id,
                    server.url.clone(),
                    token.to_owned(),
                    deadline,
                    tally.clone(),
                    counter.clone(),
                    acked.clone(),
                ))
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    tally
}

#[test]
fn a_minute_of_mixed_load() {
    let server = TestServer::start();
    let token = server.user_with_token("alice");
    let counter = Arc::new(AtomicU64::new(1));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let secs = soak_secs();
    let started = Instant::now();
    let tally = run_load(&server, &token, secs as f64, &counter, &acked);
    let elapsed = started.elapsed();
    let problems = tally.problems.lock().unwrap().clone();
    let requests = tally.requests.load(Ordering::Relaxed);
    eprintln!(
        "soak: {requests} requests in {elapsed:?} ({:.0}/s) by kind {:?}; {} acknowledged publishes",
        requests as f64 / elapsed.as_secs_f64(),
        tally.by_kind.lock().unwrap(),
        acked.lock().unwrap().len()
    );
    assert!(problems.is_empty(), "problems under load:\n{}\n{}", problems.join("\n"), server.logs());
    assert_eq!(tally.server_errors.load(Ordering::Relaxed), 0);
    assert_eq!(tally.transport_errors.load(Ordering::Relaxed), 0);
    assert!(acked.lock().unwrap().len() >= 10, "the load must publish");
    check_consistency(&server, &token, &acked.lock().unwrap(), true);
}

#[test]
fn kill_9_during_load_loses_nothing_acknowledged() {
    let mut server = TestServer::start();
    let token = server.user_with_token("alice");
    let counter = Arc::new(AtomicU64::new(1));
    let acked = Arc::new(Mutex::new(Vec::new()));
    for round in 0..3 {
        // Load in the background; kill the server in the middle of it.
        let load = {
            let url = server.url.clone();
            let token = token.clone();
            let (counter, acked) = (counter.clone(), acked.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
                let deadline = Instant::now() + Duration::from_secs(4);
                rt.block_on(async {
                    let tasks: Vec<_> = (0..WORKERS)
                        .map(|id| {
                            tokio::spawn(worker(
                                id,
                                url.clone(),
                                token.clone(),
                                deadline,
                                Arc::new(Tally::default()),
                                counter.clone(),
                                acked.clone(),
                            ))
                        })
                        .collect();
                    for t in tasks {
                        let _ = t.await;
                    }
                });
            })
        };
        std::thread::sleep(Duration::from_millis(1200 + 400 * round));
        server.kill9_and_restart();
        load.join().unwrap();
        // Requests in flight at the kill failed; everything acknowledged before it must be there.
        check_consistency(&server, &token, &acked.lock().unwrap(), false);
    }
    assert!(acked.lock().unwrap().len() >= 10, "the storm must publish");

    // The orphan sweep removes what the kills left behind (unreferenced `.crate` files, temporary
    // files of interrupted writes) and nothing a version refers to.
    std::thread::sleep(Duration::from_millis(1500));
    let report = server.cli_ok(&["sweep", "--grace", "1s"]);
    eprintln!("sweep after the kill -9 rounds: {}", report.trim());
    check_consistency(&server, &token, &acked.lock().unwrap(), true);
    let temporaries: Vec<_> = server
        .all_files()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".~tmp")))
        .collect();
    assert!(temporaries.is_empty(), "temporary files left after the sweep: {temporaries:?}");
}
