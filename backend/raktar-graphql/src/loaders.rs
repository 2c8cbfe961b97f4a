//! Per-request DataLoaders (one generic [`Loader`] over every [`LoadKey`] kind): crate summaries, versions and owners by crate, users by login, download
//! statistics by crate; and READMEs by version ([`readme`]: a README spilled to the blob store is
//! read once per request however many fields or aliases show it). Each key is read at most once per request (the DataLoader's cache plus a
//! memo of reads in flight), and the reads of one batch run concurrently. The store port has no multi-item read, so a batch of N keys is N
//! single-partition reads: bounded by what the query asked for, never one read per nested field.
//!
//! Every load goes through a domain service with the request's caller, so read access is checked
//! by the services, not here.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use futures::future::{BoxFuture, FutureExt, Shared, join_all};
use raktar_core::Registry;
use raktar_core::domain::{DomainResult, Login, NormalizedName};
use raktar_core::services::Principal;
use raktar_core::services::crates::DownloadStats;
use raktar_core::services::views::{CrateView, UserView, VersionView};

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

pub type Versions = Arc<Vec<Arc<VersionView>>>;

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

/// What one kind of key loads: its value and the domain-service read of one key (with the
/// request's caller, so the services check read access). The one generic [`Loader`] below serves
/// every kind.
pub trait LoadKey: Clone + Eq + Hash + Send + Sync + 'static {
    type Value: Clone + Send + Sync + 'static;

    /// Reads one key (`None`: it does not exist).
    fn read(
        self,
        registry: Arc<Registry>,
        caller: Arc<Option<Principal>>,
    ) -> impl Future<Output = DomainResult<Option<Self::Value>>> + Send + 'static;
}

impl LoadKey for CrateKey {
    type Value = Arc<CrateView>;

    async fn read(self, registry: Arc<Registry>, caller: Arc<Option<Principal>>) -> DomainResult<Option<Self::Value>> {
        Ok(registry.crate_view(caller.as_ref().as_ref(), &self.0).await?.map(Arc::new))
    }
}

impl LoadKey for VersionsKey {
    type Value = Versions;

    async fn read(self, registry: Arc<Registry>, caller: Arc<Option<Principal>>) -> DomainResult<Option<Self::Value>> {
        let versions = registry.version_views(caller.as_ref().as_ref(), &self.0).await?;
        Ok(Some(Arc::new(versions.into_iter().map(Arc::new).collect::<Vec<_>>())))
    }
}

impl LoadKey for OwnersKey {
    type Value = Arc<Vec<String>>;

    async fn read(self, registry: Arc<Registry>, caller: Arc<Option<Principal>>) -> DomainResult<Option<Self::Value>> {
        let owners = registry.crate_owners(caller.as_ref().as_ref(), &self.0).await?;
        Ok(Some(Arc::new(owners.into_iter().map(|o| o.login).collect())))
    }
}

impl LoadKey for UserKey {
    type Value = Arc<UserView>;

    async fn read(self, registry: Arc<Registry>, caller: Arc<Option<Principal>>) -> DomainResult<Option<Self::Value>> {
        Ok(registry.user_view(caller.as_ref().as_ref(), &self.0).await?.map(Arc::new))
    }
}

impl LoadKey for DownloadsKey {
    type Value = Arc<DownloadStats>;

    async fn read(self, registry: Arc<Registry>, caller: Arc<Option<Principal>>) -> DomainResult<Option<Self::Value>> {
        Ok(Some(Arc::new(registry.crate_downloads(caller.as_ref().as_ref(), &self.0).await?)))
    }
}

/// Loads through the domain services on behalf of one caller (one per request).
pub struct RegistryLoader {
    registry: Arc<Registry>,
    caller: Arc<Option<Principal>>,
    /// One [`Memo`] per key kind, by the key's type.
    memos: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    readmes: Memo<(NormalizedName, String), Arc<str>>,
    /// READMEs resolving at once in this request ([`README_PERMITS`]).
    readme_permits: tokio::sync::Semaphore,
}

impl RegistryLoader {
    /// The memo of one key kind (created on first use).
    fn memo<K: LoadKey>(&self) -> Arc<Memo<K, K::Value>> {
        let mut memos = self.memos.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = memos.entry(TypeId::of::<K>()).or_insert_with(|| Arc::new(Memo::<K, K::Value>::default()));
        match entry.clone().downcast::<Memo<K, K::Value>>() {
            Ok(memo) => memo,
            Err(_) => {
                // Unreachable (the entry was made for this type); start over rather than panic.
                let memo = Arc::new(Memo::<K, K::Value>::default());
                *entry = memo.clone();
                memo
            }
        }
    }
}

impl<K: LoadKey> Loader<K> for RegistryLoader {
    type Value = K::Value;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[K]) -> Result<HashMap<K, Self::Value>, Self::Error> {
        self.memo::<K>()
            .load(keys, |key| {
                let (registry, caller) = self.env();
                key.read(registry, caller)
            })
            .await
    }
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
        memos: Mutex::new(HashMap::new()),
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
    l.memos.lock().unwrap_or_else(PoisonError::into_inner).clear();
    l.readmes.forget();
}

/// The README of a version (`norm` is its crate), read at most once per request: inline in the
/// version item or from the blob store, through the domain service (which checks read access).
/// `admit` runs once this README's turn has come (at most [`README_PERMITS`] at once), before it
/// is read; `use_text` runs on the text before the turn ends.
pub async fn readme<T>(
    loaders: &Loaders,
    norm: &NormalizedName,
    version: &Arc<VersionView>,
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
            async move { Ok(registry.readme_of(caller.as_ref().as_ref(), &version).await?.map(Arc::from)) }
        })
        .await?;
    use_text(found.remove(&key))
}

impl RegistryLoader {
    fn env(&self) -> (Arc<Registry>, Arc<Option<Principal>>) {
        (self.registry.clone(), self.caller.clone())
    }
}
