//! The GraphQL step of `cargo xtask bench`: the web UI's crate page (crate, versions, owners, README,
//! 90 days of downloads) of the crates with 50+ versions, and search pages of 20 results, as
//! sequential `POST /graphql` requests on one keep-alive connection. The queries are the ones the
//! store-read test uses (`fixtures/graphql/*.graphql`).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::raw::RawClient;
use super::report::{Report, ms, percentile};
use super::seed;

const CRATE_PAGE: &str = include_str!("../../../../fixtures/graphql/crate-page.graphql");
const CRATE_PAGE_ALL_VERSIONS: &str = include_str!("../../../../fixtures/graphql/crate-page-all-versions.graphql");
const SEARCH_PAGE: &str = include_str!("../../../../fixtures/graphql/search-page.graphql");

/// Target of both pages (p50, sequential requests).
const TARGET: Duration = Duration::from_millis(10);
/// Warm-up requests of each page before measuring.
const WARMUP: usize = 20;

pub struct GraphqlLoad {
    /// Sequential requests per page.
    pub requests: usize,
    /// Upper bound of each measuring loop.
    pub budget: Duration,
}

/// Sends one GraphQL request; fails unless it answers 200 without errors. Returns the body size
/// and the `data`.
fn post(raw: &mut RawClient, query: &str, variables: Value) -> Result<(usize, Value)> {
    let body = serde_json::to_vec(&json!({ "query": query, "variables": variables }))?;
    let (status, answer) = raw.request_with("POST", "/graphql", &[("Content-Type", "application/json")], &body)?;
    ensure!(status == 200, "POST /graphql answered {status}: {}", String::from_utf8_lossy(&answer));
    let json: Value = serde_json::from_slice(&answer).context("the GraphQL answer is not JSON")?;
    ensure!(json.get("errors").is_none(), "GraphQL errors: {}", json["errors"]);
    Ok((answer.len(), json["data"].clone()))
}

fn stats(latencies: &[Duration]) -> String {
    format!(
        "{} / {} / {}",
        ms(percentile(latencies, 90.0)),
        ms(percentile(latencies, 99.0)),
        ms(latencies.iter().max().copied().unwrap_or_default())
    )
}

fn kib(bytes: usize, n: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / n.max(1) as f64 / 1024.0)
}

/// Sequential crate pages of the given query over `crates`; returns the latencies and total bytes.
fn crate_pages(
    raw: &mut RawClient,
    query: &str,
    crates: &[&String],
    load: &GraphqlLoad,
    report: &mut Report,
) -> Result<(Vec<Duration>, usize)> {
    let page = |raw: &mut RawClient, i: usize| post(raw, query, json!({ "name": crates[i % crates.len()] }));
    let (_, first) = page(raw, 0)?;
    let versions = first["crate"]["versions"].as_array().map_or(0, Vec::len);
    ensure!(versions >= 50, "the crate page of {} lists {versions} versions", crates[0]);
    ensure!(first["crate"]["downloads"]["daily"].as_array().map_or(0, Vec::len) == 90, "no 90-day series: {first}");
    for i in 0..WARMUP {
        page(raw, i)?;
    }
    let mut latencies = Vec::new();
    let mut bytes = 0;
    let started = Instant::now();
    for i in 0..load.requests {
        if started.elapsed() > load.budget {
            report.note(format!("GraphQL crate-page loop stopped at its budget after {i} requests."));
            break;
        }
        let t = Instant::now();
        let (size, _) = page(raw, i)?;
        latencies.push(t.elapsed());
        bytes += size;
    }
    Ok((latencies, bytes))
}

pub fn run(
    base: &str,
    token: &str,
    registry: &seed::Registry,
    crates_total: usize,
    load: &GraphqlLoad,
    report: &mut Report,
) -> Result<()> {
    let mut raw = RawClient::new(base, Some(token))?;
    let heavy: Vec<&String> = registry.crates.iter().filter(|c| registry.version_count(c) >= 50).collect();
    ensure!(!heavy.is_empty(), "the seeded registry has no crate with 50+ versions");

    // Some downloads, so the per-day series and the totals have data (one DL item per crate today).
    for name in &heavy {
        let latest = registry.latest(name).with_context(|| format!("{name} has no release"))?;
        for _ in 0..3 {
            let (status, _) = raw.request("GET", &format!("/api/v1/crates/{name}/{}/download", latest.vers), &[])?;
            ensure!(status == 200, "downloading {name} {} answered {status}", latest.vers);
        }
    }

    // Crate page: what the web UI shows, then the heavier variant with every version's details.
    let (latencies, bytes) = crate_pages(&mut raw, CRATE_PAGE, &heavy, load, report)?;
    let p50 = percentile(&latencies, 50.0);
    report.check(
        "GraphQL",
        format!(
            "crate page p50 (crate, version list, owners, README, default version's features and dependencies, \
             90 days of downloads; {} sequential, rotating over the {} crates with 50-80 versions; {crates_total} crates)",
            latencies.len(),
            heavy.len()
        ),
        ms(p50),
        "< 10 ms",
        p50 < TARGET,
    );
    report.info("GraphQL", "crate page p90 / p99 / max", stats(&latencies));
    report.info("GraphQL", "crate page response size (mean)", kib(bytes, latencies.len()));
    let (latencies, bytes) = crate_pages(&mut raw, CRATE_PAGE_ALL_VERSIONS, &heavy, load, report)?;
    report.info(
        "GraphQL",
        "crate page with the features and dependencies of every version: p50 / p90 / p99 (response size)",
        format!(
            "{} / {} / {} ({})",
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 90.0)),
            ms(percentile(&latencies, 99.0)),
            kib(bytes, latencies.len())
        ),
    );

    // Search pages of 20: every crate (paged by cursor) and the harness's varied queries.
    let mut queries: Vec<(String, Option<String>)> = vec![(String::new(), None)];
    let (_, all) = post(&mut raw, SEARCH_PAGE, json!({ "q": "" }))?;
    if let Some(cursor) = all["crates"]["pageInfo"]["endCursor"].as_str() {
        queries.push((String::new(), Some(cursor.to_owned())));
    }
    queries.extend(seed::search_queries().into_iter().map(|q| (q, None)));
    let search = |raw: &mut RawClient, i: usize| {
        let (q, after) = &queries[i % queries.len()];
        post(raw, SEARCH_PAGE, json!({ "q": q, "after": after }))
    };
    for i in 0..WARMUP {
        search(&mut raw, i)?;
    }
    let mut latencies = Vec::new();
    let mut full_pages = 0;
    let started = Instant::now();
    for i in 0..load.requests {
        if started.elapsed() > load.budget {
            report.note(format!("GraphQL search loop stopped at its budget after {i} requests."));
            break;
        }
        let t = Instant::now();
        let (_, data) = search(&mut raw, i)?;
        latencies.push(t.elapsed());
        if data["crates"]["edges"].as_array().map_or(0, Vec::len) == 20 {
            full_pages += 1;
        }
    }
    let p50 = percentile(&latencies, 50.0);
    report.check(
        "GraphQL",
        format!(
            "search page of 20 p50 ({} sequential over {} queries, {crates_total} crates; {full_pages} pages full)",
            latencies.len(),
            queries.len()
        ),
        ms(p50),
        "< 10 ms",
        p50 < TARGET,
    );
    report.info("GraphQL", "search page p90 / p99 / max", stats(&latencies));
    Ok(())
}
