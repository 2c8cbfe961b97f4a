import { Suspense, useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import {
  AddCrateOwnersDocument,
  CrateDependentsDocument,
  CratePageDocument,
  RemoveCrateOwnersDocument,
  UnyankVersionDocument,
  YankVersionDocument,
  type VersionDetailFragment,
} from "../gql/graphql";
import { CodeBlock, Empty, ErrorState, Loading, describeError } from "../components";
import { groupDependencies, kindLabel } from "../lib/deps";
import { formatBytes, formatCount, formatDate, sortVersionsDesc } from "../lib/versions";
import { DownloadChart } from "../lib/DownloadChart";

import { useRegistry } from "../lib/registry";
import { Markdown, TrustedPublishing } from "../lib/lazyPages";
import { useLoaded } from "../lib/lazy";
import { useAfterPaint } from "../lib/paint";
import { searchUrl } from "./Search";

function installSnippets(name: string, version: string, registry: string) {
  return {
    command: `cargo add ${name}@${version} --registry ${registry}`,
    toml: `${name} = { version = "${version}", registry = "${registry}" }`,
  };
}

export default function CratePage() {
  const { name = "", version } = useParams();
  const navigate = useNavigate();
  const registry = useRegistry();
  const [{ data, fetching, error }] = useQuery({
    query: CratePageDocument,
    variables: { name, version: version ?? "", hasVersion: version !== undefined },
  });
  // The README renderer loads while the crate is fetched (after the query is sent: evaluating it
  // earlier would hold the query back).
  const ReadmeView = useLoaded(Markdown);
  // The sections below the README follow the first paint.
  const rest = useAfterPaint(!!data?.crate);
  if (fetching && !data) return <Loading what={`crate ${name}`} />;
  if (error) return <ErrorState error={error} />;
  const krate = data?.crate;
  if (!krate) {
    return (
      <section>
        <h1>{name}</h1>
        <Empty>There is no crate named “{name}” in this registry.</Empty>
      </section>
    );
  }
  const current = version !== undefined ? krate.selected : krate.defaultVersion;
  // `undefined`: the answer for these variables has not arrived yet (null: no such version).
  if (current === undefined) return <Loading what={`crate ${name}`} />;
  if (!current) {
    return (
      <section>
        <h1>{krate.name}</h1>
        <Empty>
          {krate.name} has no version {version}. <Link to={`/crates/${krate.name}`}>See the latest</Link>.
        </Empty>
      </section>
    );
  }
  const me = data?.me;
  const isOwner = !!me && (me.role === "ADMIN" || krate.owners.some((o) => o.login === me.login));
  const versions = sortVersionsDesc(krate.versions);
  const snippets = installSnippets(krate.name, current.version, registry.name);
  const links = current.links;
  return (
    <article className="crate-page">
      <header className="crate-header">
        <h1>
          {krate.name} <span className="version">{current.version}</span>
          {current.yanked && <span className="badge yanked">yanked</span>}
        </h1>
        {current.description && <p className="lead">{current.description}</p>}
        <div className="version-switch">
          <label htmlFor="version-select">Version</label>{" "}
          <select
            id="version-select"
            value={current.version}
            onChange={(e) =>
              navigate(`/crates/${encodeURIComponent(krate.name)}/${encodeURIComponent(e.target.value)}`)
            }
          >
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version}
                {v.yanked ? " (yanked)" : ""}
              </option>
            ))}
          </select>
        </div>
      </header>
      <div className="crate-layout">
        <div className="crate-main">
          <section aria-labelledby="readme-title">
            <h2 id="readme-title">README</h2>
            {current.readme ? (
              <div className="readme">
                {ReadmeView ? (
                  <ReadmeView source={current.readme} repository={links.repository} />
                ) : (
                  <Loading what="README" />
                )}
              </div>
            ) : (
              <Empty>This version has no README.</Empty>
            )}
          </section>
          {rest && (
            <>
              <Dependencies deps={current.dependencies} />
              <Features features={current.features} />
              <Versions crate={krate.name} versions={versions} isOwner={isOwner} current={current.version} />
              <Dependents key={krate.name} crate={krate.name} />
            </>
          )}
          {rest && krate.viewerCanManage && (
            <Suspense fallback={<Loading what="trusted publishing" />}>
              <TrustedPublishing key={krate.name} crate={krate.name} />
            </Suspense>
          )}
        </div>
        <aside className="crate-side" aria-label="About this crate">
          <section aria-labelledby="install-title">
            <h2 id="install-title">Install</h2>
            <CodeBlock code={snippets.command} label="cargo add command" />
            <p className="muted">or in Cargo.toml:</p>
            <CodeBlock code={snippets.toml} label="Cargo.toml line" />
          </section>
          <section aria-labelledby="meta-title">
            <h2 id="meta-title">Details</h2>
            <dl className="meta">
              <dt>License</dt>
              <dd>{current.license ?? "not declared"}</dd>
              <dt>Published</dt>
              <dd>
                {formatDate(current.publishedAt)}
                {current.publisher && (
                  <>
                    {" "}
                    by <Link to={`/users/${current.publisher.login}`}>{current.publisher.login}</Link>
                  </>
                )}
              </dd>
              <dt>Size</dt>
              <dd>
                {formatBytes(current.size)} ({formatBytes(current.unpackedSize)} unpacked)
              </dd>
              {current.rustVersion && (
                <>
                  <dt>Rust version</dt>
                  <dd>{current.rustVersion}</dd>
                </>
              )}
              {current.nativeLibrary && (
                <>
                  <dt>Links native library</dt>
                  <dd>{current.nativeLibrary}</dd>
                </>
              )}
              {current.authors.length > 0 && (
                <>
                  <dt>Authors</dt>
                  <dd>{current.authors.join(", ")}</dd>
                </>
              )}
            </dl>
            <LinkList links={links} />
            <TagList
              title="Keywords"
              items={current.keywords}
              href={(k) => `/search?q=${encodeURIComponent(k)}`}
            />
            <TagList
              title="Categories"
              items={current.categories}
              href={(c) => searchUrl("", "RELEVANCE", { category: c })}
            />
          </section>
          <section aria-labelledby="downloads-title">
            <h2 id="downloads-title">Downloads</h2>
            <p>
              {formatCount(krate.downloads.total)} in total, {formatCount(current.downloads)} of{" "}
              {current.version}
            </p>
            <DownloadChart days={krate.downloads.daily} title="Daily downloads, all versions" />
            <DownloadChart days={current.downloadsByDay} title={`Daily downloads of ${current.version}`} />
          </section>
          <Owners crate={krate.name} owners={krate.owners} isOwner={isOwner} />
        </aside>
      </div>
    </article>
  );
}

