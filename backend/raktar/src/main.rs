//! `raktar`: the registry server and its admin commands.

mod accounts;
mod auth_config;
mod config;
mod import;
mod migrate;
mod names;
mod trust;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use raktar::home::{self, HomeArgs, HomeSettings, Platform};
#[cfg(feature = "aws")]
use raktar::lambda;
use raktar_core::domain::{CratePattern, Login, Scope};
use raktar_core::model::Role;
use raktar_core::services::tokens::NewToken;
use raktar_core::{Registry, RegistryConfig};

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
    /// Where items and blobs live (embedded or AWS).
    #[command(flatten)]
    home: HomeArgs,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
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
    /// Trusted publishing: which CI identities may publish a crate (without long-lived tokens).
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// The dependency-confusion guard: names reserved for private crates, and private names that
    /// exist upstream.
    #[command(subcommand)]
    Name(names::NameCommand),
    /// The pull-through cache of the upstream registry: figures and purge.
    #[command(subcommand)]
    Upstream(names::UpstreamCommand),
    /// The GraphQL contract.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Serve the registry as an AWS Lambda function (API Gateway HTTP API or function URL events).
    /// Started without arguments inside Lambda, the binary runs this.
    #[cfg(feature = "aws")]
    Lambda(LambdaArgs),
    /// AWS resources for development and first setup.
    #[cfg(feature = "aws")]
    #[command(subcommand)]
    Aws(AwsCommand),
    /// Copy every item and blob from one home to another (embedded <-> AWS): resumable, then
    /// verified (counts and checksums).
    Migrate(migrate::MigrateArgs),
    /// Import existing .crate files (files, directories, a cargo registry cache), reading each
    /// crate's packaged Cargo.toml.
    Import(import::ImportArgs),
    /// Remove orphan blobs (.crate files and READMEs no version refers to, left by interrupted
    /// publishes) and stale temporary files older than the grace period. `serve` also does this
    /// at start and every hour.
    Sweep(SweepArgs),
}

#[derive(Debug, Args)]
struct SweepArgs {
    /// Keep orphans younger than this (`90s`, `15m`, `12h`, `7d`; default `[cleanup]
    /// orphan_grace`, else 1h).
    #[arg(long, env = "RAKTAR_ORPHAN_GRACE")]
    grace: Option<String>,
    /// Only report what would be removed.
    #[arg(long)]
    dry_run: bool,
}

#[cfg(feature = "aws")]
#[derive(Debug, Args)]
struct LambdaArgs {
    /// Public base URL of the registry (the API's URL or custom domain); required.
    #[arg(long, env = "RAKTAR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Allow reading the index and downloading crates without a token.
    #[arg(long, env = "RAKTAR_PUBLIC_READ", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    public_read: Option<bool>,
    #[command(flatten)]
    auth: auth_config::AuthArgs,
    /// Serve the GraphiQL explorer on `GET /graphql`.
    #[arg(long, env = "RAKTAR_GRAPHIQL", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    graphiql: Option<bool>,
    #[command(flatten)]
    trustpub: config::TrustPubArgs,
    #[command(flatten)]
    upstream: config::UpstreamArgs,
}

