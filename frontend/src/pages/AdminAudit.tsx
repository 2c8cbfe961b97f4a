import { useState, type FormEvent } from "react";
import { Link, useLocation, useSearchParams } from "react-router-dom";
import { useQuery } from "urql";
import { AdminAuditDocument, type AuditAction } from "../gql/graphql";
import { Empty, ErrorState, Loading } from "../components";
import { signInUrl, useSession } from "../session";

const PAGE = 50;

/** Every action of the log, as the schema's enum names it (`OWNER_ADD` is `owner-add` in the log). */
const ACTIONS: AuditAction[] = [
  "PUBLISH",
  "IMPORT",
  "YANK",
  "UNYANK",
  "OWNER_ADD",
  "OWNER_REMOVE",
  "TOKEN_CREATE",
  "TOKEN_REVOKE",
  "USER_CREATE",
  "USER_UPDATE",
  "USER_ROLE",
  "USER_DISABLE",
  "USER_ENABLE",
  "PASSWORD_SET",
  "PASSWORD_CHANGE",
  "PASSWORD_RESET",
  "SESSION_CREATE",
  "SESSION_REVOKE",
  "SESSIONS_REVOKE",
  "IDENTITY_LINK",
  "IDENTITY_UNLINK",
  "TRUST_ADD",
  "TRUST_REMOVE",
  "TRUSTPUB_TOKEN_CREATE",
  "TRUSTPUB_TOKEN_REVOKE",
  "NAME_RESERVE",
  "NAME_RELEASE",
  "NAME_CHECK_SKIPPED",
  "UPSTREAM_FETCH",
  "UPSTREAM_PURGE",
];

export function actionLabel(action: AuditAction): string {
  return action.toLowerCase().replace(/_/g, "-");
}

/** `/admin/audit?crate=&actor=&action=&since=&until=`: the audit log for administrators. */
export default function AdminAudit() {
  const { session } = useSession();
  const location = useLocation();
  if (session.status !== "signed-in") {
    return (
      <section>
        <h1>Audit log</h1>
        <p>
          <Link to={signInUrl(location.pathname + location.search)}>Sign in</Link> as an administrator to read
          the audit log.
        </p>
      </section>
    );
  }
  if (session.user.role !== "admin") {
    return (
      <section>
        <h1>Audit log</h1>
        <div className="status error" role="alert">
          <p>Only administrators read the audit log (403).</p>
        </div>
      </section>
    );
  }
  return <AuditLog />;
}

function AuditLog() {
  const [params, setParams] = useSearchParams();
  const filters = {
    crate: params.get("crate") ?? "",
    actor: params.get("actor") ?? "",
    action: params.get("action") ?? "",
    since: params.get("since") ?? "",
    until: params.get("until") ?? "",
  };
  const [draft, setDraft] = useState(filters);
  const [after, setAfter] = useState<string[]>([]);
  const action = ACTIONS.find((a) => a === filters.action) ?? null;
  const [{ data, fetching, error }] = useQuery({
    query: AdminAuditDocument,
    variables: {
      crate: filters.crate || null,
      actor: filters.actor || null,
      action,
      since: filters.since || null,
      until: filters.until || null,
      first: PAGE,
      after: after[after.length - 1] ?? null,
    },
  });

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setAfter([]);
    const next: Record<string, string> = {};
    for (const [k, v] of Object.entries(draft)) if (v.trim()) next[k] = v.trim();
    setParams(next);
  };
  const set = (key: keyof typeof draft) => (e: { target: { value: string } }) =>
    setDraft({ ...draft, [key]: e.target.value });

  const events = data?.auditEvents;
  return (
    <section>
      <h1>Audit log</h1>
      <form className="inline-search" onSubmit={apply} aria-label="Filter the audit log">
        <label>
          Crate <input value={draft.crate} onChange={set("crate")} />
        </label>
        <label>
          Actor <input value={draft.actor} onChange={set("actor")} />
        </label>
        <label>
          Action{" "}
          <select value={draft.action} onChange={set("action")}>
            <option value="">any</option>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {actionLabel(a)}
              </option>
            ))}
          </select>
        </label>
        <label>
          From <input type="date" value={draft.since} onChange={set("since")} />
        </label>
        <label>
          To <input type="date" value={draft.until} onChange={set("until")} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {fetching && !data ? (
        <Loading what="audit events" />
      ) : error && !data ? (
        <ErrorState error={error} />
      ) : !events || events.nodes.length === 0 ? (
        <Empty>No event matches (the default range is the last 30 days).</Empty>
      ) : (
        <>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Crate</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {events.nodes.map((ev) => (
                  <tr key={ev.id}>
                    <td>{ev.at.replace("T", " ").slice(0, 19)} UTC</td>
                    <td>{ev.actor}</td>
                    <td>{ev.action}</td>
                    <td>
                      {ev.crateName ? (
                        <Link to={`/crates/${ev.crateName}`}>
                          {ev.crateName}
                          {ev.version ? ` ${ev.version}` : ""}
                        </Link>
                      ) : (
                        ""
                      )}
                    </td>
                    <td>
                      {ev.detail.map((d) => (
                        <span key={d.key} className="detail">
                          {d.key}: <code>{d.value}</code>{" "}
                        </span>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav aria-label="Audit pages" className="pager">
            {after.length > 0 && (
              <button type="button" onClick={() => setAfter(after.slice(0, -1))}>
                Newer events
              </button>
            )}
            {events.pageInfo.hasNextPage && events.pageInfo.endCursor && (
              <button type="button" onClick={() => setAfter([...after, events.pageInfo.endCursor ?? ""])}>
                Older events
              </button>
            )}
          </nav>
        </>
      )}
    </section>
  );
}
