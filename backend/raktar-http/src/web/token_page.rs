//! The server-rendered token page: `GET /me`, `POST /me/tokens` (the secret shown once) and
//! `POST /me/tokens/revoke`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use raktar_core::domain::{CratePattern, DomainError, Scope};
use raktar_core::services::Principal;
use raktar_core::services::sessions::csrf_token_for;
use raktar_core::services::tokens::{NewToken, TokenView};

use super::helpers::{FormData, describe, esc, message_page, page, redirect_to, see_other, session_of};
use crate::AppState;
use crate::auth::{Auth, CSRF_FIELD};

/// Token lifetimes offered by the form (days); `never` is offered too.
pub(super) const EXPIRY_CHOICES: [(&str, &str); 5] =
    [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "never")];

pub(super) fn cargo_config_snippet(state: &AppState) -> String {
    format!(
        "[registries.raktar]\nindex = \"sparse+{}/index/\"\n\n[registry]\nglobal-credential-providers = [\"cargo:token\"]",
        state.public_url
    )
}

pub(super) fn token_rows(tokens: &[TokenView], base: &str, csrf: &str) -> String {
    if tokens.is_empty() {
        return "<p>You have no tokens yet.</p>".to_owned();
    }
    let mut rows = String::from(
        "<table><thead><tr><th>Name</th><th>Prefix</th><th>Scopes</th><th>Crates</th><th>Created</th>\
         <th>Expires</th><th>Last used</th><th></th></tr></thead><tbody>",
    );
    for t in tokens {
        let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        let crates = if t.crates.is_empty() { "all".to_owned() } else { t.crates.join(", ") };
        let expires = match (&t.expires_at, t.expired) {
            (Some(e), true) => format!("{e} (expired)"),
            (Some(e), false) => e.clone(),
            (None, _) => "never".to_owned(),
        };
        rows.push_str(&format!(
            "<tr><td>{name}</td><td><code>{hint}…</code></td><td>{scopes}</td><td>{crates}</td><td>{created}</td>\
             <td>{expires}</td><td>{used}</td><td><form class=\"inline\" method=\"post\" action=\"{base}/me/tokens/revoke\">\
             <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{csrf}\"><input type=\"hidden\" name=\"name\" value=\"{name}\">\
             <button type=\"submit\">Revoke</button></form></td></tr>",
            name = esc(&t.name),
            hint = esc(&t.hint),
            scopes = esc(&scopes),
            crates = esc(&crates),
            created = esc(&t.created_at),
            expires = esc(&expires),
            used = esc(t.last_used_at.as_deref().unwrap_or("never")),
        ));
    }
    rows.push_str("</tbody></table>");
    rows
}

/// The token page of a signed-in user, optionally with an error above the form.
pub(super) async fn render_token_page(
    state: &AppState,
    principal: &Principal,
    secret: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let tokens = match state.registry.own_tokens(Some(principal)).await {
        Ok(t) => t,
        Err(e) => {
            let (status, message) = describe(&e);
            return message_page(state, status, "Tokens", &message);
        }
    };
    let base = esc(&state.public_url);
    let csrf = esc(&csrf_token_for(secret));
    let user = &principal.user;
    let who = match &user.name {
        Some(n) => format!("{} ({})", esc(n), esc(&user.login)),
        None => esc(&user.login),
    };
    let scopes = Scope::ALL
        .iter()
        .map(|s| {
            format!(
                "<label><input type=\"checkbox\" name=\"scope\" value=\"{0}\" checked> <code>{0}</code></label>",
                s.as_str()
            )
        })
        .collect::<String>();
    let expiry = EXPIRY_CHOICES
        .iter()
        .map(|(v, label)| {
            let selected = if *v == "90" { " selected" } else { "" };
            format!("<option value=\"{v}\"{selected}>{label}</option>")
        })
        .collect::<String>();
    let error = error.map(|e| format!("<p class=\"error\">{}</p>", esc(e))).unwrap_or_default();
    let body = format!(
        r#"<header><h1>Cargo tokens</h1>
<form class="inline" method="post" action="{base}/logout"><input type="hidden" name="{CSRF_FIELD}" value="{csrf}">
<span>Signed in as {who} </span><button type="submit">Sign out</button></form></header>
{error}
<h2>Your tokens</h2>
{rows}
<h2>Create a token</h2>
<form method="post" action="{base}/me/tokens">
<input type="hidden" name="{CSRF_FIELD}" value="{csrf}">
<label for="name">Name (e.g. <code>laptop</code>, <code>ci-publish</code>)</label>
<input type="text" id="name" name="name" maxlength="64" required>
<fieldset><legend>Scopes</legend>{scopes}</fieldset>
<label for="crates">Limit to crates (optional; comma-separated names or prefixes ending in <code>*</code>)</label>
<input type="text" id="crates" name="crates" placeholder="acme-*, my-crate">
<label for="expires">Expires after</label><select id="expires" name="expires">{expiry}</select>
<p><button type="submit">Create token</button></p>
</form>
<h2>Configure cargo</h2>
<p>In <code>~/.cargo/config.toml</code>:</p>
<pre>{snippet}</pre>
<p>then <code>cargo login --registry raktar</code> and paste the token.</p>"#,
        rows = token_rows(&tokens, &base, &csrf),
        snippet = esc(&cargo_config_snippet(state)),
    );
    page(status, "Cargo tokens", &body)
}

