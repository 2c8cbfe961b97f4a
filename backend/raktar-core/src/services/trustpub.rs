//! Trusted publishing: CI jobs exchange their OIDC ID token for a short-lived cargo token.
//!
//! Owners (or administrators) give a crate trust configurations: an issuer and claim rules
//! (`repository = acme/widgets`, `job_workflow_ref` starting with `acme/widgets/.github/workflows/
//! release.yml@`, `environment = release`). The HTTP edge verifies the ID token (signature against
//! the issuer's JWKS, issuer, audience, time claims); this service then
//! - requires the issuer to be allowed by the registry's policy,
//! - finds every trust configuration of that issuer whose rules the claims satisfy,
//! - consumes the token's `jti` (a conditional write, in the same transaction as the new token, so
//!   concurrent replays are refused too; the marker lives until the ID token's expiry),
//! - mints a token that belongs to no account: `publish-update` and `yank` only, limited to the
//!   matching crates, at most [`MAX_TOKEN_LIFETIME_SECS`]; its "login" is the CI identity
//!   (`ci:{issuer host}:{subject}`), which is never a valid login, so it reaches no account, no
//!   token management and no owner change,
//! - records the mint (with the CI identity) in the audit log; publishes and yanks through the
//!   token are audited with the CI identity as their actor.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::names::truncate_for_message;
use crate::domain::{CrateName, DomainError, DomainResult, Scope};
use crate::model::Entity as _;
use crate::model::{ClaimRule, TokenRecord, TrustConfigRecord, UsedJtiRecord, keys};
use crate::store::{Condition, Index, Query, TxOp, query_all};

use super::auth::{AuthCheck, Principal, hash_token, require};
use super::{Registry, audit, clock};

/// Prefix of the identity of trusted-publishing tokens (logins never contain `:`).
pub const IDENTITY_PREFIX: &str = "ci:";
/// Longest lifetime of a minted token (seconds).
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 30 * 60;
/// Clock skew tolerated on the ID token's time claims; the `jti` marker outlives `exp` by this.
pub const LEEWAY_SECS: i64 = 60;
/// The GitHub Actions issuer (the `--github-repository` preset's default).
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The GitLab.com issuer (the `--gitlab-project` preset's default).
pub const GITLAB_ISSUER: &str = "https://gitlab.com";

/// Most trust configurations per crate, and rules per configuration.
const MAX_CONFIGS_PER_CRATE: usize = 20;
const MAX_RULES: usize = 10;
/// Claims a rule may not name: the verifier checks them itself.
const RESERVED_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// The registry's trusted-publishing settings.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Issuers whose ID tokens may be exchanged (exact `iss` values).
    pub issuers: Vec<String>,
    /// Lifetime of minted tokens (clamped to 1 s ..= [`MAX_TOKEN_LIFETIME_SECS`]).
    pub token_lifetime_secs: i64,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        Self { issuers: Vec::new(), token_lifetime_secs: MAX_TOKEN_LIFETIME_SECS }
    }
}

/// True for the identity of a trusted-publishing token.
pub fn is_trusted_identity(login: &str) -> bool {
    login.starts_with(IDENTITY_PREFIX)
}

/// A new trust configuration.
#[derive(Debug, Clone)]
pub struct NewTrustConfig {
    pub issuer: String,
    pub rules: Vec<ClaimRule>,
}

/// A trust configuration as shown to owners.
#[derive(Debug, Clone, Serialize)]
pub struct TrustConfigView {
    pub id: String,
    pub crate_name: String,
    pub issuer: String,
    pub rules: Vec<ClaimRule>,
    pub created_at: String,
    pub created_by: String,
}

impl From<TrustConfigRecord> for TrustConfigView {
    fn from(r: TrustConfigRecord) -> Self {
        Self {
            id: r.id,
            crate_name: r.crate_name,
            issuer: r.issuer,
            rules: r.rules,
            created_at: r.created_at,
            created_by: r.created_by,
        }
    }
}

