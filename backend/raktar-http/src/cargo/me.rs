//! `GET /me`: where cargo sends users for a token.

use axum::extract::State;
use axum::response::Html;

use crate::AppState;

/// Explains how to obtain a token and configure cargo (until the web UI takes over this page).
pub async fn page(State(state): State<AppState>) -> Html<String> {
    let base = escape(&state.public_url);
    let private = state.registry.config().auth_required;
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Raktar: get a cargo token</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}pre{{background:#f4f4f4;padding:.75rem;overflow:auto}}</style>
</head><body>
<h1>Get a cargo token for this registry</h1>
<p>Tokens are issued by a Raktar administrator. Ask one to run:</p>
<pre>raktar token create --user YOUR_LOGIN --name laptop</pre>
<p>The token is printed once. Then configure cargo in <code>~/.cargo/config.toml</code>:</p>
<pre>[registries.raktar]
index = "sparse+{base}/index/"

[registry]
global-credential-providers = ["cargo:token"]</pre>
<p>and log in (cargo asks for the token):</p>
<pre>cargo login --registry raktar</pre>
<p>{note}</p>
</body></html>"#,
        note = if private {
            "This registry is private: every request, including reading the index, needs the token. \
             The <code>cargo:token</code> credential provider line is required for that."
        } else {
            "Reading this registry needs no token; publishing, yanking and owner changes do."
        }
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
