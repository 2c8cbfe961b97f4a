//! `cargo xtask bench-ui`: the web UI's budgets, measured in headless Chromium against a release
//! `raktar serve` on loopback (see `docs/performance.md`):
//!
//! 1. build the release server and the UI (when needed), start the server in private mode with the
//!    UI, an administrator with a password and a token;
//! 2. seed the registry through the publish API: a search corpus (10,000 crates in all) and one
//!    crate with 80 versions, each with a 30 KB README, dependencies of every kind and features;
//! 3. run `frontend/bench/ui.bench.ts` (Playwright): the crate page's largest contentful paint in
//!    fresh browser contexts, search as you type a character at a time, the JavaScript fetched;
//! 4. the initial JavaScript of `frontend/dist/index.html` (its script and module preloads) gzipped;
//! 5. a Markdown report (`target/bench/ui-report.md` by default).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

use super::client::Client;
use super::report::{Report, ms};
use super::seed::{self, CrateMeta, Dep, DepKind, Release};
use super::{Setup, procs, publish_concurrently, start_raktar, step, workspace_root};

const LOGIN: &str = "bench-admin";
/// A throwaway password for the throwaway data directory.
const PASSWORD: &str = "bench password, loopback only";
/// The crate the crate-page figures are taken on.
const SHOWCASE: &str = "showcase-engine";

#[derive(clap::Args, Debug, Clone)]
pub struct UiBenchArgs {
    /// Use this raktar binary instead of building `target/release/raktar`.
    #[arg(long, value_name = "PATH")]
    raktar_bin: Option<PathBuf>,
    /// Do not run `cargo build --release -p raktar` (use the existing release binary).
    #[arg(long)]
    no_build: bool,
    /// Crates in the registry (the showcase crate included).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    crates: usize,
    /// Versions of the showcase crate.
    #[arg(long, value_name = "N", default_value_t = 80)]
    versions: usize,
    /// Size of the showcase crate's README, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 30)]
    readme_kib: usize,
    /// Measured loads of the crate page (after one warm-up load).
    #[arg(long, value_name = "N", default_value_t = 15)]
    rounds: usize,
    /// Where to write the Markdown report (default: target/bench/ui-report.md).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Keep the temporary directory (data directory, server log, raw figures).
    #[arg(long)]
    keep: bool,
    /// Exit with an error when a budget is missed.
    #[arg(long)]
    strict: bool,
}

/// Terms typed into the header's box, a character at a time (every prefix is measured once).
const TYPED: &[&str] = &[
    "http",
    "json parser",
    "async",
    "crypto",
    "tokio",
    "serde",
    "swift-grpc",
    "coral",
    "image decoding",
    "zzqx",
    "web framework",
    "sable",
    "metrics",
    "uuid",
    "lock-free",
];

