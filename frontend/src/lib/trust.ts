// Trusted publishing: the add form's values turned into `AddTrustConfigInput`, labels for a
// configuration, and error messages by `extensions.code`.
import type { CombinedError } from "urql";
import type { AddTrustConfigInput } from "../gql/graphql";

export type Preset = "github" | "gitlab" | "generic";

/** The issuers the server assumes for a preset when none is given. */
export const PRESET_ISSUERS: Record<Exclude<Preset, "generic">, string> = {
  github: "https://token.actions.githubusercontent.com",
  gitlab: "https://gitlab.com",
};

export interface ClaimRow {
  name: string;
  value: string;
  prefix: boolean;
}

export interface TrustForm {
  preset: Preset;
  /** OWNER/REPO (GitHub) or GROUP/PROJECT (GitLab). */
  repository: string;
  workflow: string;
  environment: string;
  issuer: string;
  claims: ClaimRow[];
}

export const EMPTY_FORM: TrustForm = {
  preset: "github",
  repository: "",
  workflow: "",
  environment: "",
  issuer: "",
  claims: [],
};

/**
 * The mutation input for the form, or a sentence saying what is missing. Blank optional fields are
 * left out; claim rows with neither name nor value are ignored.
 */
export function trustInput(form: TrustForm): { input: AddTrustConfigInput } | { problem: string } {
  const opt = (s: string) => (s.trim() === "" ? undefined : s.trim());
  const claims = [];
  for (const [i, row] of form.claims.entries()) {
    const name = row.name.trim();
    if (name === "" && row.value === "") continue;
    if (name === "" || row.value === "")
      return { problem: `Claim rule ${i + 1} needs both a name and a value.` };
    claims.push({ name, value: row.value, prefix: row.prefix });
  }
  const issuer = opt(form.issuer);
  if (form.preset === "generic") {
    if (!issuer) return { problem: "Give the CI's issuer URL." };
    if (claims.length === 0)
      return { problem: "Add at least one claim rule: otherwise every job of the issuer could publish." };
    return { input: { issuer, claims } };
  }
  const repository = opt(form.repository);
  if (!repository) {
    return {
      problem:
        form.preset === "github"
          ? "Give the GitHub repository (OWNER/REPO)."
          : "Give the GitLab project path.",
    };
  }
  const input: AddTrustConfigInput = {
    issuer,
    workflow: opt(form.workflow),
    environment: opt(form.environment),
    claims,
  };
  if (form.preset === "github") input.githubRepository = repository;
  else input.gitlabProject = repository;
  return { input };
}

/** A short name for a configuration: the CI and the repository or project when known. */
export function configLabel(config: {
  issuer: string;
  claims: readonly { name: string; value: string }[];
}): string {
  const claim = (n: string) => config.claims.find((c) => c.name === n)?.value;
  const repo = claim("repository");
  if (config.issuer === PRESET_ISSUERS.github && repo) return `GitHub Actions: ${repo}`;
  const project = claim("project_path");
  if (project) return `GitLab CI: ${project}`;
  return config.issuer;
}

/** What went wrong, in words that say what to do, from the error's `extensions.code`. */
export function trustErrorMessage(error: CombinedError): string {
  if (error.networkError) return "The registry cannot be reached. Try again in a moment.";
  const first = error.graphQLErrors[0];
  if (!first) return error.message;
  const code = typeof first.extensions?.code === "string" ? first.extensions.code : "";
  switch (code) {
    case "BAD_USER_INPUT":
      return `Not accepted: ${first.message}`;
    case "CONFLICT":
      return `Already there: ${first.message}`;
    case "FORBIDDEN":
      return `Not allowed: ${first.message}. Only owners of the crate and administrators manage trusted publishing.`;
    case "UNAUTHENTICATED":
      return "Your session has ended. Sign in again to manage trusted publishing.";
    case "NOT_FOUND":
      return `Not found: ${first.message}. The list has been reloaded.`;
    case "RATE_LIMITED":
      return "Too many attempts. Wait a moment and try again.";
    case "INTERNAL":
      return "The registry failed to do this (the error has been logged). Try again later.";
    default:
      return first.message;
  }
}
