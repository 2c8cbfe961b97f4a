//! `cargo xtask bench`: raktar against nginx and against its targets, in one bounded run.
//!
//! Order of the steps (see `docs/performance.md`):
//! 1. build and start raktar (private mode), idle memory;
//! 2. seed the realistic registry (~90 crates, 10 with 50+ versions) through the publish API;
//! 3. dump its index over HTTP and serve the copy with nginx;
//! 4. index throughput with wrk (nginx, then raktar), CPU and memory under load;
//! 5. `cargo generate-lockfile` against both, alternating; then again through a TCP proxy that
//!    adds a fixed delay each way (`bench/delay.rs`, 10 ms by default);
//! 6. grow the registry to ~10,000 crates and measure search;
//! 7. publish latency;
//! 8. final memory, report.
//!
//! The index and lockfile figures are taken before the 10k-crate seeding so that they describe
//! the realistic registry only; search and publish are measured on the large one.

mod cargo;
mod client;
mod delay;
mod graphql;
mod nginx;
mod procs;
mod raw;
mod report;
mod seed;
pub mod ui;
pub mod upstream;
mod wrk;

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use futures::StreamExt as _;
use serde_json::Value;

use self::client::Client;
use self::procs::Service;
use self::raw::RawClient;
use self::report::{Report, median, mib, ms, percentile};

const MIB: u64 = 1024 * 1024;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Smaller registry, shorter runs: a smoke check of the harness (about a minute).
    #[arg(long)]
    quick: bool,
    /// Use this raktar binary instead of building `target/release/raktar`.
    #[arg(long, value_name = "PATH")]
    raktar_bin: Option<PathBuf>,
    /// Do not run `cargo build --release -p raktar` (use the existing release binary).
    #[arg(long)]
    no_build: bool,
    /// Skip the wrk index throughput comparison.
    #[arg(long)]
    skip_index: bool,
    /// Skip the `cargo generate-lockfile` comparison.
    #[arg(long)]
    skip_lockfile: bool,
    /// Skip the `cargo generate-lockfile` comparison through the delay proxy.
    #[arg(long)]
    skip_delayed_lockfile: bool,
    /// Only the lockfile comparisons (plain loopback and through the delay proxy): skips the
    /// index throughput, GraphQL, search and publish steps.
    #[arg(long)]
    only_lockfile: bool,
    /// Delay the proxy adds in each direction for the delayed lockfile comparison, in ms.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    delay_ms: u64,
    /// Skip the large-registry seeding and the search measurements.
    #[arg(long)]
    skip_search: bool,
    /// Skip the publish latency measurement.
    #[arg(long)]
    skip_publish: bool,
    /// Skip the GraphQL crate-page and search-page measurements.
    #[arg(long)]
    skip_graphql: bool,
    /// Sequential requests per GraphQL page.
    #[arg(long, value_name = "N")]
    graphql_requests: Option<usize>,
    /// wrk duration per measured run, in seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// wrk rounds per server, alternating (best round reported).
    #[arg(long, value_name = "N")]
    index_rounds: Option<usize>,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// wrk connections.
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Runs of `cargo generate-lockfile` per server.
    #[arg(long, value_name = "N")]
    lockfile_runs: Option<usize>,
    /// Total crates in the registry for the search measurements.
    #[arg(long, value_name = "N")]
    search_crates: Option<usize>,
    /// Sequential search requests.
    #[arg(long, value_name = "N")]
    search_requests: Option<usize>,
    /// Sequential publishes for the publish latency.
    #[arg(long, value_name = "N")]
    publishes: Option<usize>,
    /// Where to write the Markdown report (default: target/bench/report.md).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Keep the temporary directory (data dir, index copy, consumer projects).
    #[arg(long)]
    keep: bool,
    /// Before measuring, wait up to this many seconds for the machine to be idle (other
    /// processes using less than a quarter of a core).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    wait_quiet: u64,
    /// Exit with an error when a target is missed.
    #[arg(long)]
    strict: bool,
}

struct Plan {
    shape: seed::Shape,
    consumer_deps: usize,
    load: wrk::Load,
    warmup: Duration,
    /// wrk rounds per server (A B B A order).
    index_rounds: usize,
    lockfile_runs: usize,
    search_total: usize,
    search_requests: usize,
    cargo_search_runs: usize,
    publishes: usize,
    seed_concurrency: usize,
    /// Upper bound for the large-registry seeding; it stops there and reports what it has.
    seed_budget: Duration,
    /// Upper bound for each sequential measurement loop.
    loop_budget: Duration,
}

impl Plan {
    fn new(a: &BenchArgs) -> Self {
        let q = a.quick;
        Self {
            shape: if q {
                seed::Shape { crates: 24, many: 3, many_versions: (20, 30), other_versions: (1, 6) }
            } else {
                seed::Shape { crates: 90, many: 10, many_versions: (50, 80), other_versions: (1, 12) }
            },
            consumer_deps: if q { 12 } else { 40 },
            load: wrk::Load {
                threads: a.threads,
                connections: a.connections,
                duration: Duration::from_secs(a.duration.unwrap_or(if q { 3 } else { 10 })),
            },
            warmup: Duration::from_secs(if q { 1 } else { 2 }),
            index_rounds: a.index_rounds.unwrap_or(if q { 1 } else { 2 }),
            lockfile_runs: a.lockfile_runs.unwrap_or(if q { 2 } else { 11 }),
            search_total: a.search_crates.unwrap_or(if q { 600 } else { 10_000 }),
            search_requests: a.search_requests.unwrap_or(if q { 100 } else { 500 }),
            cargo_search_runs: if q { 2 } else { 5 },
            publishes: a.publishes.unwrap_or(if q { 30 } else { 200 }),
            seed_concurrency: 8,
            seed_budget: Duration::from_secs(if q { 60 } else { 240 }),
            loop_budget: Duration::from_secs(if q { 30 } else { 90 }),
        }
    }
}