pub(super) async fn me_page(State(state): State<AppState>, auth: Auth, headers: HeaderMap) -> Response {
    if let Some(url) = &state.web.token_page_url {
        return if url.starts_with('/') { see_other(&state, url) } else { redirect_to(url) };
    }
    match session_of(&auth, &headers, &state) {
        Some((principal, secret)) => render_token_page(&state, principal, secret, StatusCode::OK, None).await,
        None => see_other(&state, "/login?next=/me"),
    }
}

/// Parses the token form into a new token.
pub(super) fn parse_token_form(form: &FormData) -> Result<NewToken, DomainError> {
    let name = form.get("name").unwrap_or_default().trim().to_owned();
    // No scope at all is refused by the service (`create_own_token`), the one place of that rule.
    let scopes = form.all("scope").into_iter().map(str::parse::<Scope>).collect::<Result<Vec<_>, _>>()?;
    let crates = form
        .get("crates")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(CratePattern::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let expires_in_secs = match form.get("expires").unwrap_or("never") {
        "never" => None,
        days => {
            let days: i64 = days.parse().map_err(|_| DomainError::bad_request("choose an expiry from the list"))?;
            if !(1..=3650).contains(&days) {
                return Err(DomainError::bad_request("tokens expire after 1 to 3650 days, or never"));
            }
            Some(days * 86_400)
        }
    };
    Ok(NewToken { name, scopes, crates, expires_in_secs })
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((principal, secret)) = session_of(&auth, &headers, &state) else {
        return see_other(&state, "/login?next=/me");
    };
    let form = FormData::parse(&body);
    let created = match parse_token_form(&form) {
        Ok(new) => state.registry.create_own_token(Some(principal), new).await,
        Err(e) => Err(e),
    };
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            let (status, message) = describe(&e);
            return render_token_page(&state, principal, secret, status, Some(&message)).await;
        }
    };
    let base = esc(&state.public_url);
    let body = format!(
        r#"<h1>Token created</h1>
<p>This is the token <strong>{name}</strong>. It is shown <strong>only once</strong>: copy it now.</p>
<pre class="secret">{token}</pre>
<p>Add the registry to <code>~/.cargo/config.toml</code>:</p>
<pre>{snippet}</pre>
<p>Then log in (cargo reads the token from standard input):</p>
<pre>cargo login --registry raktar</pre>
<p>or, in CI, set <code>CARGO_REGISTRIES_RAKTAR_TOKEN</code> to the token.</p>
<p><a href="{base}/me">Back to your tokens</a></p>"#,
        name = esc(&created.record.name),
        token = esc(&created.secret),
        snippet = esc(&cargo_config_snippet(&state)),
    );
    page(StatusCode::CREATED, "Token created", &body)
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((principal, secret)) = session_of(&auth, &headers, &state) else {
        return see_other(&state, "/login?next=/me");
    };
    let form = FormData::parse(&body);
    let name = form.get("name").unwrap_or_default();
    match state.registry.revoke_own_token(Some(principal), name).await {
        Ok(()) => see_other(&state, "/me"),
        Err(e) => {
            let (status, message) = describe(&e);
            render_token_page(&state, principal, secret, status, Some(&message)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_form() {
        let f = FormData::parse(b"name=laptop&scope=read&scope=yank&crates=acme-*%2C+tool&expires=30");
        let t = parse_token_form(&f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.name, "laptop");
        assert_eq!(t.scopes, vec![Scope::Read, Scope::Yank]);
        assert_eq!(t.crates.iter().map(|c| c.as_str()).collect::<Vec<_>>(), ["acme-*", "tool"]);
        assert_eq!(t.expires_in_secs, Some(30 * 86_400));
        let none = parse_token_form(&FormData::parse(b"name=x&expires=never")).unwrap_or_else(|e| panic!("{e}"));
        assert!(none.scopes.is_empty(), "no scope: parsed as given, refused by the service");
        assert!(parse_token_form(&FormData::parse(b"name=x&scope=root")).is_err());
        assert!(parse_token_form(&FormData::parse(b"name=x&scope=read&expires=0")).is_err());
        let never = parse_token_form(&FormData::parse(b"name=x&scope=read&expires=never"));
        assert_eq!(never.map(|t| t.expires_in_secs).ok(), Some(None));
    }
}
