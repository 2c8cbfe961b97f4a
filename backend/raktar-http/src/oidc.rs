//! The OpenID Connect client of the web sign-in (backend-for-frontend: the server runs the code flow,
//! the browser only ever holds Raktar's own session cookie).
//!
//! - Discovery (`{issuer}/.well-known/openid-configuration`), lazily on the first sign-in and retried
//!   until it succeeds; the document's `issuer` must equal the configured one.
//! - Authorization code flow with PKCE (`S256`), `state` (bound to the browser by a cookie and to a
//!   single-use item) and `nonce`.
//! - Code exchange at the token endpoint (`client_secret_basic`, `client_secret_post`, or a public
//!   client), then verification of the ID token against the issuer's JWKS: signature (asymmetric
//!   algorithms only), `iss`, `aud` (and `azp`), `exp`/`nbf`/`iat` with a minute of leeway, `nonce`.
//!   The JWKS is cached and fetched again when a token names an unknown `kid` (key rotation), at
//!   most once per [`IdTokenVerifier::min_refresh_interval`].
//! - Claims become an [`ExternalIdentity`] through the configured claim names.
//!
//! Endpoints must be `https`, except on loopback hosts (tests, local development).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use raktar_core::domain::Login;
use raktar_core::model::Role;
use raktar_core::services::sso::{ExternalIdentity, SsoLogin};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use tokio::sync::{OnceCell, RwLock};

/// Largest discovery, JWKS or token response read (bytes).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Clock skew tolerated on `exp`, `nbf` and `iat` (seconds).
const LEEWAY_SECS: u64 = 60;
/// Signature algorithms accepted on ID tokens: asymmetric only (never `none`, never HMAC with a
/// client secret).
const ALLOWED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A client secret: never printed (`Debug` is redacted), only sent to the token endpoint.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// Which claims say what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The login a new account gets (default `preferred_username`; falls back to `email`, then
    /// `sub`; an e-mail address gives its local part). Only a name: accounts are found by the
    /// identity's issuer and subject, and a taken login gives the new account a distinct one.
    pub login: String,
    /// Display name (default `name`).
    pub name: String,
    /// E-mail address (default `email`).
    pub email: String,
    /// Group memberships (default `groups`; Cognito: `cognito:groups`).
    pub groups: String,
    /// Members of this group are administrators, everyone else a member. Unset: the provider does
    /// not manage roles (new users are members, existing roles stay).
    pub admin_group: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            login: "preferred_username".into(),
            name: "name".into(),
            email: "email".into(),
            groups: "groups".into(),
            admin_group: None,
        }
    }
}

/// OIDC settings (from `[oidc]` in the config file and `RAKTAR_OIDC_*`).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer identifier, exactly as in its tokens (`https://cognito-idp.REGION.amazonaws.com/POOL`).
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE only).
    pub client_secret: Option<ClientSecret>,
    /// Requested scopes (`openid` is always added).
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
    /// Label of the sign-in button ("Sign in with …").
    pub display_name: String,
}

/// Why a sign-in through the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered something unusable (details for the log).
    #[error("identity provider error: {0}")]
    Provider(String),
    /// The provider refused the sign-in, or its answer failed verification (for the user).
    #[error("{0}")]
    Rejected(String),
    /// Raktar's OIDC settings are unusable.
    #[error("OIDC configuration error: {0}")]
    Config(String),
}