pub async fn run(args: UiBenchArgs) -> Result<()> {
    super::install_signal_handlers();
    ensure!(
        args.versions >= 1 && args.crates >= 1 && args.rounds >= 1,
        "--versions, --crates and --rounds must be >= 1"
    );
    let root = workspace_root()?;
    let target_dir = super::target_dir(&root);
    let out_path = args.out.clone().unwrap_or_else(|| target_dir.join("bench/ui-report.md"));
    if let Some(dir) = out_path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {dir:?}"))?;
    }
    let raktar = super::release_raktar(&root, &target_dir, args.raktar_bin.as_deref(), args.no_build)?;
    step("the web UI (frontend/dist)");
    let dist = crate::serve::ensure_ui_built(&root)?;

    let tmp =
        tempfile::Builder::new().prefix("raktar-bench-ui-").tempdir().context("creating the temporary directory")?;
    let (work, _guard) = if args.keep { (tmp.keep(), None) } else { (tmp.path().to_path_buf(), Some(tmp)) };
    eprintln!("bench-ui: working directory {}", work.display());
    let setup = Setup {
        raktar,
        wrk: None,
        nginx: None,
        raktar_log: work.join("raktar.log"),
        out_dir: out_path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        work: work.clone(),
    };

    let mut report = Report::default();
    report.context.push((
        "Command".into(),
        format!("`cargo xtask bench-ui` ({} crates, {} measured crate-page loads)", args.crates, args.rounds),
    ));
    report.context.push(("Browser".into(), super::command_output(Path::new(&chromium()), &["--version"])));
    report
        .context
        .push(("Machine".into(), format!("{} cores", std::thread::available_parallelism().map_or(0, |n| n.get()))));
    let outcome = measure(&args, &root, &dist, &setup, &mut report).await;
    if let Err(e) = &outcome {
        report.note(format!("**The run stopped with an error**: {e:#}"));
        eprintln!("\nbench-ui: failed; last lines of the raktar log:\n{}", procs::tail(&setup.raktar_log, 30));
    }
    let rendered = report.render().replacen("# Raktar benchmark report", "# Raktar web UI benchmark report", 1);
    fs::write(&out_path, &rendered).with_context(|| format!("writing {out_path:?}"))?;
    println!("\n{rendered}");
    eprintln!("bench-ui: report written to {}", out_path.display());
    if args.keep {
        eprintln!("bench-ui: kept {}", work.display());
    }
    outcome?;
    let (met, checked) = report.targets();
    if args.strict && met < checked {
        bail!("{} of {checked} budgets missed", checked - met);
    }
    Ok(())
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

async fn measure(args: &UiBenchArgs, root: &Path, dist: &Path, setup: &Setup, report: &mut Report) -> Result<()> {
    // 1. The server, private, with the UI; an administrator with a password and a token.
    step("creating the administrator, starting raktar with the UI");
    let data = setup.work.join("data");
    fs::create_dir_all(&data).with_context(|| format!("creating {data:?}"))?;
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(&setup.raktar);
        cmd.args(args).arg("--data-dir").arg(&data).env("RUST_LOG", "warn");
        cmd
    };
    procs::run_captured(cli(&["user", "create", LOGIN, "--admin"]), "raktar user create")?;
    set_password(cli(&["user", "set-password", LOGIN]))?;
    let token =
        procs::run_captured(cli(&["token", "create", "--user", LOGIN, "--name", "bench-ui"]), "raktar token create")?
            .trim()
            .to_owned();
    let (server, base) = start_raktar(setup, &data, &[OsStr::new("--ui-dir"), dist.as_os_str()]).await?;
    let client = Client::new(&base, Some(&token))?;

    // 2. The registry.
    let corpus = seed::search_corpus(args.crates.saturating_sub(1), &HashSet::new());
    step(&format!("seeding {} crates (8 publishes in flight)", corpus.len()));
    let started = Instant::now();
    let done = publish_concurrently(&client, &corpus, 8, started + Duration::from_secs(600)).await?;
    ensure!(done == corpus.len(), "seeding stopped after {done} of {} crates", corpus.len());
    let seeding = started.elapsed();
    let showcase = showcase(&corpus, args.versions, args.readme_kib * 1024);
    let readme_bytes = showcase[0].meta.readme.as_ref().map_or(0, String::len);
    step(&format!("publishing {SHOWCASE}: {} versions, README of {readme_bytes} bytes", showcase.len()));
    for release in &showcase {
        client
            .publish(release.publish_body()?)
            .await
            .with_context(|| format!("publishing {SHOWCASE} {}", release.vers))?;
    }
    report.info(
        "Seeding",
        format!(
            "{} crates through the publish API; {SHOWCASE}: {} versions, {readme_bytes}-byte README",
            done + 1,
            showcase.len()
        ),
        format!("{:.1} s", seeding.as_secs_f64()),
    );

    // 3. The browser figures.
    let frontend = root.join("frontend");
    crate::serve::ensure_node_modules(&frontend)?;
    let figures_path = setup.work.join("ui-figures.json");
    step(&format!("Chromium: {} crate-page loads, search as you type ({} terms)", args.rounds + 1, TYPED.len()));
    let queries = serde_json::to_string(TYPED).context("encoding the terms")?;
    let status = Command::new("npx")
        .args(["playwright", "test", "-c", "playwright.bench.config.ts"])
        .current_dir(&frontend)
        .env("BENCH_BASE_URL", &base)
        .env("BENCH_CRATE", SHOWCASE)
        .env("BENCH_LOGIN", LOGIN)
        .env("BENCH_PASSWORD", PASSWORD)
        .env("BENCH_ROUNDS", args.rounds.to_string())
        .env("BENCH_QUERIES", &queries)
        .env("BENCH_OUT", &figures_path)
        .stdin(Stdio::null())
        .status()
        .context("running npx playwright (is Node.js installed?)")?;
    ensure!(status.success(), "the browser benchmark failed ({status})");
    drop(server);
    let figures: Value =
        serde_json::from_slice(&fs::read(&figures_path).with_context(|| format!("reading {figures_path:?}"))?)
            .context("the browser figures are not JSON")?;

    // 4. Initial JavaScript.
    let (initial, files) = initial_javascript(dist)?;
    report.check(
        "JavaScript",
        format!("initial JavaScript, gzip -6 ({files} files: index.html's script and module preloads)"),
        format!("{:.1} KB", initial as f64 / 1000.0),
        "<= 150 KB",
        initial <= 150_000,
    );
    describe_scripts(&figures, report);
    describe_lcp(&figures, args.rounds, report)?;
    describe_typing(&figures, done + 1, report)?;
    Ok(())
}

