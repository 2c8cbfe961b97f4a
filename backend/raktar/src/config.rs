//! Settings: command-line flags and `RAKTAR_*` environment variables (through clap), over an
//! optional TOML file, over defaults. Only `main` reads the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use raktar_core::services::Limits;
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3000";
pub const DEFAULT_DATA_DIR: &str = "raktar-data";

/// The TOML configuration file (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub public_read: Option<bool>,
    pub log_format: Option<String>,
    #[serde(default)]
    pub limits: Option<Limits>,
    /// Serve the GraphiQL explorer on `GET /graphql`.
    pub graphiql: Option<bool>,
    /// The name users give this registry in their cargo configuration (`[registries.NAME]`),
    /// shown by the web UI's setup instructions (default `raktar`).
    pub registry_name: Option<String>,
    /// `[auth]`: web sessions and local sign-in.
    #[serde(default)]
    pub auth: Option<crate::auth_config::AuthFile>,
    /// `[oidc]`: single sign-on.
    #[serde(default)]
    pub oidc: Option<crate::auth_config::OidcFile>,
    /// `[store]`: where items and blobs live (embedded or AWS).
    #[serde(default)]
    pub store: Option<raktar::home::StoreFile>,
    /// `[import]`: defaults of `raktar import`.
    #[serde(default)]
    pub import: Option<crate::import::ImportFile>,
    /// `[cleanup]`: the orphan sweep.
    #[serde(default)]
    pub cleanup: Option<CleanupFile>,
    /// `[http]`: timeouts and the connection limit of `raktar serve`.
    #[serde(default)]
    pub http: Option<HttpFile>,
    /// `[trusted_publishing]`: CI identities exchanging ID tokens for short-lived tokens.
    #[serde(default)]
    pub trusted_publishing: Option<TrustedPublishingFile>,
    /// `[upstream]`: the pull-through cache of an upstream registry and the name guard.
    #[serde(default)]
    pub upstream: Option<UpstreamFile>,
}

/// `[upstream]` of the configuration file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    /// The upstream's sparse index URL (what follows `sparse+` in a cargo configuration).
    pub sparse_index: Option<String>,
    /// How long a cached index file is served before the upstream is asked again (`90s`, `5m`).
    pub freshness: Option<String>,
    /// New crate names when the upstream cannot be checked: `refuse` (default) or `allow`.
    pub unchecked_names: Option<String>,
}

/// Pull-through cache flags of `raktar serve` / `raktar lambda` (each also a variable).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// The upstream registry's sparse index URL (what follows `sparse+` in a cargo configuration):
    /// enables the pull-through index at `/upstream/index/` and the dependency-confusion guard.
    #[arg(long = "upstream-sparse", env = "RAKTAR_UPSTREAM_SPARSE")]
    pub sparse_index: Option<String>,
    /// How long a cached upstream index file is served before revalidation [default: 5m].
    #[arg(long = "upstream-freshness", env = "RAKTAR_UPSTREAM_FRESHNESS")]
    pub freshness: Option<String>,
    /// A new crate name when the upstream cannot be checked: `refuse` or `allow` (audited)
    /// [default: refuse].
    #[arg(long = "upstream-unchecked-names", env = "RAKTAR_UPSTREAM_UNCHECKED_NAMES")]
    pub unchecked_names: Option<String>,
}

