import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { useQuery } from "urql";
import { CategoriesDocument, SearchCratesDocument, type CrateSort } from "../gql/graphql";
import { CrateList, Empty, ErrorState, Loading } from "../components";

export const PAGE_SIZE = 20;
export const CATEGORY_COUNT = 50;

export const SORTS: { value: CrateSort; label: string }[] = [
  { value: "RELEVANCE", label: "Relevance" },
  { value: "NAME", label: "Name" },
  { value: "DOWNLOADS", label: "All-time downloads" },
  { value: "RECENT_DOWNLOADS", label: "Recent downloads" },
  { value: "RECENTLY_UPDATED", label: "Recently updated" },
  { value: "NEWLY_ADDED", label: "Newly added" },
];

export interface SearchFilters {
  keyword?: string | null;
  category?: string | null;
}

/** The search URL for a query, sort, keyword and category (the first page). */
export function searchUrl(q: string, sort: CrateSort, filters: SearchFilters = {}): string {
  const p = new URLSearchParams({ q });
  if (sort !== "RELEVANCE") p.set("sort", sort);
  if (filters.keyword) p.set("keyword", filters.keyword);
  if (filters.category) p.set("category", filters.category);
  return `/search?${p.toString()}`;
}

/** Whether two category names are the same filter (the server compares them case-insensitively). */
export function sameCategory(a: string | null | undefined, b: string | null | undefined): boolean {
  return !!a && !!b && a.toLowerCase() === b.toLowerCase();
}

/**
 * The registry's categories (most used first) as filter links; `link` makes each one's URL. The
 * active one is marked as the current page.
 */
export function CategoryFilter({
  active,
  link,
}: {
  active: string | null;
  link: (category: string | null) => string;
}) {
  const [{ data, error }] = useQuery({ query: CategoriesDocument, variables: { first: CATEGORY_COUNT } });
  const list = data?.categories;
  // No categories (or an error: the crate list shows that one): nothing to filter by.
  if (error || !list || list.nodes.length === 0) return null;
  return (
    <nav className="category-filter" aria-labelledby="categories-title">
      <h2 id="categories-title">Categories</h2>
      <ul>
        {active && (
          <li>
            <Link to={link(null)} className="chip">
              All categories
            </Link>
          </li>
        )}
        {list.nodes.map((c) => {
          const current = sameCategory(c.name, active);
          return (
            <li key={c.name}>
              <Link
                to={link(c.name)}
                className={current ? "chip current" : "chip"}
                aria-current={current ? "page" : undefined}
                aria-label={`${c.name}, ${c.crates} ${c.crates === 1 ? "crate" : "crates"}`}
              >
                {c.name} <span className="count">{c.crates}</span>
              </Link>
            </li>
          );
        })}
      </ul>
      {list.totalCount > list.nodes.length && (
        <p className="muted">
          The {list.nodes.length} most used of {list.totalCount} categories.
        </p>
      )}
    </nav>
  );
}

export default function Search() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const q = params.get("q") ?? "";
  const sort = SORTS.find((s) => s.value === params.get("sort"))?.value ?? "RELEVANCE";
  const keyword = params.get("keyword");
  const category = params.get("category");
  const first = searchUrl(q, sort, { keyword, category });
  const after = params.get("after");
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const [{ data, fetching, error }] = useQuery({
    query: SearchCratesDocument,
    variables: { query: q, first: PAGE_SIZE, after, sort, keyword, category },
  });
  const title =
    (q ? `Results for “${q}”` : "All crates") +
    (keyword ? ` with keyword “${keyword}”` : "") +
    (category ? ` in category “${category}”` : "");
  const result = data?.crates;
  return (
    <div className="search-layout">
      <section aria-labelledby="results-title" className="search-results">
        <h1 id="results-title">{title}</h1>
        <p className="sort">
          <label>
            Sort by{" "}
            <select
              value={sort}
              onChange={(e) =>
                void navigate(searchUrl(q, e.target.value as CrateSort, { keyword, category }))
              }
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
              <Link to={searchUrl(q, sort, { category })}>Remove the keyword filter</Link>
            </>
          )}
          {category && (
            <>
              {" "}
              <Link to={searchUrl(q, sort, { keyword })}>Remove the category filter</Link>
            </>
          )}
        </p>
        {fetching && !data ? (
          <Loading what="results" />
        ) : error ? (
          <ErrorState error={error} />
        ) : !result || result.nodes.length === 0 ? (
          <Empty>
            {q
              ? `No crate matches “${q}”${category ? ` in category “${category}”` : ""}.`
              : category
                ? `No crate is in category “${category}”.`
                : "No crate has been published yet."}
          </Empty>
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
      <CategoryFilter active={category} link={(c) => searchUrl(q, sort, { keyword, category: c })} />
    </div>
  );
}