/// Parses an endpoint URL: `https`, or `http` on a loopback host.
pub fn check_endpoint(raw: &str, what: &str) -> Result<Url, OidcError> {
    let url = Url::parse(raw).map_err(|e| OidcError::Config(format!("{what} `{raw}` is not a URL: {e}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]" | "::1"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(OidcError::Config(format!("{what} `{raw}` must use https (plain http only on loopback hosts)"))),
    }
}

/// Reads a response body of at most [`MAX_RESPONSE_BYTES`].
async fn read_limited(mut resp: reqwest::Response, what: &str) -> Result<Vec<u8>, OidcError> {
    if resp.content_length().is_some_and(|l| l > MAX_RESPONSE_BYTES as u64) {
        return Err(OidcError::Provider(format!("the {what} response is too large")));
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| OidcError::Provider(format!("reading the {what} response: {e}")))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(OidcError::Provider(format!("the {what} response is too large")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// GETs a JSON document.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<T, OidcError> {
    let resp = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| OidcError::Provider(format!("fetching the {what} from {url}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(OidcError::Provider(format!("fetching the {what} from {url}: HTTP {status}")));
    }
    let body = read_limited(resp, what).await?;
    serde_json::from_slice(&body).map_err(|e| OidcError::Provider(format!("the {what} from {url} is not valid: {e}")))
}

/// Discovers an issuer's JWKS URI (`{issuer}/.well-known/openid-configuration`): the document must
/// name exactly this issuer, and the URI must be https (or http on loopback). CI issuers publish no
/// authorization or token endpoints, so only these two fields are read.
pub async fn discover_jwks_uri(http: &reqwest::Client, issuer: &str) -> Result<String, OidcError> {
    #[derive(Deserialize)]
    struct Minimal {
        issuer: String,
        jwks_uri: String,
    }
    check_endpoint(issuer, "the issuer")?;
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let doc: Minimal = get_json(http, &url, "OIDC discovery document").await?;
    if doc.issuer != issuer {
        return Err(OidcError::Provider(format!(
            "the discovery document of `{issuer}` names the issuer `{}`; they must be equal",
            doc.issuer
        )));
    }
    check_endpoint(&doc.jwks_uri, "the JWKS URI")?;
    Ok(doc.jwks_uri)
}

/// The subset of the discovery document Raktar uses.
#[derive(Debug, Clone, Deserialize)]
struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

#[derive(Debug)]
struct Discovered {
    metadata: ProviderMetadata,
    verifier: IdTokenVerifier,
}

/// The OIDC relying party.
pub struct OidcClient {
    config: OidcConfig,
    redirect_url: String,
    http: reqwest::Client,
    discovered: OnceCell<Arc<Discovered>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

/// The HTTP client for provider calls: bounded, few redirects.
pub(crate) fn http_client() -> Result<reqwest::Client, OidcError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("raktar/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OidcError::Config(format!("cannot build the HTTP client: {e}")))
}

impl OidcClient {
    /// `redirect_url` is `{public URL}/auth/oidc/callback`; register it at the provider.
    pub fn new(config: OidcConfig, redirect_url: String) -> Result<Self, OidcError> {
        check_endpoint(&config.issuer, "the OIDC issuer")?;
        if config.client_id.trim().is_empty() {
            return Err(OidcError::Config("the OIDC client id is empty".into()));
        }
        Url::parse(&redirect_url)
            .map_err(|e| OidcError::Config(format!("invalid redirect URL `{redirect_url}`: {e}")))?;
        Ok(Self { config, redirect_url, http: http_client()?, discovered: OnceCell::new() })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    pub fn redirect_url(&self) -> &str {
        &self.redirect_url
    }

    /// Label of the sign-in button.
    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    async fn discovered(&self) -> Result<&Arc<Discovered>, OidcError> {
        self.discovered
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
                let metadata: ProviderMetadata = get_json(&self.http, &url, "OIDC discovery document").await?;
                if metadata.issuer != self.config.issuer {
                    return Err(OidcError::Config(format!(
                        "the discovery document names the issuer `{}`, but `{}` is configured; they must be equal",
                        metadata.issuer, self.config.issuer
                    )));
                }
                check_endpoint(&metadata.authorization_endpoint, "the authorization endpoint")?;
                check_endpoint(&metadata.token_endpoint, "the token endpoint")?;
                check_endpoint(&metadata.jwks_uri, "the JWKS URI")?;
                if let Some(methods) = &metadata.code_challenge_methods_supported
                    && !methods.iter().any(|m| m == "S256")
                {
                    tracing::warn!("the identity provider does not advertise PKCE S256; sending it anyway");
                }
                let verifier = IdTokenVerifier::new(
                    self.config.issuer.clone(),
                    self.config.client_id.clone(),
                    metadata.jwks_uri.clone(),
                    self.http.clone(),
                );
                tracing::info!(issuer = %self.config.issuer, "OIDC provider discovered");
                Ok(Arc::new(Discovered { metadata, verifier }))
            })
            .await
    }

    /// Where to send the browser to sign in.
    pub async fn authorization_url(&self, login: &SsoLogin) -> Result<String, OidcError> {
        let d = self.discovered().await?;
        let mut url = check_endpoint(&d.metadata.authorization_endpoint, "the authorization endpoint")?;
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(self.config.scopes.iter().filter(|s| *s != "openid").cloned());
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.redirect_url)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &login.state)
            .append_pair("nonce", &login.nonce)
            .append_pair("code_challenge", &login.pkce_challenge())
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// RFC 9207: when the provider names itself in the authorization response (`iss`), it must be
    /// the configured issuer (defends against mix-ups between providers).
    pub fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), OidcError> {
        match iss {
            Some(iss) if iss != self.config.issuer => {
                tracing::warn!("authorization response from an unexpected issuer");
                Err(OidcError::Rejected("the sign-in response came from another identity provider".into()))
            }
            _ => Ok(()),
        }
    }

    /// Exchanges the authorization code, verifies the ID token and maps its claims.
    pub async fn complete(&self, code: &str, login: &SsoLogin) -> Result<ExternalIdentity, OidcError> {
        if code.is_empty() || code.len() > 4096 {
            return Err(OidcError::Rejected("the identity provider sent no usable authorization code".into()));
        }
        let d = self.discovered().await?;
        let id_token = self.exchange(&d.metadata, code, login).await?;
        let claims = d.verifier.verify(&id_token, &login.nonce).await?;
        map_claims(&self.config.claims, &self.config.issuer, &claims)
    }

    async fn exchange(&self, meta: &ProviderMetadata, code: &str, login: &SsoLogin) -> Result<String, OidcError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_url),
            ("code_verifier", &login.pkce_verifier),
        ];
        let mut req = self.http.post(&meta.token_endpoint).header(reqwest::header::ACCEPT, "application/json");
        match &self.config.client_secret {
            Some(secret) => {
                let basic = meta
                    .token_endpoint_auth_methods_supported
                    .as_ref()
                    .is_none_or(|m| m.iter().any(|m| m == "client_secret_basic"));
                if basic {
                    // RFC 6749 2.3.1: both parts form-encoded before Basic.
                    let id: String = form_urlencoded::byte_serialize(self.config.client_id.as_bytes()).collect();
                    let pw: String = form_urlencoded::byte_serialize(secret.expose().as_bytes()).collect();
                    req = req.basic_auth(id, Some(pw));
                } else {
                    form.push(("client_id", &self.config.client_id));
                    form.push(("client_secret", secret.expose()));
                }
            }
            None => form.push(("client_id", &self.config.client_id)),
        }
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| OidcError::Provider(format!("calling the token endpoint: {e}")))?;
        let status = resp.status();
        let body = read_limited(resp, "token").await?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct ErrorBody {
                error: Option<String>,
                error_description: Option<String>,
            }
            let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
            let (error, description) = parsed.map(|b| (b.error, b.error_description)).unwrap_or((None, None));
            tracing::warn!(
                %status,
                error = error.as_deref().unwrap_or("-"),
                description = description.as_deref().unwrap_or("-"),
                "the token endpoint refused the authorization code"
            );
            return match error {
                Some(e) if status.is_client_error() => Err(OidcError::Rejected(format!(
                    "the identity provider refused the sign-in ({}); start again",
                    e.chars().filter(|c| c.is_ascii_graphic()).take(64).collect::<String>()
                ))),
                _ => Err(OidcError::Provider(format!("the token endpoint answered HTTP {status}"))),
            };
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            id_token: Option<String>,
        }
        let tokens: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| OidcError::Provider(format!("the token response is not valid: {e}")))?;
        tokens.id_token.ok_or_else(|| OidcError::Provider("the token response has no id_token".into()))
    }
}

