//! `raktar name ...` (the dependency-confusion guard's reserved names) and `raktar upstream ...`
//! (the pull-through cache's figures and purge): administrator commands on the configured home.

use anyhow::bail;
use clap::Subcommand;
use raktar_core::Registry;
use raktar_core::domain::CrateName;

/// Who the audit log names for these commands.
const ACTOR: &str = "cli";

#[derive(Debug, Subcommand)]
pub enum NameCommand {
    /// Reserve NAME for private use: a new private crate of that name may be published although
    /// the name exists in the upstream registry, and the pull-through index never serves the
    /// upstream's crate of that name.
    Reserve {
        name: String,
        /// Why (shown in `raktar name list` and the web UI).
        #[arg(long)]
        note: Option<String>,
    },
    /// List the reserved names.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Release a reserved name (a published private crate keeps its name).
    Release { name: String },
    /// List the private crates whose names exist in the upstream registry (needs
    /// `--upstream-sparse` / `RAKTAR_UPSTREAM_SPARSE` or `[upstream] sparse_index`).
    Collisions {
        #[command(flatten)]
        upstream: crate::config::UpstreamArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// The pull-through cache's size, hit ratio and most downloaded crates.
    Stats {
        /// How many of the most downloaded crates to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove cached upstream files: every file of the NAMEs given, or everything with `--all`.
    /// They are fetched again on the next request (when the upstream is reachable).
    Purge {
        names: Vec<String>,
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
}

pub async fn run_name(
    registry: Registry,
    cmd: NameCommand,
    upstream_file: Option<&crate::config::UpstreamFile>,
) -> anyhow::Result<()> {
    match cmd {
        NameCommand::Reserve { name, note } => {
            let name = CrateName::parse(&name)?;
            let reserved = registry.reserve_name(ACTOR, &name, note).await?;
            let state = if reserved.published { " (a private crate of that name exists)" } else { "" };
            println!("reserved crate name `{}` for private use{state}", reserved.name);
        }
        NameCommand::List { json } => {
            let names = registry.reserved_names().await?;
            if json {
                let rows: Vec<_> = names
                    .iter()
                    .map(|n| {
                        serde_json::json!({
                            "name": n.name, "reserved_at": n.reserved_at, "reserved_by": n.reserved_by,
                            "note": n.note, "published": n.published,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if names.is_empty() {
                println!("no reserved names");
            } else {
                println!("{:<32} {:<22} {:<16} {:<10} NOTE", "NAME", "RESERVED", "BY", "PUBLISHED");
                for n in names {
                    println!(
                        "{:<32} {:<22} {:<16} {:<10} {}",
                        n.name,
                        n.reserved_at,
                        n.reserved_by,
                        if n.published { "yes" } else { "no" },
                        n.note.unwrap_or_default()
                    );
                }
            }
        }
        NameCommand::Release { name } => {
            let name = CrateName::parse(&name)?;
            registry.release_name(ACTOR, &name).await?;
            println!("released crate name `{name}`");
        }
        NameCommand::Collisions { upstream, json } => {
            let Some(upstream) = crate::config::resolve_upstream(upstream, upstream_file)? else {
                bail!("no upstream registry configured: pass --upstream-sparse URL (or RAKTAR_UPSTREAM_SPARSE)");
            };
            let registry = registry.with_upstream(upstream);
            let collisions = registry.name_collisions().await?;
            if json {
                let rows: Vec<_> = collisions
                    .iter()
                    .map(|c| serde_json::json!({"name": c.name, "upstream_names": c.upstream_names, "reserved": c.reserved}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if collisions.is_empty() {
                println!("no private crate name exists upstream");
            } else {
                println!("{:<32} {:<10} UPSTREAM", "PRIVATE CRATE", "RESERVED");
                for c in collisions {
                    println!(
                        "{:<32} {:<10} {}",
                        c.name,
                        if c.reserved { "yes" } else { "NO" },
                        c.upstream_names.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}

pub async fn run_upstream(registry: &Registry, cmd: UpstreamCommand) -> anyhow::Result<()> {
    match cmd {
        UpstreamCommand::Stats { top, json } => {
            let v = registry.upstream_cache_figures(top).await?;
            if json {
                let most: Vec<_> = v
                    .most_fetched
                    .iter()
                    .map(|c| serde_json::json!({"name": c.name, "version": c.version, "size": c.size, "downloads": c.downloads, "fetched_at": c.fetched_at}))
                    .collect();
                let out = serde_json::json!({
                    "index_files": v.index_files, "index_bytes": v.index_bytes,
                    "crate_files": v.crate_files, "crate_bytes": v.crate_bytes,
                    "hits": v.hits, "misses": v.misses, "revalidated": v.revalidated, "stale": v.stale,
                    "errors": v.errors, "rejected": v.rejected, "hit_ratio": v.hit_ratio, "most_fetched": most,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(());
            }
            println!("index files: {} ({} bytes)", v.index_files, v.index_bytes);
            println!("crate files: {} ({} bytes)", v.crate_files, v.crate_bytes);
            let ratio = v.hit_ratio.map_or("n/a".to_owned(), |r| format!("{:.1}%", r * 100.0));
            println!(
                "answers: {} hits, {} revalidated, {} stale, {} misses (hit ratio {ratio}); {} upstream errors, {} refused (checksum)",
                v.hits, v.revalidated, v.stale, v.misses, v.errors, v.rejected
            );
            if !v.most_fetched.is_empty() {
                println!();
                println!("{:<32} {:<20} {:>10} {:>12}  FETCHED", "CRATE", "VERSION", "DOWNLOADS", "BYTES");
                for c in v.most_fetched {
                    println!("{:<32} {:<20} {:>10} {:>12}  {}", c.name, c.version, c.downloads, c.size, c.fetched_at);
                }
            }
        }
        UpstreamCommand::Purge { names, all } => {
            if names.is_empty() && !all {
                bail!("name the crates to purge, or pass --all");
            }
            let targets: Vec<Option<&str>> =
                if all { vec![None] } else { names.iter().map(|n| Some(n.as_str())).collect() };
            for target in targets {
                let r = registry.purge_upstream(ACTOR, target).await?;
                println!(
                    "purged {}: {} index file(s), {} crate file(s), {} bytes",
                    target.unwrap_or("every cached upstream file"),
                    r.index_files,
                    r.crate_files,
                    r.bytes
                );
            }
        }
    }
    Ok(())
}