#[cfg(feature = "aws")]
#[derive(Debug, Subcommand)]
enum AwsCommand {
    /// Create the DynamoDB table from the one table definition (schema/dynamodb-table.json), wait
    /// until it is active and enable TTL.
    CreateTable {
        /// Table name (default: the configured RAKTAR_DYNAMODB_TABLE).
        #[arg(long)]
        table: Option<String>,
    },
    /// Create the S3 bucket in the configured region.
    CreateBucket {
        /// Bucket name (default: the configured RAKTAR_S3_BUCKET).
        #[arg(long)]
        bucket: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Write the GraphQL SDL of this build (the committed contract file; `-` prints it).
    Export {
        #[arg(long, default_value = "schema/raktar.v1.graphql")]
        out: PathBuf,
    },
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
    #[command(flatten)]
    auth: auth_config::AuthArgs,
    #[command(flatten)]
    http: config::HttpArgs,
    /// Serve the GraphiQL explorer on `GET /graphql` (`--graphiql` or `--graphiql=false`).
    #[arg(long, env = "RAKTAR_GRAPHIQL", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    graphiql: Option<bool>,
    /// Directory of the built web UI, served at `/` (default: `frontend/dist` when it exists;
    /// `--ui-dir ''` serves the API only).
    // Any OS string, the empty one included (clap's path parser refuses `''`).
    #[arg(long, env = "RAKTAR_UI_DIR", value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from))]
    ui_dir: Option<PathBuf>,
    /// Grace period of the orphan sweep (see `raktar sweep`).
    #[arg(long, env = "RAKTAR_ORPHAN_GRACE")]
    orphan_grace: Option<String>,
    #[command(flatten)]
    trustpub: config::TrustPubArgs,
    #[command(flatten)]
    upstream: config::UpstreamArgs,
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
    /// Set a user's password for the web sign-in (read as one line from standard input; at least
    /// 12 characters). Ends the user's web sessions.
    SetPassword { login: String },
    /// Disable a user: their tokens and web sessions stop working at once.
    Disable { login: String },
    /// Enable a disabled user again.
    Enable { login: String },
    /// Link an external (OIDC) identity to an existing account: the identity's sign-ins then open
    /// this account. Single sign-on never links an existing account by a matching login or e-mail
    /// on its own.
    Link {
        login: String,
        /// The identity provider's issuer URL, exactly as in its tokens (`iss`).
        #[arg(long)]
        issuer: String,
        /// The identity's subject at that issuer (`sub`).
        #[arg(long)]
        subject: String,
    },
    /// Remove the link of an external identity to an account (ends the account's web sessions).
    Unlink {
        login: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        subject: String,
    },
    /// List the external identities linked to an account.
    Identities { login: String },
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

/// Opens the configured home and builds the registry over it.
async fn open_registry(settings: &HomeSettings, config: RegistryConfig) -> anyhow::Result<Arc<Registry>> {
    let home = home::open_home(settings).await?;
    Ok(Arc::new(Registry::new(home.items, home.blobs, config)))
}

/// The home of the admin commands (the data directory matters only for the embedded stores).
fn admin_home(args: HomeArgs, data_dir: Option<PathBuf>, file: &FileConfig) -> anyhow::Result<HomeSettings> {
    home::resolve(args, file.store.as_ref(), &config::resolve_data_dir(data_dir, file), Platform::Process)
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
    // Inside AWS Lambda the runtime starts the binary without arguments: that means `raktar lambda`.
    // Decided before anything else starts (the Lambda runtime client panics outside Lambda).
    #[cfg(feature = "aws")]
    let cli = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() && std::env::args_os().len() <= 1 {
        Cli::parse_from(["raktar", "lambda"])
    } else {
        Cli::parse()
    };
    #[cfg(not(feature = "aws"))]
    let cli = Cli::parse();
    let file = FileConfig::load(cli.config.as_deref())?;
    let log_format = std::env::var("RAKTAR_LOG_FORMAT").ok().or_else(|| file.log_format.clone());
    init_tracing(log_format.as_deref());
    #[cfg(feature = "aws")]
    if matches!(cli.command, Command::Lambda(_)) {
        lambda::check_runtime_env(|name| std::env::var(name).ok())?;
        // One invocation at a time per instance: a single-threaded runtime starts fastest.
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
        return runtime.block_on(run(cli, file));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(run(cli, file))
}

async fn run(cli: Cli, file: FileConfig) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let mut settings =
                config::resolve_serve(args.listen, cli.data_dir, args.public_url, args.public_read, &file)?;
            settings.graphiql = args.graphiql.or(file.graphiql).unwrap_or(false);
            settings.ui_dir = config::resolve_ui_dir(args.ui_dir)?;
            let auth = auth_config::resolve_auth(
                args.auth,
                std::env::var("RAKTAR_OIDC_CLIENT_SECRET").ok(),
                file.auth.as_ref(),
                file.oidc.as_ref(),
            )?;
            let grace = config::resolve_orphan_grace(args.orphan_grace.as_deref(), &file)?;
            let home = home::resolve(cli.home, file.store.as_ref(), &settings.data_dir, Platform::Process)?;
            let http =
                config::resolve_http(args.http, file.http.as_ref(), &settings.limits, config::open_files_room())?;
            let trustpub = (args.trustpub, file.trusted_publishing.clone());
            let upstream = config::resolve_upstream(args.upstream, file.upstream.as_ref())?;
            serve(settings, auth, home, grace, http, trustpub, upstream).await
        }
        Command::Sweep(args) => {
            let grace = config::resolve_orphan_grace(args.grace.as_deref(), &file)?;
            let registry =
                open_registry(&admin_home(cli.home, cli.data_dir, &file)?, RegistryConfig::default()).await?;
            sweep_command(&registry, grace, args.dry_run).await
        }
        #[cfg(feature = "aws")]
        Command::Lambda(args) => run_lambda(args, cli.home, cli.data_dir, file).await,
        #[cfg(feature = "aws")]
        Command::Aws(cmd) => aws_command(cmd, cli.home, &file).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Import(args) => {
            let config = import::registry_config(file.limits.clone().unwrap_or_default());
            let registry = open_registry(&admin_home(cli.home, cli.data_dir, &file)?, config).await?;
            import::run(args, &registry, file.import.as_ref()).await
        }
        Command::User(cmd) => {
            let registry =
                open_registry(&admin_home(cli.home, cli.data_dir, &file)?, RegistryConfig::default()).await?;
            match cmd {
                UserCommand::Create { login, admin, name, email } => {
                    let login = Login::parse(&login)?;
                    let role = if admin { Role::Admin } else { Role::Member };
                    let user = registry.create_user("cli", &login, name, email, role).await?;
                    println!("created user `{}` (id {}, {})", user.login, user.id, role.as_str());
                    Ok(())
                }
                UserCommand::SetPassword { login } => accounts::set_password(&registry, &login).await,
                UserCommand::Disable { login } => accounts::set_disabled(&registry, &login, true).await,
                UserCommand::Enable { login } => accounts::set_disabled(&registry, &login, false).await,
                UserCommand::Link { login, issuer, subject } => {
                    accounts::link(&registry, &login, &issuer, &subject).await
                }
                UserCommand::Unlink { login, issuer, subject } => {
                    accounts::unlink(&registry, &login, &issuer, &subject).await
                }
                UserCommand::Identities { login } => accounts::identities(&registry, &login).await,
            }
        }
        Command::Token(cmd) => {
            let registry =
                open_registry(&admin_home(cli.home, cli.data_dir, &file)?, RegistryConfig::default()).await?;
            token_command(&registry, cmd).await
        }
        Command::Trust(cmd) => {
            let registry =
                open_registry(&admin_home(cli.home, cli.data_dir, &file)?, RegistryConfig::default()).await?;
            let allowed = std::env::var("RAKTAR_TRUSTED_PUBLISHING_ISSUERS")
                .map(|v| v.split(',').map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()).collect())
                .unwrap_or_else(|_| file.trusted_publishing.as_ref().map(|t| t.issuers.clone()).unwrap_or_default());
            trust::run(&registry, cmd, &allowed).await
        }
        Command::Name(cmd) => {
            let home = home::open_home(&admin_home(cli.home, cli.data_dir, &file)?).await?;
            let registry = Registry::new(home.items, home.blobs, RegistryConfig::default());
            names::run_name(registry, cmd, file.upstream.as_ref()).await
        }
        Command::Upstream(cmd) => {
            let registry =
                open_registry(&admin_home(cli.home, cli.data_dir, &file)?, RegistryConfig::default()).await?;
            names::run_upstream(&registry, cmd).await
        }
        Command::Schema(SchemaCommand::Export { out }) => {
            let sdl = raktar_graphql::sdl();
            if out.as_os_str() == "-" {
                print!("{sdl}");
            } else {
                std::fs::write(&out, &sdl).with_context(|| format!("writing {}", out.display()))?;
                eprintln!("wrote the GraphQL schema to {}", out.display());
            }
            Ok(())
        }
    }
}

