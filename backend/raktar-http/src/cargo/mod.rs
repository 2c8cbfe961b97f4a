//! The Cargo registry protocol: sparse index and the `/api/v1` web API, a thin shim over the
//! domain services.

mod api;
mod index;
mod upstream;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::{AppState, trustpub};

pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/index/config.json", get(index::config))
        .route("/index/{*path}", get(index::file))
        .route("/api/v1/crates/new", put(api::publish))
        .route("/api/v1/crates", get(api::search))
        .route("/api/v1/crates/{name}/{version}/yank", delete(api::yank))
        .route("/api/v1/crates/{name}/{version}/unyank", put(api::unyank))
        .route("/api/v1/crates/{name}/owners", get(api::list_owners).put(api::add_owners).delete(api::remove_owners))
        .route("/api/v1/crates/{name}/{version}/download", get(api::download))
        .route("/api/v1/dl/{name}/{version}/{cksum}", get(api::download_by_checksum))
        .route("/upstream/index/config.json", get(upstream::config))
        .route("/upstream/index/{*path}", get(upstream::file))
        .route("/upstream/crates/{name}/{version}/download", get(upstream::download))
        .route("/api/v1/trusted_publishing/tokens", post(trustpub::exchange).delete(trustpub::revoke))
        .route("/health", get(|| async { "ok" }))
}
