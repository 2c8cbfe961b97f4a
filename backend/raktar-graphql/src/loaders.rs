//! Per-request DataLoaders: crate summaries, versions and owners by crate, users by login, download
//! statistics by crate; and READMEs by version ([`readme`]: a README spilled to the blob store is
//! read once per request however many fields or aliases show it). Each key is read at most once per request (the DataLoader's cache plus a
//! memo of reads in flight), and the reads of one batch run concurrently. The store port has no multi-item read, so a batch of N keys is N
//! single-partition reads: bounded by what the query asked for, never one read per nested field.
//!
//! Every load goes through a domain service with the request's caller, so read access is checked
//! by the services, not here.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures::future::{BoxFuture, FutureExt, Shared, join_all};
use raktar_core::Registry;
use raktar_core::domain::{DomainResult, Login, NormalizedName};
use raktar_core::model::{CrateRecord, OwnerRecord, UserRecord, VersionRecord};
use raktar_core::services::Principal;
use raktar_core::services::crates::DownloadStats;

use crate::error::to_graphql;

/// The caller of a request (`None`: anonymous), in the request data ([`crate::RaktarSchema::execute`]).
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<Principal>);

/// How long a loader waits for more keys before it reads: no timer at all. The batch task is
/// spawned by the first key of a round and runs once the resolver task yields, after every
/// sibling field of the round has added its key (a timer would add up to a millisecond per round
/// of nested fields). The memo makes every key one read per request however batches split.
const BATCH_DELAY: Duration = Duration::ZERO;

/// Crate summary by normalized name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrateKey(pub NormalizedName);
/// Every version of a crate, in publish order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionsKey(pub NormalizedName);
/// The owner items of a crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnersKey(pub NormalizedName);
/// A user by login.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserKey(pub Login);
/// Download statistics of a crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DownloadsKey(pub NormalizedName);

pub type Versions = Arc<Vec<Arc<VersionRecord>>>;

type LoadResult<V> = Result<Option<V>, async_graphql::Error>;
type Pending<V> = Shared<BoxFuture<'static, LoadResult<V>>>;

/// Reads of one kind started in this request, by key: each key is read at most once per request,
/// also when a later batch asks for a key whose first read is still in flight (the DataLoader's
/// cache only knows finished reads).
struct Memo<K, V> {
    reads: Mutex<HashMap<K, Pending<V>>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self { reads: Mutex::new(HashMap::new()) }
    }
}

impl<K: Clone + Eq + Hash, V: Clone + Send + Sync + 'static> Memo<K, V> {
    /// Starts (or joins) the read of every key; keys answered with `None` are absent from the map.
    async fn load<F, Fut>(&self, keys: &[K], read: F) -> Result<HashMap<K, V>, async_graphql::Error>
    where
        F: Fn(K) -> Fut,
        Fut: Future<Output = DomainResult<Option<V>>> + Send + 'static,
    {
        let pending: Vec<(K, Pending<V>)> = {
            let mut reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
            keys.iter()
                .map(|k| {
                    let p = reads
                        .entry(k.clone())
                        .or_insert_with(|| read(k.clone()).map(|r| r.map_err(|e| to_graphql(&e))).boxed().shared())
                        .clone();
                    (k.clone(), p)
                })
                .collect()
        };
        let mut out = HashMap::with_capacity(pending.len());
        for (k, v) in join_all(pending.into_iter().map(|(k, p)| async move { (k, p.await) })).await {
            if let Some(v) = v? {
                out.insert(k, v);
            }
        }
        Ok(out)
    }

    fn forget(&self) {
        self.reads.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// Loads through the domain services on behalf of one caller (one per request).
pub struct RegistryLoader {
    registry: Arc<Registry>,
    caller: Arc<Option<Principal>>,
    crates: Memo<NormalizedName, Arc<CrateRecord>>,
    versions: Memo<NormalizedName, Versions>,
    owners: Memo<NormalizedName, Arc<Vec<OwnerRecord>>>,
    users: Memo<Login, Arc<UserRecord>>,
    downloads: Memo<NormalizedName, Arc<DownloadStats>>,
    readmes: Memo<(NormalizedName, String), Arc<str>>,
    /// READMEs resolving at once in this request ([`README_PERMITS`]).
    readme_permits: tokio::sync::Semaphore,
}

/// READMEs of one request read and charged at once: a query over many versions' READMEs holds a
/// few in memory beyond its response budget, not all of them (the rest fail fast once the budget
/// is spent, without being read).
const README_PERMITS: usize = 4;

/// The per-request loader.
pub type Loaders = DataLoader<RegistryLoader, HashMapCache>;

pub fn new_loaders(registry: Arc<Registry>, caller: Option<Principal>) -> Loaders {
    let loader = RegistryLoader {
        registry,
        caller: Arc::new(caller),
        crates: Memo::default(),
        versions: Memo::default(),
        owners: Memo::default(),
        users: Memo::default(),
        downloads: Memo::default(),
        readmes: Memo::default(),
        readme_permits: tokio::sync::Semaphore::new(README_PERMITS),
    };
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default()).delay(BATCH_DELAY)
}

