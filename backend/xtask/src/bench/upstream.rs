//! `cargo xtask bench-upstream`: the pull-through cache's overhead, side by side in one run.
//!
//! A fake upstream (`raktar serve --public-read` loaded with `fixtures/mirror/` as a crates-io
//! mirror) and a registry with `--upstream-sparse` pointing at it (private, with a token). The
//! mirror fixtures' consumer project is resolved (`cargo generate-lockfile`) and fetched
//! (`cargo fetch`) from an empty `CARGO_HOME`, with crates-io replaced by the upstream directly or
//! by the registry's warm pull-through index, alternating, for a fixed number of rounds. Prints a
//! Markdown table (median and minimum per step). Everything binds to 127.0.0.1 and stops by itself.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};

use super::cargo::cargo_bin;
use super::procs::run_captured as run;

/// Options of `cargo xtask bench-upstream`.
#[derive(clap::Args, Debug)]
pub struct UpstreamBenchArgs {
    /// Measured rounds per side (after one warm-up round through the cache).
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// The raktar binary (default: build and use `target/release/raktar`).
    #[arg(long)]
    raktar: Option<PathBuf>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A command with no `CARGO_*` settings or proxies inherited from the outer cargo.
fn clean(mut cmd: Command) -> Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_") || key.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(key);
        }
    }
    cmd.env("CARGO_TERM_COLOR", "never").env("CARGO_TERM_PROGRESS_WHEN", "never");
    cmd
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &target)?;
            }
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A `raktar serve` child, killed on drop.
struct Server {
    child: std::process::Child,
    url: String,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(raktar: &Path, data: &Path, extra: &[&str]) -> Result<Server> {
    let mut cmd = Command::new(raktar);
    fs::create_dir_all(data)?;
    // Started in its data directory: no `frontend/dist` there, so no web UI (API only).
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(data)
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().context("starting raktar serve")?;
    let stdout = child.stdout.take().context("raktar's stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Raktar listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            bail!("raktar serve did not start within 30 s");
        }
    };
    Ok(Server { child, url, data: data.to_owned() })
}

fn cli(raktar: &Path, server: &Server, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new(raktar);
    cmd.args(args).arg("--data-dir").arg(&server.data).env("RUST_LOG", "warn");
    run(cmd, &format!("raktar {}", args.join(" ")))
}