/// Paths and tools resolved before anything starts.
struct Setup {
    raktar: PathBuf,
    wrk: Option<PathBuf>,
    nginx: Option<PathBuf>,
    work: PathBuf,
    out_dir: PathBuf,
    raktar_log: PathBuf,
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().and_then(Path::parent).context("backend/xtask has no grandparent")?;
    root.canonicalize().with_context(|| format!("resolving {root:?}"))
}

fn install_signal_handlers() {
    tokio::spawn(async {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench: cannot watch SIGTERM: {e}");
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("bench: interrupted; stopping raktar and nginx");
        procs::INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
        procs::kill_all_services();
        std::process::exit(130);
    });
}

/// The cargo target directory (`CARGO_TARGET_DIR`, relative to the workspace root, or `target`).
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The raktar binary to measure: `given`, or the release build (built first unless `no_build`).
fn release_raktar(root: &Path, target_dir: &Path, given: Option<&Path>, no_build: bool) -> Result<PathBuf> {
    let raktar = match given {
        Some(p) => p.to_path_buf(),
        None => {
            if !no_build {
                step("cargo build --release -p raktar");
                let status = Command::new(cargo::cargo_bin())
                    .current_dir(root)
                    .args(["build", "--release", "-p", "raktar"])
                    .status()
                    .context("running cargo build")?;
                ensure!(status.success(), "cargo build --release -p raktar failed");
            }
            target_dir.join("release/raktar")
        }
    };
    ensure!(raktar.is_file(), "no raktar binary at {raktar:?}");
    Ok(raktar)
}

fn step(msg: &str) {
    eprintln!("\n==> {msg}");
}

pub async fn run(mut args: BenchArgs) -> Result<()> {
    install_signal_handlers();
    if args.only_lockfile {
        args.skip_index = true;
        args.skip_graphql = true;
        args.skip_search = true;
        args.skip_publish = true;
    }
    let plan = Plan::new(&args);
    let root = workspace_root()?;
    let target_dir = target_dir(&root);
    let out_path = args.out.clone().unwrap_or_else(|| target_dir.join("bench/report.md"));
    let out_dir = out_path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {out_dir:?}"))?;

    let wrk = if args.skip_index {
        None
    } else {
        Some(
            procs::find_exe("wrk")
                .context("wrk is not installed: `apt-get install -y wrk` (or skip with --skip-index)")?,
        )
    };
    let nginx = if args.skip_index && args.skip_lockfile && args.skip_delayed_lockfile {
        None
    } else {
        Some(procs::find_exe("nginx").context(
            "nginx is not installed: `apt-get install -y nginx-light` \
             (or skip with --skip-index --skip-lockfile --skip-delayed-lockfile)",
        )?)
    };

    let raktar = release_raktar(&root, &target_dir, args.raktar_bin.as_deref(), args.no_build)?;

    let tmp = tempfile::Builder::new().prefix("raktar-bench-").tempdir().context("creating the temporary directory")?;
    // nginx workers run as an unprivileged user when the bench runs as root.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
        .context("making the temporary directory readable")?;
    let (work, _tmp_guard) = if args.keep { (tmp.keep(), None) } else { (tmp.path().to_path_buf(), Some(tmp)) };
    eprintln!("bench: working directory {}", work.display());

    let setup = Setup { raktar, wrk, nginx, raktar_log: work.join("raktar.log"), work, out_dir };
    let mut report = Report::default();
    describe_context(&mut report, &args, &plan, &setup, &root);
    let background = background_load(Duration::from_secs(args.wait_quiet)).await;
    report.context.push((
        "Background load".into(),
        format!("{background:.2} cores busy before the run (nothing of the bench running)"),
    ));
    if background > 0.25 {
        report.note(format!(
            "The machine was not idle: {background:.2} cores busy with other work before the run; \
             the figures are pessimistic."
        ));
    }

    let outcome = run_steps(&args, &plan, &setup, &mut report).await;
    if let Err(e) = &outcome {
        if procs::INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            report.note("**The run was interrupted** (Ctrl-C or SIGTERM).");
        } else {
            report.note(format!("**The run stopped with an error**: {e:#}"));
        }
        eprintln!(
            "\nbench: failed; last lines of the raktar log ({}):\n{}",
            setup.raktar_log.display(),
            procs::tail(&setup.raktar_log, 30)
        );
    }
    let rendered = report.render();
    fs::write(&out_path, &rendered).with_context(|| format!("writing {out_path:?}"))?;
    println!("\n{rendered}");
    eprintln!("bench: report written to {}", out_path.display());
    if args.keep {
        eprintln!("bench: kept {}", setup.work.display());
    }
    outcome?;
    let (met, checked) = report.targets();
    if args.strict && met < checked {
        bail!("{} of {checked} targets missed", checked - met);
    }
    Ok(())
}

fn command_output(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_else(|e| format!("unavailable ({e})"))
}

fn binary_mtime(path: &Path) -> String {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| {
            let dt = time::OffsetDateTime::from(t);
            dt.replace_nanosecond(0).unwrap_or(dt).format(&time::format_description::well_known::Rfc3339).ok()
        })
        .unwrap_or_else(|| "unknown".into())
}