impl std::fmt::Display for ClaimRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix { write!(f, "{}^={}", self.name, self.value) } else { write!(f, "{}={}", self.name, self.value) }
    }
}

/// A minted token: the secret is returned exactly once.
#[derive(Debug, Clone)]
pub struct MintedToken {
    pub secret: String,
    pub record: TokenRecord,
}

/// Parses `NAME=VALUE` (exact) or `NAME^=PREFIX` (prefix) into a rule.
pub fn parse_claim_rule(raw: &str) -> DomainResult<ClaimRule> {
    let Some((name, value)) = raw.split_once('=') else {
        return Err(DomainError::bad_request(format!(
            "a claim rule is NAME=VALUE or NAME^=PREFIX, not `{}`",
            truncate_for_message(raw)
        )));
    };
    let (name, prefix) = match name.strip_suffix('^') {
        Some(n) => (n, true),
        None => (name, false),
    };
    let rule = ClaimRule { name: name.trim().to_owned(), value: value.to_owned(), prefix };
    check_rule(&rule)?;
    Ok(rule)
}

fn check_rule(rule: &ClaimRule) -> DomainResult<()> {
    let name_ok = !rule.name.is_empty()
        && rule.name.len() <= 64
        && rule.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok {
        return Err(DomainError::bad_request(format!(
            "invalid claim name `{}`: 1 to 64 letters, digits, `_`, `-`, `.`",
            truncate_for_message(&rule.name)
        )));
    }
    if RESERVED_CLAIMS.contains(&rule.name.as_str()) {
        return Err(DomainError::bad_request(format!(
            "the claim `{}` is checked by the registry itself and cannot be a rule",
            rule.name
        )));
    }
    if rule.value.is_empty() || rule.value.len() > 512 || rule.value.chars().any(char::is_control) {
        return Err(DomainError::bad_request(format!(
            "the value of claim `{}` must be 1 to 512 printable characters",
            rule.name
        )));
    }
    Ok(())
}

fn check_issuer(issuer: &str) -> DomainResult<()> {
    let ok = (issuer.starts_with("https://") || issuer.starts_with("http://"))
        && issuer.len() <= 512
        && !issuer.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(DomainError::bad_request(format!(
            "the issuer must be an http(s) URL exactly as in the tokens' `iss` claim, not `{}`",
            truncate_for_message(issuer)
        )))
    }
}

/// The rules of a GitHub Actions configuration: the repository (`owner/repo`), optionally the
/// workflow file (`release.yml`, matched through `job_workflow_ref`) and the environment.
pub fn github_rules(
    repository: &str,
    workflow: Option<&str>,
    environment: Option<&str>,
) -> DomainResult<Vec<ClaimRule>> {
    let repo = repository.trim();
    if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
        return Err(DomainError::bad_request("the GitHub repository is OWNER/REPO"));
    }
    let mut rules = vec![ClaimRule { name: "repository".into(), value: repo.to_owned(), prefix: false }];
    if let Some(file) = workflow {
        let file = file.trim().trim_start_matches(".github/workflows/");
        if file.is_empty() || file.contains('/') || file.contains('@') {
            return Err(DomainError::bad_request("the workflow is a file name under .github/workflows/"));
        }
        rules.push(ClaimRule {
            name: "job_workflow_ref".into(),
            value: format!("{repo}/.github/workflows/{file}@"),
            prefix: true,
        });
    }
    if let Some(env) = environment {
        rules.push(ClaimRule { name: "environment".into(), value: env.trim().to_owned(), prefix: false });
    }
    rules.iter().try_for_each(check_rule)?;
    Ok(rules)
}