/// `raktar lambda`: the router under the Lambda runtime. Settings come from the environment
/// (`RAKTAR_*`) and the optional configuration file, as for `serve`; the home defaults to
/// DynamoDB + S3 and the publish limits are fitted to the invocation payload limit.
#[cfg(feature = "aws")]
async fn run_lambda(
    args: LambdaArgs,
    home_args: HomeArgs,
    data_dir: Option<PathBuf>,
    file: FileConfig,
) -> anyhow::Result<()> {
    let settings = config::resolve_serve(None, data_dir, args.public_url, args.public_read, &file)?;
    let Some(public_url) = settings.public_url.clone() else {
        bail!("on Lambda the public URL is required: set RAKTAR_PUBLIC_URL (the API's URL or custom domain)");
    };
    let limits = lambda::fit_limits(settings.limits.clone())?;
    let auth = auth_config::resolve_auth(
        args.auth,
        std::env::var("RAKTAR_OIDC_CLIENT_SECRET").ok(),
        file.auth.as_ref(),
        file.oidc.as_ref(),
    )?;
    let home = home::resolve(home_args, file.store.as_ref(), &settings.data_dir, Platform::Lambda)?;
    let upstream = config::resolve_upstream(args.upstream, file.upstream.as_ref())?;
    let stores = home::open_home(&home).await?;
    let mut registry = Registry::new(
        stores.items,
        stores.blobs,
        RegistryConfig { auth_required: settings.auth_required, limits, sessions: auth.sessions.clone() },
    );
    if let Some(upstream) = upstream {
        registry = registry.with_upstream(upstream);
    }
    let registry = Arc::new(registry);
    let state = raktar_http::AppState::new(registry, &public_url)
        .with_web(auth.web_settings(&public_url)?)
        .with_graphiql(args.graphiql.or(file.graphiql).unwrap_or(false))
        .with_trusted_publishing(config::resolve_trusted_publishing(
            args.trustpub,
            file.trusted_publishing.as_ref(),
            &public_url,
        )?)
        .with_registry_name(&config::resolve_registry_name(&file)?);
    tracing::info!(%public_url, home = %home.describe(), auth_required = settings.auth_required, "raktar lambda started");
    lambda::run(raktar_http::router(state)).await.map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))
}

