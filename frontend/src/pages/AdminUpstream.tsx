import { useMemo, useState, type FormEvent } from "react";
import { Link, useLocation } from "react-router-dom";
import { useMutation, useQuery, type CombinedError } from "urql";
import {
  NameCollisionsDocument,
  PurgeUpstreamCacheDocument,
  ReleaseNameDocument,
  ReservedNamesDocument,
  ReserveNameDocument,
  UpstreamCacheDocument,
  type UpstreamCacheQuery,
} from "../gql/graphql";
import { CodeBlock, Empty, ErrorState, Loading, describeError } from "../components";
import { signInUrl, useSession } from "../session";
import { useRegistry } from "../lib/registry";
import { formatCount } from "../lib/versions";
import { duration, humanBytes, percent, upstreamCargoConfig, utcMinute } from "./upstreamFormat";

const MOST_FETCHED = 10;

/** The `extensions.code` of the first GraphQL error (`CONFLICT`, `BAD_USER_INPUT`, ...). */
function errorCode(error: CombinedError | undefined): string | null {
  const code = error?.graphQLErrors[0]?.extensions?.code;
  return typeof code === "string" ? code : null;
}

/** `/admin/upstream`: the pull-through cache of crates-io and the dependency-confusion guard. */
export default function AdminUpstream() {
  const { session } = useSession();
  const location = useLocation();
  if (session.status !== "signed-in") {
    return (
      <section>
        <h1>Upstream</h1>
        <p>
          <Link to={signInUrl(location.pathname + location.search)}>Sign in</Link> as an administrator to
          manage the upstream cache and reserved names.
        </p>
      </section>
    );
  }
  if (session.user.role !== "admin") {
    return (
      <section>
        <h1>Upstream</h1>
        <div className="status error" role="alert">
          <p>Only administrators manage the upstream cache and reserved names (403).</p>
        </div>
      </section>
    );
  }
  return (
    <section className="upstream-admin">
      <h1>Upstream</h1>
      <p className="lead">
        The pull-through cache of crates-io and the names guarded against dependency confusion.
      </p>
      <CachePanel />
      <ReservedNamesPanel />
      <CollisionsPanel />
    </section>
  );
}

function CachePanel() {
  const [{ data, fetching, error }, reload] = useQuery({
    query: UpstreamCacheDocument,
    variables: { mostFetched: MOST_FETCHED },
    requestPolicy: "cache-and-network",
  });
  const refresh = () => reload({ requestPolicy: "network-only" });
  return (
    <section aria-labelledby="cache-heading" className="panel">
      <h2 id="cache-heading">Pull-through cache</h2>
      {fetching && !data ? (
        <Loading what="the cache figures" />
      ) : error && !data ? (
        <ErrorState error={error} />
      ) : !data?.upstreamCache ? (
        <NotConfigured />
      ) : (
        <CacheFigures cache={data.upstreamCache} refreshing={fetching} onChanged={refresh} />
      )}
    </section>
  );
}

function NotConfigured() {
  return (
    <div className="not-configured">
      <p>
        <strong>No upstream registry is configured.</strong> Without one, this registry serves only its
        private crates, and new crate names are not compared with crates-io.
      </p>
      <p>
        To enable the pull-through cache and the dependency-confusion guard, start the server with{" "}
        <code>--upstream-sparse URL</code> (or the environment variable <code>RAKTAR_UPSTREAM_SPARSE</code>,
        or <code>sparse_index</code> in the <code>[upstream]</code> section of the configuration file), where
        URL is the sparse index URL of crates-io: what follows <code>sparse+</code> in a cargo configuration.
        Optional: <code>--upstream-freshness</code> (default 5 minutes) and{" "}
        <code>--upstream-unchecked-names</code> (<code>refuse</code> or <code>allow</code>).
      </p>
      <p>
        The registry then serves a second sparse index at <code>/upstream/index/</code>, and refuses a new
        crate whose name exists upstream unless an administrator reserved the name below.
      </p>
    </div>
  );
}

