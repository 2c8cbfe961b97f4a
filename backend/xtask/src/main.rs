//! Developer tasks for the Raktar workspace.
//!
//! `cargo xtask serve` builds the web UI when needed and starts `raktar serve` with it.
//!
//! `cargo xtask bench` builds the release server, seeds a registry through the publish API and
//! measures it against nginx serving a byte-identical copy of the sparse index. See
//! `docs/performance.md` for the method and the latest figures.
//!
//! `cargo xtask bench-upstream` measures the pull-through cache's overhead: `cargo
//! generate-lockfile` and `cargo fetch` through a warm cache vs. directly against the upstream.

mod bench;
mod serve;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "Raktar developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmark `raktar serve` (index throughput against nginx, lockfile resolution, search,
    /// publish latency, memory) and write a Markdown report.
    Bench(bench::BenchArgs),
    /// Measure the pull-through cache's overhead (resolve and fetch through a warm cache vs.
    /// directly against the upstream) and print a Markdown table.
    BenchUpstream(bench::upstream::UpstreamBenchArgs),
    /// Measure the web UI's budgets in headless Chromium (initial JavaScript, the crate page's
    /// largest contentful paint, search as you type at 10,000 crates) and print a Markdown table.
    BenchUi(bench::ui::UiBenchArgs),
    /// Build the web UI when needed, then run `raktar serve --ui-dir frontend/dist` (release).
    Serve(serve::ServeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` shows the whole cause chain without anyhow's backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Command::Serve(args) => return serve::run(args),
        Command::BenchUpstream(args) => return bench::upstream::run_bench(args),
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        match command {
            Command::Serve(_) | Command::BenchUpstream(_) => Ok(()),
            Command::Bench(args) => bench::run(args).await,
            Command::BenchUi(args) => bench::ui::run(args).await,
        }
    })
}