/// `raktar aws ...`
#[cfg(feature = "aws")]
async fn aws_command(cmd: AwsCommand, args: HomeArgs, file: &FileConfig) -> anyhow::Result<()> {
    let store = file.store.as_ref();
    let aws = home::aws_settings(&args, store)?;
    match cmd {
        AwsCommand::CreateTable { table } => {
            let Some(table) = table.or(args.dynamodb_table).or_else(|| store.and_then(|s| s.dynamodb_table.clone()))
            else {
                bail!("name the table: --table NAME or RAKTAR_DYNAMODB_TABLE");
            };
            home::create_table(&aws, &table).await?;
            println!("created DynamoDB table `{table}`");
            Ok(())
        }
        AwsCommand::CreateBucket { bucket } => {
            let Some(bucket) = bucket.or(args.s3_bucket).or_else(|| store.and_then(|s| s.s3_bucket.clone())) else {
                bail!("name the bucket: --bucket NAME or RAKTAR_S3_BUCKET");
            };
            home::create_bucket(&aws, &bucket).await?;
            println!("created S3 bucket `{bucket}`");
            Ok(())
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

/// `raktar sweep`: one orphan sweep with progress on stderr and a summary.
async fn sweep_command(registry: &Registry, grace: std::time::Duration, dry_run: bool) -> anyhow::Result<()> {
    eprintln!("sweeping orphan blobs older than {}s{}", grace.as_secs(), if dry_run { " (dry run)" } else { "" });
    let mut last = std::time::Instant::now();
    let mut progress = |done: u64, total: u64| {
        if last.elapsed() >= std::time::Duration::from_secs(1) {
            eprintln!("  {done}/{total} blobs checked");
            last = std::time::Instant::now();
        }
    };
    let report = registry.sweep_orphans(grace, dry_run, &mut progress).await?;
    let verb = if dry_run { "would remove" } else { "removed" };
    for key in &report.removed {
        println!("{verb} {key}");
    }
    println!(
        "{} blobs examined: {} referenced, {} too recent, {} unknown; {verb} {} orphans ({} failed) and {} temporary files",
        report.examined,
        report.referenced,
        report.recent,
        report.unknown,
        report.removed.len(),
        report.failed,
        report.temporaries_removed
    );
    if report.failed > 0 {
        bail!("{} orphan blobs could not be removed (see the log)", report.failed);
    }
    Ok(())
}

/// How often `raktar serve` deletes expired short-lived items.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Background work of a long-running server (not of the Lambda handler, which is frozen between
/// invocations): the search catalog is loaded ahead of the first search, and expired sessions,
/// sign-in states and rate-limit windows are purged periodically (a no-op on DynamoDB, whose TTL
/// deletes them), and orphan blobs are swept at start and hourly.
fn spawn_background_work(registry: &Arc<Registry>, orphan_grace: std::time::Duration) {
    let warm = registry.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.warm_search().await {
            tracing::warn!(error = %e, "could not load the search catalog ahead of the first search");
        }
    });
    // Orphan blobs of interrupted publishes: at start, then every hour.
    let sweeper = registry.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            if let Err(e) = sweeper.sweep_orphans(orphan_grace, false, &mut |_, _| {}).await {
                tracing::warn!(error = %e, "the orphan sweep failed");
            }
        }
    });
    let purger = registry.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PURGE_INTERVAL);
        loop {
            every.tick().await;
            if let Err(e) = purger.purge_expired().await {
                tracing::warn!(error = %e, "purging expired items failed");
            }
        }
    });
}

