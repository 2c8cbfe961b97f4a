//! The API additions for the web UI (issue 9): registry info and statistics, crate listings with
//! sort and filters, keyword and category counts, stable ids, `viewerCanManage`, dependents,
//! per-version downloads, yank time and actor, audit filters, token revocation returning the
//! remaining tokens, user search, and the password and session mutations. Each: the data, the
//! refusals (with no state change), and bad input as typed codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, Krate, codes};
use raktar_core::domain::{CrateName, CrateVersion, Login, Scope};
use raktar_core::model::Role;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn seeded() -> (Fixture, raktar_core::services::Principal) {
    let fx = Fixture::public_read();
    let alice = fx.user("alice", Role::Member).await;
    fx.publish(&alice, &Krate::new("base", "1.0.0").keyword("web-dev").keyword("http")).await;
    fx.publish(&alice, &Krate::new("app", "1.0.0").keyword("http")).await;
    fx.publish(&alice, &Krate::new("app", "2.0.0").dep("base", "^1").keyword("Web_Dev")).await;
    fx.publish(&alice, &Krate::new("zeta", "0.1.0").dep("base", "=1.0.0")).await;
    (fx, alice)
}

async fn download(fx: &Fixture, name: &str, vers: &str, times: usize) {
    for _ in 0..times {
        fx.registry
            .download(None, &CrateName::parse(name).unwrap(), &CrateVersion::parse(vers).unwrap(), None)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_info_stats_and_counts() {
    let (fx, _) = seeded().await;
    fx.user("bob", Role::Member).await;
    download(&fx, "zeta", "0.1.0", 3).await;
    let data = fx
        .data(
            None,
            "{ registry { name registryName indexUrl apiUrl publicRead passwordSignIn ssoSignIn ssoLabel ssoStartUrl }
               stats { crates versions users downloads }
               keywords(first: 10) { totalCount nodes { name crates } }
               categories { totalCount nodes { name } } }",
            json!({}),
        )
        .await;
    let r = &data["registry"];
    assert_eq!(r["registryName"], "raktar");
    assert!(r["indexUrl"].as_str().unwrap().starts_with("sparse+http"), "{r}");
    assert!(r["indexUrl"].as_str().unwrap().ends_with("/index/"), "{r}");
    assert_eq!(r["passwordSignIn"], true);
    assert_eq!(r["ssoSignIn"], false);
    assert!(r["ssoStartUrl"].is_null());
    assert_eq!(data["stats"], json!({"crates": 3, "versions": 4, "users": 2, "downloads": 3}));
    // Keywords of the highest versions; `web-dev` and `Web_Dev` are one keyword; most used first.
    assert_eq!(
        data["keywords"],
        json!({"totalCount": 2, "nodes": [{"name": "web-dev", "crates": 2}, {"name": "http", "crates": 1}]})
    );
    assert_eq!(data["categories"], json!({"totalCount": 0, "nodes": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_query_answers_anonymous_callers_of_a_private_registry() {
    let fx = Fixture::new();
    let data = fx.data(None, "{ registry { publicRead passwordSignIn } }", json!({})).await;
    assert_eq!(data["registry"], json!({"publicRead": false, "passwordSignIn": true}));
    // Everything else still needs credentials.
    let refused = fx.run(None, "{ stats { crates } }", json!({})).await;
    assert_eq!(codes(&refused), ["UNAUTHENTICATED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crates_sort_and_filter() {
    let (fx, _) = seeded().await;
    download(&fx, "zeta", "0.1.0", 2).await;
    download(&fx, "app", "1.0.0", 1).await;
    let names = |data: &Value| -> Vec<String> {
        data["crates"]["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect()
    };
    let run = |sort: &str, kw: Value, q: &str| {
        let vars = json!({"sort": sort, "kw": kw, "q": q});
        let fx = &fx;
        async move {
            let query = "query($sort: CrateSort, $kw: String, $q: String!) {
                crates(query: $q, sort: $sort, keyword: $kw, first: 10) { totalCount nodes { name } } }";
            fx.data(None, query, vars).await
        }
    };
    assert_eq!(names(&run("NAME", Value::Null, "").await), ["app", "base", "zeta"]);
    assert_eq!(names(&run("RELEVANCE", Value::Null, "").await), ["app", "base", "zeta"]);
    assert_eq!(names(&run("DOWNLOADS", Value::Null, "").await), ["zeta", "app", "base"]);
    assert_eq!(names(&run("RECENT_DOWNLOADS", Value::Null, "").await), ["zeta", "app", "base"]);
    assert_eq!(names(&run("NEWLY_ADDED", Value::Null, "").await).len(), 3);
    let null_sort = fx.data(None, "{ crates(sort: null, first: 10) { nodes { name } } }", json!({})).await;
    assert_eq!(names(&null_sort), ["app", "base", "zeta"], "null sorts by relevance");
    let by_kw = run("NAME", json!("WEB_DEV"), "").await;
    assert_eq!(names(&by_kw), ["app", "base"]);
    assert_eq!(by_kw["crates"]["totalCount"], 2);
    assert_eq!(names(&run("NAME", json!("http"), "").await), ["base"]);
    assert_eq!(names(&run("RELEVANCE", Value::Null, "base").await), ["base"]);

    let long = fx
        .run(None, "{ crates(keyword: \"%\") { totalCount } }".replace('%', &"k".repeat(101)).as_str(), json!({}))
        .await;
    assert_eq!(codes(&long), ["BAD_USER_INPUT"]);
    let bad_enum = fx.run(None, "{ crates(sort: POPULAR) { totalCount } }", json!({})).await;
    assert_eq!(codes(&bad_enum), ["BAD_USER_INPUT"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_manage_rights_and_dependents() {
    let (fx, alice) = seeded().await;
    let bob = fx.user("bob", Role::Member).await;
    let admin = fx.user("root", Role::Admin).await;
    let read_token = fx.token("alice", &[Scope::Read], &[]).await;
    let yank_token = fx.token("alice", &[Scope::Yank], &[]).await;
    let q = "{ crate(name: \"Base\") { id viewerCanManage defaultVersion { id }
        dependents(first: 1) { totalCount pageInfo { hasNextPage } nodes { crate { name } version req kind optional } } } }";
    let as_alice = fx.data(Some(&alice), q, json!({})).await;
    let c = &as_alice["crate"];
    assert_eq!(c["id"], "crate:base");
    assert_eq!(c["defaultVersion"]["id"], "version:base@1.0.0");
    assert_eq!(c["viewerCanManage"], true);
    assert_eq!(c["dependents"]["totalCount"], 2);
    assert_eq!(c["dependents"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        c["dependents"]["nodes"],
        json!([{"crate": {"name": "app"}, "version": "2.0.0", "req": "^1", "kind": "NORMAL", "optional": false}])
    );
    for (who, can) in [
        (None, false),
        (Some(&bob), false),
        (Some(&admin), true),
        (Some(&read_token), false),
        (Some(&yank_token), true),
    ] {
        let data = fx.data(who, "{ crate(name: \"base\") { viewerCanManage } }", json!({})).await;
        assert_eq!(data["crate"]["viewerCanManage"], can, "{who:?}");
    }
    let tokens = fx.data(Some(&alice), "{ myTokens { id name } }", json!({})).await;
    let first = &tokens["myTokens"][0];
    assert_eq!(first["id"], format!("token:alice/{}", first["name"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yank_records_when_and_who_and_refusals_change_nothing() {
    let (fx, alice) = seeded().await;
    let bob = fx.user("bob", Role::Member).await;
    let q = "{ crate(name: \"app\") { version(version: \"1.0.0\") { yanked yankedAt yankedBy { login } } } }";
    let m = "mutation { yankVersion(crate: \"app\", version: \"1.0.0\") { id yanked yankedAt yankedBy { login } } }";
    let refused = fx.run(Some(&bob), m, json!({})).await;
    assert_eq!(codes(&refused), ["FORBIDDEN"]);
    let before = fx.data(None, q, json!({})).await;
    assert_eq!(before["crate"]["version"], json!({"yanked": false, "yankedAt": null, "yankedBy": null}));

    let yanked = fx.data(Some(&alice), m, json!({})).await;
    let v = &yanked["yankVersion"];
    assert_eq!(v["id"], "version:app@1.0.0");
    assert_eq!(v["yanked"], true);
    assert!(v["yankedAt"].as_str().unwrap().ends_with('Z'), "{v}");
    assert_eq!(v["yankedBy"]["login"], "alice");

    let bad =
        fx.run(Some(&alice), "mutation { yankVersion(crate: \"app\", version: \"x.y\") { yanked } }", json!({})).await;
    assert_eq!(codes(&bad), ["BAD_USER_INPUT"]);
    let missing = fx
        .run(Some(&alice), "mutation { yankVersion(crate: \"app\", version: \"9.9.9\") { yanked } }", json!({}))
        .await;
    assert_eq!(codes(&missing), ["NOT_FOUND"]);

    let unyanked = fx
        .data(
            Some(&alice),
            "mutation { unyankVersion(crate: \"app\", version: \"1.0.0\") { yanked yankedAt yankedBy { login } } }",
            json!({}),
        )
        .await;
    assert_eq!(unyanked["unyankVersion"], json!({"yanked": false, "yankedAt": null, "yankedBy": null}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_version_daily_downloads() {
    let (fx, _) = seeded().await;
    download(&fx, "app", "1.0.0", 2).await;
    download(&fx, "app", "2.0.0", 1).await;
    let data = fx
        .data(
            None,
            "{ crate(name: \"app\") { v1: version(version: \"1.0.0\") { downloadsByDay(days: 3) { downloads } }
               v2: version(version: \"2.0.0\") { downloadsByDay { downloads } }
               downloads { daily(days: 1) { downloads } } } }",
            json!({}),
        )
        .await;
    let c = &data["crate"];
    assert_eq!(c["v1"]["downloadsByDay"], json!([{"downloads": 0}, {"downloads": 0}, {"downloads": 2}]));
    assert_eq!(c["v2"]["downloadsByDay"].as_array().unwrap().len(), 90);
    assert_eq!(c["v2"]["downloadsByDay"][89]["downloads"], 1);
    assert_eq!(c["downloads"]["daily"], json!([{"downloads": 3}]));
    let bad = fx
        .run(None, "{ crate(name: \"app\") { defaultVersion { downloadsByDay(days: 400) { downloads } } } }", json!({}))
        .await;
    assert_eq!(codes(&bad), ["BAD_USER_INPUT"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_filters_and_action_enum() {
    let (fx, alice) = seeded().await;
    let admin = fx.user("root", Role::Admin).await;
    fx.registry
        .set_yanked(&alice, &CrateName::parse("app").unwrap(), &CrateVersion::parse("1.0.0").unwrap(), true)
        .await
        .unwrap();
    let q = "query($c: String, $a: String, $k: AuditAction) {
        auditEvents(crate: $c, actor: $a, action: $k, first: 50) { edges { node { id action kind crateName actor } } } }";
    let events = |data: &Value| {
        data["auditEvents"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect::<Vec<_>>()
    };
    let yanks = fx.data(Some(&admin), q, json!({"k": "YANK"})).await;
    let yanks = events(&yanks);
    assert_eq!(yanks.len(), 1, "{yanks:?}");
    assert_eq!(yanks[0]["kind"], "YANK");
    assert_eq!(yanks[0]["action"], "yank");
    assert!(yanks[0]["id"].as_str().unwrap().starts_with("audit:"));
    let app = events(&fx.data(Some(&admin), q, json!({"c": "APP"})).await);
    assert_eq!(app.len(), 3, "two publishes and a yank: {app:?}");
    assert!(app.iter().all(|e| e["crateName"] == "app"));
    let publishes = events(&fx.data(Some(&admin), q, json!({"c": "app", "k": "PUBLISH", "a": "alice"})).await);
    assert_eq!(publishes.len(), 2);
    let nobody = events(&fx.data(Some(&admin), q, json!({"a": "nobody"})).await);
    assert!(nobody.is_empty());
    // Pages of a filtered log continue where they stopped.
    let page1 = fx
        .data(
            Some(&admin),
            "{ auditEvents(action: PUBLISH, first: 2) { pageInfo { hasNextPage endCursor } nodes { version } } }",
            json!({}),
        )
        .await;
    assert_eq!(page1["auditEvents"]["pageInfo"]["hasNextPage"], true);
    let cursor = page1["auditEvents"]["pageInfo"]["endCursor"].clone();
    let page2 = fx
        .data(
            Some(&admin),
            "query($c: String) { auditEvents(action: PUBLISH, first: 10, after: $c) { nodes { version } } }",
            json!({"c": cursor}),
        )
        .await;
    assert_eq!(page2["auditEvents"]["nodes"].as_array().unwrap().len(), 2);

    let refused = fx.run(Some(&alice), q, json!({"k": "YANK"})).await;
    assert_eq!(codes(&refused), ["FORBIDDEN"]);
    let bad = fx.run(Some(&admin), q, json!({"c": "not a crate!"})).await;
    assert_eq!(codes(&bad), ["BAD_USER_INPUT"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_returns_the_remaining_ones() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    for name in ["a", "b"] {
        fx.data(
            Some(&alice),
            &format!("mutation {{ createToken(input: {{ name: \"{name}\", scopes: [READ] }}) {{ secret }} }}"),
            json!({}),
        )
        .await;
    }
    let data =
        fx.data(Some(&alice), "mutation { revokeToken(name: \"a\") { name tokens { id name } } }", json!({})).await;
    assert_eq!(data["revokeToken"], json!({"name": "a", "tokens": [{"id": "token:alice/b", "name": "b"}]}));
    let missing = fx.run(Some(&alice), "mutation { revokeToken(name: \"a\") { name } }", json!({})).await;
    assert_eq!(codes(&missing), ["NOT_FOUND"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_search_with_total_count() {
    let fx = Fixture::new();
    let admin = fx.user("root", Role::Admin).await;
    for (login, email) in [("anna", "anna@acme.example"), ("annabel", "ab@other.example"), ("zed", "zed@acme.example")]
    {
        fx.registry
            .create_user(
                "test",
                &Login::parse(login).unwrap(),
                Some(format!("{login} Name")),
                Some(email.into()),
                Role::Member,
            )
            .await
            .unwrap();
    }
    let member = fx.registry.user_by_login(Some(&admin), &Login::parse("zed").unwrap()).await.unwrap().unwrap();
    let member = raktar_core::services::Principal::new(member, None);
    let q = "query($q: String, $after: String) { users(query: $q, first: 1, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { login } } }";
    let page = fx.data(Some(&admin), q, json!({"q": "ANNA"})).await;
    assert_eq!(page["users"]["totalCount"], 2);
    assert_eq!(page["users"]["nodes"], json!([{"login": "anna"}]));
    assert_eq!(page["users"]["pageInfo"]["hasNextPage"], true);
    let next = fx.data(Some(&admin), q, json!({"q": "anna", "after": page["users"]["pageInfo"]["endCursor"]})).await;
    assert_eq!(next["users"]["nodes"], json!([{"login": "annabel"}]));
    assert_eq!(next["users"]["pageInfo"]["hasNextPage"], false);
    // E-mail addresses are searched for administrators only.
    assert_eq!(fx.data(Some(&admin), q, json!({"q": "acme"})).await["users"]["totalCount"], 2);
    assert_eq!(fx.data(Some(&member), q, json!({"q": "acme"})).await["users"]["totalCount"], 1, "own address only");
    let all = fx.data(Some(&admin), "{ users { totalCount } }", json!({})).await;
    assert_eq!(all["users"]["totalCount"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_resets_a_password_and_revokes_sessions() {
    let fx = Fixture::new();
    let admin = fx.user("root", Role::Admin).await;
    let alice = fx.user("alice", Role::Member).await;
    let login = Login::parse("alice").unwrap();
    fx.registry.set_password("cli", &login, PASSWORD).await.unwrap();
    let (_, secret) = fx.session("alice").await;

    let m = "mutation { resetUserPassword(login: \"alice\") { temporaryPassword user { login } } }";
    let refused = fx.run(Some(&alice), m, json!({})).await;
    assert_eq!(codes(&refused), ["FORBIDDEN"]);
    assert!(fx.registry.resolve_session(&secret).await.is_ok(), "a refused reset ends nothing");
    assert!(fx.registry.password_login("alice", PASSWORD, None).await.is_ok(), "nor changes the password");

    let data = fx.data(Some(&admin), m, json!({})).await;
    let temporary = data["resetUserPassword"]["temporaryPassword"].as_str().unwrap().to_owned();
    assert!(temporary.len() >= 20);
    assert_eq!(data["resetUserPassword"]["user"]["login"], "alice");
    assert!(fx.registry.resolve_session(&secret).await.is_err(), "sessions end with the reset");
    assert!(fx.registry.password_login("alice", PASSWORD, None).await.is_err());
    assert!(fx.registry.password_login("alice", &temporary, None).await.is_ok());
    let missing = fx
        .run(Some(&admin), "mutation { resetUserPassword(login: \"nobody\") { temporaryPassword } }", json!({}))
        .await;
    assert_eq!(codes(&missing), ["NOT_FOUND"]);

    let (_, secret) = fx.session("alice").await;
    let revoke = "mutation { revokeUserSessions(login: \"alice\") { login } }";
    assert_eq!(codes(&fx.run(Some(&alice), revoke, json!({})).await), ["FORBIDDEN"]);
    assert!(fx.registry.resolve_session(&secret).await.is_ok());
    fx.data(Some(&admin), revoke, json!({})).await;
    assert!(fx.registry.resolve_session(&secret).await.is_err());
    let audit = fx.data(Some(&admin), "{ auditEvents(action: PASSWORD_RESET) { nodes { actor } } }", json!({})).await;
    assert_eq!(audit["auditEvents"]["nodes"], json!([{"actor": "root"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_keeps_the_current_session_only() {
    let fx = Fixture::new();
    fx.user("alice", Role::Member).await;
    let login = Login::parse("alice").unwrap();
    fx.registry.set_password("cli", &login, PASSWORD).await.unwrap();
    let (me, current) = fx.session("alice").await;
    let (_, other) = fx.session("alice").await;
    let m = "mutation($c: String!, $n: String!) { changePassword(current: $c, new: $n) }";

    let wrong = fx.run_in_session(&me, &current, m, json!({"c": "not the password", "n": "brand new password"})).await;
    assert_eq!(codes(&wrong), ["BAD_USER_INPUT"]);
    let short = fx.run_in_session(&me, &current, m, json!({"c": PASSWORD, "n": "short"})).await;
    assert_eq!(codes(&short), ["BAD_USER_INPUT"]);
    let token = fx.token("alice", &[], &[]).await;
    let by_token = fx.run(Some(&token), m, json!({"c": PASSWORD, "n": "brand new password"})).await;
    assert_eq!(codes(&by_token), ["FORBIDDEN"]);
    assert!(fx.registry.password_login("alice", PASSWORD, None).await.is_ok(), "refusals change nothing");
    assert!(fx.registry.resolve_session(&other).await.is_ok());

    let ok = fx.run_in_session(&me, &current, m, json!({"c": PASSWORD, "n": "brand new password"})).await;
    assert_eq!(ok["data"]["changePassword"], true, "{ok}");
    assert!(fx.registry.password_login("alice", "brand new password", None).await.is_ok());
    assert!(fx.registry.resolve_session(&current).await.is_ok(), "the current session stays");
    assert!(fx.registry.resolve_session(&other).await.is_err(), "the other session ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_sessions_list_revoke_and_sign_out_everywhere() {
    let fx = Fixture::new();
    fx.user("alice", Role::Member).await;
    fx.user("bob", Role::Member).await;
    let (me, current) = fx.session("alice").await;
    let (_, other) = fx.session("alice").await;
    let (bob, bob_secret) = fx.session("bob").await;
    let list = fx.run_in_session(&me, &current, "{ mySessions { id method current } }", json!({})).await;
    let sessions = list["data"]["mySessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{list}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].clone();

    // Bob cannot end Alice's session by its id.
    let m = "mutation($id: ID!) { revokeSession(id: $id) { id current } }";
    let foreign = fx.run_in_session(&bob, &bob_secret, m, json!({"id": other_id})).await;
    assert_eq!(codes(&foreign), ["NOT_FOUND"]);
    assert!(fx.registry.resolve_session(&other).await.is_ok());

    let left = fx.run_in_session(&me, &current, m, json!({"id": other_id})).await;
    assert_eq!(left["data"]["revokeSession"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left["data"]["revokeSession"][0]["current"], true);
    assert!(fx.registry.resolve_session(&other).await.is_err());

    let out = fx.run_in_session(&me, &current, "mutation { signOutEverywhere }", json!({})).await;
    assert_eq!(out["data"]["signOutEverywhere"], true, "{out}");
    assert!(fx.registry.resolve_session(&current).await.is_err());
    assert!(fx.registry.resolve_session(&bob_secret).await.is_ok(), "other users keep theirs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_at_least_one_scope_rule_lives_in_the_service() {
    let fx = Fixture::new();
    let alice = fx.user("alice", Role::Member).await;
    let new = raktar_core::services::tokens::NewToken {
        name: "everything".into(),
        scopes: Vec::new(),
        crates: Vec::new(),
        expires_in_secs: None,
    };
    let err = fx.registry.create_own_token(Some(&alice), new).await.unwrap_err();
    assert!(matches!(err, raktar_core::domain::DomainError::BadRequest(_)), "{err:?}");
    assert!(fx.registry.own_tokens(Some(&alice)).await.unwrap().is_empty(), "nothing was created");
    let gql = fx
        .run(Some(&alice), "mutation { createToken(input: { name: \"x\", scopes: [] }) { secret } }", json!({}))
        .await;
    assert_eq!(codes(&gql), ["BAD_USER_INPUT"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_list_fields_are_priced() {
    let (fx, alice) = seeded().await;
    // A page inside a page is over the complexity limit, as for the older lists.
    for q in [
        "{ crates(first: 100) { nodes { dependents(first: 100) { nodes { crate { name } } } } } }",
        "{ keywords(first: 100) { nodes { name } } categories(first: 100) { nodes { name } } \
           crates(first: 100) { nodes { versions(first: 100) { downloadsByDay(days: 366) { downloads } } } } }",
    ] {
        let refused = fx.run(Some(&alice), q, json!({})).await;
        assert_eq!(codes(&refused), ["BAD_USER_INPUT"], "{q}");
    }
    let bad_page = fx.run(Some(&alice), "{ keywords(first: 101) { totalCount } }", json!({})).await;
    assert_eq!(codes(&bad_page), ["BAD_USER_INPUT"]);
    let bad_cursor = fx.run(Some(&alice), "{ categories(after: \"nope\") { totalCount } }", json!({})).await;
    assert_eq!(codes(&bad_cursor), ["BAD_USER_INPUT"]);
}
