//! The caller's own account: managing one's tokens through the API (GraphQL).
//!
//! Rule against privilege escalation: a web session may create any token for its user; a caller
//! authenticated by a token may only create tokens that can do no more than the calling token
//! (a subset of its scopes, crate patterns inside its patterns, an expiry no later than its own).
//! Otherwise a leaked read-only or single-crate token could mint an unrestricted one.

use crate::domain::{CratePattern, DomainError, DomainResult, Login, Scope};
use crate::model::TokenRecord;

use super::auth::{Principal, require};
use super::tokens::{CreatedToken, NewToken, TokenView};
use super::{Registry, clock};

fn normalize_pattern(p: &str) -> String {
    p.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }).collect()
}

/// Whether every crate name `inner` matches is also matched by `outer`.
fn pattern_covers(outer: &CratePattern, inner: &CratePattern) -> bool {
    let (o, i) = (normalize_pattern(outer.as_str()), normalize_pattern(inner.as_str()));
    match (o.strip_suffix('*'), i.strip_suffix('*')) {
        // `*` (empty prefix) covers everything; `acme_*` covers `acme_x*` and `acme_core`.
        (Some(op), Some(ip)) => ip.starts_with(op),
        (Some(op), None) => i.starts_with(op),
        (None, Some(_)) => false,
        (None, None) => o == i,
    }
}

/// Refuses a new token that could do more than the calling token.
fn check_no_escalation(caller: &TokenRecord, new: &NewToken) -> DomainResult<()> {
    let via = format!("this token (`{}`)", caller.name);
    // An empty scope list means every scope.
    let wanted: Vec<Scope> = if new.scopes.is_empty() { Scope::ALL.to_vec() } else { new.scopes.clone() };
    if let Some(missing) = wanted.iter().find(|s| **s != Scope::Read && !caller.scopes.contains(s)) {
        return Err(DomainError::forbidden(format!(
            "{via} lacks the `{missing}` scope and cannot create a token with it; a token may only create tokens \
             with its own scopes or fewer (or use a web session)"
        )));
    }
    if !caller.crates.is_empty() {
        let outer: Vec<CratePattern> =
            caller.crates.iter().filter_map(|p| CratePattern::parse(p).ok()).collect::<Vec<_>>();
        if new.crates.is_empty() {
            return Err(DomainError::forbidden(format!(
                "{via} is limited to crates matching {}; the new token must be limited to crates inside those patterns",
                caller.crates.join(", ")
            )));
        }
        if let Some(p) = new.crates.iter().find(|p| !outer.iter().any(|o| pattern_covers(o, p))) {
            return Err(DomainError::forbidden(format!(
                "{via} is limited to crates matching {}; the pattern `{}` reaches beyond them",
                caller.crates.join(", "),
                p.as_str()
            )));
        }
    }
    if let Some(caller_exp) = caller.expires_unix {
        let new_exp = new.expires_in_secs.map(|s| clock::unix_now().saturating_add(s));
        if new_exp.is_none_or(|e| e > caller_exp) {
            return Err(DomainError::forbidden(format!(
                "{via} expires at {}; the new token must expire no later",
                caller.expires_at.as_deref().unwrap_or("a set time")
            )));
        }
    }
    Ok(())
}

impl Registry {
    /// Creates a token for the caller's own account (secret returned once).
    ///
    /// Through the API (GraphQL, the web pages) a token names its scopes: at least one (the
    /// command line's `raktar token create` without `--scope` makes an unrestricted token).
    pub async fn create_own_token(&self, principal: Option<&Principal>, new: NewToken) -> DomainResult<CreatedToken> {
        if new.scopes.is_empty() {
            return Err(DomainError::bad_request("give at least one scope"));
        }
        let principal = require(principal)?;
        if let Some(caller) = &principal.token {
            check_no_escalation(caller, &new)?;
        }
        let login = Login::parse(principal.login())?;
        self.create_token(principal.login(), &login, new).await
    }

