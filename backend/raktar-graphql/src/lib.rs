//! Raktar GraphQL API v1: the versioned contract used by the web UI and API consumers.
//!
//! Resolvers are thin: they parse arguments into domain types, call the domain services of
//! [`raktar_core::Registry`] (which decide every authorization) and map the results. The exported
//! SDL ([`sdl`]) is committed at `schema/raktar.v1.graphql`; a test fails when they differ.
//!
//! The transport (HTTP) builds the schema once with [`build_schema`] and runs each request with
//! [`RaktarSchema::execute`], which puts the caller into the request data.

pub mod api;
mod context;
pub mod error;
pub mod loaders;
pub mod types;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Request, Response, SDLExportOptions, Schema};
use raktar_core::Registry;
use raktar_core::services::Principal;

pub use error::codes;
pub use loaders::Caller;

type Inner = Schema<api::Query, api::Mutation, EmptySubscription>;

/// The v1 schema over one registry. Cheap to clone (shared).
#[derive(Clone)]
pub struct RaktarSchema {
    schema: Inner,
    registry: Arc<Registry>,
}

impl RaktarSchema {
    /// Executes one request for a caller (`None`: anonymous): the caller and fresh per-request
    /// loaders go into the request data, and every error of the response carries a code.
    pub async fn execute(&self, request: Request, caller: Option<Principal>) -> Response {
        let loaders = loaders::new_loaders(self.registry.clone(), caller.clone());
        let mut response = self.schema.execute(request.data(Caller(caller)).data(loaders)).await;
        error::fill_codes(&mut response);
        response
    }

    /// The SDL this schema serves (see [`sdl`]).
    pub fn sdl(&self) -> String {
        self.schema.sdl_with_options(sdl_options())
    }
}

/// The version of the contract this crate serves (the `schema/raktar.v{N}.graphql` file).
pub const CONTRACT_VERSION: u32 = 1;

/// Limits and switches of the schema.
#[derive(Debug, Clone)]
pub struct GraphqlOptions {
    /// Deepest selection nesting a query may have.
    pub max_depth: usize,
    /// Highest complexity a query may have (each field costs 1; paged fields multiply the cost of
    /// one item by `first`): a page of 100 items with about 20 fields fits, a page inside a
    /// page does not.
    pub max_complexity: usize,
    /// Whether introspection queries are answered (GraphiQL and code generators need it).
    pub introspection: bool,
}

impl Default for GraphqlOptions {
    fn default() -> Self {
        Self { max_depth: 12, max_complexity: 2500, introspection: true }
    }
}

/// Builds the schema over a registry.
pub fn build_schema(registry: Arc<Registry>, opts: GraphqlOptions) -> RaktarSchema {
    let mut builder = Schema::build(api::Query::default(), api::Mutation::default(), EmptySubscription)
        .data(registry.clone())
        .limit_depth(opts.max_depth)
        .limit_complexity(opts.max_complexity);
    if !opts.introspection {
        builder = builder.disable_introspection();
    }
    RaktarSchema { schema: builder.finish(), registry }
}

fn sdl_options() -> SDLExportOptions {
    SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items()
}

/// The SDL of the contract, in a stable order (fields, arguments and enum values sorted).
pub fn sdl() -> String {
    Schema::build(api::Query::default(), api::Mutation::default(), EmptySubscription)
        .finish()
        .sdl_with_options(sdl_options())
}