fn describe_context(report: &mut Report, args: &BenchArgs, plan: &Plan, setup: &Setup, root: &Path) {
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".into());
    let command: Vec<String> = std::env::args().skip(1).collect();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let mem_kb: u64 = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:")?.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let commit = Command::new("git")
        .current_dir(root)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_owned());
    report.context.push(("Date (UTC)".into(), date));
    report.context.push(("Command".into(), format!("`cargo xtask {}`", command.join(" "))));
    report.context.push((
        "Machine".into(),
        format!(
            "{cores} cores ({model}), {:.1} GiB RAM, Linux {}; server, load generator and client share the cores",
            mem_kb as f64 / (1024.0 * 1024.0),
            kernel.trim()
        ),
    ));
    report.context.push((
        "Software".into(),
        format!(
            "raktar {} (binary modified {}); {}; {}; {}",
            if args.raktar_bin.is_some() || args.no_build {
                format!("from {}", setup.raktar.display())
            } else {
                format!("built from commit {commit} plus the working tree")
            },
            binary_mtime(&setup.raktar),
            command_output(&cargo::cargo_bin(), &["--version"]),
            setup.nginx.as_deref().map_or_else(|| "nginx not used".into(), |n| command_output(n, &["-v"])),
            setup.wrk.as_deref().map_or_else(|| "wrk not used".into(), |w| command_output(w, &["-v"])),
        ),
    ));
    report.context.push((
        "Mode".into(),
        if args.quick {
            "quick (smoke check: small counts, short runs; not for comparison)".into()
        } else {
            "full".into()
        },
    ));
    report.context.push((
        "Load".into(),
        format!("{} (after a {} s warm-up), same for nginx and raktar", plan.load.describe(), plan.warmup.as_secs()),
    ));
}

/// Cores busy over a 2 s window; with `wait`, repeats until below 0.25 or `wait` has passed.
async fn background_load(wait: Duration) -> f64 {
    let cores = thread::available_parallelism().map_or(1, usize::from) as f64;
    let started = Instant::now();
    let mut waits = 0u32;
    loop {
        let before = procs::system_cpu();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = procs::system_cpu();
        let busy = match (before, after) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => (b1 - b0) as f64 / (t1 - t0) as f64,
            _ => 0.0,
        } * cores;
        if busy < 0.25 || started.elapsed() >= wait {
            return busy;
        }
        if waits.is_multiple_of(15) {
            eprintln!(
                "bench: waiting for a quiet machine ({busy:.2} cores busy; giving up after {} s)",
                wait.as_secs()
            );
        }
        waits += 1;
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts `raktar serve` and waits for its "listening on" line.
async fn start_raktar(setup: &Setup, data: &Path, extra: &[&std::ffi::OsStr]) -> Result<(Service, String)> {
    let port = free_port()?;
    let log = fs::File::create(&setup.raktar_log).with_context(|| format!("creating {:?}", setup.raktar_log))?;
    let mut cmd = Command::new(&setup.raktar);
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .arg("--public-url")
        .arg(format!("http://127.0.0.1:{port}"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut service = Service::spawn("raktar", cmd)?;
    let stdout = service.child_mut().stdout.take().context("raktar's stdout is not piped")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // Keep draining stdout for the life of the server.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(url.trim().trim_end_matches('/').to_owned());
            }
        }
    });
    let started = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(url) => {
                eprintln!("bench: raktar listening on {url} after {}", ms(started.elapsed()));
                return Ok((service, url));
            }
            Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < Duration::from_secs(30) => {
                if let Some(status) = service.exited() {
                    bail!("raktar serve exited ({status}):\n{}", procs::tail(&setup.raktar_log, 30));
                }
            }
            Err(_) => bail!(
                "raktar serve did not print \"listening on\" within 30 s:\n{}",
                procs::tail(&setup.raktar_log, 30)
            ),
        }
    }
}

/// Server CPU time since `ticks_before`, per request (CPU time is much less sensitive than
/// latency to other load on a shared machine; resolution is one clock tick, 10 ms, overall).
fn cpu_per_request(server_pid: u32, ticks_before: u64, requests: usize) -> String {
    let ticks = procs::group_cpu_ticks(server_pid).saturating_sub(ticks_before) as f64;
    let secs = ticks / procs::clock_ticks();
    format!("{:.0} µs", secs / requests.max(1) as f64 * 1e6)
}

/// `127.0.0.1:PORT` of a base URL `http://127.0.0.1:PORT`.
fn socket_addr(base: &str) -> Result<std::net::SocketAddr> {
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    authority.parse().with_context(|| format!("{base} has no IP:PORT"))
}

/// Lockfile comparisons between raktar and nginx on one consumer project.
struct Lockfiles<'a> {
    work: &'a Path,
    scratch: &'a Path,
    deps: &'a [(String, String)],
    runs: usize,
    token: &'a str,
}

struct LockfileTimes {
    raktar: Vec<Duration>,
    nginx: Vec<Duration>,
    packages: usize,
}

impl LockfileTimes {
    fn ratio(&self) -> f64 {
        median(&self.raktar).as_secs_f64() / median(&self.nginx).as_secs_f64()
    }

    fn describe(v: &[Duration]) -> String {
        let min = v.iter().min().copied().unwrap_or_default();
        let max = v.iter().max().copied().unwrap_or_default();
        format!("{} (range {} .. {})", ms(median(v)), ms(min), ms(max))
    }

    fn describe_raktar(&self) -> String {
        Self::describe(&self.raktar)
    }

    fn describe_nginx(&self) -> String {
        Self::describe(&self.nginx)
    }
}

