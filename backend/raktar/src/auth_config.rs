//! Web sign-in settings: `[auth]` and `[oidc]` in the config file, `RAKTAR_SESSION_LIFETIME` and
//! `RAKTAR_OIDC_*` in the environment (flags and variables override the file).
//!
//! ```toml
//! [auth]
//! session_lifetime = "12h"          # absolute lifetime of a web session
//! local_login = true                # password sign-in for local accounts
//! login_attempts_per_login = 10     # per login and client address, per window
//! login_attempts_per_address = 50   # per client address, per window
//! login_slowdown_after = 20         # per login from everywhere: then 1 s, 2 s, 4 s ... (max 8 s)
//! login_attempt_window = "15m"
//! trusted_proxies = ["127.0.0.1/32"] # peers whose X-Forwarded-For / Forwarded is believed
//! token_page_url = "/ui/tokens"     # where /me leads once the web UI has a token page
//!
//! [oidc]
//! issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf"
//! client_id = "..."
//! client_secret = "..."             # better: RAKTAR_OIDC_CLIENT_SECRET
//! scopes = ["openid", "email", "profile"]
//! login_claim = "preferred_username"
//! name_claim = "name"
//! email_claim = "email"
//! groups_claim = "cognito:groups"
//! admin_group = "raktar-admins"
//! display_name = "AWS IAM Identity Center"
//! link_verified_email_domains = []  # opt-in: link `alice` to a verified alice@<domain> (see docs)
//! ```

use anyhow::{Context, bail};
use clap::Args;
use raktar_core::services::SessionSettings;
use raktar_core::services::ratelimit::RateLimit;
use raktar_http::client_addr::TrustedProxies;
use raktar_http::oidc::{ClaimMapping, ClientSecret, OidcClient, OidcConfig};
use raktar_http::web::WebSettings;
use serde::Deserialize;

use crate::config::parse_lifetime;

/// Flags (and variables) of `raktar serve` for the web sign-in. The client secret is read from
/// `RAKTAR_OIDC_CLIENT_SECRET` or the file only, never from the command line (`ps` shows that).
#[derive(Debug, Default, Args)]
pub struct AuthArgs {
    /// Lifetime of a web session: `12h`, `30m`, `7d` (default 12h).
    #[arg(long, env = "RAKTAR_SESSION_LIFETIME")]
    pub session_lifetime: Option<String>,
    /// OIDC issuer URL; enables single sign-on.
    #[arg(long, env = "RAKTAR_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// OIDC client id registered at the issuer.
    #[arg(long, env = "RAKTAR_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// A proxy (address or CIDR network) whose `X-Forwarded-For` / `Forwarded` header gives the
    /// client address; repeatable, or comma-separated in the variable. Replaces `auth.trusted_proxies`.
    #[arg(long = "trusted-proxy", env = "RAKTAR_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
}

/// `[auth]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    pub session_lifetime: Option<String>,
    pub local_login: Option<bool>,
    pub login_attempts_per_login: Option<u32>,
    pub login_attempts_per_address: Option<u32>,
    pub login_attempt_window: Option<String>,
    pub login_slowdown_after: Option<u32>,
    /// Replaced by `trusted_proxies` (refused with a hint when true).
    pub trust_forwarded_for: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub token_page_url: Option<String>,
}

/// `[oidc]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFile {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<ClientSecret>,
    pub scopes: Option<Vec<String>>,
    pub login_claim: Option<String>,
    pub name_claim: Option<String>,
    pub email_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub admin_group: Option<String>,
    pub display_name: Option<String>,
    pub link_verified_email_domains: Option<Vec<String>>,
}

/// Resolved web sign-in settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub sessions: SessionSettings,
    pub local_login: bool,
    pub trusted_proxies: TrustedProxies,
    pub token_page_url: Option<String>,
    pub oidc: Option<OidcConfig>,
}

impl AuthSettings {
    /// The HTTP layer's settings; the OIDC redirect URL derives from the public URL.
    pub fn web_settings(&self, public_url: &str) -> anyhow::Result<WebSettings> {
        let oidc = match &self.oidc {
            Some(config) => {
                let redirect = format!("{}/auth/oidc/callback", public_url.trim_end_matches('/'));
                let client = OidcClient::new(config.clone(), redirect.clone()).context("configuring OIDC")?;
                tracing::info!(issuer = %config.issuer, client_id = %config.client_id, redirect_url = %redirect,
                    "single sign-on enabled");
                Some(std::sync::Arc::new(client))
            }
            None => None,
        };
        Ok(WebSettings {
            oidc,
            local_login: self.local_login,
            token_page_url: self.token_page_url.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
        })
    }
}

fn lifetime(raw: &str, what: &str) -> anyhow::Result<i64> {
    parse_lifetime(raw).with_context(|| format!("invalid {what}"))
}

