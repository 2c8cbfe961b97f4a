import { useMemo, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { AddTrustConfigDocument, RemoveTrustConfigDocument, TrustConfigsDocument } from "../gql/graphql";
import { Empty, Loading } from "../components";
import { formatDate } from "../lib/versions";
import {
  configLabel,
  EMPTY_FORM,
  PRESET_ISSUERS,
  trustErrorMessage,
  trustInput,
  type ClaimRow,
  type Preset,
  type TrustForm,
} from "../lib/trust";

const PRESETS: { value: Preset; label: string }[] = [
  { value: "github", label: "GitHub Actions" },
  { value: "gitlab", label: "GitLab CI" },
  { value: "generic", label: "Another CI (issuer and claim rules)" },
];

/**
 * The crate's trusted-publishing configurations (`trustConfigs`), with adding and removing. Shown
 * to those who may manage the crate only (the caller checks `viewerCanManage`).
 */
export default function TrustedPublishing({ crate }: { crate: string }) {
  // The list also refreshes after a removal (which returns a RemovedTrustConfig) and from empty.
  const context = useMemo(() => ({ additionalTypenames: ["TrustConfig"] }), []);
  const [{ data, fetching, error }, reload] = useQuery({
    query: TrustConfigsDocument,
    variables: { crate },
    context,
  });
  const [removed, remove] = useMutation(RemoveTrustConfigDocument);
  const configs = data?.trustConfigs;
  return (
    <section aria-labelledby="trust-title" className="trust">
      <h2 id="trust-title">Trusted publishing</h2>
      <p className="muted">
        CI jobs that match a configuration may exchange their OIDC ID token for a short-lived token that
        publishes and yanks versions of {crate}, without a stored secret. The registry must also allow the
        CI's issuer.
      </p>
      {removed.error && (
        <p role="alert" className="error">
          {trustErrorMessage(removed.error)}
        </p>
      )}
      {fetching && !data ? (
        <Loading what="trusted publishers" />
      ) : error ? (
        <p role="alert" className="error">
          {trustErrorMessage(error)}
        </p>
      ) : !configs || configs.length === 0 ? (
        <Empty>No CI is trusted to publish {crate} yet.</Empty>
      ) : (
        <ul className="trust-configs">
          {configs.map((c) => {
            const label = configLabel(c);
            return (
              <li key={c.id}>
                <div className="trust-head">
                  <h3>{label}</h3>
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Remove trusted publisher ${label} (${c.id})`}
                    disabled={removed.fetching}
                    onClick={() => {
                      if (
                        window.confirm(
                          `Stop trusting ${label} to publish ${crate}? Its CI jobs can no longer get publish tokens.`,
                        )
                      ) {
                        void remove({ crate, id: c.id }, context).then((r) => {
                          if (r.error) reload({ requestPolicy: "network-only" });
                        });
                      }
                    }}
                  >
                    Remove
                  </button>
                </div>
                <dl className="meta">
                  <dt>Issuer</dt>
                  <dd>
                    <code>{c.issuer}</code>
                  </dd>
                  <dt>Claims (all must hold)</dt>
                  <dd>
                    <ul className="claims">
                      {c.claims.map((r) => (
                        <li key={`${r.name}=${r.value}`}>
                          <code>{r.name}</code> {r.prefix ? "starts with" : "is"} <code>{r.value}</code>
                        </li>
                      ))}
                    </ul>
                  </dd>
                  <dt>Added</dt>
                  <dd>
                    {formatDate(c.createdAt)} by {c.createdBy}
                  </dd>
                </dl>
              </li>
            );
          })}
        </ul>
      )}
      <AddTrustConfig crate={crate} context={context} />
    </section>
  );
}

function AddTrustConfig({ crate, context }: { crate: string; context: { additionalTypenames: string[] } }) {
  const [form, setForm] = useState<TrustForm>(EMPTY_FORM);
  const [problem, setProblem] = useState<string | null>(null);
  const [added, setAdded] = useState<string | null>(null);
  const [state, add] = useMutation(AddTrustConfigDocument);
  const set = (patch: Partial<TrustForm>) => setForm((f) => ({ ...f, ...patch }));
  const setClaim = (i: number, patch: Partial<ClaimRow>) =>
    setForm((f) => ({ ...f, claims: f.claims.map((c, j) => (j === i ? { ...c, ...patch } : c)) }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setAdded(null);
    const built = trustInput(form);
    if ("problem" in built) {
      setProblem(built.problem);
      return;
    }
    setProblem(null);
    void add({ crate, input: built.input }, context).then((r) => {
      if (!r.error && r.data) {
        setAdded(configLabel(r.data.addTrustConfig));
        setForm({ ...EMPTY_FORM, preset: form.preset });
      }
    });
  };
  const preset = form.preset;
  const error = problem ?? (state.error ? trustErrorMessage(state.error) : null);
  return (
    <form onSubmit={submit} className="stack-form trust-form" aria-labelledby="trust-add-title">
      <h3 id="trust-add-title">Add a trusted publisher</h3>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {added && (
        <p role="status" className="ok">
          Added: {added}.
        </p>
      )}
      <fieldset>
        <legend>CI</legend>
        {PRESETS.map((p) => (
          <label key={p.value} className="check">
            <input
              type="radio"
              name="trust-preset"
              value={p.value}
              checked={preset === p.value}
              onChange={() => set({ preset: p.value })}
            />{" "}
            {p.label}
          </label>
        ))}
      </fieldset>
      {preset !== "generic" && (
        <>
          <label htmlFor="trust-repository">
            {preset === "github" ? "Repository (OWNER/REPO)" : "Project path (GROUP/PROJECT)"}
          </label>
          <input
            id="trust-repository"
            value={form.repository}
            onChange={(e) => set({ repository: e.target.value })}
            required
            autoComplete="off"
          />
          <label htmlFor="trust-workflow">
            {preset === "github"
              ? "Workflow file (optional, e.g. release.yml)"
              : "Pipeline file (optional, e.g. .gitlab-ci.yml)"}
          </label>
          <input
            id="trust-workflow"
            value={form.workflow}
            onChange={(e) => set({ workflow: e.target.value })}
            autoComplete="off"
          />
          <label htmlFor="trust-environment">Deployment environment (optional)</label>
          <input
            id="trust-environment"
            value={form.environment}
            onChange={(e) => set({ environment: e.target.value })}
            autoComplete="off"
          />
        </>
      )}
      <label htmlFor="trust-issuer">
        {preset === "generic" ? "Issuer URL (the tokens' iss claim)" : "Issuer URL (optional)"}
      </label>
      <input
        id="trust-issuer"
        type="url"
        value={form.issuer}
        onChange={(e) => set({ issuer: e.target.value })}
        required={preset === "generic"}
        placeholder={preset === "generic" ? "https://ci.example.com" : PRESET_ISSUERS[preset]}
        autoComplete="off"
      />
      <fieldset className="claim-rules">
        <legend>{preset === "generic" ? "Claim rules" : "More claim rules (optional)"}</legend>
        {form.claims.length === 0 && (
          <p className="muted">
            {preset === "generic"
              ? "Add at least one rule, such as the repository or project the jobs run for."
              : "The preset's rules are added for you."}
          </p>
        )}
        {form.claims.map((c, i) => (
          <div key={i} className="claim-row" role="group" aria-label={`Claim rule ${i + 1}`}>
            <label>
              Claim name
              <input
                value={c.name}
                onChange={(e) => setClaim(i, { name: e.target.value })}
                placeholder="repository"
                autoComplete="off"
              />
            </label>
            <label>
              Value
              <input
                value={c.value}
                onChange={(e) => setClaim(i, { value: e.target.value })}
                autoComplete="off"
              />
            </label>
            <label className="check">
              <input
                type="checkbox"
                checked={c.prefix}
                onChange={(e) => setClaim(i, { prefix: e.target.checked })}
              />{" "}
              Starts with (prefix match)
            </label>
            <button
              type="button"
              className="link-button"
              onClick={() => setForm((f) => ({ ...f, claims: f.claims.filter((_, j) => j !== i) }))}
            >
              Remove rule {i + 1}
            </button>
          </div>
        ))}
        <button
          type="button"
          onClick={() => set({ claims: [...form.claims, { name: "", value: "", prefix: false }] })}
        >
          Add a claim rule
        </button>
      </fieldset>
      <button type="submit" disabled={state.fetching}>
        Add trusted publisher
      </button>
    </form>
  );
}