impl Lockfiles<'_> {
    /// `cargo generate-lockfile` `runs` times against each server (alternating which goes
    /// first), each from an empty `CARGO_HOME`; the lockfiles must agree.
    fn compare(&self, tag: &str, raktar_base: &str, nginx_base: &str) -> Result<LockfileTimes> {
        let raktar_index = format!("{raktar_base}/index/");
        let nginx_index = format!("{nginx_base}/index/");
        let project_raktar = self.work.join(format!("consumer-raktar-{tag}"));
        let project_nginx = self.work.join(format!("consumer-nginx-{tag}"));
        cargo::write_consumer(&project_raktar, self.deps, &raktar_index, true)?;
        cargo::write_consumer(&project_nginx, self.deps, &nginx_index, false)?;
        let mut times = LockfileTimes { raktar: Vec::new(), nginx: Vec::new(), packages: 0 };
        let mut locks = (String::new(), String::new());
        for i in 0..self.runs {
            for raktar_turn in [i % 2 == 0, i % 2 == 1] {
                if raktar_turn {
                    let (t, lock) = cargo::generate_lockfile(&project_raktar, self.scratch, Some(self.token))
                        .context("cargo generate-lockfile against raktar")?;
                    eprintln!("bench: raktar run {}: {}", i + 1, ms(t));
                    times.raktar.push(t);
                    locks.0 = lock.replace(&raktar_index, "INDEX/");
                } else {
                    let (t, lock) = cargo::generate_lockfile(&project_nginx, self.scratch, None)
                        .context("cargo generate-lockfile against nginx")?;
                    eprintln!("bench: nginx run {}: {}", i + 1, ms(t));
                    times.nginx.push(t);
                    locks.1 = lock.replace(&nginx_index, "INDEX/");
                }
            }
        }
        ensure!(locks.0 == locks.1, "the lockfiles resolved against raktar and nginx differ");
        times.packages = locks.0.matches("[[package]]").count().saturating_sub(1);
        Ok(times)
    }
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

async fn run_steps(args: &BenchArgs, plan: &Plan, setup: &Setup, report: &mut Report) -> Result<()> {
    let work = &setup.work;

    // 1. An admin and a token, then the server.
    let Started { token, server, server_pid, base, client, config } = start_server(setup, report).await?;

    // 2. The realistic registry.
    let registry = seed_registry(plan, &client, report).await?;

    // 3. The index copy served by nginx.
    let index_paths: Vec<String> = registry.crates.iter().map(|c| format!("/index/{}", seed::index_path(c))).collect();
    let nginx_server = serve_index_copy(setup, &client, &config, &index_paths, report).await?;

    let running =
        Running { base: &base, token: &token, pid: server_pid, client: &client, nginx: nginx_server.as_ref() };

    // 4. Index throughput.
    if let (Some(wrk_bin), Some((ngx, _))) = (&setup.wrk, &nginx_server) {
        index_throughput(setup, plan, wrk_bin, ngx, &running, &index_paths, report)?;
    }

    // 5. Lockfile resolution, on plain loopback and through the delay proxy.
    if let (false, Some((ngx, _))) = (args.skip_lockfile && args.skip_delayed_lockfile, &nginx_server) {
        lockfiles(args, plan, work, &registry, ngx, &running, report)?;
    }

    // 5b. GraphQL pages on the realistic registry (bench/graphql.rs).
    if !args.skip_graphql {
        step("GraphQL: crate page and search page of 20, sequential POST /graphql");
        let load = graphql::GraphqlLoad {
            requests: args.graphql_requests.unwrap_or(if args.quick { 100 } else { 500 }),
            budget: plan.loop_budget,
        };
        graphql::run(&base, &token, &registry, registry.crates.len(), &load, report)?;
    }

    // 6. Search on a large registry.
    let search_project = work.join("search-project");
    cargo::write_consumer(&search_project, &[], &format!("{base}/index/"), true)?;
    let mut crates_total = registry.crates.len();
    if !args.skip_search {
        search(plan, work, &running, &registry, &search_project, &mut crates_total, report).await?;
    }

    // 7. Publish latency.
    if !args.skip_publish {
        publish_latency(plan, &registry, &base, &token, server_pid, crates_total, report)?;
    }

    // 8. Memory at the end.
    report_memory(server_pid, crates_total, nginx_server.as_ref(), report);
    drop(nginx_server);
    drop(server);
    Ok(())
}

/// What step 1 leaves running: the server and a client with the admin's token.
struct Started {
    token: String,
    server: Service,
    server_pid: u32,
    base: String,
    client: Client,
    config: Value,
}

/// Step 1: an admin and a token, then the server; checks the idle memory and private mode.
async fn start_server(setup: &Setup, report: &mut Report) -> Result<Started> {
    let work = &setup.work;
    step("creating the admin user and a token, starting raktar");
    let data = work.join("data");
    fs::create_dir_all(&data).with_context(|| format!("creating {data:?}"))?;
    let mut cmd = Command::new(&setup.raktar);
    cmd.args(["user", "create", "bench-admin", "--admin", "--data-dir"]).arg(&data);
    procs::run_captured(cmd, "raktar user create")?;
    let mut cmd = Command::new(&setup.raktar);
    cmd.args(["token", "create", "--user", "bench-admin", "--name", "bench", "--data-dir"]).arg(&data);
    let token = procs::run_captured(cmd, "raktar token create")?.trim().to_owned();
    ensure!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "raktar token create printed {token:?}, expected only the token"
    );
    let (server, base) = start_raktar(setup, data.as_path(), &[]).await?;
    let server_pid = server.pid();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = procs::status_bytes(server_pid, "VmRSS").unwrap_or(0);
    report.check("Memory", "raktar RSS idle after start (before seeding)", mib(idle), "< 40 MiB", idle < 40 * MIB);

    let client = Client::new(&base, Some(&token))?;
    let anonymous = Client::new(&base, None)?;
    let (status, _) = anonymous.get_raw("/index/config.json").await?;
    if status != reqwest::StatusCode::UNAUTHORIZED {
        report.note(format!(
            "Unexpected: config.json without a token answered {status} (private mode should answer 401)."
        ));
    }
    let config: Value =
        serde_json::from_slice(&client.get_ok("/index/config.json").await?).context("config.json is not JSON")?;
    ensure!(
        config.get("auth-required") == Some(&Value::Bool(true)),
        "config.json has no \"auth-required\": true in private mode: {config}"
    );
    Ok(Started { token, server, server_pid, base, client, config })
}

