//! Single sign-on accounts (issue 8): an external identity is bound to its `(issuer, subject)`,
//! never to an existing account that merely has the same login or e-mail local part. Service level,
//! over the embedded store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use raktar_core::domain::{DomainError, Login};
use raktar_core::model::Role;
use raktar_core::services::Principal;
use raktar_core::services::sso::ExternalIdentity;
use raktar_core::{Registry, RegistryConfig};
use raktar_store::{FsBlobStore, SqliteItemStore};

const ISSUER: &str = "https://idp.example.test";

struct Env {
    registry: Arc<Registry>,
    _dir: tempfile::TempDir,
}

fn env_with(domains: &[&str]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let items = SqliteItemStore::open(&dir.path().join("raktar.db")).unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let mut config = RegistryConfig::default();
    config.sessions.link_verified_email_domains = domains.iter().map(|d| (*d).to_owned()).collect();
    let registry = Arc::new(Registry::new(Arc::new(items), Arc::new(blobs), config));
    Env { registry, _dir: dir }
}

fn login(s: &str) -> Login {
    Login::parse(s).unwrap()
}

/// An identity as `oidc::map_claims` makes it: the login derived from the e-mail's local part.
fn identity(subject: &str, email: &str, verified: bool) -> ExternalIdentity {
    let local = email.split('@').next().unwrap();
    ExternalIdentity {
        issuer: ISSUER.into(),
        subject: subject.into(),
        login: login(local),
        name: Some(format!("{local} from the provider")),
        email: Some(email.into()),
        email_verified: verified,
        role: None,
    }
}

async fn local_admin(registry: &Registry, name: &str) {
    registry.create_user("cli", &login(name), None, Some(format!("{name}@corp.example")), Role::Admin).await.unwrap();
}

#[tokio::test]
async fn a_provider_user_with_a_colliding_login_gets_a_new_account_not_the_admin() {
    let env = env_with(&[]);
    local_admin(&env.registry, "alice").await;

    let evil = identity("evil-subject", "alice@evil.example", true);
    let user = env.registry.upsert_sso_user(&evil).await.unwrap();
    assert_ne!(user.login, "alice", "the provider user must not become the local admin");
    assert_eq!(user.login, "alice-2");
    assert_eq!(user.role, Role::Member);

    // The admin is untouched (e-mail, role, no binding).
    let admin = env.registry.get_user(&login("alice")).await.unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(admin.email.as_deref(), Some("alice@corp.example"));
    assert!(env.registry.user_identities(&login("alice")).await.unwrap().is_empty());

    // A third identity deriving `alice` gets yet another account.
    let other = env.registry.upsert_sso_user(&identity("other", "alice@else.example", false)).await.unwrap();
    assert_eq!(other.login, "alice-3");
    assert_eq!(other.email, None, "an unverified e-mail is never stored");
}

#[tokio::test]
async fn the_same_identity_keeps_its_account_when_claims_change() {
    let env = env_with(&[]);
    let first = env.registry.upsert_sso_user(&identity("sub-1", "carol@example.com", true)).await.unwrap();
    assert_eq!(first.login, "carol");
    assert_eq!(first.email.as_deref(), Some("carol@example.com"));

    // Same (issuer, subject), new e-mail (and so a new derived login): same account.
    let again = env.registry.upsert_sso_user(&identity("sub-1", "caroline@example.org", true)).await.unwrap();
    assert_eq!(again.login, "carol");
    assert_eq!(again.id, first.id);
    assert_eq!(again.email.as_deref(), Some("caroline@example.org"), "a verified e-mail is updated");

    // An unverified claim never overwrites the stored e-mail.
    let unverified = env.registry.upsert_sso_user(&identity("sub-1", "mallory@evil.example", false)).await.unwrap();
    assert_eq!(unverified.login, "carol");
    assert_eq!(unverified.email.as_deref(), Some("caroline@example.org"));

    // The same subject at another issuer is another identity.
    let mut elsewhere = identity("sub-1", "carol@example.com", true);
    elsewhere.issuer = "https://other-idp.example.test".into();
    assert_eq!(env.registry.upsert_sso_user(&elsewhere).await.unwrap().login, "carol-2");
}

