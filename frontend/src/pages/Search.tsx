import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { useQuery } from "urql";
import { SearchCratesDocument, type CrateSort } from "../gql/graphql";
import { CrateList, Empty, ErrorState, Loading } from "../components";

export const PAGE_SIZE = 20;

export const SORTS: { value: CrateSort; label: string }[] = [
  { value: "RELEVANCE", label: "Relevance" },
  { value: "NAME", label: "Name" },
  { value: "DOWNLOADS", label: "All-time downloads" },
  { value: "RECENT_DOWNLOADS", label: "Recent downloads" },
  { value: "RECENTLY_UPDATED", label: "Recently updated" },
  { value: "NEWLY_ADDED", label: "Newly added" },
];

/** The search URL for a query, sort and keyword (the first page). */
export function searchUrl(q: string, sort: CrateSort, keyword: string | null): string {
  const p = new URLSearchParams({ q });
  if (sort !== "RELEVANCE") p.set("sort", sort);
  if (keyword) p.set("keyword", keyword);
  return `/search?${p.toString()}`;
}

export default function Search() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const q = params.get("q") ?? "";
  const sort = SORTS.find((s) => s.value === params.get("sort"))?.value ?? "RELEVANCE";
  const keyword = params.get("keyword");
  const first = searchUrl(q, sort, keyword);
  const after = params.get("after");
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const [{ data, fetching, error }] = useQuery({
    query: SearchCratesDocument,
    variables: { query: q, first: PAGE_SIZE, after, sort, keyword },
  });
  const title = (q ? `Results for “${q}”` : "All crates") + (keyword ? ` with keyword “${keyword}”` : "");
  const result = data?.crates;
  return (
    <section aria-labelledby="results-title">
      <h1 id="results-title">{title}</h1>
      <p className="sort">
        <label>
          Sort by{" "}
          <select
            value={sort}
            onChange={(e) => void navigate(searchUrl(q, e.target.value as CrateSort, keyword))}
          >
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        {keyword && (
          <>
            {" "}
            <Link to={searchUrl(q, sort, null)}>Remove the keyword filter</Link>
          </>
        )}
      </p>
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
            {page > 1 && <Link to={first}>← First page</Link>}
            {result.pageInfo.hasNextPage && result.pageInfo.endCursor && (
              <Link to={`${first}&after=${encodeURIComponent(result.pageInfo.endCursor)}&page=${page + 1}`}>
                Next page →
              </Link>
            )}
          </nav>
        </>
      )}
    </section>
  );
}