/// Step 2: the realistic registry, published sequentially through the API.
async fn seed_registry(plan: &Plan, client: &Client, report: &mut Report) -> Result<seed::Registry> {
    let registry = seed::realistic(&plan.shape);
    let many = registry.crates.iter().filter(|c| registry.version_count(c) >= 50).count();
    step(&format!(
        "seeding {} crates / {} versions through PUT /api/v1/crates/new",
        registry.crates.len(),
        registry.releases.len()
    ));
    let bodies = registry.releases.iter().map(seed::Release::publish_body).collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    for (release, body) in registry.releases.iter().zip(bodies) {
        client.publish(body).await.with_context(|| format!("publishing {} {}", release.name, release.vers))?;
    }
    let seeding = started.elapsed();
    report.info(
        "Seeding",
        format!(
            "realistic registry: {} crates ({many} with >= 50 versions), {} versions, sequential publishes",
            registry.crates.len(),
            registry.releases.len()
        ),
        format!(
            "{:.1} s ({:.0} publishes/s)",
            seeding.as_secs_f64(),
            registry.releases.len() as f64 / seeding.as_secs_f64()
        ),
    );
    Ok(registry)
}

/// Step 3 (when nginx is available): the index files dumped from raktar and served by nginx, checked
/// byte-identical.
async fn serve_index_copy(
    setup: &Setup,
    client: &Client,
    config: &Value,
    index_paths: &[String],
    report: &mut Report,
) -> Result<Option<(nginx::Nginx, Client)>> {
    let work = &setup.work;
    let mut nginx_server = None;
    if let Some(nginx_bin) = &setup.nginx {
        step("dumping the index and starting nginx");
        let www = work.join("www");
        let mut total = 0usize;
        let mut largest = 0usize;
        let mut files = Vec::new();
        for path in index_paths {
            let bytes = client.get_ok(path).await?;
            let file = www.join(path.trim_start_matches('/'));
            if let Some(parent) = file.parent() {
                fs::create_dir_all(parent).with_context(|| format!("creating {parent:?}"))?;
            }
            fs::write(&file, &bytes).with_context(|| format!("writing {file:?}"))?;
            total += bytes.len();
            largest = largest.max(bytes.len());
            files.push((path.clone(), bytes));
        }
        let mut nginx_config = config.clone();
        if let Some(obj) = nginx_config.as_object_mut() {
            obj.remove("auth-required");
        }
        fs::write(www.join("index/config.json"), serde_json::to_vec(&nginx_config)?)
            .context("writing the nginx config.json")?;
        report.info(
            "Index",
            "index files (crates, total size, largest)",
            format!("{} files, {}, largest {}", files.len(), kib(total), kib(largest)),
        );
        let ngx = nginx::start(nginx_bin, &work.join("nginx"), &www, free_port()?, 2).await?;
        let plain = Client::new(&ngx.base, None)?;
        for (path, bytes) in &files {
            let served = plain.get_ok(path).await?;
            ensure!(&served == bytes, "nginx serves different bytes for {path} than raktar");
        }
        eprintln!("bench: nginx on {}, {} index files byte-identical", ngx.base, files.len());
        nginx_server = Some((ngx, plain));
    }
    Ok(nginx_server)
}

/// Step 7: sequential publishes of new versions of existing crates, timed one by one.
fn publish_latency(
    plan: &Plan,
    registry: &seed::Registry,
    base: &str,
    token: &str,
    server_pid: u32,
    crates_total: usize,
    report: &mut Report,
) -> Result<()> {
    let n = registry.crates.len();
    let mut bodies = Vec::new();
    for k in 0..plan.publishes {
        let name = &registry.crates[k % n];
        let last = registry.latest(name).with_context(|| format!("{name} has no release"))?;
        let mut release = last.clone();
        release.vers = seed::Version::new(last.vers.major + 1, 0, (k / n) as u64);
        bodies.push((format!("{} {}", release.name, release.vers), release.publish_body()?));
    }
    step(&format!(
        "publish latency: {} sequential publishes of new versions ({crates_total} crates in the registry)",
        bodies.len()
    ));
    let mut raw_client = RawClient::new(base, Some(token))?;
    let mut latencies = Vec::new();
    let cpu_before = procs::group_cpu_ticks(server_pid);
    let started = Instant::now();
    for (what, body) in bodies {
        if started.elapsed() > plan.loop_budget {
            report.note(format!(
                "Publish loop stopped at its {} s budget after {} publishes.",
                plan.loop_budget.as_secs(),
                latencies.len()
            ));
            break;
        }
        let t = Instant::now();
        let (status, answer) = raw_client.request("PUT", "/api/v1/crates/new", &body)?;
        latencies.push(t.elapsed());
        let answer = String::from_utf8_lossy(&answer);
        ensure!(status == 200 && !answer.contains("\"errors\""), "publishing {what}: {status}: {answer}");
    }
    let p50 = percentile(&latencies, 50.0);
    report.check(
        "Publish",
        format!(
            "PUT /api/v1/crates/new p50 ({} sequential, existing crates with up to {} versions)",
            latencies.len(),
            plan.shape.many_versions.1 + 1
        ),
        ms(p50),
        "< 20 ms",
        p50 < Duration::from_millis(20),
    );
    report.info(
        "Publish",
        "publish p90 / p99",
        format!("{} / {}", ms(percentile(&latencies, 90.0)), ms(percentile(&latencies, 99.0))),
    );
    report.info("Publish", "server CPU time per publish", cpu_per_request(server_pid, cpu_before, latencies.len()));
    Ok(())
}

