import { useMemo, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import {
  ChangePasswordDocument,
  MySessionsDocument,
  RevokeSessionDocument,
  SignOutEverywhereDocument,
} from "../gql/graphql";
import { ErrorState, Loading, describeError } from "../components";
import { signInUrl, useSession } from "../session";
import { formatDate } from "../lib/versions";

/** `/account`: the signed-in user's password and web sessions. */
export default function Account() {
  const { session } = useSession();
  const location = useLocation();
  if (session.status !== "signed-in") {
    return (
      <section>
        <h1>Account</h1>
        <p>
          <Link to={signInUrl(location.pathname)}>Sign in</Link> to manage your account.
        </p>
      </section>
    );
  }
  return (
    <section>
      <h1>Account</h1>
      <p>
        Signed in as <Link to={`/users/${session.user.login}`}>{session.user.login}</Link>
        {session.user.role === "admin" ? " (administrator)" : ""}.
      </p>
      <PasswordForm />
      <Sessions />
    </section>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [state, change] = useMutation(ChangePasswordDocument);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    if (next !== again) {
      setProblem("The new passwords do not match.");
      return;
    }
    setProblem(null);
    void change({ current, new: next }, { additionalTypenames: ["Session"] }).then((r) => {
      if (r.error) {
        setProblem(describeError(r.error));
      } else {
        setCurrent("");
        setNext("");
        setAgain("");
        setDone(true);
      }
    });
  };

  return (
    <form className="stack-form" onSubmit={submit} aria-labelledby="password-heading">
      <h2 id="password-heading">Change password</h2>
      <label>
        Current password
        <input
          type="password"
          autoComplete="current-password"
          required
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
        />
      </label>
      <label>
        New password
        <input
          type="password"
          autoComplete="new-password"
          required
          value={next}
          onChange={(e) => setNext(e.target.value)}
        />
      </label>
      <label>
        New password again
        <input
          type="password"
          autoComplete="new-password"
          required
          value={again}
          onChange={(e) => setAgain(e.target.value)}
        />
      </label>
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {done && <p role="status">Password changed. Your other sessions were signed out; this one stays.</p>}
      <button type="submit" disabled={state.fetching}>
        Change password
      </button>
    </form>
  );
}

function Sessions() {
  const context = useMemo(() => ({ additionalTypenames: ["Session"] }), []);
  const [{ data, fetching, error }, reload] = useQuery({ query: MySessionsDocument, context });
  const [revoked, revoke] = useMutation(RevokeSessionDocument);
  const [everywhere, signOutEverywhere] = useMutation(SignOutEverywhereDocument);
  const { refresh } = useSession();
  const navigate = useNavigate();

  if (fetching && !data) return <Loading what="sessions" />;
  if (error && !data) return <ErrorState error={error} />;
  const sessions = data?.mySessions ?? [];
  const failure = revoked.error ?? everywhere.error;
  return (
    <div>
      <h2>Active sessions</h2>
      {failure && <ErrorState error={failure} />}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Signed in</th>
              <th scope="col">Method</th>
              <th scope="col">Last seen</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {sessions.map((s) => (
              <tr key={s.id}>
                <td>
                  {formatDate(s.createdAt)}
                  {s.current ? " (this browser)" : ""}
                </td>
                <td>{s.method}</td>
                <td>{s.lastSeenAt ? formatDate(s.lastSeenAt) : "—"}</td>
                <td>{formatDate(s.expiresAt)}</td>
                <td>
                  {!s.current && (
                    <button
                      type="button"
                      onClick={() =>
                        void revoke({ id: s.id }).then(() => reload({ requestPolicy: "network-only" }))
                      }
                    >
                      Sign out this session
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p>
        <button
          type="button"
          onClick={() =>
            void signOutEverywhere({}).then(async (r) => {
              if (!r.error) {
                await refresh();
                void navigate("/");
              }
            })
          }
        >
          Sign out everywhere
        </button>
      </p>
    </div>
  );
}
