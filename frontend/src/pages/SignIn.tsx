import { useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { useQuery } from "urql";
import { RegistryInfoDocument } from "../gql/graphql";
import { ErrorState, Loading } from "../components";
import { safeNext, signIn, useSession } from "../session";

/** `/signin?next=/path`: the local password form and/or the single sign-on button, as the server allows. */
export default function SignIn() {
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const navigate = useNavigate();
  const { session, refresh } = useSession();
  const [{ data, fetching, error }] = useQuery({ query: RegistryInfoDocument });
  const [login, setLogin] = useState("");
  const [password, setPassword] = useState("");
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (session.status === "signed-in") {
    return (
      <section>
        <h1>Sign in</h1>
        <p>
          You are signed in as <strong>{session.user.login}</strong>. <a href={next}>Continue</a>
        </p>
      </section>
    );
  }
  if (fetching && !data) return <Loading what="sign-in options" />;
  if (error && !data) return <ErrorState error={error} />;
  const info = data?.registry;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setFailure(null);
    const result = await signIn(login.trim(), password);
    setBusy(false);
    if (result.ok) {
      setPassword("");
      await refresh();
      void navigate(next, { replace: true });
    } else {
      setFailure(result.message);
    }
  };

  return (
    <section className="signin">
      <h1>Sign in</h1>
      {info?.ssoSignIn && info.ssoStartUrl && (
        <p>
          <a className="button" href={`${info.ssoStartUrl}?next=${encodeURIComponent(next)}`}>
            {info.ssoLabel ?? "Sign in with single sign-on"}
          </a>
        </p>
      )}
      {info?.passwordSignIn !== false && (
        <form className="stack-form" onSubmit={(e) => void submit(e)}>
          <label>
            Login
            <input
              name="login"
              autoComplete="username"
              required
              value={login}
              onChange={(e) => setLogin(e.target.value)}
            />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          {failure && (
            <p role="alert" className="error">
              {failure}
            </p>
          )}
          <button type="submit" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      )}
      {info && !info.passwordSignIn && !info.ssoSignIn && (
        <p>This registry has no web sign-in configured; ask an administrator.</p>
      )}
    </section>
  );
}