/// Step 8: the server's memory at the end (and the nginx error log's last lines).
fn report_memory(
    server_pid: u32,
    crates_total: usize,
    nginx_server: Option<&(nginx::Nginx, Client)>,
    report: &mut Report,
) {
    let hwm = procs::status_bytes(server_pid, "VmHWM").unwrap_or(0);
    let rss = procs::status_bytes(server_pid, "VmRSS").unwrap_or(0);
    report.check(
        "Memory",
        format!("raktar peak RSS over the whole run (VmHWM; {crates_total} crates at the end)"),
        mib(hwm),
        "< 150 MiB",
        hwm < 150 * MIB,
    );
    report.info("Memory", "raktar RSS at the end", mib(rss));
    if let Some((ngx, _)) = nginx_server {
        let log = procs::tail(&ngx.error_log, 5);
        if !log.trim().is_empty() {
            report.note(format!("nginx error log (last lines): `{}`", log.replace('\n', " | ")));
        }
    }
}

/// The running servers, for the steps that measure them.
struct Running<'a> {
    base: &'a str,
    token: &'a str,
    pid: u32,
    /// A client with the admin's token.
    client: &'a Client,
    nginx: Option<&'a (nginx::Nginx, Client)>,
}

/// Publishes `releases` with `concurrency` publishes in flight, starting no new one after
/// `deadline`; returns how many were published.
async fn publish_concurrently(
    client: &Client,
    releases: &[seed::Release],
    concurrency: usize,
    deadline: Instant,
) -> Result<usize> {
    let bodies = releases.iter().map(seed::Release::publish_body).collect::<Result<Vec<_>>>()?;
    let results: Vec<Result<()>> =
        futures::stream::iter(bodies.into_iter().take_while(move |_| Instant::now() < deadline))
            .map(|body| {
                let c = client.clone();
                async move { c.publish(body).await }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let done = results.len();
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(done)
}

/// Step 6: a search corpus published concurrently on top of the realistic registry (adding to
/// `crates_total`), then search latency through the API and `cargo search` end to end.
async fn search(
    plan: &Plan,
    work: &Path,
    server: &Running<'_>,
    registry: &seed::Registry,
    search_project: &Path,
    crates_total: &mut usize,
    report: &mut Report,
) -> Result<()> {
    let existing: HashSet<String> = registry.crates.iter().map(|c| seed::normalized(c)).collect();
    let corpus = seed::search_corpus(plan.search_total.saturating_sub(*crates_total), &existing);
    step(&format!("seeding {} more crates for search ({} publishes in flight)", corpus.len(), plan.seed_concurrency));
    let wanted = corpus.len();
    let started = Instant::now();
    let done = publish_concurrently(server.client, &corpus, plan.seed_concurrency, started + plan.seed_budget)
        .await
        .context("seeding the search corpus")?;
    let elapsed = started.elapsed();
    *crates_total += done;
    report.info(
        "Seeding",
        format!("search corpus: {done} single-version crates, {} publishes in flight", plan.seed_concurrency),
        format!("{:.1} s ({:.0} publishes/s)", elapsed.as_secs_f64(), done as f64 / elapsed.as_secs_f64()),
    );
    if done < wanted {
        report.note(format!(
            "Seeding stopped at its {} s budget: {done} of {wanted} crates published.",
            plan.seed_budget.as_secs()
        ));
    }

    // The measuring client's floor: a static file from nginx.
    if let Some((ngx, _)) = server.nginx {
        let mut raw_nginx = RawClient::new(&ngx.base, None)?;
        let mut floor = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let (status, _) = raw_nginx.request("GET", "/index/config.json", &[])?;
            floor.push(t.elapsed());
            ensure!(status == 200, "nginx answered {status} for config.json");
        }
        report.info(
            "Search",
            "client floor: the same client, sequential GET of config.json from nginx, p50",
            ms(median(&floor)),
        );
    }
    let queries = seed::search_queries();
    step(&format!(
        "search: {} sequential requests over {} queries, {crates_total} crates",
        plan.search_requests,
        queries.len()
    ));
    let mut raw_client = RawClient::new(server.base, Some(server.token))?;
    let mut latencies = Vec::new();
    let mut hits = 0;
    let mut per_query: std::collections::BTreeMap<&str, Vec<Duration>> = std::collections::BTreeMap::new();
    let cpu_before = procs::group_cpu_ticks(server.pid);
    let started = Instant::now();
    for i in 0..plan.search_requests {
        if started.elapsed() > plan.loop_budget {
            report.note(format!(
                "Search loop stopped at its {} s budget after {i} requests.",
                plan.loop_budget.as_secs()
            ));
            break;
        }
        let q = &queries[i % queries.len()];
        let target = format!("/api/v1/crates?q={}&per_page=10", raw::encode(q));
        let t = Instant::now();
        let (status, body) = raw_client.request("GET", &target, &[])?;
        latencies.push(t.elapsed());
        per_query.entry(q.as_str()).or_default().push(t.elapsed());
        ensure!(status == 200, "search {q:?} answered {status}: {}", String::from_utf8_lossy(&body));
        if i < queries.len() {
            let json: Value =
                serde_json::from_slice(&body).with_context(|| format!("search {q:?}: the answer is not JSON"))?;
            let total = json
                .pointer("/meta/total")
                .and_then(Value::as_u64)
                .with_context(|| format!("search {q:?}: no meta.total in {json}"))?;
            if total > 0 {
                hits += 1;
            }
        }
    }
    let p50 = percentile(&latencies, 50.0);
    report.check(
        "Search",
        format!(
            "GET /api/v1/crates?q=..&per_page=10 p50 ({} sequential requests, {crates_total} crates)",
            latencies.len()
        ),
        ms(p50),
        "< 5 ms",
        p50 < Duration::from_millis(5),
    );
    report.info(
        "Search",
        "search p90 / p99",
        format!("{} / {}", ms(percentile(&latencies, 90.0)), ms(percentile(&latencies, 99.0))),
    );
    report.info(
        "Search",
        "server CPU time per search request",
        cpu_per_request(server.pid, cpu_before, latencies.len()),
    );
    let mut by_query: Vec<(Duration, &str)> = per_query.iter().map(|(q, v)| (median(v), *q)).collect();
    by_query.sort_by(|a, b| b.cmp(a));
    let show =
        |v: &[(Duration, &str)]| v.iter().map(|(d, q)| format!("`{q}` {}", ms(*d))).collect::<Vec<_>>().join(", ");
    report.note(format!(
        "Search medians per query, slowest: {}; fastest: {}.",
        show(&by_query[..by_query.len().min(5)]),
        show(&by_query[by_query.len().saturating_sub(3)..])
    ));
    report.info("Search", "queries with at least one hit", format!("{hits} of {}", queries.len().min(latencies.len())));
    let probe = corpus.get(corpus.len() / 2).map(|r| r.name.clone());
    if let Some(name) = probe {
        let (total, _) = server.client.search(&name, 10).await?;
        if total == 0 {
            report.note(format!("Search for the exact name {name:?} found nothing."));
        }
    }
    let mut times = Vec::new();
    for _ in 0..plan.cargo_search_runs {
        let (t, out) = cargo::search(search_project, &work.join("scratch"), Some(server.token), "http")?;
        ensure!(out.contains('='), "cargo search printed no results:\n{out}");
        times.push(t);
    }
    report.info(
        "Search",
        format!("`cargo search http` end to end (empty CARGO_HOME), median of {}", times.len()),
        ms(median(&times)),
    );
    Ok(())
}

/// Step 4: index throughput of raktar and of nginx serving the same files (wrk, rounds in A B B A
/// order), with CPU and memory under load.
fn index_throughput(
    setup: &Setup,
    plan: &Plan,
    wrk_bin: &Path,
    ngx: &nginx::Nginx,
    server: &Running<'_>,
    index_paths: &[String],
    report: &mut Report,
) -> Result<()> {
    let work = &setup.work;
    step(&format!("index throughput: {} rotating over {} index paths", plan.load.describe(), index_paths.len()));
    let script_raktar = work.join("raktar.lua");
    let script_nginx = work.join("nginx.lua");
    wrk::write_script(&script_raktar, index_paths, Some(server.token))?;
    wrk::write_script(&script_nginx, index_paths, None)?;
    let warm = wrk::Load { duration: plan.warmup, ..plan.load.clone() };
    let nginx_pgid = ngx.service.pid();
    wrk::run(wrk_bin, &warm, &ngx.base, &script_nginx, nginx_pgid)?;
    wrk::run(wrk_bin, &warm, server.base, &script_raktar, server.pid)?;
    // Rounds in A B B A order so that drift on a shared machine hits both alike; the best
    // round of each server is reported.
    let mut nginx_runs = Vec::new();
    let mut raktar_runs = Vec::new();
    for round in 0..plan.index_rounds {
        for nginx_turn in [round % 2 == 0, round % 2 == 1] {
            if nginx_turn {
                let res = wrk::run(wrk_bin, &plan.load, &ngx.base, &script_nginx, nginx_pgid)?;
                eprintln!("bench: nginx  {:.0} req/s, p99 {}", res.requests_per_sec, ms(res.p99));
                nginx_runs.push(res);
            } else {
                let res = wrk::run(wrk_bin, &plan.load, server.base, &script_raktar, server.pid)?;
                eprintln!("bench: raktar {:.0} req/s, p99 {}", res.requests_per_sec, ms(res.p99));
                raktar_runs.push(res);
            }
        }
    }
    let all_rps = |runs: &[wrk::WrkResult]| {
        runs.iter().map(|r| format!("{:.0}", r.requests_per_sec)).collect::<Vec<_>>().join(", ")
    };
    report.note(format!(
        "wrk rounds (req/s): nginx {}; raktar {}. The best round of each is reported.",
        all_rps(&nginx_runs),
        all_rps(&raktar_runs)
    ));
    let raktar_max_rss = raktar_runs.iter().map(|r| r.max_rss).max().unwrap_or(0);
    let best = |runs: Vec<wrk::WrkResult>| {
        runs.into_iter().max_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec)).context("no wrk round ran")
    };
    let n = best(nginx_runs)?;
    let r = best(raktar_runs)?;
    fs::write(setup.out_dir.join("wrk-nginx.txt"), &n.raw).context("saving wrk output")?;
    fs::write(setup.out_dir.join("wrk-raktar.txt"), &r.raw).context("saving wrk output")?;
    for (who, res) in [("nginx", &n), ("raktar", &r)] {
        ensure!(res.non_2xx == 0, "{who} answered {} non-2xx responses under load:\n{}", res.non_2xx, res.raw);
        if let Some(errors) = &res.socket_errors {
            report.note(format!("wrk against {who}: {errors}"));
        }
    }
    let ratio = r.requests_per_sec / n.requests_per_sec;
    report.info("Index", "nginx throughput", format!("{:.0} req/s", n.requests_per_sec));
    report.info("Index", "raktar throughput", format!("{:.0} req/s", r.requests_per_sec));
    report.check("Index", "raktar / nginx throughput", format!("{ratio:.2}x"), ">= 0.70x", ratio >= 0.70);
    report.info("Index", "nginx latency p50 / p90 / p99", format!("{} / {} / {}", ms(n.p50), ms(n.p90), ms(n.p99)));
    report.info("Index", "raktar latency p50 / p90", format!("{} / {}", ms(r.p50), ms(r.p90)));
    report.check("Index", "raktar latency p99", ms(r.p99), "< 5 ms", r.p99 < Duration::from_millis(5));
    // CPU time per request is far less sensitive to other load on the machine than req/s.
    let per_request = |res: &wrk::WrkResult| res.server_cores * res.duration_secs / res.requests.max(1) as f64 * 1e6;
    report.info(
        "Index",
        "server CPU time per request, nginx / raktar (best rounds)",
        format!("{:.0} µs / {:.0} µs", per_request(&n), per_request(&r)),
    );
    let hwm = procs::status_bytes(server.pid, "VmHWM").unwrap_or(0);
    report.check(
        "Memory",
        "raktar RSS under index load (max sampled every 50 ms / VmHWM so far)",
        format!("{} / {}", mib(raktar_max_rss), mib(hwm)),
        "< 150 MiB",
        raktar_max_rss.max(hwm) < 150 * MIB,
    );
    report.info("Memory", "nginx RSS under index load (master + 2 workers)", mib(n.max_rss));
    let cores = thread::available_parallelism().map_or(1, usize::from) as f64;
    for (who, res) in [("nginx", &n), ("raktar", &r)] {
        report.note(format!(
            "CPU during the best {who} round: server {:.2} cores, wrk {:.2} cores, \
             everything else {:.2} cores; machine {:.0}% busy (of {cores} cores). \
             Server: up to {} threads, {:.2} context switches per request.",
            res.server_cores,
            res.wrk_cores,
            (res.system_busy * cores - res.server_cores - res.wrk_cores).max(0.0),
            res.system_busy * 100.0,
            res.max_threads,
            res.context_switches as f64 / res.requests.max(1) as f64,
        ));
    }
    Ok(())
}

