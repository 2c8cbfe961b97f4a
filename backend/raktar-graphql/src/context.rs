//! What every resolver needs: the registry, the caller, the request's loaders and its response
//! budget.

use std::sync::Arc;

use async_graphql::Context;
use raktar_core::Registry;
use raktar_core::domain::DomainError;
use raktar_core::services::Principal;

use crate::error::Res;
use crate::limits::ResponseBudget;
use crate::loaders::{Caller, Loaders};
use crate::site::{SessionSecret, SiteInfo};

pub(crate) struct Env<'a> {
    pub registry: &'a Arc<Registry>,
    pub caller: Option<&'a Principal>,
    pub loaders: &'a Loaders,
    pub budget: &'a ResponseBudget,
    pub site: &'a SiteInfo,
    /// The secret of the request's web session, if it came with one.
    pub session: Option<&'a str>,
}

impl Env<'_> {
    /// Counts `bytes` of the answer against the request's budget ([`ResponseBudget::charge`]).
    pub fn charge(&self, bytes: usize) -> Res<()> {
        self.budget.charge(bytes)
    }
}

/// The resolver environment. A request without a [`Caller`] is anonymous.
pub(crate) fn env<'a>(ctx: &Context<'a>) -> Res<Env<'a>> {
    let registry = ctx
        .data::<Arc<Registry>>()
        .map_err(|_| DomainError::internal("the GraphQL schema was built without a registry"))?;
    let caller = ctx.data_opt::<Caller>().and_then(|c| c.0.as_ref());
    let loaders = ctx.data::<Loaders>().map_err(|_| DomainError::internal("the GraphQL request has no loaders"))?;
    let budget = ctx
        .data::<Arc<ResponseBudget>>()
        .map_err(|_| DomainError::internal("the GraphQL request has no response budget"))?;
    let site = ctx.data::<Arc<SiteInfo>>().map_err(|_| DomainError::internal("the GraphQL request has no site"))?;
    let session = ctx.data_opt::<SessionSecret>().and_then(|s| s.0.as_deref());
    Ok(Env { registry, caller, loaders, budget, site, session })
}