function LinkList({ links }: { links: VersionDetailFragment["links"] }) {
  const all: [string, string | null | undefined][] = [
    ["Homepage", links.homepage],
    ["Documentation", links.documentation],
    ["Repository", links.repository],
  ];
  const items = all.filter((x): x is [string, string] => !!x[1] && /^https?:\/\//i.test(x[1]));
  if (items.length === 0) return null;
  return (
    <ul className="links">
      {items.map(([label, url]) => (
        <li key={label}>
          <a href={url} rel="nofollow noopener noreferrer">
            {label}
          </a>
        </li>
      ))}
    </ul>
  );
}

function TagList({
  title,
  items,
  href,
}: {
  title: string;
  items: readonly string[];
  href: (item: string) => string;
}) {
  if (items.length === 0) return null;
  return (
    <div className="tags">
      <h3>{title}</h3>
      <ul>
        {items.map((k) => (
          <li key={k}>
            <Link to={href(k)}>{k}</Link>
          </li>
        ))}
      </ul>
    </div>
  );
}

function Dependencies({ deps }: { deps: VersionDetailFragment["dependencies"] }) {
  const groups = groupDependencies(deps);
  return (
    <section aria-labelledby="deps-title">
      <h2 id="deps-title">Dependencies</h2>
      {groups.length === 0 ? (
        <Empty>No dependencies.</Empty>
      ) : (
        groups.map((g) => (
          <div key={`${g.kind}-${g.target ?? ""}`} className="dep-group">
            <h3>
              {kindLabel(g.kind)}
              {g.target && <span className="target"> for {g.target}</span>}
            </h3>
            <ul>
              {g.deps.map((d) => (
                <li key={`${d.alias ?? d.name}-${d.req}`}>
                  {d.crate ? <Link to={`/crates/${d.crate.name}`}>{d.name}</Link> : <span>{d.name}</span>}{" "}
                  <code>{d.req}</code>
                  {d.alias && <span className="muted"> as {d.alias}</span>}
                  {d.optional && <span className="badge">optional</span>}
                  {!d.defaultFeatures && <span className="badge">no default features</span>}
                  {d.features.length > 0 && <span className="muted"> features: {d.features.join(", ")}</span>}
                  {d.registry && <span className="muted"> from {d.registry}</span>}
                </li>
              ))}
            </ul>
          </div>
        ))
      )}
    </section>
  );
}

function Features({ features }: { features: VersionDetailFragment["features"] }) {
  return (
    <section aria-labelledby="features-title">
      <h2 id="features-title">Features</h2>
      {features.length === 0 ? (
        <Empty>No features.</Empty>
      ) : (
        <dl className="features">
          {features.map((f) => (
            <div key={f.name}>
              <dt>
                <code>{f.name}</code>
              </dt>
              <dd>{f.enables.length ? f.enables.join(", ") : "enables nothing else"}</dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
}

interface VersionRow {
  version: string;
  yanked: boolean;
  publishedAt: string;
  size: number;
  rustVersion?: string | null;
  downloads: number;
}

function Versions({
  crate,
  versions,
  isOwner,
  current,
}: {
  crate: string;
  versions: VersionRow[];
  isOwner: boolean;
  current: string;
}) {
  const [yankState, yank] = useMutation(YankVersionDocument);
  const [unyankState, unyank] = useMutation(UnyankVersionDocument);
  const mutationError = yankState.error ?? unyankState.error;
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      {mutationError && (
        <p role="alert" className="error">
          {describeError(mutationError)}
        </p>
      )}
      <div className="table-wrap">
        <table className="versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Published</th>
              <th scope="col">Size</th>
              <th scope="col">Rust</th>
              <th scope="col">Downloads</th>
              {isOwner && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.version} className={v.yanked ? "is-yanked" : undefined}>
                <td>
                  <Link
                    to={`/crates/${encodeURIComponent(crate)}/${encodeURIComponent(v.version)}`}
                    aria-current={v.version === current ? "page" : undefined}
                  >
                    {v.version}
                  </Link>
                  {v.yanked && <span className="badge yanked">yanked</span>}
                </td>
                <td>{formatDate(v.publishedAt)}</td>
                <td>{formatBytes(v.size)}</td>
                <td>{v.rustVersion ?? "—"}</td>
                <td>{formatCount(v.downloads)}</td>
                {isOwner && (
                  <td>
                    {v.yanked ? (
                      <button
                        type="button"
                        aria-label={`Unyank ${v.version}`}
                        disabled={unyankState.fetching}
                        onClick={() => void unyank({ crate, version: v.version })}
                      >
                        Unyank
                      </button>
                    ) : (
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Yank ${v.version}`}
                        disabled={yankState.fetching}
                        onClick={() => {
                          if (window.confirm(`Yank ${crate} ${v.version}?`))
                            void yank({ crate, version: v.version });
                        }}
                      >
                        Yank
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Owners({
  crate,
  owners,
  isOwner,
}: {
  crate: string;
  owners: readonly { login: string; name?: string | null }[];
  isOwner: boolean;
}) {
  const [addState, add] = useMutation(AddCrateOwnersDocument);
  const [removeState, remove] = useMutation(RemoveCrateOwnersDocument);
  const [login, setLogin] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const logins = login
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (logins.length === 0) return;
    void add({ crate, logins }).then((r) => {
      if (!r.error) setLogin("");
    });
  };
  const error = addState.error ?? removeState.error;
  return (
    <section aria-labelledby="owners-title">
      <h2 id="owners-title">Owners</h2>
      {error && (
        <p role="alert" className="error">
          {describeError(error)}
        </p>
      )}
      <ul className="owners">
        {owners.map((o) => (
          <li key={o.login}>
            <Link to={`/users/${encodeURIComponent(o.login)}`}>
              {o.name ? `${o.name} (${o.login})` : o.login}
            </Link>
            {isOwner && owners.length > 1 && (
              <button
                type="button"
                className="link-button"
                disabled={removeState.fetching}
                onClick={() => {
                  if (window.confirm(`Remove ${o.login} from the owners of ${crate}?`))
                    void remove({ crate, logins: [o.login] });
                }}
              >
                Remove {o.login}
              </button>
            )}
          </li>
        ))}
      </ul>
      {isOwner && (
        <form onSubmit={submit} className="inline-form">
          <label htmlFor="owner-login">Add owner (login)</label>
          <div className="row">
            <input id="owner-login" value={login} onChange={(e) => setLogin(e.target.value)} required />
            <button type="submit" disabled={addState.fetching}>
              Add
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

export const DEPENDENTS_PAGE = 20;

/** Crates whose highest version depends on this one, a page at a time ("Show more"). */
function Dependents({ crate }: { crate: string }) {
  // One entry per loaded page: the cursor it starts after (null: the first page).
  const [pages, setPages] = useState<(string | null)[]>([null]);
  return (
    <section aria-labelledby="dependents-title">
      <h2 id="dependents-title">Dependents</h2>
      {pages.map((after, i) => (
        <DependentsPage
          key={after ?? ""}
          crate={crate}
          after={after}
          first={i === 0}
          last={i === pages.length - 1}
          onMore={(cursor) => setPages((p) => (p.includes(cursor) ? p : [...p, cursor]))}
        />
      ))}
    </section>
  );
}

function DependentsPage({
  crate,
  after,
  first,
  last,
  onMore,
}: {
  crate: string;
  after: string | null;
  first: boolean;
  last: boolean;
  onMore: (cursor: string) => void;
}) {
  const [{ data, fetching, error }] = useQuery({
    query: CrateDependentsDocument,
    variables: { name: crate, first: DEPENDENTS_PAGE, after },
  });
  const list = useRef<HTMLUListElement>(null);
  const loaded = !!data?.crate;
  // A page loaded by "Show more" takes the focus to its first crate (the button is gone).
  useEffect(() => {
    if (!first && loaded) list.current?.querySelector("a")?.focus();
  }, [first, loaded]);
  if (fetching && !data) return <Loading what={first ? "dependents" : "more dependents"} />;
  if (error) {
    return (
      <p role="alert" className="error">
        {describeError(error)}
      </p>
    );
  }
  const conn = data?.crate?.dependents;
  if (!conn) return null;
  if (first && conn.totalCount === 0) return <Empty>No crate of this registry depends on {crate}.</Empty>;
  const next = conn.pageInfo.hasNextPage ? conn.pageInfo.endCursor : null;
  return (
    <>
      {first && (
        <p className="muted">
          {conn.totalCount} {conn.totalCount === 1 ? "crate depends" : "crates depend"} on {crate} (in their
          highest version).
        </p>
      )}
      <ul className="dependents" ref={list}>
        {conn.nodes.map((d) => (
          <li key={`${d.crate.name} ${d.kind} ${d.target ?? ""} ${d.req}`}>
            <Link to={`/crates/${encodeURIComponent(d.crate.name)}`}>{d.crate.name}</Link>{" "}
            <span className="version">{d.version}</span> requires <code>{d.req}</code>
            {d.kind !== "NORMAL" && <span className="badge">{d.kind.toLowerCase()} dependency</span>}
            {d.optional && <span className="badge">optional</span>}
            {d.target && <span className="muted"> for {d.target}</span>}
            {d.crate.description && <p className="muted">{d.crate.description}</p>}
          </li>
        ))}
      </ul>
      {last && next && (
        <p>
          <button type="button" onClick={() => onMore(next)}>
            Show more dependents
          </button>
        </p>
      )}
    </>
  );
}
