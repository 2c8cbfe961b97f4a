//! Trusted publishing: the trust configurations of a crate (which CI identities may exchange
//! their OIDC ID tokens for short-lived publish tokens). Owners of the crate and administrators.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use raktar_core::domain::{CrateName, DomainError};
use raktar_core::model::ClaimRule;
use raktar_core::services::trustpub::{
    GITHUB_ISSUER, GITLAB_ISSUER, NewTrustConfig, TrustConfigView, github_rules, gitlab_rules,
};

use crate::context::env;
use crate::error::Res;
use crate::types::scalars::DateTime;

/// One claim a CI's ID token must carry.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "TrustClaimRule")]
pub struct ClaimRuleObj {
    /// The claim's name (`repository`, `job_workflow_ref`, `project_path`, `environment`, ...).
    pub name: String,
    pub value: String,
    /// True: the claim must start with `value`; false: equal it.
    pub prefix: bool,
}

impl From<ClaimRule> for ClaimRuleObj {
    fn from(r: ClaimRule) -> Self {
        Self { name: r.name, value: r.value, prefix: r.prefix }
    }
}

/// A trusted-publishing configuration of a crate.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "TrustConfig")]
pub struct TrustConfigObj {
    /// Identifies the configuration within its crate (for `removeTrustConfig`).
    pub id: String,
    pub crate_name: String,
    /// The CI's OIDC issuer (`iss`).
    pub issuer: String,
    /// Every rule must hold.
    pub claims: Vec<ClaimRuleObj>,
    pub created_at: DateTime,
    /// Login of who added it (`cli` for the admin command line).
    pub created_by: String,
}

impl From<TrustConfigView> for TrustConfigObj {
    fn from(v: TrustConfigView) -> Self {
        Self {
            id: v.id,
            crate_name: v.crate_name,
            issuer: v.issuer,
            claims: v.rules.into_iter().map(Into::into).collect(),
            created_at: DateTime(v.created_at),
            created_by: v.created_by,
        }
    }
}

/// A claim rule of a new configuration.
#[derive(InputObject, Debug)]
#[graphql(name = "TrustClaimRuleInput")]
pub struct ClaimRuleInput {
    pub name: String,
    pub value: String,
    /// Match the start of the claim instead of all of it.
    #[graphql(default)]
    pub prefix: bool,
}

/// A new trust configuration: an issuer and claim rules, given directly and/or through a GitHub
/// Actions or GitLab CI preset.
#[derive(InputObject, Debug)]
pub struct AddTrustConfigInput {
    /// The CI's issuer; default with a preset: GitHub Actions' or GitLab.com's.
    pub issuer: Option<String>,
    /// Claim rules (added to the preset's).
    #[graphql(default)]
    pub claims: Vec<ClaimRuleInput>,
    /// GitHub Actions preset: OWNER/REPO.
    pub github_repository: Option<String>,
    /// GitLab CI preset: the project's full path.
    pub gitlab_project: Option<String>,
    /// With a preset: the workflow (GitHub) or pipeline (GitLab) file.
    pub workflow: Option<String>,
    /// With a preset: the deployment environment.
    pub environment: Option<String>,
}

impl AddTrustConfigInput {
    fn into_new(self) -> Res<NewTrustConfig> {
        let (issuer, mut rules) = match (&self.github_repository, &self.gitlab_project) {
            (Some(_), Some(_)) => {
                return Err(DomainError::bad_request("give `githubRepository` or `gitlabProject`, not both").into());
            }
            (Some(repo), None) => (
                self.issuer.unwrap_or_else(|| GITHUB_ISSUER.to_owned()),
                github_rules(repo, self.workflow.as_deref(), self.environment.as_deref())?,
            ),
            (None, Some(project)) => {
                let issuer = self.issuer.unwrap_or_else(|| GITLAB_ISSUER.to_owned());
                let rules = gitlab_rules(&issuer, project, self.workflow.as_deref(), self.environment.as_deref())?;
                (issuer, rules)
            }
            (None, None) => {
                if self.workflow.is_some() || self.environment.is_some() {
                    return Err(DomainError::bad_request(
                        "`workflow` and `environment` go with a preset; give claims otherwise",
                    )
                    .into());
                }
                let Some(issuer) = self.issuer else {
                    return Err(DomainError::bad_request("give the `issuer` or a preset").into());
                };
                (issuer, Vec::new())
            }
        };
        rules.extend(self.claims.into_iter().map(|c| ClaimRule { name: c.name, value: c.value, prefix: c.prefix }));
        Ok(NewTrustConfig { issuer, rules })
    }
}

/// The result of removing a trust configuration.
#[derive(SimpleObject, Debug)]
pub struct RemovedTrustConfig {
    pub id: String,
}

/// Rough answer size of one configuration (for the response budget).
const CONFIG_BYTES: usize = 1024;

#[derive(Default)]
pub struct TrustQuery;

#[Object]
impl TrustQuery {
    /// The trusted-publishing configurations of a crate (owners and admins).
    async fn trust_configs(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "crate")] krate: String,
    ) -> Res<Vec<TrustConfigObj>> {
        let env = env(ctx)?;
        let name = CrateName::parse(&krate)?;
        let configs = env.registry.trust_configs(env.caller, &name).await?;
        env.charge(configs.len().saturating_mul(CONFIG_BYTES))?;
        Ok(configs.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct TrustMutation;

#[Object]
impl TrustMutation {
    /// Trusts a CI identity to publish new versions of the crate and yank them (owners and
    /// admins; a token needs the `change-owners` scope). The issuer must also be allowed by the
    /// registry's configuration for exchanges to succeed.
    async fn add_trust_config(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "crate")] krate: String,
        input: AddTrustConfigInput,
    ) -> Res<TrustConfigObj> {
        let env = env(ctx)?;
        let name = CrateName::parse(&krate)?;
        let new = input.into_new()?;
        Ok(env.registry.add_trust_config(env.caller, &name, new).await?.into())
    }

    /// Removes a trust configuration by id (owners and admins; a token needs `change-owners`).
    async fn remove_trust_config(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "crate")] krate: String,
        id: String,
    ) -> Res<RemovedTrustConfig> {
        let env = env(ctx)?;
        let name = CrateName::parse(&krate)?;
        env.registry.remove_trust_config(env.caller, &name, &id).await?;
        Ok(RemovedTrustConfig { id })
    }
}
