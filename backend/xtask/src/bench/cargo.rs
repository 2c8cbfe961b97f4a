//! Driving the real cargo against a registry: `generate-lockfile` and `search`, each from an
//! empty `CARGO_HOME`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::procs;

/// The name of the registry in the consumer's configuration.
pub const REGISTRY: &str = "bench";

/// The cargo binary: the one that runs xtask (`$CARGO`), else `cargo` on PATH.
pub fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// Writes a consumer project depending on `deps` (name, requirement) from registry `bench`
/// whose index is `index_url`. With `token_provider`, the registry configuration enables
/// `cargo:token` (needed for an `auth-required` registry).
pub fn write_consumer(dir: &Path, deps: &[(String, String)], index_url: &str, token_provider: bool) -> Result<()> {
    fs::create_dir_all(dir.join("src")).with_context(|| format!("creating {dir:?}"))?;
    fs::create_dir_all(dir.join(".cargo")).with_context(|| format!("creating {dir:?}/.cargo"))?;
    let mut manifest = String::from(
        "[package]\nname = \"bench-consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n",
    );
    for (name, req) in deps {
        manifest.push_str(&format!("{name} = {{ version = \"{req}\", registry = \"{REGISTRY}\" }}\n"));
    }
    fs::write(dir.join("Cargo.toml"), manifest).context("writing the consumer manifest")?;
    fs::write(dir.join("src/lib.rs"), "").context("writing the consumer lib.rs")?;
    let mut config = format!("[registries.{REGISTRY}]\nindex = \"sparse+{index_url}\"\n");
    if token_provider {
        config.push_str("\n[registry]\nglobal-credential-providers = [\"cargo:token\"]\n");
    }
    fs::write(dir.join(".cargo/config.toml"), config).context("writing the consumer config")
}

/// A cargo command with a clean environment: a fresh `CARGO_HOME`, no inherited `CARGO_*`
/// settings or proxies, and the registry token when given.
fn cargo_command(project: &Path, cargo_home: &Path, token: Option<&str>) -> Command {
    let mut cmd = Command::new(cargo_bin());
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_") || key.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(project)
        .env("CARGO_HOME", cargo_home)
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_TERM_PROGRESS_WHEN", "never");
    if let Some(token) = token {
        cmd.env(format!("CARGO_REGISTRIES_{}_TOKEN", REGISTRY.to_ascii_uppercase()), token);
    }
    cmd
}

/// `cargo generate-lockfile` from an empty `CARGO_HOME` (created under `scratch`); returns the
/// wall time and the lockfile.
pub fn generate_lockfile(project: &Path, scratch: &Path, token: Option<&str>) -> Result<(Duration, String)> {
    let cargo_home = scratch.join("cargo-home");
    if cargo_home.exists() {
        fs::remove_dir_all(&cargo_home).with_context(|| format!("removing {cargo_home:?}"))?;
    }
    fs::create_dir_all(&cargo_home).with_context(|| format!("creating {cargo_home:?}"))?;
    let lock = project.join("Cargo.lock");
    if lock.exists() {
        fs::remove_file(&lock).with_context(|| format!("removing {lock:?}"))?;
    }
    let mut cmd = cargo_command(project, &cargo_home, token);
    cmd.arg("generate-lockfile");
    let (elapsed, _, _) = procs::run_timed(cmd, "cargo generate-lockfile", Duration::from_secs(180), scratch)?;
    let lockfile = fs::read_to_string(&lock).with_context(|| format!("reading {lock:?}"))?;
    fs::remove_dir_all(&cargo_home).with_context(|| format!("removing {cargo_home:?}"))?;
    Ok((elapsed, lockfile))
}

/// `cargo search --registry bench` from an empty `CARGO_HOME`; returns the wall time and stdout.
pub fn search(project: &Path, scratch: &Path, token: Option<&str>, query: &str) -> Result<(Duration, String)> {
    let cargo_home = scratch.join("cargo-home-search");
    if cargo_home.exists() {
        fs::remove_dir_all(&cargo_home).with_context(|| format!("removing {cargo_home:?}"))?;
    }
    fs::create_dir_all(&cargo_home).with_context(|| format!("creating {cargo_home:?}"))?;
    let mut cmd = cargo_command(project, &cargo_home, token);
    cmd.args(["search", "--registry", REGISTRY, "--limit", "10", query]);
    let (elapsed, stdout, _) = procs::run_timed(cmd, "cargo search", Duration::from_secs(60), scratch)?;
    Ok((elapsed, stdout))
}