/// Resolves `[auth]`/`[oidc]` with the flags and variables. `env_client_secret` is
/// `RAKTAR_OIDC_CLIENT_SECRET`.
pub fn resolve_auth(
    args: AuthArgs,
    env_client_secret: Option<String>,
    auth: Option<&AuthFile>,
    oidc: Option<&OidcFile>,
) -> anyhow::Result<AuthSettings> {
    let empty_auth = AuthFile::default();
    let auth = auth.unwrap_or(&empty_auth);
    let mut sessions = SessionSettings::default();
    if let Some(raw) = args.session_lifetime.as_deref().or(auth.session_lifetime.as_deref()) {
        sessions.lifetime_secs = lifetime(raw, "session lifetime")?;
        if sessions.lifetime_secs < 60 {
            bail!("the session lifetime must be at least a minute");
        }
    }
    let window = match auth.login_attempt_window.as_deref() {
        Some(raw) => lifetime(raw, "login attempt window")?,
        None => sessions.attempts_per_login.window_secs,
    };
    let per_login = auth.login_attempts_per_login.unwrap_or(sessions.attempts_per_login.max_attempts);
    let per_address = auth.login_attempts_per_address.unwrap_or(sessions.attempts_per_address.max_attempts);
    if per_login == 0 || per_address == 0 {
        bail!("login attempt limits must be at least 1");
    }
    sessions.attempts_per_login = RateLimit { max_attempts: per_login, window_secs: window };
    sessions.attempts_per_address = RateLimit { max_attempts: per_address, window_secs: window };
    if let Some(n) = auth.login_slowdown_after {
        sessions.login_slowdown_after = n;
    }
    if auth.trust_forwarded_for == Some(true) {
        bail!(
            "auth.trust_forwarded_for was replaced by auth.trusted_proxies: list the proxy addresses whose \
             X-Forwarded-For header is believed (for example trusted_proxies = [\"127.0.0.1/32\"])"
        );
    }
    let proxies = if args.trusted_proxies.is_empty() {
        auth.trusted_proxies.clone().unwrap_or_default()
    } else {
        args.trusted_proxies.clone()
    };
    let proxies: Vec<String> = proxies.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
    let trusted_proxies = TrustedProxies::parse(&proxies).map_err(|e| anyhow::anyhow!("invalid trusted proxy: {e}"))?;

    let empty_oidc = OidcFile::default();
    let file = oidc.unwrap_or(&empty_oidc);
    let issuer = args.oidc_issuer.or_else(|| file.issuer.clone()).filter(|s| !s.trim().is_empty());
    let client_id = args.oidc_client_id.or_else(|| file.client_id.clone()).filter(|s| !s.trim().is_empty());
    let oidc = match (issuer, client_id) {
        (None, None) => None,
        (Some(_), None) => bail!("OIDC needs a client id too (oidc.client_id or RAKTAR_OIDC_CLIENT_ID)"),
        (None, Some(_)) => bail!("OIDC needs an issuer too (oidc.issuer or RAKTAR_OIDC_ISSUER)"),
        (Some(issuer), Some(client_id)) => {
            let defaults = ClaimMapping::default();
            let client_secret = env_client_secret
                .filter(|s| !s.is_empty())
                .map(ClientSecret::new)
                .or_else(|| file.client_secret.clone());
            Some(OidcConfig {
                issuer: issuer.trim().to_owned(),
                client_id: client_id.trim().to_owned(),
                client_secret,
                scopes: file.scopes.clone().unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]),
                claims: ClaimMapping {
                    login: file.login_claim.clone().unwrap_or(defaults.login),
                    name: file.name_claim.clone().unwrap_or(defaults.name),
                    email: file.email_claim.clone().unwrap_or(defaults.email),
                    groups: file.groups_claim.clone().unwrap_or(defaults.groups),
                    admin_group: file.admin_group.clone().filter(|g| !g.is_empty()),
                },
                display_name: file.display_name.clone().unwrap_or_else(|| "single sign-on".to_owned()),
            })
        }
    };
    let mut domains = Vec::new();
    for d in file.link_verified_email_domains.iter().flatten() {
        let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
        if d.is_empty() || !d.contains('.') || d.chars().any(|c| c.is_whitespace() || c == '@' || c == '*') {
            bail!("oidc.link_verified_email_domains: `{d}` is not a domain name (like `example.com`; no wildcards)");
        }
        domains.push(d);
    }
    if !domains.is_empty() && oidc.is_none() {
        bail!("oidc.link_verified_email_domains needs OIDC ([oidc] issuer and client_id)");
    }
    sessions.link_verified_email_domains = domains;
    let local_login = auth.local_login.unwrap_or(true);
    if !local_login && oidc.is_none() {
        bail!("auth.local_login = false needs OIDC ([oidc] issuer and client_id): nobody could sign in");
    }
    if let Some(url) = &auth.token_page_url
        && !(url.starts_with('/') || url.starts_with("https://") || url.starts_with("http://"))
    {
        bail!("auth.token_page_url must be a path (`/ui/tokens`) or an http(s) URL");
    }
    Ok(AuthSettings { sessions, local_login, trusted_proxies, token_page_url: auth.token_page_url.clone(), oidc })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults() {
        let s = resolve_auth(AuthArgs::default(), None, None, None).unwrap();
        assert_eq!(s.sessions.lifetime_secs, 12 * 3600);
        assert!(s.local_login);
        assert!(s.oidc.is_none());
    }

    #[test]
    fn file_flags_and_secret() {
        let auth: AuthFile = toml::from_str("session_lifetime = \"2h\"\nlogin_attempts_per_login = 3").unwrap();
        let oidc: OidcFile = toml::from_str(
            "issuer = \"https://idp.example.com\"\nclient_id = \"file-id\"\nclient_secret = \"file-secret\"\n\
             groups_claim = \"cognito:groups\"\nadmin_group = \"admins\"",
        )
        .unwrap();
        let args = AuthArgs { oidc_client_id: Some("flag-id".into()), ..AuthArgs::default() };
        let s = resolve_auth(args, Some("env-secret".into()), Some(&auth), Some(&oidc)).unwrap();
        assert_eq!(s.sessions.lifetime_secs, 7200);
        assert_eq!(s.sessions.attempts_per_login.max_attempts, 3);
        let o = s.oidc.unwrap();
        assert_eq!(o.client_id, "flag-id");
        assert_eq!(o.client_secret.as_ref().map(ClientSecret::expose), Some("env-secret"));
        assert_eq!(o.claims.groups, "cognito:groups");
        assert_eq!(o.claims.login, "preferred_username");
        assert!(!format!("{o:?}").contains("env-secret"), "the secret must not show in Debug");
    }

    #[test]
    fn trusted_proxies_and_linking_domains() {
        let auth: AuthFile = toml::from_str("trusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]").unwrap();
        let s = resolve_auth(AuthArgs::default(), None, Some(&auth), None).unwrap();
        assert_eq!(s.trusted_proxies.nets().len(), 2);
        assert!(s.trusted_proxies.contains("10.1.1.1".parse().unwrap()));
        // The flag (or RAKTAR_TRUSTED_PROXIES) replaces the file's list.
        let args = AuthArgs { trusted_proxies: vec!["::1".into()], ..AuthArgs::default() };
        let s = resolve_auth(args, None, Some(&auth), None).unwrap();
        assert!(!s.trusted_proxies.contains("10.1.1.1".parse().unwrap()));
        assert!(s.trusted_proxies.contains("::1".parse().unwrap()));
        // Default: nobody is trusted.
        assert!(resolve_auth(AuthArgs::default(), None, None, None).unwrap().trusted_proxies.is_empty());
        let bad: AuthFile = toml::from_str("trusted_proxies = [\"proxy.local\"]").unwrap();
        assert!(resolve_auth(AuthArgs::default(), None, Some(&bad), None).is_err());
        let old: AuthFile = toml::from_str("trust_forwarded_for = true").unwrap();
        let e = resolve_auth(AuthArgs::default(), None, Some(&old), None).unwrap_err().to_string();
        assert!(e.contains("trusted_proxies"), "{e}");

        let oidc: OidcFile = toml::from_str(
            "issuer = \"https://idp.example.com\"\nclient_id = \"x\"\nlink_verified_email_domains = [\"Example.COM\"]",
        )
        .unwrap();
        let s = resolve_auth(AuthArgs::default(), None, None, Some(&oidc)).unwrap();
        assert_eq!(s.sessions.link_verified_email_domains, ["example.com"]);
        assert!(
            resolve_auth(AuthArgs::default(), None, None, None)
                .unwrap()
                .sessions
                .link_verified_email_domains
                .is_empty()
        );
        let wild: OidcFile = toml::from_str(
            "issuer = \"https://idp.example.com\"\nclient_id = \"x\"\nlink_verified_email_domains = [\"*.com\"]",
        )
        .unwrap();
        assert!(resolve_auth(AuthArgs::default(), None, None, Some(&wild)).is_err());
    }

    #[test]
    fn incomplete_oidc_is_an_error() {
        let oidc: OidcFile = toml::from_str("issuer = \"https://idp.example.com\"").unwrap();
        assert!(resolve_auth(AuthArgs::default(), None, None, Some(&oidc)).is_err());
        let auth: AuthFile = toml::from_str("local_login = false").unwrap();
        assert!(resolve_auth(AuthArgs::default(), None, Some(&auth), None).is_err());
        let auth: AuthFile = toml::from_str("session_lifetime = \"10s\"").unwrap();
        assert!(resolve_auth(AuthArgs::default(), None, Some(&auth), None).is_err());
    }
}