/// `raktar user set-password LOGIN` with the password on stdin.
fn set_password(mut cmd: Command) -> Result<()> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running raktar user set-password")?;
    child.stdin.take().context("no stdin")?.write_all(format!("{PASSWORD}\n").as_bytes())?;
    let out = child.wait_with_output().context("waiting for raktar user set-password")?;
    ensure!(out.status.success(), "raktar user set-password failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// The showcase crate: `versions` releases sharing a README of about `readme_bytes`, with normal,
/// optional, target-specific, build and dev dependencies on corpus crates, and features.
fn showcase(corpus: &[Release], versions: usize, readme_bytes: usize) -> Vec<Release> {
    let dep = |r: &Release, kind: DepKind, optional: bool, target: Option<&str>| Dep {
        name: r.name.clone(),
        req: format!("^{}", r.vers),
        kind,
        optional,
        default_features: true,
        features: Vec::new(),
        target: target.map(str::to_owned),
    };
    let mut deps = Vec::new();
    let pick = |i: usize| &corpus[i % corpus.len()];
    for i in 0..6 {
        deps.push(dep(pick(i), DepKind::Normal, false, None));
    }
    deps.push(dep(pick(6), DepKind::Normal, true, None));
    deps.push(dep(pick(7), DepKind::Normal, false, Some("cfg(unix)")));
    deps.push(dep(pick(8), DepKind::Normal, false, Some("cfg(windows)")));
    deps.push(dep(pick(9), DepKind::Build, false, None));
    deps.push(dep(pick(10), DepKind::Dev, false, None));
    deps.push(dep(pick(11), DepKind::Dev, false, None));
    let optional = pick(6).name.clone();
    let mut features = std::collections::BTreeMap::new();
    features.insert("default".to_owned(), vec!["std".to_owned()]);
    features.insert("std".to_owned(), Vec::new());
    features.insert("tls".to_owned(), vec![format!("dep:{optional}")]);
    features.insert("full".to_owned(), vec!["std".to_owned(), "tls".to_owned()]);
    let meta = Arc::new(CrateMeta {
        description: "A showcase engine: the crate page benchmark's crate, with a long history and README".to_owned(),
        keywords: vec!["engine".into(), "benchmark".into(), "showcase".into()],
        categories: vec!["development-tools".into()],
        repository: Some(format!("https://git.example.invalid/bench/{SHOWCASE}")),
        homepage: None,
        documentation: None,
        readme: Some(readme(readme_bytes)),
    });
    (0..versions)
        .map(|i| Release {
            name: SHOWCASE.to_owned(),
            vers: seed::Version::new(1 + (i / 40) as u64, ((i / 8) % 5) as u64, (i % 8) as u64),
            deps: deps.clone(),
            features: features.clone(),
            rust_version: Some("1.70".to_owned()),
            meta: Arc::clone(&meta),
        })
        .collect()
}

/// A README of about `bytes` in the shape real ones have: a title, sections of prose, lists,
/// code blocks and a table.
fn readme(bytes: usize) -> String {
    let mut out = format!(
        "# {SHOWCASE}\n\nA fast, predictable engine for benchmarks. This README is long on purpose: it is \
         the largest thing on the crate page, as the README of a mature crate is.\n\n"
    );
    let mut section = 0;
    while out.len() < bytes {
        section += 1;
        out.push_str(&format!(
            "## Part {section}: configuring the engine\n\n\
             The engine reads its settings once, at start, and keeps them for its whole life. Every \
             setting has a default that suits most programs; change one only when a measurement \
             says so. Settings are checked when they are read, and a wrong one stops the start with \
             a message that names it.\n\n\
             - `workers`: how many threads run jobs (default: the number of cores);\n\
             - `queue_depth`: how many jobs may wait before submitters are slowed down;\n\
             - `deadline`: how long a job may run before it is cancelled;\n\
             - `trace`: whether each job leaves a span in the logs.\n\n\
             ```rust\nuse {module}::Engine;\n\nfn main() -> Result<(), {module}::Error> {{\n    \
             let engine = Engine::builder().workers(4).queue_depth(1024).build()?;\n    \
             engine.run(|job| job.finish())?;\n    Ok(())\n}}\n```\n\n\
             | Setting | Default | Range |\n|---|---|---|\n| workers | cores | 1..=1024 |\n\
             | queue_depth | 256 | 1..=65536 |\n| deadline | 30 s | 1 ms..=1 h |\n\n",
            module = SHOWCASE.replace('-', "_"),
        ));
    }
    out
}

/// The gzipped size (level 6, the common server default) of the scripts `index.html` loads before
/// the app runs: its module script and module preloads. Returns the bytes and the file count.
fn initial_javascript(dist: &Path) -> Result<(usize, usize)> {
    let index = fs::read_to_string(dist.join("index.html")).with_context(|| format!("reading {dist:?}/index.html"))?;
    let mut paths = Vec::new();
    for tag in index.split('<').filter(|t| t.starts_with("script") || t.starts_with("link")) {
        let is_script = tag.starts_with("script") && tag.contains("type=\"module\"");
        let is_preload = tag.starts_with("link") && tag.contains("rel=\"modulepreload\"");
        let attr = if is_script {
            "src=\""
        } else if is_preload {
            "href=\""
        } else {
            continue;
        };
        if let Some(rest) = tag.split(attr).nth(1).and_then(|r| r.split('"').next()) {
            paths.push(rest.trim_start_matches('/').to_owned());
        }
    }
    ensure!(!paths.is_empty(), "index.html loads no module script");
    let mut total = 0;
    for path in &paths {
        let bytes = fs::read(dist.join(path)).with_context(|| format!("reading {path}"))?;
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(6));
        gz.write_all(&bytes)?;
        total += gz.finish()?.len();
    }
    Ok((total, paths.len()))
}

