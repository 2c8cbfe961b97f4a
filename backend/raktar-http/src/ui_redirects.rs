//! With the web UI served (`--ui-dir`), the server-rendered pages lead to the app: `GET /login`
//! to `/signin` (keeping `next`) and `GET /me` to `/tokens`. Without a UI (an API-only server,
//! the Lambda) they stay as they are.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Where a server-rendered page goes in the app, if it has an app page.
fn app_page(path: &str, query: Option<&str>) -> Option<String> {
    match path {
        "/login" => Some(match query.filter(|q| !q.is_empty()) {
            Some(q) => format!("/signin?{q}"),
            None => "/signin".to_owned(),
        }),
        "/me" => Some("/tokens".to_owned()),
        _ => None,
    }
}

/// The middleware: a `303 See Other` to the app's page for `GET /login` and `GET /me` when the UI
/// is served.
pub async fn redirect_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.ui_dir.is_some() && request.method() == Method::GET {
        let uri = request.uri();
        if let Some(target) = app_page(uri.path(), uri.query()) {
            let base = crate::graphql::base_path(&state.public_url);
            if let Ok(location) = HeaderValue::from_str(&format!("{base}{target}")) {
                return (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_map_to_the_app() {
        assert_eq!(app_page("/login", Some("next=%2Fcrates%2Fx")).as_deref(), Some("/signin?next=%2Fcrates%2Fx"));
        assert_eq!(app_page("/login", None).as_deref(), Some("/signin"));
        assert_eq!(app_page("/me", None).as_deref(), Some("/tokens"));
        assert_eq!(app_page("/me/tokens", None), None);
        assert_eq!(app_page("/", None), None);
    }
}
