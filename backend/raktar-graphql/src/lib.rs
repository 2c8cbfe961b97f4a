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
pub mod limits;
pub mod loaders;
pub mod site;
pub mod types;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Request, Response, SDLExportOptions, Schema};
use raktar_core::Registry;
use raktar_core::domain::DomainError;
use raktar_core::services::Principal;

use crate::error::{request_error, response_too_large_error};
use crate::limits::{ResponseBudget, ShapeError};

pub use error::codes;
pub use loaders::Caller;
pub use site::{SessionSecret, SiteInfo};

type Inner = Schema<api::Query, api::Mutation, EmptySubscription>;

/// The v1 schema over one registry. Cheap to clone (shared).
#[derive(Clone)]
pub struct RaktarSchema {
    schema: Inner,
    registry: Arc<Registry>,
    opts: Arc<GraphqlOptions>,
    site: Arc<SiteInfo>,
}

impl RaktarSchema {
    /// Executes one request for a caller (`None`: anonymous): the caller, fresh per-request
    /// loaders and the response budget go into the request data, and every error of the response
    /// carries a code.
    ///
    /// Before async-graphql validates the query (depth, complexity), the document's shape is
    /// checked here: fields in total and at the root ([`GraphqlOptions::max_fields`],
    /// [`GraphqlOptions::max_root_fields`]), and introspection, which a private registry answers
    /// to authenticated callers only. An answer whose large fields went over
    /// [`GraphqlOptions::max_response_bytes`] is replaced by one `RESPONSE_TOO_LARGE` error.
    pub async fn execute(&self, request: Request, caller: Option<Principal>) -> Response {
        self.execute_for(request, caller, None).await
    }

    /// [`Self::execute`] for a caller signed in through a web session whose secret (the cookie
    /// value) is `session`: the session fields (`mySessions`, `changePassword`) tell the current
    /// session from the others by it.
    pub async fn execute_for(
        &self,
        mut request: Request,
        caller: Option<Principal>,
        session: Option<SessionSecret>,
    ) -> Response {
        if let Err(e) = self.check_document(&mut request, caller.as_ref()) {
            let mut response = Response::from_errors(vec![e]);
            error::fill_codes(&mut response);
            return response;
        }
        let loaders = loaders::new_loaders(self.registry.clone(), caller.clone());
        let budget = Arc::new(ResponseBudget::new(self.opts.max_response_bytes));
        let request = request
            .data(Caller(caller))
            .data(loaders)
            .data(budget.clone())
            .data(self.site.clone())
            .data(session.unwrap_or_default());
        let mut response = self.schema.execute(request).await;
        if budget.exceeded() {
            tracing::warn!(limit = budget.limit(), "GraphQL response over the byte budget refused");
            response = Response::from_errors(vec![response_too_large_error(budget.limit())]);
        }
        error::fill_codes(&mut response);
        response
    }

    /// Parses the query (async-graphql reuses the parsed document) and checks its shape.
    fn check_document(
        &self,
        request: &mut Request,
        caller: Option<&Principal>,
    ) -> Result<(), async_graphql::ServerError> {
        let doc = request.parsed_query()?;
        let shape = limits::shape(doc)
            .map_err(|ShapeError::TooDeep| request_error(&DomainError::bad_request("the query is nested too deep")))?;
        if shape.root_fields > self.opts.max_root_fields {
            return Err(request_error(&DomainError::bad_request(format!(
                "the query selects {} root fields (aliases included); at most {} are allowed",
                shape.root_fields, self.opts.max_root_fields
            ))));
        }
        if shape.fields > self.opts.max_fields {
            return Err(request_error(&DomainError::bad_request(format!(
                "the query selects {} fields (aliases and fragment spreads included); at most {} are allowed",
                shape.fields, self.opts.max_fields
            ))));
        }
        if shape.introspection && caller.is_none() {
            // A private registry answers introspection like every other read: callers only.
            self.registry.check_read(None).map_err(|e| request_error(&e))?;
        }
        Ok(())
    }

    /// The same schema describing this site ([`SiteInfo`]: names, URLs, sign-in methods).
    pub fn with_site(mut self, site: SiteInfo) -> Self {
        self.site = Arc::new(site);
        self
    }

    /// The SDL this schema serves (see [`sdl`]).
    pub fn sdl(&self) -> String {
        self.schema.sdl_with_options(sdl_options())
    }

    /// The largest serialized response the transport should send ([`GraphqlOptions::max_response_bytes`]).
    pub fn max_response_bytes(&self) -> usize {
        self.opts.max_response_bytes
    }
}

/// The version of the contract this crate serves (the `schema/raktar.v{N}.graphql` file).
pub const CONTRACT_VERSION: u32 = 1;

/// Limits and switches of the schema. The defaults fit the web UI's pages with room to spare;
/// `docs/api.md` lists what each costs.
#[derive(Debug, Clone)]
pub struct GraphqlOptions {
    /// Deepest selection nesting a query may have.
    pub max_depth: usize,
    /// Highest complexity a query may have (each field costs 1; paged and list fields multiply
    /// the cost of one item by `first` or their size; a README costs 20): a page of 100 items
    /// with about 20 fields fits, a page inside a page does not, nor do a hundred READMEs.
    pub max_complexity: usize,
    /// Most fields a query may select at all levels, aliases and fragment spreads counted each
    /// time (default 200).
    pub max_fields: usize,
    /// Most fields a query may select at its root, aliases included (default 20).
    pub max_root_fields: usize,
    /// Largest answer in bytes (default 8 MiB): the budget the large fields (READMEs, lists) of
    /// one request draw from as they resolve, and the cap on the serialized response the HTTP
    /// transport sends. Over it the request fails with `RESPONSE_TOO_LARGE`.
    pub max_response_bytes: usize,
    /// Whether introspection queries are answered (GraphiQL and code generators need it). A
    /// private registry answers them to authenticated callers only.
    pub introspection: bool,
}

impl Default for GraphqlOptions {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 2500,
            max_fields: 200,
            max_root_fields: 20,
            max_response_bytes: 8 * 1024 * 1024,
            introspection: true,
        }
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
    RaktarSchema { schema: builder.finish(), registry, opts: Arc::new(opts), site: Arc::new(SiteInfo::default()) }
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
