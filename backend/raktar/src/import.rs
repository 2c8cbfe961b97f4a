//! `raktar import PATH... --owner LOGIN`: imports existing `.crate` files (single files,
//! directories searched recursively for `*.crate`, a cargo registry cache such as
//! `~/.cargo/registry/cache/*/`) through the domain's import service
//! (`raktar_core::services::import`), with a progress bar and a summary of what was skipped and why.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use raktar_core::domain::{CrateVersion, Login};
use raktar_core::services::import::{ImportResult, ImportSettings, SkipReason};
use raktar_core::{Registry, RegistryConfig};
use serde::Deserialize;

/// `[import]` in the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    /// The canonical index URL of crates-io, as cargo writes it in the `registry` field of
    /// crates-io dependencies (what a dependency without `registry-index` in a packaged manifest
    /// refers to).
    pub upstream_index: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// `.crate` files and directories (searched recursively for `*.crate`).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Owner of every crate the import creates (an existing user).
    #[arg(long)]
    owner: String,
    /// Canonical index URL of crates-io, as cargo writes it for crates-io dependencies (default:
    /// `upstream_index` in `[import]` of the configuration file).
    #[arg(long, env = "RAKTAR_UPSTREAM_INDEX", value_name = "URL")]
    upstream_index: Option<String>,
    /// Mirror crates-io: dependencies on it are recorded as same-registry, so this registry can
    /// replace crates-io (`[source.crates-io] replace-with = ...`).
    #[arg(long, conflicts_with = "mirror_of")]
    as_mirror: bool,
    /// Mirror another registry: dependencies on the registry with this index URL (as written in
    /// the packaged manifests' `registry-index`) are recorded as same-registry.
    #[arg(long, value_name = "URL")]
    mirror_of: Option<String>,
}

/// Directory levels searched below each path (a bound against link loops).
const MAX_DEPTH: usize = 16;

/// Every file to import: files as given, `*.crate` under directories.
fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        if depth > MAX_DEPTH {
            tracing::warn!(dir = %dir.display(), "not searching deeper than {MAX_DEPTH} levels");
            return Ok(());
        }
        let entries = std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
        for entry in entries {
            let path = entry.with_context(|| format!("reading directory {}", dir.display()))?.path();
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if meta.is_dir() {
                walk(&path, depth + 1, out)?;
            } else if meta.is_file() && path.extension().is_some_and(|e| e == "crate") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            walk(path, 0, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    files.sort_by_cached_key(|p| sort_key(p));
    files.dedup();
    Ok(files)
}

/// Files sort by crate name, then by version (so a crate's versions are imported, and listed in
/// its index, in version order); names that do not look like `{name}-{version}.crate` go last.
fn sort_key(path: &Path) -> (u8, String, Option<semver::Version>, PathBuf) {
    let stem = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".crate"));
    let parsed = stem.and_then(|stem| {
        // The version starts after the first `-` followed by a digit that parses as a version.
        stem.match_indices('-').find_map(|(i, _)| {
            let (name, vers) = (&stem[..i], &stem[i + 1..]);
            CrateVersion::parse(vers).ok().map(|v| (name.to_ascii_lowercase(), v.semver().clone()))
        })
    });
    match parsed {
        Some((name, vers)) => (0, name, Some(vers), path.to_path_buf()),
        None => (1, String::new(), None, path.to_path_buf()),
    }
}

