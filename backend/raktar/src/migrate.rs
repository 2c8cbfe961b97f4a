//! `raktar migrate --from CONFIG --to CONFIG`: copies every item and blob from one home (a store
//! pair) to another, embedded <-> AWS, then verifies the copy.
//!
//! - **Items** are read with [`ItemStore::scan`] page by page and written with plain puts (the same
//!   attributes, so a repeated copy of an item changes nothing).
//! - **Blobs** are listed, sorted, and copied with `put_if_absent`; a blob already in the
//!   destination is compared (size and SHA-256) instead of written.
//! - **Checkpoints**: after every page of items and every batch of blobs the position is saved in
//!   the destination, as the item `MIGRATION#{source id}` / `CHECKPOINT` (see
//!   `model::keys::migration_checkpoint`). Running the same command again resumes after the last
//!   saved position; after a finished copy it only verifies again. Checkpoint items are never
//!   copied and never counted.
//! - **Verification**: item counts and an order-independent digest of every item per `type` on
//!   both sides, the blob key sets, the SHA-256 of every blob on both sides, and that every
//!   version's `cksum` equals the SHA-256 of its `.crate` blob in the destination.
//!
//! Progress goes to stderr: a progress bar on a terminal, periodic log lines otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use raktar::home::{self, Home, HomeArgs, HomeSettings, Platform};
use raktar_core::model::{Entity, keys};
use raktar_core::services::clock;
use raktar_core::store::item::PK;
use raktar_core::store::{BlobStore, Item, ItemStore, PutOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{self, FileConfig};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Configuration file of the source home (its `data_dir` and `[store]`).
    #[arg(long, value_name = "CONFIG")]
    from: PathBuf,
    /// Configuration file of the destination home.
    #[arg(long, value_name = "CONFIG")]
    to: PathBuf,
    /// Items per scan page (one checkpoint per page).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: u32,
    /// Items or blobs copied at the same time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// Ignore the saved checkpoint and copy everything again (copies are idempotent).
    #[arg(long)]
    restart: bool,
    /// Allow a destination that already holds data without a checkpoint of this source (items
    /// with the same key are overwritten; blobs are never overwritten).
    #[arg(long)]
    allow_non_empty: bool,
    /// Only run the verification pass.
    #[arg(long)]
    verify_only: bool,
    /// Stop after copying this many items and blobs (testing resumption).
    #[arg(long, hide = true)]
    limit: Option<u64>,
}

/// The saved position of one migration, stored in the destination.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// Descriptions of the source stores (for people reading the item).
    source: String,
    started_at: String,
    updated_at: String,
    /// Scan cursor after the last page of items copied.
    items_cursor: Option<String>,
    items_done: bool,
    items_copied: u64,
    /// Last blob key (in sorted order) up to which every blob is copied.
    blobs_after: Option<String>,
    blobs_done: bool,
    blobs_copied: u64,
    verified_at: Option<String>,
}

/// Opens the home described by a configuration file (environment and flags do not apply: the two
/// homes are fully described by their files).
async fn open_config(path: &Path) -> anyhow::Result<(HomeSettings, Home)> {
    let file = FileConfig::load(Some(path))?;
    let data_dir = config::resolve_data_dir(None, &file);
    let settings = home::resolve(HomeArgs::default(), file.store.as_ref(), &data_dir, Platform::Process)
        .with_context(|| format!("the home of {}", path.display()))?;
    home::check_aws(&settings).await.with_context(|| format!("the home of {}", path.display()))?;
    let opened = home::open_home(&settings).await.with_context(|| format!("opening the home of {}", path.display()))?;
    Ok((settings, opened))
}

/// Bounded progress reporting: a bar on a terminal, a log line at most every few seconds otherwise.
struct Progress {
    bar: ProgressBar,
    phase: &'static str,
    tty: bool,
    last_log: Instant,
}

impl Progress {
    fn new(phase: &'static str, total: Option<u64>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        let template = match total {
            Some(_) => "{spinner} {prefix:>8} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left) {msg}",
            None => "{spinner} {prefix:>8} {pos} ({per_sec}) {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(phase);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar, phase, tty, last_log: Instant::now() }
    }

    fn set_position(&mut self, pos: u64) {
        self.bar.set_position(pos);
        if !self.tty && self.last_log.elapsed() >= Duration::from_secs(5) {
            self.last_log = Instant::now();
            tracing::info!(phase = self.phase, done = pos, total = self.bar.length(), "migrate progress");
        }
    }