/// Step 5: `cargo generate-lockfile` against raktar and nginx, on plain loopback and through the
/// delay proxy.
fn lockfiles(
    args: &BenchArgs,
    plan: &Plan,
    work: &Path,
    registry: &seed::Registry,
    ngx: &nginx::Nginx,
    server: &Running<'_>,
    report: &mut Report,
) -> Result<()> {
    let mut rng = seed::Rng::new(0x5EED_0003);
    let mut names = registry.crates.clone();
    rng.shuffle(&mut names);
    names.truncate(plan.consumer_deps);
    let deps: Vec<(String, String)> = names
        .iter()
        .filter_map(|n| {
            let v = &registry.latest(n)?.vers;
            Some((n.clone(), format!("{}.{}", v.major, v.minor)))
        })
        .collect();
    let scratch = work.join("scratch");
    fs::create_dir_all(&scratch).with_context(|| format!("creating {scratch:?}"))?;
    let lockfiles = Lockfiles { work, scratch: &scratch, deps: &deps, runs: plan.lockfile_runs, token: server.token };
    if !args.skip_lockfile {
        step(&format!(
            "cargo generate-lockfile with {} direct dependencies, {} runs per server (alternating, empty CARGO_HOME each)",
            deps.len(),
            plan.lockfile_runs
        ));
        let r = lockfiles.compare("plain", server.base, &ngx.base)?;
        let what = format!(
            "cargo generate-lockfile ({} direct deps, {} packages locked), median of {}",
            deps.len(),
            r.packages,
            plan.lockfile_runs
        );
        report.info("Lockfile", format!("{what}, nginx"), r.describe_nginx());
        report.info("Lockfile", format!("{what}, raktar"), r.describe_raktar());
        let ratio = r.ratio();
        report.check("Lockfile", "raktar / nginx lockfile time", format!("{ratio:.2}x"), "<= 1.10x", ratio <= 1.10);
    }
    if !args.skip_delayed_lockfile {
        let delay = Duration::from_millis(args.delay_ms);
        step(&format!(
            "cargo generate-lockfile through a TCP proxy adding {} ms each way, {} runs per server",
            args.delay_ms, plan.lockfile_runs
        ));
        let proxy_raktar = delay::DelayProxy::start(socket_addr(server.base)?, delay)?;
        let proxy_nginx = delay::DelayProxy::start(socket_addr(&ngx.base)?, delay)?;
        let r = lockfiles.compare(
            "delayed",
            &format!("http://{}", proxy_raktar.addr),
            &format!("http://{}", proxy_nginx.addr),
        )?;
        let runs = plan.lockfile_runs.max(1);
        let what = format!(
            "cargo generate-lockfile through the proxy ({} ms each way), median of {}",
            args.delay_ms, plan.lockfile_runs
        );
        report.info("Lockfile", format!("{what}, nginx"), r.describe_nginx());
        report.info("Lockfile", format!("{what}, raktar"), r.describe_raktar());
        report.info(
            "Lockfile",
            "TCP connections per run through the proxy, nginx / raktar",
            format!(
                "{:.1} / {:.1}",
                proxy_nginx.connections() as f64 / runs as f64,
                proxy_raktar.connections() as f64 / runs as f64
            ),
        );
        let ratio = r.ratio();
        report.check(
            "Lockfile",
            format!("raktar / nginx lockfile time, {} ms added each way", args.delay_ms),
            format!("{ratio:.2}x"),
            "<= 0.50x",
            ratio <= 0.50,
        );
    }
    Ok(())
}
