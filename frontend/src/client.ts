import { Client, cacheExchange, fetchExchange } from "urql";
import type { SessionState } from "./session";

/**
 * One URQL client per session state. Queries go by POST (`GET /graphql` is the explorer); a
 * signed-in client sends the cookie with the `X-CSRF-Token` header, an anonymous one sends no
 * cookie at all. `onAuthFailure` runs when the server refuses the session (401/403).
 */
export function makeClient(session: SessionState, onAuthFailure: () => void): Client {
  const signedIn = session.status === "signed-in";
  const csrf = signedIn ? session.user.csrfToken : null;
  const authFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (signedIn && (res.status === 401 || res.status === 403)) onAuthFailure();
    return res;
  };
  return new Client({
    url: "/graphql",
    preferGetMethod: false,
    exchanges: [cacheExchange, fetchExchange],
    fetch: authFetch,
    fetchOptions: (): RequestInit => {
      const headers: Record<string, string> = {};
      if (csrf) headers["X-CSRF-Token"] = csrf;
      return { credentials: signedIn ? "same-origin" : "omit", headers };
    },
  });
}