/// Forgets every cached value and finished read (after a mutation changed the registry).
pub fn clear_all(loaders: &Loaders) {
    loaders.clear::<CrateKey>();
    loaders.clear::<VersionsKey>();
    loaders.clear::<OwnersKey>();
    loaders.clear::<UserKey>();
    loaders.clear::<DownloadsKey>();
    let l = loaders.loader();
    l.crates.forget();
    l.versions.forget();
    l.owners.forget();
    l.users.forget();
    l.downloads.forget();
    l.readmes.forget();
}

/// The README of a version (`norm` is its crate), read at most once per request: inline in the
/// version item or from the blob store, through the domain service (which checks read access).
/// `admit` runs once this README's turn has come (at most [`README_PERMITS`] at once), before it
/// is read; `use_text` runs on the text before the turn ends.
pub async fn readme<T>(
    loaders: &Loaders,
    norm: &NormalizedName,
    version: &Arc<VersionRecord>,
    admit: impl FnOnce() -> Result<(), async_graphql::Error>,
    use_text: impl FnOnce(Option<Arc<str>>) -> Result<T, async_graphql::Error>,
) -> Result<T, async_graphql::Error> {
    let l = loaders.loader();
    let _turn = l
        .readme_permits
        .acquire()
        .await
        .map_err(|_| to_graphql(&raktar_core::domain::DomainError::internal("README permits closed")))?;
    admit()?;
    let key = (norm.clone(), version.vers.clone());
    let mut found = l
        .readmes
        .load(std::slice::from_ref(&key), |_| {
            let (registry, caller) = l.env();
            let version = version.clone();
            async move { Ok(registry.version_readme(caller.as_ref().as_ref(), &version).await?.map(Arc::from)) }
        })
        .await?;
    use_text(found.remove(&key))
}

impl RegistryLoader {
    fn env(&self) -> (Arc<Registry>, Arc<Option<Principal>>) {
        (self.registry.clone(), self.caller.clone())
    }
}

impl Loader<CrateKey> for RegistryLoader {
    type Value = Arc<CrateRecord>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[CrateKey]) -> Result<HashMap<CrateKey, Self::Value>, Self::Error> {
        let names: Vec<NormalizedName> = keys.iter().map(|k| k.0.clone()).collect();
        let found = self
            .crates
            .load(&names, |name| {
                let (registry, caller) = self.env();
                async move { Ok(registry.crate_summary(caller.as_ref().as_ref(), &name).await?.map(Arc::new)) }
            })
            .await?;
        Ok(found.into_iter().map(|(k, v)| (CrateKey(k), v)).collect())
    }
}

impl Loader<VersionsKey> for RegistryLoader {
    type Value = Versions;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[VersionsKey]) -> Result<HashMap<VersionsKey, Self::Value>, Self::Error> {
        let names: Vec<NormalizedName> = keys.iter().map(|k| k.0.clone()).collect();
        let found = self
            .versions
            .load(&names, |name| {
                let (registry, caller) = self.env();
                async move {
                    let versions = registry.crate_versions(caller.as_ref().as_ref(), &name).await?;
                    Ok(Some(Arc::new(versions.into_iter().map(Arc::new).collect::<Vec<_>>())))
                }
            })
            .await?;
        Ok(found.into_iter().map(|(k, v)| (VersionsKey(k), v)).collect())
    }
}

impl Loader<OwnersKey> for RegistryLoader {
    type Value = Arc<Vec<OwnerRecord>>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[OwnersKey]) -> Result<HashMap<OwnersKey, Self::Value>, Self::Error> {
        let names: Vec<NormalizedName> = keys.iter().map(|k| k.0.clone()).collect();
        let found = self
            .owners
            .load(&names, |name| {
                let (registry, caller) = self.env();
                async move { Ok(Some(Arc::new(registry.crate_owners(caller.as_ref().as_ref(), &name).await?))) }
            })
            .await?;
        Ok(found.into_iter().map(|(k, v)| (OwnersKey(k), v)).collect())
    }
}

impl Loader<UserKey> for RegistryLoader {
    type Value = Arc<UserRecord>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, Self::Value>, Self::Error> {
        let logins: Vec<Login> = keys.iter().map(|k| k.0.clone()).collect();
        let found = self
            .users
            .load(&logins, |login| {
                let (registry, caller) = self.env();
                async move { Ok(registry.user_by_login(caller.as_ref().as_ref(), &login).await?.map(Arc::new)) }
            })
            .await?;
        Ok(found.into_iter().map(|(k, v)| (UserKey(k), v)).collect())
    }
}

impl Loader<DownloadsKey> for RegistryLoader {
    type Value = Arc<DownloadStats>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[DownloadsKey]) -> Result<HashMap<DownloadsKey, Self::Value>, Self::Error> {
        let names: Vec<NormalizedName> = keys.iter().map(|k| k.0.clone()).collect();
        let found = self
            .downloads
            .load(&names, |name| {
                let (registry, caller) = self.env();
                async move { Ok(Some(Arc::new(registry.crate_downloads(caller.as_ref().as_ref(), &name).await?))) }
            })
            .await?;
        Ok(found.into_iter().map(|(k, v)| (DownloadsKey(k), v)).collect())
    }
}