/// The rules of a GitLab CI configuration: the project path (`group/project`), optionally the
/// pipeline file (`.gitlab-ci.yml`, matched through `ci_config_ref_uri`) and the environment.
pub fn gitlab_rules(
    issuer: &str,
    project: &str,
    config_file: Option<&str>,
    environment: Option<&str>,
) -> DomainResult<Vec<ClaimRule>> {
    let project = project.trim().trim_matches('/');
    if !project.contains('/') || project.split('/').any(str::is_empty) {
        return Err(DomainError::bad_request("the GitLab project is its full path, GROUP/PROJECT"));
    }
    let mut rules = vec![ClaimRule { name: "project_path".into(), value: project.to_owned(), prefix: false }];
    if let Some(file) = config_file {
        let host = issuer.split_once("://").map_or(issuer, |(_, rest)| rest).trim_end_matches('/');
        let file = file.trim().trim_start_matches('/');
        if file.is_empty() || file.contains('@') {
            return Err(DomainError::bad_request("the pipeline file is a path in the project, e.g. .gitlab-ci.yml"));
        }
        rules.push(ClaimRule {
            name: "ci_config_ref_uri".into(),
            value: format!("{host}/{project}//{file}@"),
            prefix: true,
        });
    }
    if let Some(env) = environment {
        rules.push(ClaimRule { name: "environment".into(), value: env.trim().to_owned(), prefix: false });
    }
    rules.iter().try_for_each(check_rule)?;
    Ok(rules)
}

/// A claim as text: strings as they are, numbers and booleans in their JSON form.
fn claim_text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn rules_match(rules: &[ClaimRule], claims: &Map<String, Value>) -> bool {
    !rules.is_empty()
        && rules.iter().all(|rule| match claim_text(claims, &rule.name) {
            Some(v) if rule.prefix => v.starts_with(&rule.value),
            Some(v) => v == rule.value,
            None => false,
        })
}