#[derive(Debug, Default)]
struct KeyCache {
    keys: Vec<Jwk>,
    fetched: Option<Instant>,
}

/// Verifies ID tokens of one issuer for one client against the issuer's JWKS.
#[derive(Debug)]
pub struct IdTokenVerifier {
    issuer: String,
    client_id: String,
    jwks_uri: String,
    http: reqwest::Client,
    keys: RwLock<KeyCache>,
    /// The JWKS is fetched again for an unknown `kid` at most this often (default 30 s).
    pub min_refresh_interval: Duration,
}

impl IdTokenVerifier {
    pub fn new(issuer: String, client_id: String, jwks_uri: String, http: reqwest::Client) -> Self {
        Self {
            issuer,
            client_id,
            jwks_uri,
            http,
            keys: RwLock::new(KeyCache::default()),
            min_refresh_interval: Duration::from_secs(30),
        }
    }

    /// A verifier with its own HTTP client (tests, tools).
    pub fn with_default_client(issuer: String, client_id: String, jwks_uri: String) -> Result<Self, OidcError> {
        Ok(Self::new(issuer, client_id, jwks_uri, http_client()?))
    }

    /// Verifies `token` and returns its claims. `expected_nonce` is the nonce of the sign-in.
    pub async fn verify(&self, token: &str, expected_nonce: &str) -> Result<Map<String, Value>, OidcError> {
        let rejected = |m: &str| OidcError::Rejected(format!("the ID token was rejected: {m}"));
        let claims = self.verify_signed(token).await?;
        let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or_default();
        if nonce.is_empty() || !bool::from(nonce.as_bytes().ct_eq(expected_nonce.as_bytes())) {
            tracing::warn!(issuer = %self.issuer, "ID token rejected: nonce mismatch");
            return Err(rejected("its nonce does not belong to this sign-in"));
        }
        let multiple_audiences = claims.get("aud").and_then(Value::as_array).is_some_and(|a| a.len() > 1);
        match claims.get("azp").and_then(Value::as_str) {
            Some(azp) if azp != self.client_id => return Err(rejected("it was issued to another client (azp)")),
            None if multiple_audiences => return Err(rejected("it has several audiences but no `azp`")),
            _ => {}
        }
        Ok(claims)
    }

