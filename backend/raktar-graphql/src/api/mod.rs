//! The root types, split by area and merged.

pub mod account;
pub mod audit;
pub mod crates;
pub mod registry;
pub mod tokens;
pub mod trust;
pub mod upstream;
pub mod users;

use async_graphql::MergedObject;

/// Every query of the v1 contract.
#[derive(MergedObject, Default)]
pub struct Query(
    registry::RegistryQuery,
    crates::CratesQuery,
    users::UsersQuery,
    tokens::TokensQuery,
    audit::AuditQuery,
    account::AccountQuery,
    trust::TrustQuery,
    upstream::UpstreamQuery,
);

/// Every mutation of the v1 contract.
#[derive(MergedObject, Default)]
pub struct Mutation(
    crates::CratesMutation,
    tokens::TokensMutation,
    users::AdminMutation,
    account::AccountMutation,
    trust::TrustMutation,
    upstream::UpstreamMutation,
);
