//! What every resolver needs: the registry, the caller and the request's loaders.

use std::sync::Arc;

use async_graphql::Context;
use raktar_core::Registry;
use raktar_core::domain::DomainError;
use raktar_core::services::Principal;

use crate::error::Res;
use crate::loaders::{Caller, Loaders};

pub(crate) struct Env<'a> {
    pub registry: &'a Arc<Registry>,
    pub caller: Option<&'a Principal>,
    pub loaders: &'a Loaders,
}

/// The resolver environment. A request without a [`Caller`] is anonymous.
pub(crate) fn env<'a>(ctx: &Context<'a>) -> Res<Env<'a>> {
    let registry = ctx
        .data::<Arc<Registry>>()
        .map_err(|_| DomainError::internal("the GraphQL schema was built without a registry"))?;
    let caller = ctx.data_opt::<Caller>().and_then(|c| c.0.as_ref());
    let loaders = ctx.data::<Loaders>().map_err(|_| DomainError::internal("the GraphQL request has no loaders"))?;
    Ok(Env { registry, caller, loaders })
}
