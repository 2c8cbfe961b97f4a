//! `raktar trust ...`: trusted-publishing configurations of crates (which CI identities may
//! exchange their ID tokens for short-lived publish tokens). Administrator commands on the
//! configured home, like `raktar user` and `raktar token`.

use anyhow::bail;
use clap::Subcommand;
use raktar_core::Registry;
use raktar_core::domain::CrateName;
use raktar_core::services::trustpub::{
    GITHUB_ISSUER, GITLAB_ISSUER, NewTrustConfig, github_rules, gitlab_rules, parse_claim_rule,
};

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a CI identity to publish new versions of CRATE (and yank): the issuer and the claims
    /// its ID tokens must carry. Presets: `--github-repository` (issuer defaults to GitHub
    /// Actions) or `--gitlab-project` (issuer defaults to GitLab.com), with `--workflow` and
    /// `--environment`.
    Add {
        #[arg(value_name = "CRATE")]
        krate: String,
        /// The CI's OIDC issuer, exactly as its tokens' `iss` (it must also be allowed by
        /// `[trusted_publishing] issuers`).
        #[arg(long)]
        issuer: Option<String>,
        /// A claim the ID token must carry: NAME=VALUE (exact) or NAME^=PREFIX (repeatable).
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// GitHub Actions preset: the repository (OWNER/REPO, claim `repository`).
        #[arg(long, value_name = "OWNER/REPO", conflicts_with = "gitlab_project")]
        github_repository: Option<String>,
        /// GitLab CI preset: the project's full path (GROUP/PROJECT, claim `project_path`).
        #[arg(long, value_name = "GROUP/PROJECT")]
        gitlab_project: Option<String>,
        /// With a preset: the workflow file (GitHub: `release.yml` under .github/workflows/;
        /// GitLab: the pipeline file, e.g. `.gitlab-ci.yml`).
        #[arg(long, value_name = "FILE")]
        workflow: Option<String>,
        /// With a preset: the deployment environment the job must run in (claim `environment`).
        #[arg(long, value_name = "ENV")]
        environment: Option<String>,
    },
    /// List the trust configurations of CRATE.
    List {
        #[arg(value_name = "CRATE")]
        krate: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a trust configuration of CRATE by its id (from `raktar trust list`).
    Remove {
        #[arg(value_name = "CRATE")]
        krate: String,
        id: String,
    },
}

/// `allowed`: the issuers the configuration allows (`RAKTAR_TRUSTED_PUBLISHING_ISSUERS` or
/// `[trusted_publishing] issuers`), to warn when a configuration names another one.
pub async fn run(registry: &Registry, cmd: TrustCommand, allowed: &[String]) -> anyhow::Result<()> {
    match cmd {
        TrustCommand::Add { krate, issuer, claims, github_repository, gitlab_project, workflow, environment } => {
            let name = CrateName::parse(&krate)?;
            let (issuer, mut rules) = match (&github_repository, &gitlab_project) {
                (Some(repo), None) => {
                    let issuer = issuer.unwrap_or_else(|| GITHUB_ISSUER.to_owned());
                    (issuer, github_rules(repo, workflow.as_deref(), environment.as_deref())?)
                }
                (None, Some(project)) => {
                    let issuer = issuer.unwrap_or_else(|| GITLAB_ISSUER.to_owned());
                    let rules = gitlab_rules(&issuer, project, workflow.as_deref(), environment.as_deref())?;
                    (issuer, rules)
                }
                _ => {
                    if workflow.is_some() || environment.is_some() {
                        bail!(
                            "--workflow and --environment go with --github-repository or --gitlab-project; use --claim otherwise"
                        );
                    }
                    let Some(issuer) = issuer else {
                        bail!("name the issuer (--issuer URL) or use a preset (--github-repository, --gitlab-project)");
                    };
                    (issuer, Vec::new())
                }
            };
            for raw in &claims {
                rules.push(parse_claim_rule(raw)?);
            }
            let view = registry.insert_trust_config("cli", &name, NewTrustConfig { issuer, rules }).await?;
            if !allowed.contains(&view.issuer) {
                eprintln!(
                    "note: `{}` is not among the allowed trusted-publishing issuers of this configuration \
                     ([trusted_publishing] issuers / RAKTAR_TRUSTED_PUBLISHING_ISSUERS); the server refuses \
                     its tokens until it is",
                    view.issuer
                );
            }
            println!("added trust configuration {} to crate `{}`", view.id, view.crate_name);
            println!("  issuer: {}", view.issuer);
            for rule in &view.rules {
                println!("  claim:  {rule}");
            }
            Ok(())
        }
        TrustCommand::List { krate, json } => {
            let name = CrateName::parse(&krate)?;
            if registry.load_crate_state(&name.normalized()).await?.is_none() {
                bail!("crate `{name}` does not exist");
            }
            let configs = registry.list_trust_configs(&name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&configs)?);
                return Ok(());
            }
            if configs.is_empty() {
                println!("crate `{name}` has no trust configurations");
                return Ok(());
            }
            for c in configs {
                println!("{}  issuer {}  (added {} by {})", c.id, c.issuer, c.created_at, c.created_by);
                for rule in &c.rules {
                    println!("    {rule}");
                }
            }
            Ok(())
        }
        TrustCommand::Remove { krate, id } => {
            let name = CrateName::parse(&krate)?;
            registry.delete_trust_config("cli", &name, &id).await?;
            println!("removed trust configuration {id} of crate `{name}`");
            Ok(())
        }
    }
}
