//! The registry itself: what the web UI shows before anything else (names, URLs, sign-in methods),
//! its statistics, and the keywords and categories with their crate counts.

use async_graphql::connection::{Connection, Edge, OpaqueCursor};
use async_graphql::{Context, Object, SimpleObject};
use raktar_core::services::listings::NameCount;

use crate::context::env;
use crate::error::Res;
use crate::limits::LIST_ITEM_BYTES;
use crate::types::krate::{page_args, page_cost};

/// The registry as the web UI presents it, and the values a user needs to configure cargo.
#[derive(SimpleObject, Clone, Debug)]
pub struct RegistryInfo {
    /// Display name.
    pub name: String,
    /// The name to give the registry in `.cargo/config.toml` (`[registries.NAME]`) and to
    /// `cargo --registry NAME`.
    pub registry_name: String,
    /// The index URL for cargo, with its `sparse+` prefix.
    pub index_url: String,
    /// The base URL of the cargo web API (`api` of the index's `config.json`).
    pub api_url: String,
    /// Reads (index, downloads, search, these queries) need no credentials.
    pub public_read: bool,
    /// Local accounts sign in with a password (`POST /auth/signin`).
    pub password_sign_in: bool,
    /// Single sign-on is configured.
    pub sso_sign_in: bool,
    /// The label of the single sign-on button.
    pub sso_label: Option<String>,
    /// Where the single sign-on starts (add `?next=/path` to come back there).
    pub sso_start_url: Option<String>,
}

/// Counts over the whole registry.
#[derive(SimpleObject, Clone, Debug)]
pub struct RegistryStats {
    /// Crates.
    pub crates: u64,
    /// Versions ever published (yanked ones included).
    pub versions: u64,
    /// User accounts ever created (disabled ones included; from the user-id counter).
    pub users: u64,
    /// Downloads of every version of every crate (may lag by a few minutes).
    pub downloads: u64,
}

/// A keyword and how many crates list it.
#[derive(SimpleObject, Clone, Debug)]
pub struct KeywordCount {
    pub name: String,
    /// Crates whose highest version lists it.
    pub crates: u64,
}

/// A category and how many crates list it.
#[derive(SimpleObject, Clone, Debug)]
pub struct CategoryCount {
    pub name: String,
    /// Crates whose highest version lists it.
    pub crates: u64,
}

/// Extra fields of a counted connection.
#[derive(SimpleObject, Clone, Debug)]
pub struct TotalCount {
    /// Number of items in all pages.
    pub total_count: u64,
}

/// Keywords, most used first (Relay cursor connection).
pub type KeywordConnection = Connection<OpaqueCursor<usize>, KeywordCount, TotalCount>;
/// Categories, most used first (Relay cursor connection).
pub type CategoryConnection = Connection<OpaqueCursor<usize>, CategoryCount, TotalCount>;

fn name_page<T: async_graphql::OutputType>(
    ctx: &Context<'_>,
    all: Vec<NameCount>,
    offset: usize,
    limit: usize,
    make: impl Fn(NameCount) -> T,
) -> Res<Connection<OpaqueCursor<usize>, T, TotalCount>> {
    let total = all.len();
    let page: Vec<NameCount> = all.into_iter().skip(offset).take(limit).collect();
    env(ctx)?.charge(page.iter().map(|c| c.name.len().saturating_add(LIST_ITEM_BYTES)).sum())?;
    let has_next = offset.saturating_add(page.len()) < total;
    let mut conn = Connection::with_additional_fields(offset > 0, has_next, TotalCount { total_count: total as u64 });
    conn.edges.extend(page.into_iter().enumerate().map(|(i, c)| Edge::new(OpaqueCursor(offset + i), make(c))));
    Ok(conn)
}

#[derive(Default)]
pub struct RegistryQuery;

#[Object]
impl RegistryQuery {
    /// This registry: names, URLs and sign-in methods. Answered to everyone (the sign-in page
    /// needs it), also on a private registry.
    async fn registry(&self, ctx: &Context<'_>) -> Res<RegistryInfo> {
        let env = env(ctx)?;
        let site = env.site;
        let base = site.public_url.trim_end_matches('/');
        Ok(RegistryInfo {
            name: site.name.clone(),
            registry_name: site.registry_name.clone(),
            index_url: format!("sparse+{base}/index/"),
            api_url: base.to_owned(),
            public_read: site.public_read,
            password_sign_in: site.password_sign_in,
            sso_sign_in: site.sso_label.is_some(),
            sso_label: site.sso_label.clone(),
            sso_start_url: site.sso_label.as_ref().map(|_| format!("{base}/auth/oidc/start")),
        })
    }

    /// Counts over the whole registry.
    async fn stats(&self, ctx: &Context<'_>) -> Res<RegistryStats> {
        let env = env(ctx)?;
        let s = env.registry.registry_stats(env.caller).await?;
        Ok(RegistryStats { crates: s.crates, versions: s.versions, users: s.users, downloads: s.downloads })
    }

    /// Keywords of the crates (their highest versions), most used first, then by name.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn keywords(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Res<KeywordConnection> {
        let (offset, limit) = page_args(first, after.as_deref())?;
        let env = env(ctx)?;
        let all = env.registry.keyword_counts(env.caller).await?;
        name_page(ctx, all, offset, limit, |c| KeywordCount { name: c.name, crates: c.crates })
    }

    /// Categories of the crates (their highest versions), most used first, then by name.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn categories(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Res<CategoryConnection> {
        let (offset, limit) = page_args(first, after.as_deref())?;
        let env = env(ctx)?;
        let all = env.registry.category_counts(env.caller).await?;
        name_page(ctx, all, offset, limit, |c| CategoryCount { name: c.name, crates: c.crates })
    }
}