/// The upstream from the flags, then `[upstream]`; `None` when no sparse index URL is set.
pub fn resolve_upstream(
    args: UpstreamArgs,
    file: Option<&UpstreamFile>,
) -> anyhow::Result<Option<raktar_core::services::upstream::Upstream>> {
    use raktar_core::services::upstream::{UncheckedNames, Upstream, UpstreamSettings};
    let file = file.cloned().unwrap_or_default();
    let Some(url) = args.sparse_index.or(file.sparse_index).filter(|u| !u.trim().is_empty()) else {
        if args.freshness.is_some() || args.unchecked_names.is_some() {
            bail!("--upstream-freshness and --upstream-unchecked-names need --upstream-sparse");
        }
        return Ok(None);
    };
    let mut settings = UpstreamSettings::default();
    if let Some(raw) = args.freshness.or(file.freshness) {
        let secs = parse_lifetime(&raw).with_context(|| format!("invalid upstream freshness `{raw}`"))?;
        settings.freshness = std::time::Duration::from_secs(secs.max(0) as u64);
    }
    if let Some(raw) = args.unchecked_names.or(file.unchecked_names) {
        settings.unchecked_names = UncheckedNames::parse(raw.trim())
            .with_context(|| format!("upstream unchecked names must be `refuse` or `allow`, not `{raw}`"))?;
    }
    let source = raktar_http::upstream::HttpUpstream::new(&url).map_err(anyhow::Error::msg)?;
    Ok(Some(Upstream::new(std::sync::Arc::new(source), settings)))
}

/// `[trusted_publishing]` of the configuration file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedPublishingFile {
    /// Issuers whose ID tokens may be exchanged (exact `iss` values); empty: disabled.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// The `aud` the ID tokens must carry (default: the host of the public URL).
    pub audience: Option<String>,
    /// Lifetime of minted tokens (`90s`, `15m`, `30m`; at most 30 minutes, the default).
    pub token_lifetime: Option<String>,
}

/// Trusted-publishing flags of `raktar serve` / `raktar lambda` (each also a variable).
#[derive(Debug, Default, clap::Args)]
pub struct TrustPubArgs {
    /// Issuers allowed for trusted publishing, comma-separated (e.g. the GitHub Actions issuer).
    #[arg(long = "trusted-publishing-issuers", env = "RAKTAR_TRUSTED_PUBLISHING_ISSUERS", value_delimiter = ',')]
    pub issuers: Option<Vec<String>>,
    /// The audience ID tokens must carry [default: the host of the public URL].
    #[arg(long = "trusted-publishing-audience", env = "RAKTAR_TRUSTED_PUBLISHING_AUDIENCE")]
    pub audience: Option<String>,
    /// Lifetime of minted tokens (at most 30m) [default: 30m].
    #[arg(long = "trusted-publishing-token-lifetime", env = "RAKTAR_TRUSTED_PUBLISHING_TOKEN_LIFETIME")]
    pub token_lifetime: Option<String>,
}

/// The host of a URL (no scheme, user, port or path): the default trusted-publishing audience.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']').map(|(h, _)| h)?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Trusted publishing from the flags, then `[trusted_publishing]`; `None` when no issuer is
/// allowed (disabled).
pub fn resolve_trusted_publishing(
    args: TrustPubArgs,
    file: Option<&TrustedPublishingFile>,
    public_url: &str,
) -> anyhow::Result<Option<raktar_http::trustpub::TrustedPublishing>> {
    use raktar_core::services::trustpub::{MAX_TOKEN_LIFETIME_SECS, TrustPolicy};
    let file = file.cloned().unwrap_or_default();
    let issuers: Vec<String> = args
        .issuers
        .unwrap_or(file.issuers)
        .into_iter()
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty())
        .collect();
    if issuers.is_empty() {
        return Ok(None);
    }
    let audience = match args.audience.or(file.audience) {
        Some(a) => a,
        None => url_host(public_url).with_context(|| format!("no host in the public URL `{public_url}`"))?,
    };
    let lifetime = match args.token_lifetime.or(file.token_lifetime) {
        None => MAX_TOKEN_LIFETIME_SECS,
        Some(raw) => {
            let secs =
                parse_lifetime(&raw).with_context(|| format!("invalid trusted-publishing token lifetime `{raw}`"))?;
            if secs > MAX_TOKEN_LIFETIME_SECS {
                bail!("the trusted-publishing token lifetime is at most 30 minutes (`30m`)");
            }
            secs
        }
    };
    let policy = TrustPolicy { issuers, token_lifetime_secs: lifetime };
    Ok(Some(raktar_http::trustpub::TrustedPublishing::new(policy, audience)?))
}