#[tokio::test]
async fn concurrent_first_sign_ins_create_one_account() {
    let env = env_with(&[]);
    let id = identity("racer", "dave@example.com", true);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (r, id) = (env.registry.clone(), id.clone());
            tokio::spawn(async move { r.upsert_sso_user(&id).await })
        })
        .collect();
    let mut logins = Vec::new();
    for t in tasks {
        logins.push(t.await.unwrap().unwrap().login);
    }
    assert!(logins.iter().all(|l| l == "dave"), "{logins:?}");
    assert!(env.registry.get_user(&login("dave-2")).await.unwrap().is_none());
    assert_eq!(env.registry.user_identities(&login("dave")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_administrator_links_and_unlinks_an_identity() {
    let env = env_with(&[]);
    local_admin(&env.registry, "alice").await;
    local_admin(&env.registry, "root").await;
    let operator = Principal::operator();
    let alice_sso = identity("alice-subject", "alice@corp.example", true);

    // Members may not link.
    env.registry.create_user("cli", &login("bob"), None, None, Role::Member).await.unwrap();
    let bob = Principal::new(env.registry.get_user(&login("bob")).await.unwrap().unwrap(), None);
    let err = env.registry.link_identity(Some(&bob), &login("bob"), ISSUER, "alice-subject").await.unwrap_err();
    assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    assert!(env.registry.link_identity(None, &login("alice"), ISSUER, "alice-subject").await.is_err());

    env.registry.link_identity(Some(&operator), &login("alice"), ISSUER, "alice-subject").await.unwrap();
    // Idempotent for the same account; another account is refused.
    env.registry.link_identity(Some(&operator), &login("alice"), ISSUER, "alice-subject").await.unwrap();
    let err = env.registry.link_identity(Some(&operator), &login("root"), ISSUER, "alice-subject").await.unwrap_err();
    assert!(matches!(err, DomainError::Conflict(_)), "{err:?}");
    // Bad input is a 400, unknown users a 404.
    let err = env.registry.link_identity(Some(&operator), &login("alice"), "", "x").await.unwrap_err();
    assert!(matches!(err, DomainError::BadRequest(_)), "{err:?}");
    let err = env.registry.link_identity(Some(&operator), &login("nobody"), ISSUER, "x").await.unwrap_err();
    assert!(matches!(err, DomainError::NotFound(_)), "{err:?}");

    let user = env.registry.upsert_sso_user(&alice_sso).await.unwrap();
    assert_eq!((user.login.as_str(), user.role), ("alice", Role::Admin), "the linked identity opens the account");

    // Unlinked: the identity's next sign-in gets a new account.
    env.registry.unlink_identity(Some(&operator), &login("alice"), ISSUER, "alice-subject").await.unwrap();
    let err =
        env.registry.unlink_identity(Some(&operator), &login("alice"), ISSUER, "alice-subject").await.unwrap_err();
    assert!(matches!(err, DomainError::NotFound(_)), "{err:?}");
    assert_eq!(env.registry.upsert_sso_user(&alice_sso).await.unwrap().login, "alice-2");
}

#[tokio::test]
async fn the_verified_domain_rule_links_only_verified_addresses_in_allowed_domains() {
    let env = env_with(&["corp.example"]);
    local_admin(&env.registry, "alice").await;
    local_admin(&env.registry, "erin").await;

    // Wrong domain (verified or not): a new account.
    let u = env.registry.upsert_sso_user(&identity("s-evil", "alice@evil.example", true)).await.unwrap();
    assert_eq!(u.login, "alice-2");
    // Allowed domain, but not verified: a new account.
    let u = env.registry.upsert_sso_user(&identity("s-unverified", "alice@corp.example", false)).await.unwrap();
    assert_eq!(u.login, "alice-3");
    // Allowed domain and verified: linked.
    let u = env.registry.upsert_sso_user(&identity("s-alice", "alice@corp.example", true)).await.unwrap();
    assert_eq!((u.login.as_str(), u.role), ("alice", Role::Admin));
    // An account that already has an identity is not linked to a second one by the rule.
    let u = env.registry.upsert_sso_user(&identity("s-alice-2", "alice@corp.example", true)).await.unwrap();
    assert_ne!(u.login, "alice");

    // An account whose stored e-mail differs is not linked.
    env.registry
        .create_user("cli", &login("frank"), None, Some("frank@home.example".into()), Role::Member)
        .await
        .unwrap();
    let u = env.registry.upsert_sso_user(&identity("s-frank", "frank@corp.example", true)).await.unwrap();
    assert_eq!(u.login, "frank-2");

    // Off by default.
    let env = env_with(&[]);
    local_admin(&env.registry, "alice").await;
    let u = env.registry.upsert_sso_user(&identity("s-alice", "alice@corp.example", true)).await.unwrap();
    assert_eq!(u.login, "alice-2");
}

#[tokio::test]
async fn a_disabled_linked_account_cannot_sign_in() {
    let env = env_with(&[]);
    let u = env.registry.upsert_sso_user(&identity("s-gina", "gina@example.com", true)).await.unwrap();
    env.registry.set_user_disabled(Some(&Principal::operator()), &login(&u.login), true).await.unwrap();
    let err = env.registry.upsert_sso_user(&identity("s-gina", "gina@example.com", true)).await.unwrap_err();
    assert!(matches!(err, DomainError::Unauthenticated(_)), "{err:?}");
}
