import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { useQuery } from "urql";
import { RegistryStatsDocument, SearchCratesDocument } from "../gql/graphql";
import { useRegistry } from "../lib/registry";
import { CodeBlock, CrateList, Empty, ErrorState, Loading } from "../components";
import { useSession } from "../session";
import { CategoryFilter, searchUrl } from "./Search";

export function cargoConfig(indexUrl: string, name = "raktar"): string {
  return `[registries.${name}]
index = "${indexUrl}"

[registry]
global-credential-providers = ["cargo:token"]`;
}

export default function Home() {
  const navigate = useNavigate();
  const { session } = useSession();
  const [q, setQ] = useState("");
  const [{ data, fetching, error }] = useQuery({
    query: SearchCratesDocument,
    variables: { query: "", first: 10 },
  });
  const registry = useRegistry();
  const [stats] = useQuery({ query: RegistryStatsDocument });
  const counts = stats.data?.stats;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(`/search?q=${encodeURIComponent(q.trim())}`);
  };
  return (
    <>
      <section className="hero">
        <h1>Raktar</h1>
        <p>The private Cargo registry of this organisation.</p>
        {counts && (
          <p className="muted" aria-label="registry statistics">
            {counts.crates} crates · {counts.versions} versions · {counts.downloads} downloads
          </p>
        )}
        <form role="search" onSubmit={submit} className="big-search">
          <label htmlFor="home-q">Search crates</label>
          <div className="row">
            <input id="home-q" type="search" value={q} onChange={(e) => setQ(e.target.value)} />
            <button type="submit">Search</button>
          </div>
        </form>
      </section>
      <section aria-labelledby="getting-started">
        <h2 id="getting-started">Getting started</h2>
        <p>
          Add the registry to <code>.cargo/config.toml</code> (in a project) or{" "}
          <code>~/.cargo/config.toml</code>:
        </p>
        <CodeBlock code={cargoConfig(registry.indexUrl, registry.name)} label="cargo configuration" />
        <p>
          Then create a token
          {session.status === "signed-in" ? (
            <>
              {" "}
              on the <Link to="/tokens">tokens page</Link>
            </>
          ) : (
            " on the tokens page (after signing in)"
          )}{" "}
          and give it to cargo:
        </p>
        <CodeBlock code={`cargo login --registry ${registry.name}`} label="cargo login command" />
        <p>
          Publish with <code>cargo publish --registry {registry.name}</code> and depend on a crate with{" "}
          <code>cargo add NAME --registry {registry.name}</code>.
        </p>
      </section>
      <CategoryFilter active={null} link={(c) => searchUrl("", "RELEVANCE", { category: c })} />
      <section aria-labelledby="all-crates">
        <h2 id="all-crates">Crates</h2>
        {fetching && !data ? (
          <Loading what="crates" />
        ) : error ? (
          <ErrorState error={error} />
        ) : !data || data.crates.nodes.length === 0 ? (
          <Empty>No crate has been published yet.</Empty>
        ) : (
          <>
            <CrateList crates={data.crates.nodes} />
            {data.crates.totalCount > data.crates.nodes.length && (
              <p>
                <Link to="/search?q=">All {data.crates.totalCount} crates</Link>
              </p>
            )}
          </>
        )}
      </section>
    </>
  );
}