/// One cargo step from an empty cargo home configured by `config` (and `credentials`).
fn timed_cargo(project: &Path, home: &Path, config: &str, credentials: &str, args: &[&str]) -> Result<Duration> {
    let mut cmd = clean(Command::new(cargo_bin()));
    cmd.current_dir(project).env("CARGO_HOME", home).args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    fs::create_dir_all(home)?;
    fs::write(home.join("config.toml"), config)?;
    fs::write(home.join("credentials.toml"), credentials)?;
    let started = Instant::now();
    let out = cmd.output().with_context(|| format!("running cargo {}", args.join(" ")))?;
    let elapsed = started.elapsed();
    ensure!(out.status.success(), "cargo {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    Ok(elapsed)
}

/// `generate-lockfile` then `fetch` from a new empty cargo home; the two wall times.
fn round(project: &Path, scratch: &Path, config: &str, credentials: &str) -> Result<(Duration, Duration)> {
    let home = scratch.join("cargo-home");
    if home.exists() {
        fs::remove_dir_all(&home)?;
    }
    let lock = project.join("Cargo.lock");
    if lock.exists() {
        fs::remove_file(&lock)?;
    }
    let resolve = timed_cargo(project, &home, config, credentials, &["generate-lockfile"])?;
    let fetch = timed_cargo(project, &home, config, credentials, &["fetch"])?;
    Ok((resolve, fetch))
}

fn stats(mut xs: Vec<Duration>) -> (f64, f64) {
    xs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = if xs.is_empty() { 0.0 } else { ms(xs[xs.len() / 2]) };
    (median, xs.first().map_or(0.0, |d| ms(*d)))
}

pub fn run_bench(args: UpstreamBenchArgs) -> Result<()> {
    ensure!(args.rounds > 0 && args.rounds <= 100, "--rounds must be between 1 and 100");
    let root = workspace_root();
    let raktar = match args.raktar {
        Some(path) => path,
        None => {
            eprintln!("bench-upstream: cargo build --release -p raktar");
            let mut build = clean(Command::new(cargo_bin()));
            build.current_dir(&root).args(["build", "--release", "-p", "raktar"]);
            let status = build.status().context("running cargo build")?;
            ensure!(status.success(), "cargo build --release -p raktar failed");
            root.join("target/release/raktar")
        }
    };
    let raktar = raktar.canonicalize().with_context(|| format!("no raktar binary at {}", raktar.display()))?;
    let scratch = tempfile::Builder::new().prefix("raktar-bench-upstream-").tempdir()?;
    let work = scratch.path();

    // The mirror fixtures, packaged offline (as crates-io would have them).
    eprintln!("bench-upstream: packaging fixtures/mirror");
    let mirror = work.join("mirror");
    copy_dir(&root.join("fixtures/mirror"), &mirror)?;
    let target = work.join("package-target");
    for dir in [mirror.clone(), mirror.join("mirror-leaf-1.0.0")] {
        let mut cmd = clean(Command::new(cargo_bin()));
        cmd.current_dir(&dir).env("CARGO_TARGET_DIR", &target).env("CARGO_HOME", work.join("pkg-home")).args([
            "package",
            "--no-verify",
            "--allow-dirty",
            "--offline",
        ]);
        if dir == mirror {
            cmd.arg("--workspace");
        }
        run(cmd, "cargo package")?;
    }
    let cache = work.join("fake-cache/registry/cache/upstream");
    fs::create_dir_all(&cache)?;
    for entry in fs::read_dir(target.join("package"))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.ends_with(".crate") && !name.starts_with("mirror-dev-helper") {
            fs::copy(&path, cache.join(&name))?;
        }
    }

    // The fake upstream and the registry in front of it.
    let upstream = start(&raktar, &work.join("upstream-data"), &["--public-read"])?;
    cli(&raktar, &upstream, &["user", "create", "mirror-admin"])?;
    let cache_root = work.join("fake-cache/registry/cache");
    cli(
        &raktar,
        &upstream,
        &[
            "import",
            cache_root.to_str().context("a UTF-8 path")?,
            "--owner",
            "mirror-admin",
            "--as-mirror",
            "--upstream-index",
            "https://index.upstream.test/",
        ],
    )?;
    let upstream_index = format!("{}/index/", upstream.url);
    let registry = start(&raktar, &work.join("registry-data"), &["--upstream-sparse", &upstream_index])?;
    cli(&raktar, &registry, &["user", "create", "dev"])?;
    let token = cli(&raktar, &registry, &["token", "create", "--user", "dev", "--name", "bench"])?.trim().to_owned();

    let project = work.join("consumer");
    copy_dir(&root.join("fixtures/mirror/consumer"), &project)?;
    let direct = format!(
        "[source.crates-io]\nreplace-with = \"direct\"\n\n[source.direct]\nregistry = \"sparse+{upstream_index}\"\n"
    );
    let through = format!(
        "[source.crates-io]\nreplace-with = \"cache\"\n\n[registries.cache]\nindex = \"sparse+{}/upstream/index/\"\n\n\
         [registry]\nglobal-credential-providers = [\"cargo:token\"]\n",
        registry.url
    );
    let credentials = format!("[registries.cache]\ntoken = \"{token}\"\n");

    eprintln!("bench-upstream: warming the cache (one round, not counted)");
    round(&project, work, &through, &credentials)?;
    let (mut d_res, mut d_fetch, mut c_res, mut c_fetch) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..args.rounds {
        // Alternate which side goes first.
        let sides: [bool; 2] = if i % 2 == 0 { [false, true] } else { [true, false] };
        for through_cache in sides {
            if through_cache {
                let (r, f) = round(&project, work, &through, &credentials)?;
                c_res.push(r);
                c_fetch.push(f);
            } else {
                let (r, f) = round(&project, work, &direct, "")?;
                d_res.push(r);
                d_fetch.push(f);
            }
        }
        eprintln!("bench-upstream: round {}/{} done", i + 1, args.rounds);
    }
    // The server writes its answer counts within two seconds.
    std::thread::sleep(Duration::from_millis(2500));
    let stats_out = cli(&raktar, &registry, &["upstream", "stats"])?;
    let rows =
        [("cargo generate-lockfile", stats(d_res), stats(c_res)), ("cargo fetch", stats(d_fetch), stats(c_fetch))];
    println!(
        "## Pull-through cache overhead ({} rounds, empty CARGO_HOME each, fixtures/mirror consumer)\n",
        args.rounds
    );
    println!(
        "| step | direct to the upstream: median (min) | through the warm cache: median (min) | overhead (median) |"
    );
    println!("|---|---|---|---|");
    for (step, (dm, dmin), (cm, cmin)) in rows {
        println!("| `{step}` | {dm:.0} ms ({dmin:.0}) | {cm:.0} ms ({cmin:.0}) | {:+.0} ms |", cm - dm);
    }
    println!("\nCache after the run (`raktar upstream stats`):\n\n```\n{}```", stats_out);
    Ok(())
}
