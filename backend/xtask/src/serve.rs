//! `cargo xtask serve [ARGS...]`: builds the web UI when `frontend/dist` is missing or older than
//! its sources (`npm ci` when needed, `npm run build` in `frontend/`), then runs
//! `cargo run --release -p raktar -- serve --ui-dir frontend/dist ARGS...`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context as _, bail};

/// Arguments passed on to `raktar serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Arguments for `raktar serve` (after `--`, e.g. `-- --listen 127.0.0.1:8080`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let root = workspace_root()?;
    let dist = ensure_ui_built(&root)?;
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["run", "--release", "-p", "raktar", "--", "serve", "--ui-dir"])
        .arg(&dist)
        .args(&args.rest)
        .current_dir(&root)
        .status()
        .context("starting cargo run")?;
    if !status.success() {
        bail!("raktar serve exited with {status}");
    }
    Ok(())
}

/// Builds the web UI when `frontend/dist` is missing or older than its sources (installing the
/// node modules first when they are missing or older than the lockfile); returns `frontend/dist`.
pub fn ensure_ui_built(root: &Path) -> anyhow::Result<PathBuf> {
    let frontend = root.join("frontend");
    let dist = frontend.join("dist");
    ensure_node_modules(&frontend)?;
    if needs_build(&frontend, &dist)? {
        println!("Building the web UI (npm run build in frontend/)");
        run_step(Command::new("npm").args(["run", "build"]).current_dir(&frontend), "npm run build")?;
    }
    Ok(dist)
}

/// `npm ci` in `frontend` when its node modules are missing or older than the lockfile.
pub fn ensure_node_modules(frontend: &Path) -> anyhow::Result<()> {
    if !frontend.join("node_modules").is_dir()
        || newest(&frontend.join("package-lock.json"))? > newest(&frontend.join("node_modules"))?
    {
        run_step(Command::new("npm").arg("ci").current_dir(frontend), "npm ci")?;
    }
    Ok(())
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).map(Path::to_path_buf).context("finding the workspace root")
}

fn run_step(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("starting {what} (is Node.js 20+ installed?)"))?;
    if !status.success() {
        bail!("{what} failed with {status}");
    }
    Ok(())
}

/// The UI needs building when `dist/index.html` is missing or older than any source file.
fn needs_build(frontend: &Path, dist: &Path) -> anyhow::Result<bool> {
    let index = dist.join("index.html");
    let Ok(built) = index.metadata().and_then(|m| m.modified()) else {
        return Ok(true);
    };
    let mut sources = newest(&frontend.join("src"))?;
    for file in ["index.html", "package.json", "package-lock.json", "vite.config.ts"] {
        sources = sources.max(newest(&frontend.join(file))?);
    }
    Ok(sources > built)
}

/// The newest modification time under `path` (a file or a directory tree).
fn newest(path: &Path) -> anyhow::Result<SystemTime> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(SystemTime::UNIX_EPOCH);
    };
    let mut latest = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
            let entry = entry?;
            if entry.file_name() == "node_modules" {
                continue;
            }
            latest = latest.max(newest(&entry.path())?);
        }
    }
    Ok(latest)
}