type Cache = NonNullable<UpstreamCacheQuery["upstreamCache"]>;

function CacheFigures({
  cache,
  refreshing,
  onChanged,
}: {
  cache: Cache;
  refreshing: boolean;
  onChanged: () => void;
}) {
  const registry = useRegistry();
  const [purgeState, purge] = useMutation(PurgeUpstreamCacheDocument);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const doPurge = (name: string | null) => {
    setOutcome(null);
    setProblem(null);
    void purge({ name }).then((r) => {
      if (r.error) {
        setProblem(describeError(r.error));
      } else if (r.data) {
        const p = r.data.purgeUpstreamCache;
        const what = name ? `the cached files of ${name}` : "the whole cache";
        setOutcome(
          `Purged ${what}: ${p.indexFiles} index ${p.indexFiles === 1 ? "file" : "files"}, ${p.crateFiles} crate ${
            p.crateFiles === 1 ? "file" : "files"
          } (${humanBytes(p.bytes)}).`,
        );
      }
      onChanged();
    });
  };

  const cacheAnswers = cache.hits + cache.revalidated + cache.stale;
  return (
    <>
      <dl className="figures">
        <div>
          <dt>Upstream URL</dt>
          <dd>
            <code>{cache.upstreamUrl}</code>
          </dd>
        </div>
        <div>
          <dt>Freshness</dt>
          <dd>{duration(cache.freshnessSeconds)}</dd>
        </div>
        <div>
          <dt>Index files</dt>
          <dd>
            {formatCount(cache.indexFiles)} ({humanBytes(cache.indexBytes)})
          </dd>
        </div>
        <div>
          <dt>Crate files</dt>
          <dd>
            {formatCount(cache.crateFiles)} ({humanBytes(cache.crateBytes)})
          </dd>
        </div>
        <div>
          <dt>Hit ratio</dt>
          <dd>
            {percent(cache.hitRatio)}
            {cache.hitRatio === null && <span className="muted"> (no answer yet)</span>}
          </dd>
        </div>
        <div>
          <dt>Answers</dt>
          <dd>
            {formatCount(cache.hits)} hits, {formatCount(cache.revalidated)} revalidated,{" "}
            {formatCount(cache.stale)} stale, {formatCount(cache.misses)} misses
            <span className="visually-hidden"> ({formatCount(cacheAnswers)} answered from the cache)</span>
          </dd>
        </div>
        <div>
          <dt>Upstream errors</dt>
          <dd className={cache.errors > 0 ? "error" : undefined}>{formatCount(cache.errors)}</dd>
        </div>
        <div>
          <dt>Refused files</dt>
          <dd className={cache.rejected > 0 ? "error" : undefined}>
            {formatCount(cache.rejected)}
            <span className="muted"> (checksum mismatch)</span>
          </dd>
        </div>
      </dl>

      <div className="panel-actions">
        <button type="button" onClick={onChanged} disabled={refreshing}>
          Refresh figures
        </button>
        <button
          type="button"
          className="danger"
          disabled={purgeState.fetching}
          onClick={() => {
            if (
              window.confirm(
                "Purge the whole upstream cache? Every index file and crate is fetched again on its next request (and fails while the upstream is unreachable).",
              )
            )
              doPurge(null);
          }}
        >
          Purge everything
        </button>
      </div>
      {outcome && (
        <p role="status" className="notice">
          {outcome}
        </p>
      )}
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}

      <h3>Most downloaded cached crates</h3>
      {cache.mostFetched.length === 0 ? (
        <Empty>No crate has been fetched through the cache yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Crate</th>
                <th scope="col">Version</th>
                <th scope="col">Size</th>
                <th scope="col">Downloads</th>
                <th scope="col">Fetched</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {cache.mostFetched.map((c) => (
                <tr key={`${c.name}@${c.version}`}>
                  <td>{c.name}</td>
                  <td>{c.version}</td>
                  <td>{humanBytes(c.size)}</td>
                  <td>{formatCount(c.downloads)}</td>
                  <td>{utcMinute(c.fetchedAt)}</td>
                  <td className="actions">
                    <button
                      type="button"
                      disabled={purgeState.fetching}
                      aria-label={`Purge ${c.name} from the cache`}
                      onClick={() => doPurge(c.name)}
                    >
                      Purge
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h3>Building through the cache</h3>
      <p>
        Users replace crates-io with this registry&apos;s pull-through index in{" "}
        <code>~/.cargo/config.toml</code> (or a project&apos;s or CI runner&apos;s{" "}
        <code>.cargo/config.toml</code>) and log in to it with a token:
      </p>
      <CodeBlock
        code={upstreamCargoConfig(registry.name, registry.indexUrl)}
        label="cargo configuration for the pull-through cache"
      />
      <CodeBlock
        code={`cargo login --registry ${registry.name}-upstream`}
        label="cargo login for the pull-through cache"
      />
    </>
  );
}

function ReservedNamesPanel() {
  const context = useMemo(() => ({ additionalTypenames: ["ReservedName"] }), []);
  const [{ data, fetching, error }, reload] = useQuery({ query: ReservedNamesDocument, context });
  const [, release] = useMutation(ReleaseNameDocument);
  const [releaseProblem, setReleaseProblem] = useState<string | null>(null);
  const [released, setReleased] = useState<string | null>(null);

  const doRelease = (name: string) => {
    if (
      !window.confirm(
        `Release the name ${name}? A new private crate of that name is then refused if the name exists upstream, and the pull-through index may serve the public crate.`,
      )
    )
      return;
    setReleaseProblem(null);
    setReleased(null);
    void release({ name }).then((r) => {
      if (r.error) {
        setReleaseProblem(
          errorCode(r.error) === "NOT_FOUND"
            ? `${name} is not reserved (any more).`
            : `Could not release ${name}: ${describeError(r.error)}`,
        );
      } else {
        setReleased(name);
      }
      reload({ requestPolicy: "network-only" });
    });
  };

  const names = data?.reservedNames;
  return (
    <section aria-labelledby="reserved-heading" className="panel">
      <h2 id="reserved-heading">Reserved names</h2>
      <p>
        A reserved name may be taken by a new private crate although it exists upstream, and the pull-through
        index never serves the upstream crate of that name.
      </p>
      <ReserveForm onReserved={() => setReleased(null)} />
      {released && (
        <p role="status" className="notice">
          Released {released}.
        </p>
      )}
      {releaseProblem && (
        <p role="alert" className="error">
          {releaseProblem}
        </p>
      )}
      {fetching && !data ? (
        <Loading what="reserved names" />
      ) : error && !data ? (
        <ErrorState error={error} />
      ) : !names || names.length === 0 ? (
        <Empty>No name is reserved.</Empty>
      ) : (
        <div className="table-wrap">
          <table aria-labelledby="reserved-heading">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Note</th>
                <th scope="col">Reserved by</th>
                <th scope="col">Reserved at</th>
                <th scope="col">Published</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {names.map((n) => (
                <tr key={n.name}>
                  <td>
                    {n.published ? (
                      <Link to={`/crates/${encodeURIComponent(n.name)}`}>{n.name}</Link>
                    ) : (
                      n.name
                    )}
                  </td>
                  <td className="wrap">{n.note ?? ""}</td>
                  <td>{n.reservedBy}</td>
                  <td>{utcMinute(n.reservedAt)}</td>
                  <td>{n.published ? "yes" : "no"}</td>
                  <td className="actions">
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Release ${n.name}`}
                      onClick={() => doRelease(n.name)}
                    >
                      Release
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function ReserveForm({ onReserved }: { onReserved: () => void }) {
  const [name, setName] = useState("");
  const [note, setNote] = useState("");
  const [state, reserve] = useMutation(ReserveNameDocument);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const context = useMemo(() => ({ additionalTypenames: ["ReservedName"] }), []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const wanted = name.trim();
    setProblem(null);
    setDone(null);
    void reserve({ name: wanted, note: note.trim() || null }, context).then((r) => {
      if (r.error) {
        const code = errorCode(r.error);
        setProblem(
          code === "CONFLICT"
            ? `${wanted} is already reserved.`
            : code === "BAD_USER_INPUT"
              ? `${wanted} is not a valid crate name: ${describeError(r.error)}`
              : describeError(r.error),
        );
      } else if (r.data) {
        setDone(r.data.reserveName.name);
        setName("");
        setNote("");
        onReserved();
      }
    });
  };

  return (
    <form className="reserve-form" onSubmit={submit} aria-label="Reserve a name">
      <label>
        Crate name
        <input
          required
          value={name}
          autoComplete="off"
          spellCheck={false}
          aria-describedby={problem ? "reserve-problem" : undefined}
          aria-invalid={problem ? true : undefined}
          onChange={(e) => setName(e.target.value)}
        />
      </label>
      <label>
        <span>
          Note <span className="muted">(optional)</span>
        </span>
        <input value={note} onChange={(e) => setNote(e.target.value)} />
      </label>
      <button type="submit" disabled={state.fetching || !name.trim()}>
        Reserve name
      </button>
      <div className="form-feedback">
        {problem && (
          <p role="alert" id="reserve-problem" className="error">
            {problem}
          </p>
        )}
        {done && (
          <p role="status" className="notice">
            Reserved {done}.
          </p>
        )}
      </div>
    </form>
  );
}

function CollisionsPanel() {
  const [requested, setRequested] = useState(false);
  const [{ data, fetching, error }, reload] = useQuery({
    query: NameCollisionsDocument,
    pause: !requested,
    requestPolicy: "network-only",
  });
  const check = () => {
    if (requested) reload({ requestPolicy: "network-only" });
    else setRequested(true);
  };
  const code = errorCode(error);
  const message =
    code === "UPSTREAM_UNAVAILABLE"
      ? `The upstream registry cannot be reached right now, so the names could not be compared. Try again later. (${describeError(error as CombinedError)})`
      : code === "BAD_USER_INPUT"
        ? "No upstream registry is configured, so there is nothing to compare the private crate names with."
        : error
          ? describeError(error)
          : null;
  const collisions = data?.nameCollisions;
  return (
    <section aria-labelledby="collisions-heading" className="panel">
      <h2 id="collisions-heading">Name collisions</h2>
      <p>
        Private crates whose names also exist upstream: reserved ones are accepted collisions; the others
        (published before the guard was enabled, or imported) are worth investigating. The check asks the
        upstream for every name it has not cached, so it runs only on request.
      </p>
      <div className="panel-actions">
        <button type="button" onClick={check} disabled={fetching}>
          {requested ? "Check again" : "Check for collisions"}
        </button>
      </div>
      {!requested ? null : fetching ? (
        <Loading what="name collisions (asking the upstream)" />
      ) : message ? (
        <div className="status error" role="alert">
          <p>{message}</p>
        </div>
      ) : !collisions || collisions.length === 0 ? (
        <Empty>No private crate has a name that exists upstream.</Empty>
      ) : (
        <div className="table-wrap">
          <table aria-labelledby="collisions-heading">
            <thead>
              <tr>
                <th scope="col">Private crate</th>
                <th scope="col">Upstream spellings</th>
                <th scope="col">Reserved</th>
              </tr>
            </thead>
            <tbody>
              {collisions.map((c) => (
                <tr key={c.name}>
                  <td>
                    <Link to={`/crates/${encodeURIComponent(c.name)}`}>{c.name}</Link>
                  </td>
                  <td>{c.upstreamNames.join(", ")}</td>
                  <td className={c.reserved ? undefined : "error"}>
                    {c.reserved ? "yes (accepted)" : "no: investigate"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