    /// Revokes one of the caller's own tokens by name (effective at once). A token may revoke
    /// itself and tokens no more powerful than itself (a leaked read-only token cannot revoke the
    /// owner's publish tokens); a web session may revoke any of its user's tokens.
    pub async fn revoke_own_token(&self, principal: Option<&Principal>, name: &str) -> DomainResult<()> {
        let principal = require(principal)?;
        let login = Login::parse(principal.login())?;
        if let Some(caller) = &principal.token
            && caller.name != name
        {
            let tokens = self.list_tokens(&login).await?;
            let Some(target) = tokens.iter().find(|t| t.name == name) else {
                return Err(DomainError::not_found(format!("user `{login}` has no token named `{name}`")));
            };
            let as_new = NewToken {
                name: target.name.clone(),
                scopes: target.scopes.clone(),
                crates: target.crates.iter().filter_map(|p| CratePattern::parse(p).ok()).collect(),
                expires_in_secs: target
                    .expires_at
                    .as_deref()
                    .and_then(clock::parse)
                    .map(|t| (t.unix_timestamp() - clock::unix_now()).max(0)),
            };
            check_no_escalation(caller, &as_new).map_err(|_| {
                DomainError::forbidden(format!(
                    "this token (`{}`) may not revoke the more powerful token `{name}`; use that token itself or a web session",
                    caller.name
                ))
            })?;
        }
        self.revoke_token(principal.login(), &login, name).await
    }

    /// The caller's own tokens (never the secrets).
    pub async fn own_tokens(&self, principal: Option<&Principal>) -> DomainResult<Vec<TokenView>> {
        let principal = require(principal)?;
        let login = Login::parse(principal.login())?;
        self.list_tokens(&login).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn token(scopes: &[Scope], crates: &[&str], expires_unix: Option<i64>) -> TokenRecord {
        TokenRecord {
            login: "alice".into(),
            name: "ci".into(),
            scopes: scopes.to_vec(),
            crates: crates.iter().map(|c| (*c).to_owned()).collect(),
            created_at: clock::now_string(),
            expires_at: expires_unix.map(|_| "2030-01-01T00:00:00Z".into()),
            expires_unix,
            last_used_at: None,
            last_used_unix: None,
            hint: "rkt_abcd".into(),
            account: None,
        }
    }

    fn new(scopes: &[Scope], crates: &[&str], secs: Option<i64>) -> NewToken {
        NewToken {
            name: "child".into(),
            scopes: scopes.to_vec(),
            crates: crates.iter().map(|c| CratePattern::parse(c).unwrap()).collect(),
            expires_in_secs: secs,
        }
    }

    #[test]
    fn patterns_cover() {
        let p = |s| CratePattern::parse(s).unwrap();
        assert!(pattern_covers(&p("*"), &p("anything*")));
        assert!(pattern_covers(&p("acme-*"), &p("acme_core")));
        assert!(pattern_covers(&p("acme-*"), &p("Acme-Core-*")));
        assert!(!pattern_covers(&p("acme-*"), &p("ac*")));
        assert!(!pattern_covers(&p("acme-core"), &p("acme-*")));
        assert!(pattern_covers(&p("acme-core"), &p("Acme_Core")));
        assert!(!pattern_covers(&p("acme-core"), &p("acme-core2")));
    }

    #[test]
    fn tokens_cannot_mint_stronger_tokens() {
        let read_only = token(&[Scope::Read], &[], None);
        assert!(check_no_escalation(&read_only, &new(&[Scope::Read], &[], None)).is_ok());
        assert!(check_no_escalation(&read_only, &new(&[Scope::Yank], &[], None)).is_err());
        assert!(check_no_escalation(&read_only, &new(&[], &[], None)).is_err(), "empty scopes mean all scopes");

        let acme = token(&Scope::ALL, &["acme-*"], None);
        assert!(check_no_escalation(&acme, &new(&[Scope::Yank], &["acme-core"], None)).is_ok());
        assert!(check_no_escalation(&acme, &new(&[Scope::Yank], &[], None)).is_err());
        assert!(check_no_escalation(&acme, &new(&[Scope::Yank], &["other"], None)).is_err());

        let soon = token(&Scope::ALL, &[], Some(clock::unix_now() + 3600));
        assert!(check_no_escalation(&soon, &new(&[Scope::Read], &[], Some(60))).is_ok());
        assert!(check_no_escalation(&soon, &new(&[Scope::Read], &[], Some(7200))).is_err());
        assert!(check_no_escalation(&soon, &new(&[Scope::Read], &[], None)).is_err());

        let full = token(&Scope::ALL, &[], None);
        assert!(check_no_escalation(&full, &new(&[], &[], None)).is_ok());
    }
}