    /// Verifies what every ID token needs, sign-in or trusted publishing: the signature against
    /// the issuer's JWKS (asymmetric algorithms, the key's own algorithm), `iss`, `aud` (the
    /// client id given at construction), `exp`/`nbf`/`iat` with [`LEEWAY_SECS`] of leeway, and a
    /// `sub`. Returns the claims.
    pub async fn verify_signed(&self, token: &str) -> Result<Map<String, Value>, OidcError> {
        let rejected = |m: &str| OidcError::Rejected(format!("the ID token was rejected: {m}"));
        if token.len() > 16 * 1024 {
            return Err(rejected("it is too large"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| rejected("it is not a JWT"))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(rejected(&format!("the algorithm {:?} is not accepted", header.alg)));
        }
        let key = self.key_for(&header).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
            let why = match e.kind() {
                ErrorKind::InvalidSignature => "the signature does not verify".to_owned(),
                ErrorKind::ExpiredSignature => "it has expired".to_owned(),
                ErrorKind::ImmatureSignature => "it is not valid yet".to_owned(),
                ErrorKind::InvalidIssuer => "it was issued by another issuer".to_owned(),
                ErrorKind::InvalidAudience => "it was issued for another client (audience)".to_owned(),
                ErrorKind::InvalidAlgorithm => "its algorithm does not match the key".to_owned(),
                ErrorKind::MissingRequiredClaim(c) => format!("it lacks the `{c}` claim"),
                _ => "it is malformed".to_owned(),
            };
            tracing::warn!(issuer = %self.issuer, reason = %why, "ID token rejected");
            rejected(&why)
        })?;
        let claims = data.claims;
        let now = jsonwebtoken::get_current_timestamp();
        match claims.get("iat").and_then(Value::as_u64) {
            Some(iat) if iat <= now + LEEWAY_SECS => {}
            Some(_) => return Err(rejected("it was issued in the future")),
            None => return Err(rejected("it lacks the `iat` claim")),
        }
        Ok(claims)
    }

    /// The key for a token header: from the cache, or after fetching the JWKS again.
    async fn key_for(&self, header: &Header) -> Result<DecodingKey, OidcError> {
        {
            let cache = self.keys.read().await;
            if let Some(jwk) = select_key(&cache.keys, header) {
                return decoding_key(jwk);
            }
        }
        let mut cache = self.keys.write().await;
        // Another task may have refreshed while this one waited.
        if let Some(jwk) = select_key(&cache.keys, header) {
            return decoding_key(jwk);
        }
        let may_refresh = cache.fetched.is_none_or(|t| t.elapsed() >= self.min_refresh_interval);
        if may_refresh {
            cache.keys = self.fetch_jwks().await?;
            cache.fetched = Some(Instant::now());
            if let Some(jwk) = select_key(&cache.keys, header) {
                return decoding_key(jwk);
            }
        }
        let kid = header.kid.as_deref().unwrap_or("none");
        tracing::warn!(issuer = %self.issuer, kid, "ID token signed with an unknown key");
        Err(OidcError::Rejected(format!(
            "the ID token was rejected: it is signed with a key the issuer does not publish (kid `{}`)",
            kid.chars().filter(|c| c.is_ascii_graphic()).take(64).collect::<String>()
        )))
    }

    /// Fetches the JWKS; keys Raktar cannot use (unknown types, encryption keys) are skipped.
    async fn fetch_jwks(&self) -> Result<Vec<Jwk>, OidcError> {
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<Value>,
        }
        let raw: RawSet = get_json(&self.http, &self.jwks_uri, "JWKS").await?;
        let keys: Vec<Jwk> = raw.keys.into_iter().filter_map(|k| serde_json::from_value::<Jwk>(k).ok()).collect();
        tracing::info!(issuer = %self.issuer, keys = keys.len(), "JWKS fetched");
        Ok(keys)
    }
}