fn as_f64(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn fmt_ms(v: f64) -> String {
    ms(Duration::from_secs_f64(v.max(0.0) / 1000.0))
}

fn describe_scripts(figures: &Value, report: &mut Report) {
    let scripts = figures.get("scripts").and_then(Value::as_array).cloned().unwrap_or_default();
    let transfer: f64 = scripts.iter().map(|s| as_f64(s, "transfer")).sum();
    let decoded: f64 = scripts.iter().map(|s| as_f64(s, "decoded")).sum();
    report.info(
        "JavaScript",
        format!(
            "crate page, first load: {} scripts fetched (entry and the page's lazy chunks), as served",
            scripts.len()
        ),
        format!("{:.1} KB transferred, {:.1} KB decoded", transfer / 1000.0, decoded / 1000.0),
    );
}

fn describe_lcp(figures: &Value, rounds: usize, report: &mut Report) -> Result<()> {
    let entries = figures.get("lcp").and_then(Value::as_array).context("no lcp figures")?;
    ensure!(entries.len() == rounds, "expected {rounds} crate-page loads, got {}", entries.len());
    let lcp = sorted(entries.iter().map(|e| as_f64(e, "ms")).collect());
    let readme = sorted(entries.iter().map(|e| as_f64(e, "readmeVisibleMs")).collect());
    let response = sorted(entries.iter().map(|e| as_f64(e, "responseEndMs")).collect());
    let p50 = quantile(&lcp, 0.5);
    report.check(
        "Crate page",
        format!("largest contentful paint p50 ({rounds} loads, each in a fresh browser context, signed in)"),
        fmt_ms(p50),
        "< 400 ms",
        p50 < 400.0,
    );
    report.info(
        "Crate page",
        "largest contentful paint p90 / max",
        format!("{} / {}", fmt_ms(quantile(&lcp, 0.9)), fmt_ms(quantile(&lcp, 1.0))),
    );
    let elements: HashSet<String> =
        entries.iter().filter_map(|e| e.get("element").and_then(Value::as_str)).map(str::to_owned).collect();
    let mut elements: Vec<String> = elements.into_iter().collect();
    elements.sort();
    report.info("Crate page", "the largest contentful element", elements.join(", "));
    report.info(
        "Crate page",
        "README text in the document p50 / index.html received p50",
        format!("{} / {}", fmt_ms(quantile(&readme, 0.5)), fmt_ms(quantile(&response, 0.5))),
    );
    Ok(())
}

fn describe_typing(figures: &Value, crates: usize, report: &mut Report) -> Result<()> {
    let keys = figures.get("keystrokes").and_then(Value::as_array).context("no keystroke figures")?;
    ensure!(!keys.is_empty(), "no keystrokes measured");
    let dom = sorted(keys.iter().map(|k| as_f64(k, "domMs")).collect());
    let frame = sorted(keys.iter().map(|k| as_f64(k, "frameMs")).collect());
    let p50 = quantile(&frame, 0.5);
    let p90 = quantile(&frame, 0.9);
    let p99 = quantile(&frame, 0.99);
    report.check(
        "Search as you type",
        format!(
            "keystroke to the suggestions on screen (next frame), p50 ({} keystrokes, {crates} crates)",
            keys.len()
        ),
        fmt_ms(p50),
        "< 50 ms",
        p50 < 50.0,
    );
    report.check(
        "Search as you type",
        "keystroke to the suggestions on screen, p90",
        fmt_ms(p90),
        "< 50 ms",
        p90 < 50.0,
    );
    report.info(
        "Search as you type",
        "keystroke to the suggestions on screen, p99 / max",
        format!("{} / {}", fmt_ms(p99), fmt_ms(quantile(&frame, 1.0))),
    );
    report.info(
        "Search as you type",
        "keystroke to the suggestions in the document p50 / p90",
        format!("{} / {}", fmt_ms(quantile(&dom, 0.5)), fmt_ms(quantile(&dom, 0.9))),
    );
    let slowest = keys.iter().max_by(|a, b| as_f64(a, "frameMs").total_cmp(&as_f64(b, "frameMs"))).map(|k| {
        format!("`{}` ({} matches)", k.get("term").and_then(Value::as_str).unwrap_or("?"), as_f64(k, "total"))
    });
    if let Some(slowest) = slowest {
        report.info("Search as you type", "slowest keystroke", slowest);
    }
    Ok(())
}
