//! `raktar`: the registry server and its admin commands.

mod config;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use raktar_core::domain::{CratePattern, Login, Scope};
use raktar_core::model::Role;
use raktar_core::services::tokens::NewToken;
use raktar_core::{Registry, RegistryConfig};
use raktar_store::{FsBlobStore, SqliteItemStore};

use crate::config::FileConfig;

#[derive(Debug, Parser)]
#[command(name = "raktar", version, about = "Raktar: a private Cargo registry")]
struct Cli {
    /// TOML configuration file (flags and RAKTAR_* variables override it).
    #[arg(long, global = true, env = "RAKTAR_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (embedded store file and blobs).
    #[arg(long, global = true, env = "RAKTAR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage cargo tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (IP:PORT; port 0 picks a free port).
    #[arg(long, env = "RAKTAR_LISTEN")]
    listen: Option<String>,
    /// Public base URL of the registry as clients reach it (default: http://LISTEN-ADDRESS).
    #[arg(long, env = "RAKTAR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Allow reading the index and downloading crates without a token (`--public-read` or
    /// `--public-read=false`; the variable takes true/false/1/0/yes/no).
    #[arg(long, env = "RAKTAR_PUBLIC_READ", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    public_read: Option<bool>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        login: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; prints only the token (shown once).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// Scope (repeatable): read, publish-new, publish-update, yank, change-owners. Default: all.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Limit write scopes to crates matching this pattern (repeatable; trailing `*` allowed).
        #[arg(long = "crate")]
        crates: Vec<String>,
        /// Lifetime: days (`30`) or with a unit (`90s`, `15m`, `12h`, `7d`). Default: no expiry.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List a user's tokens (never the secrets).
    List {
        #[arg(long)]
        user: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name (effective immediately).
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
    },
}

fn init_tracing(format: Option<&str>) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Opens the embedded home in a data directory.
fn open_registry(data_dir: &Path, config: RegistryConfig) -> anyhow::Result<Arc<Registry>> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let items = SqliteItemStore::open(&data_dir.join("raktar.db"))
        .with_context(|| format!("opening the embedded store in {}", data_dir.display()))?;
    let blobs = FsBlobStore::new(data_dir.join("blobs"));
    Ok(Arc::new(Registry::new(Arc::new(items), Arc::new(blobs), config)))
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The error chain only: a backtrace means nothing to an operator.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = FileConfig::load(cli.config.as_deref())?;
    let log_format = std::env::var("RAKTAR_LOG_FORMAT").ok().or_else(|| file.log_format.clone());
    init_tracing(log_format.as_deref());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run(cli, file))
}

async fn run(cli: Cli, file: FileConfig) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = config::resolve_serve(args.listen, cli.data_dir, args.public_url, args.public_read, &file)?;
            serve(settings).await
        }
        Command::User(cmd) => {
            let registry = open_registry(&config::resolve_data_dir(cli.data_dir, &file), RegistryConfig::default())?;
            match cmd {
                UserCommand::Create { login, admin, name, email } => {
                    let login = Login::parse(&login)?;
                    let role = if admin { Role::Admin } else { Role::Member };
                    let user = registry.create_user("cli", &login, name, email, role).await?;
                    println!("created user `{}` (id {}, {})", user.login, user.id, role.as_str());
                    Ok(())
                }
            }
        }
        Command::Token(cmd) => {
            let registry = open_registry(&config::resolve_data_dir(cli.data_dir, &file), RegistryConfig::default())?;
            token_command(&registry, cmd).await
        }
    }
}

async fn token_command(registry: &Registry, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { user, name, scopes, crates, expires_in } => {
            let login = Login::parse(&user)?;
            let scopes = scopes.iter().map(|s| s.parse::<Scope>()).collect::<Result<Vec<_>, _>>()?;
            let crates = crates.iter().map(|c| CratePattern::parse(c)).collect::<Result<Vec<_>, _>>()?;
            let expires_in_secs = expires_in.as_deref().map(config::parse_lifetime).transpose()?;
            let created =
                registry.create_token("cli", &login, NewToken { name, scopes, crates, expires_in_secs }).await?;
            println!("{}", created.secret);
            Ok(())
        }
        TokenCommand::List { user, json } => {
            let login = Login::parse(&user)?;
            if registry.get_user(&login).await?.is_none() {
                bail!("no user with login `{login}`");
            }
            let tokens = registry.list_tokens(&login).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(());
            }
            if tokens.is_empty() {
                println!("user `{login}` has no tokens");
                return Ok(());
            }
            println!("{:<24} {:<12} {:<52} {:<22} {:<22} LAST USED", "NAME", "PREFIX", "SCOPES", "CREATED", "EXPIRES");
            for t in tokens {
                let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
                let expires = match (&t.expires_at, t.expired) {
                    (Some(e), true) => format!("{e} (expired)"),
                    (Some(e), false) => e.clone(),
                    (None, _) => "never".to_owned(),
                };
                let scopes = if t.crates.is_empty() { scopes } else { format!("{scopes} [{}]", t.crates.join(",")) };
                println!(
                    "{:<24} {:<12} {:<52} {:<22} {:<22} {}",
                    t.name,
                    format!("{}…", t.hint),
                    scopes,
                    t.created_at,
                    expires,
                    t.last_used_at.as_deref().unwrap_or("never")
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { user, name } => {
            let login = Login::parse(&user)?;
            registry.revoke_token("cli", &login, &name).await?;
            println!("revoked token `{name}` of user `{login}`");
            Ok(())
        }
    }
}

async fn serve(settings: config::ServeSettings) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
    let registry = open_registry(
        &settings.data_dir,
        RegistryConfig { auth_required: settings.auth_required, limits: settings.limits.clone() },
    )?;
    let state = raktar_http::AppState::new(registry, &public_url);
    let app = raktar_http::router(state);

    println!("Raktar listening on http://{bound}");
    println!("Public URL: {public_url}  (data directory: {})", settings.data_dir.display());
    println!();
    println!("Add this to .cargo/config.toml (or ~/.cargo/config.toml):");
    println!();
    println!("[registries.raktar]");
    println!("index = \"sparse+{public_url}/index/\"");
    println!();
    println!("[registry]");
    println!("global-credential-providers = [\"cargo:token\"]");
    println!();
    println!("Then run `cargo login --registry raktar` with a token from {public_url}/me");
    if !settings.auth_required {
        println!("(public-read mode: reading needs no token; publishing does)");
    }
    tracing::info!(%bound, %public_url, auth_required = settings.auth_required, "raktar started");

    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("serving HTTP")?;
    tracing::info!("raktar stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
