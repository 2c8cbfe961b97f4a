import { describe, expect, it } from "vitest";
import { CombinedError } from "urql";
import { GraphQLError } from "graphql";
import { configLabel, EMPTY_FORM, trustErrorMessage, trustInput } from "./trust";

describe("trustInput", () => {
  it("builds the GitHub preset, leaving blank fields out", () => {
    expect(trustInput({ ...EMPTY_FORM, repository: " acme/widget ", workflow: "release.yml" })).toEqual({
      input: {
        githubRepository: "acme/widget",
        workflow: "release.yml",
        issuer: undefined,
        environment: undefined,
        claims: [],
      },
    });
  });
  it("builds the GitLab preset with extra claim rules", () => {
    const r = trustInput({
      ...EMPTY_FORM,
      preset: "gitlab",
      repository: "group/project",
      environment: "production",
      claims: [
        { name: "ref_protected", value: "true", prefix: false },
        { name: "", value: "", prefix: false },
      ],
    });
    expect(r).toEqual({
      input: {
        gitlabProject: "group/project",
        environment: "production",
        issuer: undefined,
        workflow: undefined,
        claims: [{ name: "ref_protected", value: "true", prefix: false }],
      },
    });
  });
  it("needs an issuer and a rule without a preset", () => {
    expect(trustInput({ ...EMPTY_FORM, preset: "generic" })).toEqual({
      problem: "Give the CI's issuer URL.",
    });
    expect(trustInput({ ...EMPTY_FORM, preset: "generic", issuer: "https://ci.example" })).toHaveProperty(
      "problem",
    );
    expect(
      trustInput({
        ...EMPTY_FORM,
        preset: "generic",
        issuer: "https://ci.example",
        claims: [{ name: "repo", value: "acme/", prefix: true }],
      }),
    ).toEqual({
      input: { issuer: "https://ci.example", claims: [{ name: "repo", value: "acme/", prefix: true }] },
    });
  });
  it("refuses half a claim rule and a missing repository", () => {
    expect(
      trustInput({ ...EMPTY_FORM, repository: "a/b", claims: [{ name: "x", value: "", prefix: false }] }),
    ).toEqual({ problem: "Claim rule 1 needs both a name and a value." });
    expect(trustInput(EMPTY_FORM)).toEqual({ problem: "Give the GitHub repository (OWNER/REPO)." });
  });
});

describe("configLabel", () => {
  it("names presets by repository or project, others by issuer", () => {
    const claims = [{ name: "repository", value: "acme/widget" }];
    expect(configLabel({ issuer: "https://token.actions.githubusercontent.com", claims })).toBe(
      "GitHub Actions: acme/widget",
    );
    expect(
      configLabel({ issuer: "https://gitlab.example", claims: [{ name: "project_path", value: "g/p" }] }),
    ).toBe("GitLab CI: g/p");
    expect(configLabel({ issuer: "https://ci.example", claims })).toBe("https://ci.example");
  });
});

describe("trustErrorMessage", () => {
  const err = (code: string, message: string) =>
    new CombinedError({ graphQLErrors: [new GraphQLError(message, { extensions: { code } })] });
  it("explains each code", () => {
    expect(trustErrorMessage(err("BAD_USER_INPUT", "the GitHub repository is OWNER/REPO"))).toBe(
      "Not accepted: the GitHub repository is OWNER/REPO",
    );
    expect(trustErrorMessage(err("CONFLICT", "already trusts"))).toBe("Already there: already trusts");
    expect(trustErrorMessage(err("FORBIDDEN", "no"))).toMatch(/^Not allowed: no\. Only owners/);
    expect(trustErrorMessage(err("UNAUTHENTICATED", "x"))).toMatch(/Sign in again/);
    expect(trustErrorMessage(err("SOMETHING_NEW", "as sent"))).toBe("as sent");
  });
  it("says when the registry cannot be reached", () => {
    expect(trustErrorMessage(new CombinedError({ networkError: new Error("down") }))).toMatch(
      /cannot be reached/,
    );
  });
});