    fn finish(self) {
        let done = self.bar.position();
        self.bar.finish_and_clear();
        tracing::info!(phase = self.phase, done, "migrate phase finished");
    }
}

/// The content type a blob key is served with.
fn content_type(key: &str) -> &'static str {
    if key.ends_with(".crate") {
        "application/gzip"
    } else if key.ends_with(".md") {
        "text/markdown"
    } else {
        "application/octet-stream"
    }
}

fn is_checkpoint(item: &Item) -> bool {
    item.get_str(PK).is_some_and(|pk| pk.starts_with(keys::MIGRATION_PK_PREFIX))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn read_blob(store: &dyn BlobStore, key: &str) -> anyhow::Result<Option<Bytes>> {
    match store.get(key).await.with_context(|| format!("reading blob {key} from {}", store.describe()))? {
        Some(blob) => Ok(Some(blob.into_bytes().await.with_context(|| format!("reading blob {key}"))?)),
        None => Ok(None),
    }
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let (from_settings, from) = open_config(&args.from).await?;
    let (to_settings, to) = open_config(&args.to).await?;
    let source = format!("{} + {}", from.items.describe(), from.blobs.describe());
    let destination = format!("{} + {}", to.items.describe(), to.blobs.describe());
    if source == destination {
        bail!("the source and the destination are the same home ({source})");
    }
    eprintln!("migrating from {}", from_settings.describe());
    eprintln!("           to {}", to_settings.describe());
    let source_id = sha256_hex(source.as_bytes())[..32].to_owned();
    let checkpoint_key = keys::migration_checkpoint(&source_id);

    let saved = match to.items.get(&checkpoint_key).await.context("reading the migration checkpoint")? {
        Some(item) => Some(item.to_entity::<Checkpoint>().context("reading the migration checkpoint")?),
        None => None,
    };
    let mut checkpoint = match saved {
        Some(saved) if !args.restart => {
            eprintln!(
                "resuming the migration started {} ({} items and {} blobs copied so far)",
                saved.started_at, saved.items_copied, saved.blobs_copied
            );
            saved
        }
        previous => {
            if previous.is_none() && !args.allow_non_empty && !args.verify_only {
                refuse_non_empty(to.items.as_ref(), to.blobs.as_ref()).await?;
            }
            let now = clock::now_string();
            Checkpoint { source: source.clone(), started_at: now.clone(), updated_at: now, ..Checkpoint::default() }
        }
    };
    let copier = Copier {
        from: &from,
        to: &to,
        checkpoint_key,
        page_size: args.page_size,
        concurrency: usize::try_from(args.concurrency).unwrap_or(8),
        budget: args.limit,
        copied_this_run: 0,
    };
    if !args.verify_only {
        let mut copier = copier;
        if !copier.copy_items(&mut checkpoint).await? || !copier.copy_blobs(&mut checkpoint).await? {
            println!(
                "stopped after copying {} items and blobs (--limit); run the same command again to resume",
                copier.copied_this_run
            );
            return Ok(());
        }
        println!("copied {} items and {} blobs", checkpoint.items_copied, checkpoint.blobs_copied);
    }

    let report = verify(&from, &to, usize::try_from(args.concurrency).unwrap_or(8)).await?;
    report.print();
    if !report.problems.is_empty() {
        bail!("verification failed: {} problem(s), listed above", report.problems.len());
    }
    checkpoint.verified_at = Some(clock::now_string());
    save_checkpoint(to.items.as_ref(), &keys::migration_checkpoint(&source_id), &mut checkpoint).await?;
    println!("verification passed");
    Ok(())
}

/// Refuses a destination that holds data (other than checkpoints of other migrations).
async fn refuse_non_empty(items: &dyn ItemStore, blobs: &dyn BlobStore) -> anyhow::Result<()> {
    let mut cursor = None;
    // Bounded: checkpoints of other sources are few.
    for _ in 0..10 {
        let page = items.scan(None, cursor, 20).await.context("checking that the destination is empty")?;
        if let Some(item) = page.items.iter().find(|i| !is_checkpoint(i)) {
            let key = item.key().map(|k| format!("{}/{}", k.pk, k.sk)).unwrap_or_default();
            bail!(
                "the destination already holds items (for example {key}); migrate into an empty home, or pass \
                 --allow-non-empty to merge (items with the same key are overwritten)"
            );
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if let Some(key) = blobs.list("").await.context("checking that the destination is empty")?.first() {
        bail!(
            "the destination already holds blobs (for example {key}); migrate into an empty home, or pass \
             --allow-non-empty to merge"
        );
    }
    Ok(())
}

/// A checkpoint item: `MIGRATION#{source id}` / `CHECKPOINT` ([`keys::migration_checkpoint`]).
impl Entity for Checkpoint {
    const TYPE: &'static str = keys::types::MIGRATION;
    type Id<'a> = &'a raktar_core::store::Key;
    fn key(&self, key: &raktar_core::store::Key) -> raktar_core::store::Key {
        key.clone()
    }
}

async fn save_checkpoint(
    store: &dyn ItemStore,
    key: &raktar_core::store::Key,
    cp: &mut Checkpoint,
) -> anyhow::Result<()> {
    cp.updated_at = clock::now_string();
    let item = cp.item(key).context("building the checkpoint")?;
    store.put(item, None).await.context("saving the migration checkpoint")
}

struct Copier<'a> {
    from: &'a Home,
    to: &'a Home,
    checkpoint_key: raktar_core::store::Key,
    page_size: u32,
    concurrency: usize,
    /// `--limit`: copies left in this run.
    budget: Option<u64>,
    copied_this_run: u64,
}

impl Copier<'_> {
    /// How many more copies this run may make (`None`: unlimited).
    fn remaining(&self) -> Option<u64> {
        self.budget.map(|b| b.saturating_sub(self.copied_this_run))
    }

    /// Copies items page by page; `false` when stopped by `--limit`.
    async fn copy_items(&mut self, cp: &mut Checkpoint) -> anyhow::Result<bool> {
        if cp.items_done {
            return Ok(true);
        }
        let mut progress = Progress::new("items", None);
        progress.set_position(cp.items_copied);
        loop {
            let limit = match self.remaining() {
                Some(0) => {
                    progress.finish();
                    return Ok(false);
                }
                Some(left) => self.page_size.min(u32::try_from(left).unwrap_or(u32::MAX)),
                None => self.page_size,
            };
            let page = self
                .from
                .items
                .scan(None, cp.items_cursor.clone(), limit)
                .await
                .with_context(|| format!("scanning {}", self.from.items.describe()))?;
            let items: Vec<Item> = page.items.into_iter().filter(|i| !is_checkpoint(i)).collect();
            let n = items.len() as u64;
            let to = Arc::clone(&self.to.items);
            futures::stream::iter(items)
                .map(|item| {
                    let to = Arc::clone(&to);
                    async move {
                        let key = item.key();
                        to.put(item, None).await.with_context(|| match key {
                            Some(k) => format!("writing item {}/{}", k.pk, k.sk),
                            None => "writing an item without a key".to_owned(),
                        })
                    }
                })
                .buffer_unordered(self.concurrency)
                .try_collect::<Vec<()>>()
                .await?;
            cp.items_copied += n;
            self.copied_this_run += n;
            progress.set_position(cp.items_copied);
            cp.items_cursor = page.cursor;
            cp.items_done = cp.items_cursor.is_none();
            save_checkpoint(self.to.items.as_ref(), &self.checkpoint_key, cp).await?;
            if cp.items_done {
                progress.finish();
                return Ok(true);
            }
        }
    }

    /// Copies blobs in sorted key order, in batches; `false` when stopped by `--limit`.
    async fn copy_blobs(&mut self, cp: &mut Checkpoint) -> anyhow::Result<bool> {
        if cp.blobs_done {
            return Ok(true);
        }
        let mut keys =
            self.from.blobs.list("").await.with_context(|| format!("listing {}", self.from.blobs.describe()))?;
        keys.sort();
        let pending: Vec<String> = match &cp.blobs_after {
            Some(after) => keys.iter().filter(|k| *k > after).cloned().collect(),
            None => keys.clone(),
        };
        let mut progress = Progress::new("blobs", Some(keys.len() as u64));
        let mut position = (keys.len() - pending.len()) as u64;
        progress.set_position(position);
        let batch_size = self.concurrency * 4;
        let mut rest = pending.as_slice();
        while !rest.is_empty() {
            let take = match self.remaining() {
                Some(0) => {
                    progress.finish();
                    return Ok(false);
                }
                Some(left) => batch_size.min(usize::try_from(left).unwrap_or(usize::MAX)),
                None => batch_size,
            };
            let (batch, next) = rest.split_at(take.min(rest.len()));
            rest = next;
            let from = Arc::clone(&self.from.blobs);
            let to = Arc::clone(&self.to.blobs);
            futures::stream::iter(batch.iter().cloned())
                .map(|key| {
                    let (from, to) = (Arc::clone(&from), Arc::clone(&to));
                    async move { copy_blob(from.as_ref(), to.as_ref(), &key).await }
                })
                .buffer_unordered(self.concurrency)
                .try_collect::<Vec<()>>()
                .await?;
            let n = batch.len() as u64;
            cp.blobs_copied += n;
            self.copied_this_run += n;
            position += n;
            progress.set_position(position);
            cp.blobs_after = batch.last().cloned();
            save_checkpoint(self.to.items.as_ref(), &self.checkpoint_key, cp).await?;
        }
        cp.blobs_done = true;
        save_checkpoint(self.to.items.as_ref(), &self.checkpoint_key, cp).await?;
        progress.finish();
        Ok(true)
    }
}

/// Copies one blob unless the destination has it; an existing blob must be identical.
async fn copy_blob(from: &dyn BlobStore, to: &dyn BlobStore, key: &str) -> anyhow::Result<()> {
    let Some(data) = read_blob(from, key).await? else {
        // Deleted since it was listed (a failed publish cleaning up): nothing to copy.
        tracing::warn!(key, "blob disappeared from the source while migrating");
        return Ok(());
    };
    let outcome = to
        .put_if_absent(key, data.clone(), content_type(key))
        .await
        .with_context(|| format!("writing blob {key} to {}", to.describe()))?;
    if outcome == PutOutcome::AlreadyExists {
        let existing = read_blob(to, key).await?.unwrap_or_default();
        if existing.len() != data.len() || sha256_hex(&existing) != sha256_hex(&data) {
            bail!(
                "blob {key} already exists in {} with different contents ({} bytes, sha256 {}; the source has {} bytes, sha256 {})",
                to.describe(),
                existing.len(),
                sha256_hex(&existing),
                data.len(),
                sha256_hex(&data)
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Verification

/// A JSON value with object keys sorted at every level (a stable text for digests).
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(values) => Value::Array(values.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Per-type count and an order-independent digest (sum of item hashes) of one side's items.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct TypeSummary {
    count: u64,
    digest: u128,
}

/// What verification reads from one side's items.
#[derive(Debug, Default)]
struct ItemSummary {
    by_type: BTreeMap<String, TypeSummary>,
    /// Blob key -> expected sha256 (`cksum`) of every version item.
    version_blobs: BTreeMap<String, (String, String)>,
}

async fn summarize_items(store: &dyn ItemStore, label: &'static str) -> anyhow::Result<ItemSummary> {
    let mut summary = ItemSummary::default();
    let mut progress = Progress::new(label, None);
    let mut cursor = None;
    let mut seen = 0u64;
    loop {
        let page = store.scan(None, cursor, 500).await.with_context(|| format!("scanning {}", store.describe()))?;
        for item in page.items.iter().filter(|i| !is_checkpoint(i)) {
            let item_type = item.item_type().unwrap_or("(untyped)").to_owned();
            let text = canonical(&Value::Object(item.0.clone())).to_string();
            let hash = Sha256::digest(text.as_bytes());
            let mut first = [0u8; 16];
            first.copy_from_slice(&hash[..16]);
            let entry = summary.by_type.entry(item_type.clone()).or_default();
            entry.count += 1;
            entry.digest = entry.digest.wrapping_add(u128::from_be_bytes(first));
            if item_type == keys::types::VERSION
                && let (Some(blob), Some(cksum)) = (item.get_str("blob"), item.get_str("cksum"))
            {
                let label =
                    format!("{}@{}", item.get_str(PK).unwrap_or_default(), item.get_str("vers").unwrap_or_default());
                summary.version_blobs.insert(blob.to_owned(), (cksum.to_owned(), label));
            }
            seen += 1;
        }
        progress.set_position(seen);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    progress.finish();
    Ok(summary)
}

async fn blob_hashes(
    store: &Arc<dyn BlobStore>,
    concurrency: usize,
    label: &'static str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let keys = store.list("").await.with_context(|| format!("listing {}", store.describe()))?;
    let progress = std::sync::Mutex::new(Progress::new(label, Some(keys.len() as u64)));
    let done = std::sync::atomic::AtomicU64::new(0);
    let hashes: Vec<(String, String)> = futures::stream::iter(keys)
        .map(|key| {
            let store = Arc::clone(store);
            let (progress, done) = (&progress, &done);
            async move {
                let data = read_blob(store.as_ref(), &key).await?;
                let hash = data.map(|d| sha256_hex(&d)).unwrap_or_else(|| "(missing)".to_owned());
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Ok(mut p) = progress.lock() {
                    p.set_position(n);
                }
                anyhow::Ok((key, hash))
            }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    if let Ok(p) = progress.into_inner() {
        p.finish();
    }
    Ok(hashes.into_iter().collect())
}

struct Report {
    types: BTreeMap<String, (Option<u64>, Option<u64>)>,
    blobs: (usize, usize),
    problems: Vec<String>,
}

impl Report {
    fn print(&self) {
        println!("{:<16} {:>10} {:>10}", "TYPE", "SOURCE", "DEST");
        for (item_type, (a, b)) in &self.types {
            let show = |n: &Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
            println!("{item_type:<16} {:>10} {:>10}", show(a), show(b));
        }
        println!("{:<16} {:>10} {:>10}", "blobs", self.blobs.0, self.blobs.1);
        for p in &self.problems {
            println!("problem: {p}");
        }
    }
}

async fn verify(from: &Home, to: &Home, concurrency: usize) -> anyhow::Result<Report> {
    let source = summarize_items(from.items.as_ref(), "verify:items(source)").await?;
    let dest = summarize_items(to.items.as_ref(), "verify:items(dest)").await?;
    let mut problems = Vec::new();
    let mut types = BTreeMap::new();
    let all_types: BTreeSet<&String> = source.by_type.keys().chain(dest.by_type.keys()).collect();
    for t in all_types {
        let (a, b) = (source.by_type.get(t), dest.by_type.get(t));
        types.insert(t.clone(), (a.map(|s| s.count), b.map(|s| s.count)));
        match (a, b) {
            (Some(a), Some(b)) if a.count != b.count => {
                problems.push(format!("{} `{t}` items in the source, {} in the destination", a.count, b.count));
            }
            (Some(a), Some(b)) if a.digest != b.digest => {
                problems.push(format!("the `{t}` items differ between the source and the destination"));
            }
            (Some(a), None) => problems.push(format!("{} `{t}` items missing in the destination", a.count)),
            (None, Some(b)) => problems.push(format!("{} `{t}` items in the destination only", b.count)),
            _ => {}
        }
    }
    let source_blobs = blob_hashes(&from.blobs, concurrency, "verify:blobs(source)").await?;
    let dest_blobs = blob_hashes(&to.blobs, concurrency, "verify:blobs(dest)").await?;
    for (key, hash) in &source_blobs {
        match dest_blobs.get(key) {
            None => problems.push(format!("blob {key} is missing in the destination")),
            Some(other) if other != hash => {
                problems.push(format!("blob {key} differs: sha256 {hash} in the source, {other} in the destination"));
            }
            _ => {}
        }
    }
    for key in dest_blobs.keys().filter(|k| !source_blobs.contains_key(*k)) {
        problems.push(format!("blob {key} is in the destination only"));
    }
    for (blob, (cksum, version)) in &dest.version_blobs {
        match dest_blobs.get(blob) {
            None => problems.push(format!("the .crate of {version} ({blob}) is missing in the destination")),
            Some(hash) if hash != cksum => {
                problems.push(format!("the .crate of {version} has sha256 {hash}, but its cksum is {cksum}"));
            }
            _ => {}
        }
    }
    Ok(Report { types, blobs: (source_blobs.len(), dest_blobs.len()), problems })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn canonical_sorts_nested_keys() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[{"d":1,"c":2}],"x":null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[{"c":2,"d":1}]},"b":1}"#).unwrap();
        assert_eq!(canonical(&a).to_string(), canonical(&b).to_string());
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("crates/a/a-1.0.0-x.crate"), "application/gzip");
        assert_eq!(content_type("readmes/a/1.0.0.md"), "text/markdown");
    }
}
