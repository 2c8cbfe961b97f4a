import { Link, useSearchParams } from "react-router-dom";
import { useQuery } from "urql";
import { SearchCratesDocument } from "../gql/graphql";
import { CrateList, Empty, ErrorState, Loading } from "../components";

export const PAGE_SIZE = 20;

export default function Search() {
  const [params] = useSearchParams();
  const q = params.get("q") ?? "";
  const after = params.get("after");
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const [{ data, fetching, error }] = useQuery({
    query: SearchCratesDocument,
    variables: { query: q, first: PAGE_SIZE, after },
  });
  const title = q ? `Results for “${q}”` : "All crates";
  const result = data?.crates;
  return (
    <section aria-labelledby="results-title">
      <h1 id="results-title">{title}</h1>
      {fetching && !data ? (
        <Loading what="results" />
      ) : error ? (
        <ErrorState error={error} />
      ) : !result || result.nodes.length === 0 ? (
        <Empty>{q ? `No crate matches “${q}”.` : "No crate has been published yet."}</Empty>
      ) : (
        <>
          <p className="muted" aria-live="polite">
            {result.totalCount} {result.totalCount === 1 ? "crate" : "crates"} · page {page}
          </p>
          <CrateList crates={result.nodes} />
          <nav className="pager" aria-label="Pages">
            {page > 1 && <Link to={`/search?q=${encodeURIComponent(q)}`}>← First page</Link>}
            {result.pageInfo.hasNextPage && result.pageInfo.endCursor && (
              <Link
                to={`/search?q=${encodeURIComponent(q)}&after=${encodeURIComponent(result.pageInfo.endCursor)}&page=${page + 1}`}
              >
                Next page →
              </Link>
            )}
          </nav>
        </>
      )}
    </section>
  );
}