fn decoding_key(jwk: &Jwk) -> Result<DecodingKey, OidcError> {
    DecodingKey::from_jwk(jwk).map_err(|e| OidcError::Provider(format!("unusable key in the JWKS: {e}")))
}

/// The signing key a header asks for: by `kid`, or the only suitable key when the header has none.
fn select_key<'a>(keys: &'a [Jwk], header: &Header) -> Option<&'a Jwk> {
    let usable = |k: &&Jwk| {
        let for_signing = k.common.public_key_use.as_ref().is_none_or(|u| *u == PublicKeyUse::Signature);
        let alg_ok = k.common.key_algorithm.is_none_or(|a| a == KeyAlgorithm::from(header.alg));
        let family_ok = DecodingKey::from_jwk(k).is_ok_and(|d| d.family() == header.alg.family());
        for_signing && alg_ok && family_ok
    };
    match &header.kid {
        Some(kid) => keys.iter().filter(usable).find(|k| k.common.key_id.as_deref() == Some(kid.as_str())),
        None => {
            let mut candidates = keys.iter().filter(usable);
            let first = candidates.next();
            if candidates.next().is_some() { None } else { first }
        }
    }
}

fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// Maps verified claims to an identity.
pub fn map_claims(
    mapping: &ClaimMapping,
    issuer: &str,
    claims: &Map<String, Value>,
) -> Result<ExternalIdentity, OidcError> {
    let subject = claim_str(claims, "sub")
        .ok_or_else(|| OidcError::Rejected("the ID token has no subject (`sub`)".into()))?
        .to_owned();
    let (claim, raw) = [mapping.login.as_str(), "email", "sub"]
        .into_iter()
        .find_map(|c| claim_str(claims, c).map(|v| (c, v)))
        .ok_or_else(|| OidcError::Rejected("the ID token carries no login".into()))?;
    let raw_login = raw.split_once('@').map_or(raw, |(local, _)| local);
    let login = Login::parse(raw_login).map_err(|_| {
        OidcError::Rejected(format!(
            "the identity provider's `{claim}` claim does not give a valid Raktar login (1 to 64 letters, digits, \
             `-`, `_`, `.`); an administrator can choose another claim with `oidc.login_claim`"
        ))
    })?;
    let role = mapping.admin_group.as_ref().map(|admin| {
        let member = match claims.get(&mapping.groups) {
            Some(Value::Array(groups)) => groups.iter().any(|g| g.as_str() == Some(admin.as_str())),
            Some(Value::String(groups)) => {
                groups.split(|c: char| c == ',' || c.is_whitespace()).any(|g| g == admin.as_str())
            }
            _ => false,
        };
        if member { Role::Admin } else { Role::Member }
    });
    Ok(ExternalIdentity {
        issuer: issuer.to_owned(),
        subject,
        login,
        name: claim_str(claims, &mapping.name).map(str::to_owned),
        email: claim_str(claims, &mapping.email).map(str::to_owned),
        // A boolean, or the string "true" (some providers send it so).
        email_verified: match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        },
        role,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::routing::get;
    use jsonwebtoken::{EncodingKey, encode};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://issuer.test";
    const CLIENT: &str = "raktar-web";
    const NONCE: &str = "the-nonce";

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/oidc").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    fn signing_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(&fixture("test-signing-key.pem")).unwrap()
    }

    fn other_key() -> EncodingKey {
        EncodingKey::from_rsa_pem(&fixture("test-other-key.pem")).unwrap()
    }

    fn public_jwk(key: &EncodingKey, kid: &str) -> Value {
        let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).unwrap()
    }

    /// A JWKS server on 127.0.0.1 serving `keys` (changeable), counting fetches.
    struct JwksServer {
        url: String,
        keys: Arc<std::sync::Mutex<Vec<Value>>>,
        fetches: Arc<AtomicUsize>,
    }

    async fn jwks_server(keys: Vec<Value>) -> JwksServer {
        let keys = Arc::new(std::sync::Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let app = Router::new().route(
            "/jwks",
            get(move || {
                let (k, f) = (k.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({ "keys": *k.lock().unwrap() }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        JwksServer { url: format!("http://{addr}/jwks"), keys, fetches }
    }

    fn claims(overrides: Value) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        let mut c = json!({
            "iss": ISSUER,
            "aud": CLIENT,
            "sub": "subject-1",
            "iat": now,
            "exp": now + 300,
            "nonce": NONCE,
            "preferred_username": "alice",
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn sign(key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        encode(&header, claims, key).unwrap()
    }

    async fn setup() -> (JwksServer, IdTokenVerifier) {
        let server = jwks_server(vec![public_jwk(&signing_key(), "k1")]).await;
        let verifier = IdTokenVerifier::with_default_client(ISSUER.into(), CLIENT.into(), server.url.clone()).unwrap();
        (server, verifier)
    }

    #[track_caller]
    fn assert_rejected(result: Result<Map<String, Value>, OidcError>, needle: &str) {
        match result {
            Err(OidcError::Rejected(msg)) => assert!(msg.contains(needle), "expected {needle:?} in {msg:?}"),
            other => panic!("expected a rejection mentioning {needle:?}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_valid_token_verifies() {
        let (_server, verifier) = setup().await;
        let token = sign(&signing_key(), Some("k1"), &claims(json!({})));
        let c = verifier.verify(&token, NONCE).await.unwrap();
        assert_eq!(c["sub"], "subject-1");
        // Audience as a list with azp.
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"aud": [CLIENT, "other"], "azp": CLIENT})));
        verifier.verify(&token, NONCE).await.unwrap();
    }

    #[tokio::test]
    async fn wrong_audience_is_rejected() {
        let (_server, verifier) = setup().await;
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"aud": "someone-else"})));
        assert_rejected(verifier.verify(&token, NONCE).await, "audience");
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"aud": [CLIENT, "other"]})));
        assert_rejected(verifier.verify(&token, NONCE).await, "azp");
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"azp": "other"})));
        assert_rejected(verifier.verify(&token, NONCE).await, "azp");
    }

    #[tokio::test]
    async fn wrong_issuer_is_rejected() {
        let (_server, verifier) = setup().await;
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"iss": "https://evil.test"})));
        assert_rejected(verifier.verify(&token, NONCE).await, "another issuer");
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"iss": null})));
        assert_rejected(verifier.verify(&token, NONCE).await, "iss");
    }

    #[tokio::test]
    async fn expired_token_is_rejected() {
        let (_server, verifier) = setup().await;
        let now = jsonwebtoken::get_current_timestamp();
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"iat": now - 7200, "exp": now - 3600})));
        assert_rejected(verifier.verify(&token, NONCE).await, "expired");
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"exp": null})));
        assert_rejected(verifier.verify(&token, NONCE).await, "exp");
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"nbf": now + 3600})));
        assert_rejected(verifier.verify(&token, NONCE).await, "not valid yet");
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"iat": now + 3600})));
        assert_rejected(verifier.verify(&token, NONCE).await, "future");
    }

    #[tokio::test]
    async fn tampered_signature_is_rejected() {
        let (_server, verifier) = setup().await;
        let token = sign(&signing_key(), Some("k1"), &claims(json!({})));
        let parts: Vec<&str> = token.split('.').collect();
        // Another payload under the original signature.
        let forged_payload = {
            use base64::Engine;
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let mut c: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
            c["preferred_username"] = json!("mallory");
            engine.encode(serde_json::to_vec(&c).unwrap())
        };
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_rejected(verifier.verify(&forged, NONCE).await, "signature");
        // A changed signature byte (in the middle: every base64 character there carries 6 bits, so
        // the result still decodes and only the signature check can catch it).
        let mut sig: Vec<char> = parts[2].chars().collect();
        sig[100] = if sig[100] == 'A' { 'B' } else { 'A' };
        let sig: String = sig.into_iter().collect();
        let flipped = format!("{}.{}.{sig}", parts[0], parts[1]);
        assert_rejected(verifier.verify(&flipped, NONCE).await, "signature");
        // Signed by another key under the published kid.
        let impostor = sign(&other_key(), Some("k1"), &claims(json!({})));
        assert_rejected(verifier.verify(&impostor, NONCE).await, "signature");
        // Symmetric algorithms and `none` are never accepted.
        let hs =
            encode(&Header::new(Algorithm::HS256), &claims(json!({})), &EncodingKey::from_secret(b"secret")).unwrap();
        assert_rejected(verifier.verify(&hs, NONCE).await, "not accepted");
        let none = format!("eyJhbGciOiJub25lIn0.{}.", parts[1]);
        assert!(verifier.verify(&none, NONCE).await.is_err());
    }

    #[tokio::test]
    async fn wrong_nonce_is_rejected() {
        let (_server, verifier) = setup().await;
        let token = sign(&signing_key(), Some("k1"), &claims(json!({})));
        assert_rejected(verifier.verify(&token, "another-nonce").await, "nonce");
        let token = sign(&signing_key(), Some("k1"), &claims(json!({"nonce": null})));
        assert_rejected(verifier.verify(&token, NONCE).await, "nonce");
    }

    #[tokio::test]
    async fn unknown_kid_is_rejected_and_refetches_are_throttled() {
        let (server, verifier) = setup().await;
        let good = sign(&signing_key(), Some("k1"), &claims(json!({})));
        verifier.verify(&good, NONCE).await.unwrap();
        assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
        let unknown = sign(&other_key(), Some("k2"), &claims(json!({})));
        for _ in 0..5 {
            assert_rejected(verifier.verify(&unknown, NONCE).await, "does not publish");
        }
        assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "unknown kids must not refetch the JWKS every time");
        // Cached keys keep working without fetching.
        verifier.verify(&good, NONCE).await.unwrap();
        assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn key_rotation_refetches_the_jwks() {
        let (server, mut verifier) = setup().await;
        verifier.min_refresh_interval = Duration::ZERO;
        verifier.verify(&sign(&signing_key(), Some("k1"), &claims(json!({}))), NONCE).await.unwrap();
        // The issuer starts signing with a new key and publishes it.
        server.keys.lock().unwrap().push(public_jwk(&other_key(), "k2"));
        let rotated = sign(&other_key(), Some("k2"), &claims(json!({})));
        verifier.verify(&rotated, NONCE).await.unwrap();
        assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
        // A kid that is still unknown after a refetch stays rejected.
        let unknown = sign(&other_key(), Some("k3"), &claims(json!({})));
        assert_rejected(verifier.verify(&unknown, NONCE).await, "does not publish");
    }

    #[tokio::test]
    async fn a_token_without_kid_uses_the_only_key() {
        let (server, verifier) = setup().await;
        verifier.verify(&sign(&signing_key(), None, &claims(json!({}))), NONCE).await.unwrap();
        // Two candidate keys and no kid: ambiguous.
        server.keys.lock().unwrap().push(public_jwk(&other_key(), "k2"));
        let mut verifier = verifier;
        verifier.min_refresh_interval = Duration::ZERO;
        verifier.keys.write().await.keys.clear();
        assert_rejected(
            verifier.verify(&sign(&signing_key(), None, &claims(json!({}))), NONCE).await,
            "does not publish",
        );
    }

    #[test]
    fn claims_map_to_an_identity() {
        let mapping = ClaimMapping { admin_group: Some("raktar-admins".into()), ..ClaimMapping::default() };
        let c = claims(json!({"name": "Alice A.", "email": "alice@example.com", "groups": ["dev", "raktar-admins"]}));
        let id = map_claims(&mapping, ISSUER, c.as_object().unwrap()).unwrap();
        assert_eq!(id.login.as_str(), "alice");
        assert_eq!(id.name.as_deref(), Some("Alice A."));
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        assert_eq!(id.role, Some(Role::Admin));
        assert_eq!(id.external_id(), format!("{ISSUER} subject-1"));

        // Fallbacks: e-mail local part, then sub; groups as a string; not in the admin group.
        let c = claims(json!({"preferred_username": null, "email": "Bob.B@example.com", "groups": "dev ops"}));
        let id = map_claims(&mapping, ISSUER, c.as_object().unwrap()).unwrap();
        assert_eq!(id.login.as_str(), "bob.b");
        assert_eq!(id.role, Some(Role::Member));
        let c = claims(json!({"preferred_username": null, "sub": "carol"}));
        assert_eq!(map_claims(&mapping, ISSUER, c.as_object().unwrap()).unwrap().login.as_str(), "carol");

        // No admin group configured: the provider does not decide roles.
        let c = claims(json!({"groups": ["raktar-admins"]}));
        assert_eq!(map_claims(&ClaimMapping::default(), ISSUER, c.as_object().unwrap()).unwrap().role, None);

        // Custom claim names (Cognito).
        let cognito = ClaimMapping {
            login: "cognito:username".into(),
            groups: "cognito:groups".into(),
            admin_group: Some("admins".into()),
            ..ClaimMapping::default()
        };
        let c = claims(json!({"cognito:username": "dave", "cognito:groups": ["admins"]}));
        let id = map_claims(&cognito, ISSUER, c.as_object().unwrap()).unwrap();
        assert_eq!((id.login.as_str(), id.role), ("dave", Some(Role::Admin)));

        // An unusable login is refused with a hint.
        let c = claims(json!({"preferred_username": "not a login!"}));
        match map_claims(&mapping, ISSUER, c.as_object().unwrap()) {
            Err(OidcError::Rejected(m)) => assert!(m.contains("login_claim"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn endpoints_need_https_except_on_loopback() {
        assert!(check_endpoint("https://idp.example.com/x", "x").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8080", "x").is_ok());
        assert!(check_endpoint("http://localhost:8080", "x").is_ok());
        assert!(check_endpoint("http://idp.example.com", "x").is_err());
        assert!(check_endpoint("ftp://idp.example.com", "x").is_err());
        assert!(check_endpoint("not a url", "x").is_err());
    }

    #[test]
    fn client_secret_debug_is_redacted() {
        let s = ClientSecret::new("super-secret-value");
        assert!(!format!("{s:?}").contains("super-secret"));
        let config = OidcConfig {
            issuer: ISSUER.into(),
            client_id: CLIENT.into(),
            client_secret: Some(s),
            scopes: vec![],
            claims: ClaimMapping::default(),
            display_name: "SSO".into(),
        };
        assert!(!format!("{config:?}").contains("super-secret"));
    }
}
