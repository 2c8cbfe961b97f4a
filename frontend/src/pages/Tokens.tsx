import { useMemo, useState, type FormEvent } from "react";
import { useLocation } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import { CreateTokenDocument, MyTokensDocument, RevokeTokenDocument, type Scope } from "../gql/graphql";
import { CodeBlock, Empty, ErrorState, Loading, describeError } from "../components";
import { signInUrl, useSession } from "../session";
import { formatDate } from "../lib/versions";

const SCOPES: { value: Scope; label: string }[] = [
  { value: "READ", label: "Read (index, downloads, search)" },
  { value: "PUBLISH_NEW", label: "Publish new crates" },
  { value: "PUBLISH_UPDATE", label: "Publish new versions" },
  { value: "YANK", label: "Yank and unyank" },
  { value: "CHANGE_OWNERS", label: "Change owners" },
];

export function parsePatterns(raw: string): string[] {
  return raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export default function Tokens() {
  const { session } = useSession();
  const location = useLocation();
  if (session.status !== "signed-in") {
    return (
      <section>
        <h1>Tokens</h1>
        <p>
          <a href={signInUrl(location.pathname)}>Sign in</a> to manage your cargo tokens.
        </p>
      </section>
    );
  }
  return <TokenManager />;
}

function TokenManager() {
  const context = useMemo(() => ({ additionalTypenames: ["Token"] }), []);
  const [{ data, fetching, error }] = useQuery({ query: MyTokensDocument, context });
  const [created, create] = useMutation(CreateTokenDocument);
  const [revoked, revoke] = useMutation(RevokeTokenDocument);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["PUBLISH_UPDATE", "YANK"]);
  const [patterns, setPatterns] = useState("");
  const [expiry, setExpiry] = useState("90");
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const days = expiry === "" ? null : Number(expiry);
    void create({
      input: { name: name.trim(), scopes, crates: parsePatterns(patterns), expiresInDays: days },
    }).then((r) => {
      if (r.data) {
        setSecret({ name: r.data.createToken.token.name, secret: r.data.createToken.secret });
        setName("");
      }
    });
  };
  const toggle = (s: Scope) =>
    setScopes((cur) => (cur.includes(s) ? cur.filter((x) => x !== s) : [...cur, s]));

  return (
    <section aria-labelledby="tokens-title">
      <h1 id="tokens-title">Cargo tokens</h1>
      {secret && (
        <div className="secret" role="status">
          <h2>Token “{secret.name}” created</h2>
          <p>Copy it now: it is shown this once. Give it to cargo with:</p>
          <CodeBlock code={secret.secret} label="token secret" />
          <CodeBlock code="cargo login --registry raktar" label="cargo login command" />
          <button type="button" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      <h2>Your tokens</h2>
      {revoked.error && (
        <p role="alert" className="error">
          {describeError(revoked.error)}
        </p>
      )}
      {fetching && !data ? (
        <Loading what="tokens" />
      ) : error ? (
        <ErrorState error={error} />
      ) : !data || data.myTokens.length === 0 ? (
        <Empty>You have no tokens yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="tokens">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Scopes</th>
                <th scope="col">Crates</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {data.myTokens.map((t) => (
                <tr key={t.name}>
                  <td>
                    {t.name} <code className="muted">{t.hint}…</code>
                  </td>
                  <td>{t.scopes.map((s) => s.toLowerCase().replace("_", "-")).join(", ")}</td>
                  <td>{t.crates.length ? t.crates.join(", ") : "all"}</td>
                  <td>
                    {t.expired ? (
                      <span className="badge yanked">expired</span>
                    ) : t.expiresAt ? (
                      formatDate(t.expiresAt)
                    ) : (
                      "never"
                    )}
                  </td>
                  <td>{t.lastUsedAt ? `${t.lastUsedAt.slice(0, 16).replace("T", " ")} UTC` : "never"}</td>
                  <td>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Revoke ${t.name}`}
                      disabled={revoked.fetching}
                      onClick={() => {
                        if (window.confirm(`Revoke token ${t.name}? It stops working at once.`))
                          void revoke({ name: t.name }, context);
                      }}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>New token</h2>
      <form onSubmit={submit} className="token-form">
        {created.error && (
          <p role="alert" className="error">
            {describeError(created.error)}
          </p>
        )}
        <label htmlFor="token-name">Name</label>
        <input
          id="token-name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
          maxLength={64}
          placeholder="laptop"
        />
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s.value} className="check">
              <input type="checkbox" checked={scopes.includes(s.value)} onChange={() => toggle(s.value)} />{" "}
              {s.label}
            </label>
          ))}
        </fieldset>
        <label htmlFor="token-crates">Crate patterns (optional, e.g. acme-*; empty: every crate)</label>
        <input id="token-crates" value={patterns} onChange={(e) => setPatterns(e.target.value)} />
        <label htmlFor="token-expiry">Expires after (days; empty: never)</label>
        <input
          id="token-expiry"
          type="number"
          min={1}
          max={3650}
          value={expiry}
          onChange={(e) => setExpiry(e.target.value)}
        />
        <button type="submit" disabled={created.fetching || scopes.length === 0}>
          Create token
        </button>
      </form>
    </section>
  );
}
