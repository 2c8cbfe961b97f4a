import { useMemo, useState, type FormEvent } from "react";
import { Link, useLocation, useSearchParams } from "react-router-dom";
import { useMutation, useQuery } from "urql";
import {
  AdminCreateUserDocument,
  AdminDisableUserDocument,
  AdminEnableUserDocument,
  AdminResetPasswordDocument,
  AdminRevokeSessionsDocument,
  AdminSetUserRoleDocument,
  AdminUsersDocument,
  type Role,
} from "../gql/graphql";
import { CopyButton, Empty, ErrorState, Loading, describeError } from "../components";
import { signInUrl, useSession } from "../session";
import { formatDate } from "../lib/versions";

const PAGE = 25;

/** `/admin/users`: the user directory for administrators. */
export default function AdminUsers() {
  const { session } = useSession();
  const location = useLocation();
  if (session.status !== "signed-in") {
    return (
      <section>
        <h1>Users</h1>
        <p>
          <Link to={signInUrl(location.pathname + location.search)}>Sign in</Link> as an administrator to
          manage users.
        </p>
      </section>
    );
  }
  if (session.user.role !== "admin") {
    return (
      <section>
        <h1>Users</h1>
        <div className="status error" role="alert">
          <p>Only administrators manage users (403).</p>
        </div>
      </section>
    );
  }
  return <UserAdmin />;
}

function UserAdmin() {
  const [params, setParams] = useSearchParams();
  const query = params.get("q") ?? "";
  const [after, setAfter] = useState<string[]>([]);
  const [draft, setDraft] = useState(query);
  const context = useMemo(() => ({ additionalTypenames: ["User"] }), []);
  const [{ data, fetching, error }] = useQuery({
    query: AdminUsersDocument,
    variables: { query: query || null, first: PAGE, after: after[after.length - 1] ?? null },
    context,
  });
  const [secret, setSecret] = useState<{ login: string; password: string } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [, disable] = useMutation(AdminDisableUserDocument);
  const [, enable] = useMutation(AdminEnableUserDocument);
  const [, setRole] = useMutation(AdminSetUserRoleDocument);
  const [, reset] = useMutation(AdminResetPasswordDocument);
  const [, revokeSessions] = useMutation(AdminRevokeSessionsDocument);

  const report = (r: { error?: Parameters<typeof describeError>[0] }) =>
    setProblem(r.error ? describeError(r.error) : null);

  const search = (e: FormEvent) => {
    e.preventDefault();
    setAfter([]);
    setParams(draft.trim() ? { q: draft.trim() } : {});
  };

  const users = data?.users;
  return (
    <section>
      <h1>Users</h1>
      <form role="search" className="inline-search" onSubmit={search}>
        <label>
          Search users
          <input type="search" value={draft} onChange={(e) => setDraft(e.target.value)} />
        </label>
        <button type="submit">Search</button>
      </form>
      <CreateUser
        onCreated={(login) => {
          setProblem(null);
          setSecret(null);
          setDraft(login);
          setAfter([]);
          setParams({ q: login });
        }}
      />
      {secret && (
        <div className="secret" role="status">
          <p>
            Temporary password of <strong>{secret.login}</strong> (shown this once; give it over a trusted
            channel):
          </p>
          <code>{secret.password}</code>{" "}
          <CopyButton text={secret.password} label="Copy the temporary password" />
        </div>
      )}
      {problem && (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {fetching && !data ? (
        <Loading what="users" />
      ) : error && !data ? (
        <ErrorState error={error} />
      ) : !users || users.nodes.length === 0 ? (
        <Empty>No user matches.</Empty>
      ) : (
        <>
          <p>
            {users.totalCount} {users.totalCount === 1 ? "user" : "users"}
          </p>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Login</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.nodes.map((u) => (
                  <tr key={u.id}>
                    <td>
                      <Link to={`/users/${u.login}`}>{u.login}</Link>
                    </td>
                    <td>{u.name ?? ""}</td>
                    <td>
                      <select
                        aria-label={`Role of ${u.login}`}
                        value={u.role}
                        onChange={(e) =>
                          void setRole({ login: u.login, role: e.target.value as Role }).then(report)
                        }
                      >
                        <option value="MEMBER">member</option>
                        <option value="ADMIN">administrator</option>
                      </select>
                    </td>
                    <td>{u.disabled ? "disabled" : "active"}</td>
                    <td>{formatDate(u.createdAt)}</td>
                    <td className="actions">
                      {u.disabled ? (
                        <button type="button" onClick={() => void enable({ login: u.login }).then(report)}>
                          Enable {u.login}
                        </button>
                      ) : (
                        <button type="button" onClick={() => void disable({ login: u.login }).then(report)}>
                          Disable {u.login}
                        </button>
                      )}
                      <button
                        type="button"
                        onClick={() =>
                          void reset({ login: u.login }).then((r) => {
                            report(r);
                            if (r.data) {
                              setSecret({
                                login: u.login,
                                password: r.data.resetUserPassword.temporaryPassword,
                              });
                            }
                          })
                        }
                      >
                        Reset password of {u.login}
                      </button>
                      <button
                        type="button"
                        onClick={() => void revokeSessions({ login: u.login }).then(report)}
                      >
                        Sign out {u.login} everywhere
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav aria-label="User pages" className="pager">
            {after.length > 0 && (
              <button type="button" onClick={() => setAfter(after.slice(0, -1))}>
                Previous page
              </button>
            )}
            {users.pageInfo.hasNextPage && users.pageInfo.endCursor && (
              <button type="button" onClick={() => setAfter([...after, users.pageInfo.endCursor ?? ""])}>
                Next page
              </button>
            )}
          </nav>
        </>
      )}
    </section>
  );
}

function CreateUser({ onCreated }: { onCreated: (login: string) => void }) {
  const [login, setLogin] = useState("");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("MEMBER");
  const [state, create] = useMutation(AdminCreateUserDocument);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void create({
      input: { login: login.trim(), name: name.trim() || null, email: email.trim() || null, role },
    }).then((r) => {
      if (r.data) {
        onCreated(r.data.createUser.login);
        setLogin("");
        setName("");
        setEmail("");
      }
    });
  };
  return (
    <details className="create-user">
      <summary>Create a user</summary>
      <form className="stack-form" onSubmit={submit} aria-label="Create a user">
        <label>
          New login
          <input required value={login} onChange={(e) => setLogin(e.target.value)} />
        </label>
        <label>
          Display name
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          E-mail
          <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            <option value="MEMBER">member</option>
            <option value="ADMIN">administrator</option>
          </select>
        </label>
        {state.error && (
          <p role="alert" className="error">
            {describeError(state.error)}
          </p>
        )}
        <button type="submit" disabled={state.fetching}>
          Create user
        </button>
        <p>Then reset the new user&apos;s password to give them a temporary one.</p>
      </form>
    </details>
  );
}