/// `[cleanup]` of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupFile {
    /// Blobs no version refers to are removed once older than this (`90s`, `15m`, `12h`, `7d`).
    pub orphan_grace: Option<String>,
}

/// The orphan sweep's grace period: the flag or variable, else `[cleanup] orphan_grace`, else
/// one hour.
pub fn resolve_orphan_grace(flag: Option<&str>, file: &FileConfig) -> anyhow::Result<std::time::Duration> {
    let raw = flag.map(str::to_owned).or_else(|| file.cleanup.as_ref().and_then(|c| c.orphan_grace.clone()));
    match raw {
        None => Ok(raktar_core::services::sweep::DEFAULT_GRACE),
        Some(raw) => {
            let secs = parse_lifetime(&raw).with_context(|| format!("invalid orphan grace period `{raw}`"))?;
            Ok(std::time::Duration::from_secs(u64::try_from(secs).context("grace period out of range")?))
        }
    }
}

/// `[http]` in the configuration file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    pub header_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub body_min_rate: Option<u64>,
    pub max_connections: Option<usize>,
}

/// HTTP server flags of `raktar serve` (each also a `RAKTAR_*` variable).
#[derive(Debug, Default, clap::Args)]
pub struct HttpArgs {
    /// Seconds allowed for a whole request head [default: 10].
    #[arg(long, env = "RAKTAR_HTTP_HEADER_TIMEOUT", value_name = "SECS")]
    pub http_header_timeout: Option<u64>,
    /// Seconds after which a connection without a request in flight is closed [default: 60].
    #[arg(long, env = "RAKTAR_HTTP_IDLE_TIMEOUT", value_name = "SECS")]
    pub http_idle_timeout: Option<u64>,
    /// Fixed part of the time allowed for a request body, in seconds [default: 10].
    #[arg(long, env = "RAKTAR_HTTP_BODY_TIMEOUT", value_name = "SECS")]
    pub http_body_timeout: Option<u64>,
    /// Slowest accepted request body upload, in bytes per second [default: 65536].
    #[arg(long, env = "RAKTAR_HTTP_BODY_MIN_RATE", value_name = "BYTES")]
    pub http_body_min_rate: Option<u64>,
    /// Most connections open at once [default: 4096, at most the open-files limit minus 128].
    #[arg(long, env = "RAKTAR_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
}

/// File descriptors kept for everything but connections (store, blobs, logs).
const RESERVED_FDS: usize = 128;

/// The server loop's settings: flag or variable, then `[http]`, then the defaults. The body time
/// covers the largest publish body `limits` allow. `open_files_room`: connections that fit the
/// open-files limit (`None`: unknown).
pub fn resolve_http(
    args: HttpArgs,
    file: Option<&HttpFile>,
    limits: &Limits,
    open_files_room: Option<usize>,
) -> anyhow::Result<raktar_http::server::ServerConfig> {
    use raktar_http::server::ServerConfig;
    use std::time::Duration;
    let file = file.cloned().unwrap_or_default();
    let d = ServerConfig::default();
    let secs = |flag: Option<u64>, key: Option<u64>, default: Duration, what: &str| -> anyhow::Result<Duration> {
        match flag.or(key) {
            None => Ok(default),
            Some(0) => bail!("the HTTP {what} must be at least 1 second"),
            Some(n) => Ok(Duration::from_secs(n)),
        }
    };
    let body_min_rate = args.http_body_min_rate.or(file.body_min_rate).unwrap_or(d.body_min_rate);
    if body_min_rate == 0 {
        bail!("the HTTP body minimum rate must be at least 1 byte per second");
    }
    let wanted = args.max_connections.or(file.max_connections).unwrap_or(d.max_connections);
    if wanted == 0 {
        bail!("max_connections must be at least 1");
    }
    let max_connections = match open_files_room {
        Some(room) if room < wanted => {
            tracing::warn!(
                wanted,
                allowed = room,
                "max_connections lowered to fit the open-files limit (raise `ulimit -n` / LimitNOFILE)"
            );
            room
        }
        _ => wanted,
    };
    Ok(ServerConfig {
        header_read_timeout: secs(
            args.http_header_timeout,
            file.header_timeout_secs,
            d.header_read_timeout,
            "header timeout",
        )?,
        idle_timeout: secs(args.http_idle_timeout, file.idle_timeout_secs, d.idle_timeout, "idle timeout")?,
        body_timeout_base: secs(args.http_body_timeout, file.body_timeout_secs, d.body_timeout_base, "body timeout")?,
        body_min_rate,
        max_body_bytes: limits.max_body_bytes(),
        max_connections,
        shutdown_grace: d.shutdown_grace,
    })
}