async fn serve(
    settings: config::ServeSettings,
    auth: auth_config::AuthSettings,
    home: HomeSettings,
    orphan_grace: std::time::Duration,
    http: raktar_http::server::ServerConfig,
    trustpub: (config::TrustPubArgs, Option<config::TrustedPublishingFile>),
    upstream: Option<raktar_core::services::upstream::Upstream>,
) -> anyhow::Result<()> {
    // The stores (and AWS clients) once; an unreachable table or bucket stops the start.
    let stores = home::open_home(&home).await?;
    stores.check(&home).await?;
    let listener =
        tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
    let mut registry = Registry::new(
        stores.items,
        stores.blobs,
        RegistryConfig {
            auth_required: settings.auth_required,
            limits: settings.limits.clone(),
            sessions: auth.sessions.clone(),
        },
    );
    let upstream_url = upstream.as_ref().map(|u| u.url().to_owned());
    if let Some(upstream) = upstream {
        registry = registry.with_upstream(upstream);
    }
    let registry = Arc::new(registry);
    spawn_background_work(&registry, orphan_grace);
    let state = raktar_http::AppState::new(registry, &public_url)
        .with_web(auth.web_settings(&public_url)?)
        .with_graphiql(settings.graphiql)
        .with_ui_dir(settings.ui_dir.clone())
        .with_trusted_publishing(config::resolve_trusted_publishing(trustpub.0, trustpub.1.as_ref(), &public_url)?)
        .with_registry_name(&settings.registry_name);
    let app = raktar_http::router(state);
    if let Some(dir) = &settings.ui_dir {
        println!("Web UI: {public_url}/  (from {})", dir.display());
    }

    println!("Raktar listening on http://{bound}");
    if home.uses_aws() {
        println!("Public URL: {public_url}  ({})", home.describe());
    } else {
        println!("Public URL: {public_url}  (data directory: {})", settings.data_dir.display());
    }
    println!();
    println!("Add this to .cargo/config.toml (or ~/.cargo/config.toml):");
    println!();
    let name = &settings.registry_name;
    println!("[registries.{name}]");
    println!("index = \"sparse+{public_url}/index/\"");
    println!();
    println!("[registry]");
    println!("global-credential-providers = [\"cargo:token\"]");
    println!();
    let token_page = if settings.ui_dir.is_some() { "tokens" } else { "me" };
    println!("Then run `cargo login --registry {name}` with a token from {public_url}/{token_page}");
    if !settings.auth_required {
        println!("(public-read mode: reading needs no token; publishing does)");
    }
    if let Some(url) = &upstream_url {
        println!();
        println!("Pull-through cache of {url}: to build through it, replace crates-io:");
        println!();
        println!("[source.crates-io]");
        println!("replace-with = \"{name}-upstream\"");
        println!();
        println!("[registries.{name}-upstream]");
        println!("index = \"sparse+{public_url}/upstream/index/\"");
        println!();
        println!("and run `cargo login --registry {name}-upstream` with a token (the same as for {name} works)");
    }
    tracing::info!(%bound, %public_url, auth_required = settings.auth_required, "raktar started");

    // The server loop puts the peer address into each request (the per-address sign-in limit).
    tracing::debug!(?http, "HTTP server settings");
    raktar_http::server::serve(listener, app, http, shutdown_signal()).await.context("serving HTTP")?;
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
