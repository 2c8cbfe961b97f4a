import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { useQuery } from "urql";
import { SuggestCratesDocument } from "./gql/graphql";
import { nextActive, suggestionTerm } from "./lib/suggest";

/** How many crates the suggestion list shows. */
export const SUGGESTIONS = 8;

/**
 * The header's search box with search-as-you-type: every keystroke asks for the best few matches
 * (no debounce: the server answers a search in well under a millisecond), shown in a listbox the
 * keyboard can walk (WAI-ARIA combobox pattern). Enter opens the highlighted crate, or the full
 * results page when none is highlighted; Escape closes the list.
 */
export function SearchBox() {
  const navigate = useNavigate();
  const location = useLocation();
  const [q, setQ] = useState("");
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const listId = useId();
  const boxRef = useRef<HTMLFormElement>(null);
  const term = suggestionTerm(q);
  const [{ data, operation }] = useQuery({
    query: SuggestCratesDocument,
    variables: { query: term, first: SUGGESTIONS },
    pause: !open || term === "",
  });
  // Only an answer for what the box says now is shown (an older one would list wrong crates).
  const answered = data && operation?.variables.query === term ? data.crates : null;
  const nodes = answered?.nodes ?? [];
  const expanded = open && term !== "" && answered !== null;

  // A navigation (to a crate, or the results page) closes the list.
  useEffect(() => {
    setOpen(false);
    setActive(-1);
  }, [location.pathname, location.search]);

  const go = (path: string) => {
    setOpen(false);
    setActive(-1);
    void navigate(path);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const chosen = active >= 0 ? nodes[active] : undefined;
    if (chosen) go(`/crates/${encodeURIComponent(chosen.name)}`);
    else go(`/search?q=${encodeURIComponent(q.trim())}`);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!expanded) {
        setOpen(true);
        return;
      }
      e.preventDefault();
      const n = nodes.length;
      setActive((i) => nextActive(i, e.key === "ArrowDown" ? 1 : -1, n));
    } else if (e.key === "Escape") {
      if (expanded) {
        e.preventDefault();
        setOpen(false);
        setActive(-1);
      }
    }
  };
  const optionId = (i: number) => `${listId}-option-${i}`;
  return (
    <form
      role="search"
      onSubmit={submit}
      className="header-search"
      ref={boxRef}
      onBlur={(e) => {
        // Leaving the whole box (not moving between the input and a suggestion) closes the list.
        if (!boxRef.current?.contains(e.relatedTarget as Node | null)) setOpen(false);
      }}
    >
      <label htmlFor="header-q" className="visually-hidden">
        Search crates
      </label>
      <input
        id="header-q"
        type="search"
        placeholder="Search crates"
        autoComplete="off"
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={expanded}
        aria-controls={listId}
        aria-activedescendant={expanded && active >= 0 ? optionId(active) : undefined}
        value={q}
        onChange={(e) => {
          setQ(e.target.value);
          setOpen(true);
          setActive(-1);
        }}
        onFocus={() => setOpen(true)}
        onKeyDown={onKeyDown}
      />
      <div className="suggestions" hidden={!expanded}>
        <ul id={listId} role="listbox" aria-label="Matching crates" data-query={answered ? term : undefined}>
          {nodes.map((c, i) => (
            <li
              key={c.name}
              id={optionId(i)}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : undefined}
              // Chosen on mouse down, before the input's blur closes the list.
              onMouseDown={(e) => {
                e.preventDefault();
                go(`/crates/${encodeURIComponent(c.name)}`);
              }}
            >
              <span className="suggestion-name">{c.name}</span> <span className="muted">{c.maxVersion}</span>
              {c.description && <span className="suggestion-description">{c.description}</span>}
            </li>
          ))}
        </ul>
        <p className="suggestion-footer" aria-live="polite">
          {answered && answered.totalCount === 0
            ? `No crates match “${term}”.`
            : answered
              ? `${answered.totalCount} ${answered.totalCount === 1 ? "crate" : "crates"}: Enter shows them all.`
              : null}
        </p>
      </div>
    </form>
  );
}