pub async fn run(args: ImportArgs, registry: &Registry, file: Option<&ImportFile>) -> anyhow::Result<()> {
    let owner = Login::parse(&args.owner)?;
    if registry.get_user(&owner).await?.is_none() {
        bail!("no user with login `{owner}`: create it first with `raktar user create {owner}`");
    }
    let Some(upstream_index) = args
        .upstream_index
        .clone()
        .or_else(|| file.and_then(|f| f.upstream_index.clone()))
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
    else {
        bail!(
            "the canonical index URL of crates-io is not configured: pass --upstream-index URL, set \
             RAKTAR_UPSTREAM_INDEX, or set `upstream_index` in [import] of the configuration file"
        );
    };
    let mirror_of = match (&args.mirror_of, args.as_mirror) {
        (Some(url), _) => Some(url.clone()),
        (None, true) => Some(upstream_index.clone()),
        (None, false) => None,
    };
    let settings = ImportSettings { upstream_index, mirror_of };
    let files = collect_files(&args.paths)?;
    if files.is_empty() {
        bail!("no .crate files found under the given paths");
    }
    let mode = match &settings.mirror_of {
        Some(url) => format!("mirror of {url}: its dependencies recorded as same-registry"),
        None => "dependencies recorded with their registry URLs".to_owned(),
    };
    eprintln!("importing {} file(s) for owner `{owner}` ({mode})", files.len());

    let tty = std::io::stderr().is_terminal();
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_draw_target(if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    if let Ok(style) = ProgressStyle::with_template("{spinner} import [{bar:40}] {pos}/{len} ({eta} left) {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut last_log = Instant::now();

    let max_bytes = registry.config().limits.max_crate_bytes;
    let mut imported: Vec<(String, String)> = Vec::new();
    let mut skipped: Vec<(PathBuf, SkipReason, String)> = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let name = path.file_name().and_then(|n| n.to_str()).map(str::to_owned);
        bar.set_message(name.clone().unwrap_or_default());
        let result = match read_bounded(path, max_bytes)? {
            Some(bytes) => registry
                .import_crate(&owner, "cli", name.as_deref(), bytes, &settings)
                .await
                .with_context(|| format!("importing {}", path.display()))?,
            None => ImportResult::Skipped {
                reason: SkipReason::TooLarge,
                detail: format!("larger than {max_bytes} bytes (`[limits] max_crate_bytes`)"),
            },
        };
        match result {
            ImportResult::Imported { name, vers, .. } => {
                tracing::debug!(file = %path.display(), krate = %name, %vers, "imported");
                imported.push((name, vers));
            }
            ImportResult::Skipped { reason, detail } => {
                tracing::debug!(file = %path.display(), %reason, %detail, "skipped");
                skipped.push((path.clone(), reason, detail));
            }
        }
        bar.set_position(i as u64 + 1);
        if !tty && last_log.elapsed() >= Duration::from_secs(5) {
            last_log = Instant::now();
            tracing::info!(done = i + 1, total = files.len(), imported = imported.len(), "import progress");
        }
    }
    bar.finish_and_clear();

    let mut by_reason: BTreeMap<SkipReason, usize> = BTreeMap::new();
    for (_, reason, _) in &skipped {
        *by_reason.entry(*reason).or_default() += 1;
    }
    let reasons: Vec<String> = by_reason.iter().map(|(r, n)| format!("{n} {r}")).collect();
    println!(
        "imported {} crate version(s), skipped {}{}",
        imported.len(),
        skipped.len(),
        if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) }
    );
    for (path, reason, detail) in &skipped {
        println!("skipped {}: {reason}: {detail}", path.display());
    }

    // Same-registry dependencies that nothing in the registry satisfies (mirror imports come in
    // any order, so this is checked once, at the end).
    let unresolved = registry.unresolved_dependencies(&imported).await?;
    let (dev, needed): (Vec<_>, Vec<_>) = unresolved.iter().partition(|u| u.kind == "dev");
    if !needed.is_empty() {
        println!("warning: {} dependency requirement(s) cannot be resolved in this registry:", needed.len());
        for u in &needed {
            let why = if u.crate_exists { "no matching version" } else { "crate missing" };
            println!("  {}@{} needs {} {} ({}, {why})", u.krate, u.vers, u.dependency, u.req, u.kind);
        }
    }
    if !dev.is_empty() {
        println!(
            "note: {} dev-dependency requirement(s) cannot be resolved (not needed to build dependents)",
            dev.len()
        );
    }
    Ok(())
}

/// Reads a file unless it is larger than `max` bytes (`None` then).
fn read_bounded(path: &Path, max: u64) -> anyhow::Result<Option<Bytes>> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut data = Vec::new();
    file.take(max + 1).read_to_end(&mut data).with_context(|| format!("reading {}", path.display()))?;
    Ok((data.len() as u64 <= max).then(|| Bytes::from(data)))
}

/// The registry settings of an import: the configured limits (they bound what can be imported).
pub fn registry_config(limits: raktar_core::services::Limits) -> RegistryConfig {
    RegistryConfig { limits, ..RegistryConfig::default() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_sort_by_name_then_version() {
        let mut paths: Vec<PathBuf> = [
            "b-1.0.0.crate",
            "a-1.10.0.crate",
            "a-1.9.0.crate",
            "odd.crate",
            "a-b-0.1.0-rc.1.crate",
            "a-b-0.1.0.crate",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        paths.sort_by_cached_key(|p| sort_key(p));
        let names: Vec<_> = paths.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            names,
            vec![
                "a-1.9.0.crate",
                "a-1.10.0.crate",
                "a-b-0.1.0-rc.1.crate",
                "a-b-0.1.0.crate",
                "b-1.0.0.crate",
                "odd.crate"
            ]
        );
    }
}