/// `ci:{issuer host}:{subject}`, printable and bounded.
fn ci_identity(issuer: &str, subject: &str) -> String {
    let host = issuer.split_once("://").map_or(issuer, |(_, rest)| rest).trim_end_matches('/');
    let raw = format!("{IDENTITY_PREFIX}{host}:{subject}");
    raw.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The account-less user a trusted-publishing token acts as (`None` for account tokens).
pub(crate) fn token_user(token: &TokenRecord) -> Option<crate::model::UserRecord> {
    is_trusted_identity(&token.login).then(|| crate::model::UserRecord {
        id: 0,
        login: token.login.clone(),
        name: Some("trusted publishing".to_owned()),
        email: None,
        role: crate::model::Role::Member,
        disabled: false,
        created_at: token.created_at.clone(),
        revision: 0,
        password_hash: None,
        external_id: None,
    })
}

impl Principal {
    /// A trusted-publishing token (publish-update and yank of its crates only).
    pub fn is_trusted_publisher(&self) -> bool {
        is_trusted_identity(self.login()) && self.token.as_ref().is_some_and(|t| !t.crates.is_empty())
    }
}

impl Registry {
    /// Loads a crate's canonical name and owners, or 404.
    async fn trust_target(&self, name: &CrateName) -> DomainResult<(CrateName, Vec<String>)> {
        let norm = name.normalized();
        let Some(state) = self.load_crate_state(&norm).await? else {
            return Err(DomainError::not_found(format!("crate `{name}` does not exist")));
        };
        Ok((CrateName::parse(&state.summary.name)?, state.owners))
    }

    /// Owners of the crate (through a web session or a token with the `change-owners` scope for
    /// it) and administrators may manage its trust configurations.
    async fn check_trust_admin(&self, principal: Option<&Principal>, name: &CrateName) -> DomainResult<CrateName> {
        let principal = require(principal)?;
        if principal.is_trusted_publisher() {
            return Err(DomainError::forbidden("a trusted-publishing token may only publish and yank"));
        }
        let (canonical, owners) = self.trust_target(name).await?;
        AuthCheck::scope(Scope::ChangeOwners).for_crate(&canonical).owners(&owners).check(principal)?;
        Ok(canonical)
    }

    /// The trust configurations of a crate (owners and administrators).
    pub async fn trust_configs(
        &self,
        principal: Option<&Principal>,
        name: &CrateName,
    ) -> DomainResult<Vec<TrustConfigView>> {
        let canonical = self.check_trust_admin(principal, name).await?;
        self.list_trust_configs(&canonical).await
    }

    /// Adds a trust configuration (owners and administrators).
    pub async fn add_trust_config(
        &self,
        principal: Option<&Principal>,
        name: &CrateName,
        new: NewTrustConfig,
    ) -> DomainResult<TrustConfigView> {
        let canonical = self.check_trust_admin(principal, name).await?;
        let actor = require(principal)?.login().to_owned();
        self.insert_trust_config(&actor, &canonical, new).await
    }

    /// Removes a trust configuration (owners and administrators).
    pub async fn remove_trust_config(
        &self,
        principal: Option<&Principal>,
        name: &CrateName,
        id: &str,
    ) -> DomainResult<()> {
        let canonical = self.check_trust_admin(principal, name).await?;
        let actor = require(principal)?.login().to_owned();
        self.delete_trust_config(&actor, &canonical, id).await
    }

    /// Every trust configuration of a crate (no authorization: the CLI, or after a check).
    pub async fn list_trust_configs(&self, name: &CrateName) -> DomainResult<Vec<TrustConfigView>> {
        let q = Query::partition(keys::crate_pk(&name.normalized())).prefix(keys::TRUST_CONFIG_PREFIX);
        let mut out = Vec::new();
        for item in query_all(self.items.as_ref(), &q).await? {
            out.push(TrustConfigView::from(item.to_entity::<TrustConfigRecord>()?));
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Stores a trust configuration for an existing crate (`actor`: who asked, for the audit log).
    pub async fn insert_trust_config(
        &self,
        actor: &str,
        name: &CrateName,
        new: NewTrustConfig,
    ) -> DomainResult<TrustConfigView> {
        check_issuer(&new.issuer)?;
        if new.rules.is_empty() {
            return Err(DomainError::bad_request(
                "a trust configuration needs at least one claim rule (the repository or project, say): \
                 otherwise every job of the issuer could publish",
            ));
        }
        if new.rules.len() > MAX_RULES {
            return Err(DomainError::bad_request(format!("at most {MAX_RULES} claim rules per configuration")));
        }
        new.rules.iter().try_for_each(check_rule)?;
        let (canonical, _) = self.trust_target(name).await?;
        let existing = self.list_trust_configs(&canonical).await?;
        if existing.len() >= MAX_CONFIGS_PER_CRATE {
            return Err(DomainError::bad_request(format!(
                "crate `{canonical}` already has {MAX_CONFIGS_PER_CRATE} trust configurations"
            )));
        }
        let mut rules = new.rules.clone();
        rules.sort_by(|a, b| a.name.cmp(&b.name).then(a.value.cmp(&b.value)));
        rules.dedup();
        if existing.iter().any(|c| c.issuer == new.issuer && c.rules == rules) {
            return Err(DomainError::conflict(format!("crate `{canonical}` already trusts exactly this identity")));
        }
        let norm = canonical.normalized();
        let id = hex::encode(rand::random::<[u8; 5]>());
        let record = TrustConfigRecord {
            id: id.clone(),
            crate_name: canonical.as_str().to_owned(),
            issuer: new.issuer.clone(),
            rules,
            created_at: clock::now_string(),
            created_by: actor.to_owned(),
        };
        let mut detail = BTreeMap::new();
        detail.insert("id".to_owned(), id.clone());
        detail.insert("issuer".to_owned(), new.issuer.clone());
        detail.insert("rules".to_owned(), record.rules.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
        let ops = vec![
            TxOp::Check { key: keys::crate_summary(&norm), condition: Condition::Exists },
            TxOp::Put { item: record.item(&norm)?, condition: Some(Condition::NotExists) },
            audit::event(actor, "trust-add", Some(canonical.as_str()), None, detail)?,
        ];
        self.items.transact(ops).await?;
        tracing::info!(krate = %canonical, id = %id, issuer = %new.issuer, by = %actor, "trust configuration added");
        Ok(record.into())
    }

    /// Removes a trust configuration by id.
    pub async fn delete_trust_config(&self, actor: &str, name: &CrateName, id: &str) -> DomainResult<()> {
        let norm = name.normalized();
        let not_found = || {
            DomainError::not_found(format!("crate `{name}` has no trust configuration `{}`", truncate_for_message(id)))
        };
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let key = keys::trust_config(&norm, id);
        let Some(item) = self.items.get(&key).await? else { return Err(not_found()) };
        let record: TrustConfigRecord = item.to_entity()?;
        let mut detail = BTreeMap::new();
        detail.insert("id".to_owned(), id.to_owned());
        detail.insert("issuer".to_owned(), record.issuer);
        let ops = vec![
            TxOp::Delete { key, condition: Some(Condition::Exists) },
            audit::event(actor, "trust-remove", Some(&record.crate_name), None, detail)?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(krate = %record.crate_name, id, by = %actor, "trust configuration removed");
                Ok(())
            }
            Err(e) if e.failed_condition_at(0) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// Exchanges a verified ID token for a short-lived publish/yank token. `claims` must have been
    /// verified by the caller (signature against `issuer`'s keys, `iss`, `aud`, time claims).
    pub async fn exchange_trusted_token(
        &self,
        policy: &TrustPolicy,
        claims: &Map<String, Value>,
    ) -> DomainResult<MintedToken> {
        let refuse = |m: String| DomainError::bad_request(m);
        let issuer = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
        if !policy.issuers.iter().any(|i| i == issuer) {
            return Err(refuse(format!(
                "the issuer `{}` is not allowed for trusted publishing on this registry",
                truncate_for_message(issuer)
            )));
        }
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or_default();
        if jti.is_empty() || jti.len() > 256 {
            return Err(refuse("the ID token has no usable `jti` claim (it is needed to refuse replays)".into()));
        }
        let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
            return Err(refuse("the ID token has no `exp` claim".into()));
        };
        let q = Query::on_index(Index::ByOwner, keys::trust_issuer_pk(issuer));
        let mut matched: Vec<TrustConfigRecord> = Vec::new();
        for item in query_all(self.items.as_ref(), &q).await? {
            let config: TrustConfigRecord = item.to_entity()?;
            if config.issuer == issuer && rules_match(&config.rules, claims) {
                matched.push(config);
            }
        }
        let described = describe_identity(claims);
        if matched.is_empty() {
            tracing::warn!(issuer, identity = %described, "trusted publishing: no configuration matches");
            return Err(refuse(format!(
                "no trusted publishing configuration matches this token ({}); an owner adds one with \
                 `raktar trust add` or in the crate's settings",
                truncate_for_message(&described)
            )));
        }
        let crates: BTreeSet<String> = matched.iter().map(|c| c.crate_name.clone()).collect();
        let crates: Vec<String> = crates.into_iter().collect();
        let identity = ci_identity(issuer, subject);
        let lifetime = policy.token_lifetime_secs.clamp(1, MAX_TOKEN_LIFETIME_SECS);
        let now = clock::unix_now();
        let jti_ttl = exp.max(now).saturating_add(LEEWAY_SECS);
        let mut detail: BTreeMap<String, String> = BTreeMap::new();
        detail.insert("issuer".into(), issuer.to_owned());
        detail.insert("subject".into(), subject.chars().take(300).collect());
        for name in ["repository", "job_workflow_ref", "project_path", "ci_config_ref_uri", "environment", "ref"] {
            if let Some(v) = claim_text(claims, name) {
                detail.insert(name.to_owned(), v.chars().take(300).collect());
            }
        }
        detail.insert("jti".into(), jti.chars().take(100).collect());
        detail.insert("crates".into(), crates.join(", "));
        detail.insert("configs".into(), matched.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", "));
        detail.insert("lifetime_secs".into(), lifetime.to_string());
        let used = UsedJtiRecord { issuer: issuer.to_owned(), used_at: clock::now_string(), ttl: jti_ttl };
        let ops = vec![
            TxOp::Put { item: used.item(jti)?, condition: Some(Condition::NotExists) },
            audit::event(&identity, "trustpub-token-create", crates.first().map(String::as_str), None, detail)?,
        ];
        match self
            .create_unowned_token(&identity, vec![Scope::PublishUpdate, Scope::Yank], crates.clone(), lifetime, ops)
            .await
        {
            Ok(created) => {
                tracing::info!(issuer, identity = %identity, crates = %crates.join(","), lifetime, "trusted publishing token minted");
                Ok(MintedToken { secret: created.secret, record: created.record })
            }
            Err(e) if e.failed_condition_at(0) => {
                tracing::warn!(issuer, identity = %identity, "trusted publishing: replayed ID token refused");
                Err(refuse("this ID token was already exchanged (its `jti` was used); request a new one".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes a trusted-publishing token, given the token itself (effective at once).
    pub async fn revoke_trusted_token(&self, raw: Option<&str>) -> DomainResult<()> {
        let secret = raw.map(str::trim).unwrap_or_default();
        let secret = secret.strip_prefix("Bearer ").unwrap_or(secret).trim();
        if secret.is_empty() {
            return Err(DomainError::unauthenticated("send the trusted-publishing token in the Authorization header"));
        }
        let key = keys::token(&hash_token(secret));
        let Some(item) = self.items.get(&key).await? else {
            return Err(DomainError::unauthenticated("the token is invalid, expired or already revoked"));
        };
        let token: TokenRecord = item.to_entity()?;
        if !is_trusted_identity(&token.login) {
            return Err(DomainError::bad_request(
                "this is not a trusted-publishing token; revoke account tokens with `raktar token revoke` or in the web UI",
            ));
        }
        let mut detail = BTreeMap::new();
        detail.insert("token".to_owned(), token.name.clone());
        let ops = vec![
            TxOp::Delete { key, condition: Some(Condition::Exists) },
            audit::event(
                &token.login,
                "trustpub-token-revoke",
                token.crates.first().map(String::as_str),
                None,
                detail,
            )?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(identity = %token.login, token = %token.name, "trusted publishing token revoked");
                Ok(())
            }
            Err(e) if e.failed_condition_at(0) => {
                Err(DomainError::unauthenticated("the token is invalid, expired or already revoked"))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The identifying claims of a CI token, for messages and logs.
fn describe_identity(claims: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    for name in ["sub", "repository", "job_workflow_ref", "project_path", "ci_config_ref_uri", "environment"] {
        if let Some(v) = claim_text(claims, name) {
            parts.push(format!("{name}={v}"));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rules_parse_and_match() {
        let exact = parse_claim_rule("repository=acme/widgets").unwrap();
        let prefix = parse_claim_rule("job_workflow_ref^=acme/widgets/.github/workflows/release.yml@").unwrap();
        assert!(prefix.prefix && !exact.prefix);
        let claims: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "repository": "acme/widgets",
            "job_workflow_ref": "acme/widgets/.github/workflows/release.yml@refs/tags/v1",
            "run_attempt": 1
        }))
        .unwrap();
        assert!(rules_match(&[exact.clone(), prefix.clone()], &claims));
        let other = parse_claim_rule("repository=acme/other").unwrap();
        assert!(!rules_match(&[other, prefix], &claims));
        assert!(rules_match(&[parse_claim_rule("run_attempt=1").unwrap()], &claims));
        assert!(!rules_match(&[], &claims), "no rules never match");
        assert!(parse_claim_rule("iss=x").is_err());
        assert!(parse_claim_rule("novalue").is_err());
        assert!(parse_claim_rule("a=").is_err());
    }

    #[test]
    fn presets_build_the_ci_claims() {
        let gh = github_rules("acme/widgets", Some("release.yml"), Some("release")).unwrap();
        assert_eq!(gh[1].value, "acme/widgets/.github/workflows/release.yml@");
        assert!(github_rules("acme", None, None).is_err());
        let gl = gitlab_rules("https://gitlab.example", "group/sub/proj", Some(".gitlab-ci.yml"), None).unwrap();
        assert_eq!(gl[1].value, "gitlab.example/group/sub/proj//.gitlab-ci.yml@");
    }

    #[test]
    fn a_trusted_publisher_counts_as_owner_only_to_publish_and_yank_its_crates() {
        use crate::domain::{CrateName, Scope};
        let now = clock::now_string();
        let token = TokenRecord {
            login: ci_identity("https://ci.example", "repo:acme/widgets"),
            name: "trusted-publishing-x".into(),
            scopes: vec![Scope::PublishUpdate, Scope::Yank],
            crates: vec!["acme-widgets".into()],
            created_at: now,
            expires_at: None,
            expires_unix: None,
            last_used_at: None,
            last_used_unix: None,
            hint: "rkt_abcd".into(),
            account: None,
        };
        let principal = Principal::new(token_user(&token).unwrap(), Some(token));
        assert!(principal.is_trusted_publisher() && !principal.is_unrestricted() && !principal.acts_as_admin());
        let widgets = CrateName::parse("acme-widgets").unwrap();
        let other = CrateName::parse("acme-other").unwrap();
        let owners = vec!["alice".to_owned()];
        for scope in [Scope::PublishUpdate, Scope::Yank] {
            assert!(AuthCheck::scope(scope).for_crate(&widgets).owners(&owners).check(&principal).is_ok());
            assert!(AuthCheck::scope(scope).for_crate(&other).owners(&owners).check(&principal).is_err());
        }
        for scope in [Scope::Read, Scope::ChangeOwners, Scope::PublishNew] {
            assert!(
                AuthCheck::scope(scope).for_crate(&widgets).owners(&owners).check(&principal).is_err(),
                "{scope} must not pass the owner check"
            );
        }
        assert!(AuthCheck::scope(Scope::Read).admin_only().check(&principal).is_err());
        assert!(AuthCheck::scope(Scope::Read).unrestricted_token().check(&principal).is_err());
    }

    #[test]
    fn identities_are_never_logins() {
        let id = ci_identity("https://token.actions.githubusercontent.com", "repo:acme/widgets:environment:release");
        assert!(is_trusted_identity(&id));
        assert!(crate::domain::Login::parse(&id).is_err());
    }

    /// Service-level: the exchange over the in-memory stores (no HTTP, no signature: the edge
    /// verifies those; here the claims are taken as verified).
    mod service {
        use super::*;
        use crate::testkit::app::TestRegistry;
        use crate::testkit::fixtures::PublishRequest;

        const ISSUER: &str = "https://ci.example";

        fn claims(overrides: Value) -> Map<String, Value> {
            let now = clock::unix_now();
            let mut c = serde_json::json!({
                "iss": ISSUER, "aud": "registry", "sub": "repo:acme/widgets:environment:release",
                "repository": "acme/widgets", "environment": "release",
                "jti": format!("j-{}", rand::random::<u64>()), "iat": now, "exp": now + 300,
            });
            for (k, v) in overrides.as_object().unwrap() {
                c[k] = v.clone();
            }
            serde_json::from_value(c).unwrap()
        }

        fn policy() -> TrustPolicy {
            TrustPolicy { issuers: vec![ISSUER.into()], token_lifetime_secs: 3600 }
        }

        async fn app_with_trust() -> TestRegistry {
            let mut app = TestRegistry::new().with_user("alice").await;
            let alice = app.token("alice", &[], &[]).await;
            for name in ["widgets", "gadgets"] {
                app.publish(&alice, PublishRequest::new(name, "1.0.0").body()).await.unwrap();
            }
            let rules = vec![
                parse_claim_rule("repository=acme/widgets").unwrap(),
                parse_claim_rule("environment=release").unwrap(),
            ];
            let name = CrateName::parse("widgets").unwrap();
            app.registry
                .add_trust_config(Some(&alice), &name, NewTrustConfig { issuer: ISSUER.into(), rules })
                .await
                .unwrap();
            app
        }

        #[tokio::test]
        async fn refused_exchanges_change_nothing_and_a_minted_token_is_limited() {
            let app = app_with_trust().await;
            let before = app.snapshot();
            for bad in [
                serde_json::json!({ "repository": "acme/other" }),
                serde_json::json!({ "environment": "staging" }),
                serde_json::json!({ "iss": "https://other.example" }),
                serde_json::json!({ "jti": "" }),
            ] {
                assert!(app.registry.exchange_trusted_token(&policy(), &claims(bad.clone())).await.is_err(), "{bad}");
                assert_eq!(app.snapshot(), before, "a refused exchange changes nothing ({bad})");
            }
            let c = claims(serde_json::json!({}));
            let minted = app.registry.exchange_trusted_token(&policy(), &c).await.unwrap();
            // The lifetime is clamped to 30 minutes whatever the policy says.
            let exp = minted.record.expires_unix.unwrap();
            assert!(exp <= clock::unix_now() + MAX_TOKEN_LIFETIME_SECS);
            assert_eq!(minted.record.crates, ["widgets"]);
            assert_eq!(minted.record.scopes, [Scope::PublishUpdate, Scope::Yank]);
            // Replay refused, and it changes nothing.
            let after_mint = app.snapshot();
            let replay = app.registry.exchange_trusted_token(&policy(), &c).await.unwrap_err();
            assert!(replay.to_string().contains("already exchanged"), "{replay}");
            assert_eq!(app.snapshot(), after_mint);
            // The token publishes updates of `widgets` only.
            let principal = app.registry.authenticate(Some(&minted.secret)).await.unwrap().unwrap();
            assert!(principal.is_trusted_publisher());
            app.publish(&principal, PublishRequest::new("widgets", "1.1.0").body()).await.unwrap();
            assert!(app.publish(&principal, PublishRequest::new("gadgets", "1.1.0").body()).await.is_err());
            assert!(app.publish(&principal, PublishRequest::new("brand-new", "0.1.0").body()).await.is_err());
            let name = CrateName::parse("widgets").unwrap();
            assert!(app.registry.trust_configs(Some(&principal), &name).await.is_err());
            assert!(app.registry.change_owners(&principal, &name, &["alice".into()], true).await.is_err());
            // Revoked: gone at once.
            app.registry.revoke_trusted_token(Some(&minted.secret)).await.unwrap();
            assert!(app.registry.authenticate(Some(&minted.secret)).await.is_err());
        }

        #[tokio::test]
        async fn only_owners_and_admins_manage_trust() {
            let mut app = app_with_trust().await.with_user("bob").await.with_admin("root").await;
            let bob = app.token("bob", &[], &[]).await;
            let root = app.token("root", &[], &[]).await;
            let alice_read = app.token("alice", &[Scope::Read], &[]).await;
            let name = CrateName::parse("widgets").unwrap();
            let new =
                || NewTrustConfig { issuer: ISSUER.into(), rules: vec![parse_claim_rule("repository=a/b").unwrap()] };
            let before = app.snapshot();
            assert!(app.registry.add_trust_config(Some(&bob), &name, new()).await.is_err());
            assert!(app.registry.add_trust_config(Some(&alice_read), &name, new()).await.is_err());
            assert!(app.registry.add_trust_config(None, &name, new()).await.is_err());
            assert!(app.registry.trust_configs(Some(&bob), &name).await.is_err());
            assert_eq!(app.snapshot(), before);
            let added = app.registry.add_trust_config(Some(&root), &name, new()).await.unwrap();
            assert_eq!(added.created_by, "root");
            assert!(app.registry.add_trust_config(Some(&root), &name, new()).await.is_err(), "duplicate");
            assert!(app.registry.remove_trust_config(Some(&bob), &name, &added.id).await.is_err());
            app.registry.remove_trust_config(Some(&root), &name, &added.id).await.unwrap();
            assert_eq!(app.registry.list_trust_configs(&name).await.unwrap().len(), 1);
        }
    }
}
