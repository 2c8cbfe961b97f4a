import { useState, type ReactNode } from "react";
import { Link, useLocation } from "react-router-dom";
import type { CombinedError } from "urql";
import { signInUrl, useSession } from "./session";
import { formatCount } from "./lib/versions";

export function Loading({ what }: { what: string }) {
  return (
    <p className="status" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="status empty">{children}</p>;
}

export function ErrorState({ error }: { error: CombinedError | string }) {
  const location = useLocation();
  const { session } = useSession();
  const message = typeof error === "string" ? error : describeError(error);
  const needsSignIn =
    typeof error !== "string" &&
    error.graphQLErrors.some((e) => e.extensions?.code === "UNAUTHENTICATED") &&
    session.status !== "signed-in";
  return (
    <div className="status error" role="alert">
      <p>{message}</p>
      {needsSignIn && (
        <p>
          <a href={signInUrl(location.pathname + location.search)}>Sign in</a> to see this page.
        </p>
      )}
    </div>
  );
}

export function describeError(error: CombinedError): string {
  if (error.networkError) return "The registry cannot be reached. Try again in a moment.";
  const first = error.graphQLErrors[0];
  return first ? first.message : error.message;
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="copy"
      aria-label={label}
      onClick={() => {
        void navigator.clipboard
          ?.writeText(text)
          .then(() => setDone(true))
          .catch(() => setDone(false));
      }}
    >
      {done ? "Copied" : "Copy"}
    </button>
  );
}

export function CodeBlock({ code, label }: { code: string; label: string }) {
  return (
    <div className="codeblock">
      <pre tabIndex={0} aria-label={label}>
        <code>{code}</code>
      </pre>
      <CopyButton text={code} label={`Copy ${label}`} />
    </div>
  );
}

export function CrateList({
  crates,
}: {
  crates: readonly {
    name: string;
    maxVersion: string;
    description?: string | null;
    downloads: { total: number };
  }[];
}) {
  return (
    <ul className="crate-list">
      {crates.map((c) => (
        <li key={c.name}>
          <Link to={`/crates/${encodeURIComponent(c.name)}`} className="crate-name">
            {c.name}
          </Link>{" "}
          <span className="version">{c.maxVersion}</span>
          {c.description && <p>{c.description}</p>}
          <span className="muted">{formatCount(c.downloads.total)} downloads</span>
        </li>
      ))}
    </ul>
  );
}