/// Connections that fit the open-files limit of this process.
pub fn open_files_room() -> Option<usize> {
    raktar_http::server::connections_within_open_files_limit(RESERVED_FDS)
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Resolved settings for `raktar serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `None`: derived from the bound address.
    pub public_url: Option<String>,
    pub auth_required: bool,
    pub limits: Limits,
    /// Serve the GraphiQL explorer on `GET /graphql`.
    pub graphiql: bool,
    /// The built web UI to serve at `/`; `None`: API only.
    pub ui_dir: Option<PathBuf>,
    /// The registry's name for cargo configurations ([`resolve_registry_name`]).
    pub registry_name: String,
}

pub fn resolve_data_dir(flag: Option<PathBuf>, file: &FileConfig) -> PathBuf {
    flag.or_else(|| file.data_dir.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

pub fn resolve_serve(
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    public_url: Option<String>,
    public_read: Option<bool>,
    file: &FileConfig,
) -> anyhow::Result<ServeSettings> {
    let listen_raw = listen.or_else(|| file.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen: SocketAddr =
        listen_raw.parse().with_context(|| format!("invalid listen address `{listen_raw}` (expected IP:PORT)"))?;
    let public_url = public_url.or_else(|| file.public_url.clone());
    if let Some(url) = &public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!("invalid public URL `{url}`: it must start with http:// or https://");
    }
    let limits = file.limits.clone().unwrap_or_default();
    Ok(ServeSettings {
        listen,
        data_dir: resolve_data_dir(data_dir, file),
        public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
        auth_required: !public_read.or(file.public_read).unwrap_or(false),
        limits,
        graphiql: file.graphiql.unwrap_or(false),
        ui_dir: None,
        registry_name: resolve_registry_name(file)?,
    })
}

/// The registry's name for cargo configurations: the configured one (letters, digits, `-`, `_`;
/// 1 to 64 characters, starting with a letter) or `raktar`.
pub fn resolve_registry_name(file: &FileConfig) -> anyhow::Result<String> {
    let Some(name) = &file.registry_name else { return Ok("raktar".to_owned()) };
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        bail!("invalid registry_name `{name}`: 1 to 64 letters, digits, `-` or `_`, starting with a letter");
    }
    Ok(name.clone())
}

/// Default directory of the built web UI (relative to the current directory).
pub const DEFAULT_UI_DIR: &str = "frontend/dist";

/// The web UI directory: the flag (an empty value turns the UI off; a given directory must hold
/// `index.html`), else `frontend/dist` when it holds an `index.html`, else none.
pub fn resolve_ui_dir(flag: Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    match flag {
        Some(dir) if dir.as_os_str().is_empty() => Ok(None),
        Some(dir) => {
            if !dir.join("index.html").is_file() {
                bail!(
                    "--ui-dir {}: no index.html there (build the UI: `npm ci && npm run build` in frontend/)",
                    dir.display()
                );
            }
            Ok(Some(dir))
        }
        None => {
            let dir = PathBuf::from(DEFAULT_UI_DIR);
            Ok(dir.join("index.html").is_file().then_some(dir))
        }
    }
}

/// Parses a token lifetime: a number of days (`30`) or a number with a unit (`90s`, `15m`, `12h`, `7d`).
pub fn parse_lifetime(raw: &str) -> anyhow::Result<i64> {
    let raw = raw.trim();
    let (num, mult) = match raw.char_indices().last() {
        Some((i, 's')) => (&raw[..i], 1),
        Some((i, 'm')) => (&raw[..i], 60),
        Some((i, 'h')) => (&raw[..i], 3600),
        Some((i, 'd')) => (&raw[..i], 86_400),
        _ => (raw, 86_400),
    };
    let n: i64 =
        num.parse().with_context(|| format!("invalid lifetime `{raw}`: use days (30) or 90s / 15m / 12h / 7d"))?;
    if n <= 0 {
        bail!("the lifetime must be positive");
    }
    n.checked_mul(mult).context("lifetime too large")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn audience_is_the_public_host() {
        assert_eq!(url_host("https://Registry.Example.com/sub/path").as_deref(), Some("registry.example.com"));
        assert_eq!(url_host("http://127.0.0.1:3000").as_deref(), Some("127.0.0.1"));
        assert_eq!(url_host("http://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(url_host("http://u@h:1").as_deref(), Some("h"));
    }

    #[test]
    fn registry_names() {
        let with = |n: &str| FileConfig { registry_name: Some(n.to_owned()), ..FileConfig::default() };
        assert_eq!(resolve_registry_name(&FileConfig::default()).unwrap(), "raktar");
        assert_eq!(resolve_registry_name(&with("acme-internal")).unwrap(), "acme-internal");
        for bad in ["", "1abc", "a b", "a.b", &"a".repeat(65)] {
            assert!(resolve_registry_name(&with(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30").unwrap(), 30 * 86_400);
        assert_eq!(parse_lifetime("2s").unwrap(), 2);
        assert_eq!(parse_lifetime("3h").unwrap(), 3 * 3600);
        assert!(parse_lifetime("0").is_err());
        assert!(parse_lifetime("x").is_err());
    }

    #[test]
    fn precedence() {
        let file = FileConfig { listen: Some("127.0.0.1:9".into()), public_read: Some(true), ..Default::default() };
        let s = resolve_serve(Some("127.0.0.1:8".into()), None, None, None, &file).unwrap();
        assert_eq!(s.listen.port(), 8);
        assert!(!s.auth_required);
        // A flag or variable saying false overrides the file.
        let s = resolve_serve(None, None, None, Some(false), &file).unwrap();
        assert!(s.auth_required);
        assert_eq!(s.listen.port(), 9);
        assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn http_settings() {
        let limits = Limits::default();
        let d = resolve_http(HttpArgs::default(), None, &limits, None).unwrap();
        assert_eq!(d.header_read_timeout.as_secs(), 10);
        assert_eq!(d.idle_timeout.as_secs(), 60);
        assert_eq!(d.body_min_rate, 64 * 1024);
        assert_eq!(d.max_connections, 4096);
        // 11 MiB at 64 KiB/s plus the 10 s base.
        assert_eq!(d.body_timeout(None).as_secs(), 10 + 176);
        let file: FileConfig =
            toml::from_str("[http]\nheader_timeout_secs = 5\nidle_timeout_secs = 7\nmax_connections = 100\n").unwrap();
        let args = HttpArgs { http_idle_timeout: Some(9), ..Default::default() };
        let s = resolve_http(args, file.http.as_ref(), &limits, Some(50)).unwrap();
        assert_eq!(s.header_read_timeout.as_secs(), 5);
        assert_eq!(s.idle_timeout.as_secs(), 9);
        assert_eq!(s.max_connections, 50, "clamped to the open-files limit");
        let args = HttpArgs { http_header_timeout: Some(0), ..Default::default() };
        assert!(resolve_http(args, None, &limits, None).is_err());
        assert!(toml::from_str::<FileConfig>("[http]\nheader_timeout = 5\n").is_err());
    }
}
