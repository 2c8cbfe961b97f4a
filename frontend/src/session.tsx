// The browser session: who is signed in (`GET /auth/session`) and the CSRF token every
// cookie-authenticated request must carry. A dead session cookie (401 from /auth/session) makes
// the UI anonymous: anonymous requests are sent without cookies, so a stale cookie never turns
// every request into a 403.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";

export interface SessionUser {
  login: string;
  name: string | null;
  email: string | null;
  role: string;
  csrfToken: string;
}

export type SessionState =
  | { status: "loading" }
  | { status: "anonymous" }
  | { status: "signed-in"; user: SessionUser }
  | { status: "error"; message: string };

export async function fetchSession(): Promise<SessionState> {
  try {
    const res = await fetch("/auth/session", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (res.status === 401 || res.status === 403) return { status: "anonymous" };
    if (!res.ok) return { status: "error", message: `session check failed (HTTP ${res.status})` };
    const body = (await res.json()) as Partial<SessionUser>;
    if (typeof body.login !== "string" || typeof body.csrfToken !== "string") {
      return { status: "error", message: "unexpected session answer" };
    }
    return {
      status: "signed-in",
      user: {
        login: body.login,
        name: body.name ?? null,
        email: body.email ?? null,
        role: body.role ?? "member",
        csrfToken: body.csrfToken,
      },
    };
  } catch {
    return { status: "error", message: "the server cannot be reached" };
  }
}

interface SessionContextValue {
  session: SessionState;
  refresh: () => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionContextValue | null>(null);

/**
 * Provides the session: `known` when main.tsx has it already, else `initial`, a session check
 * already under way, else a new check.
 */
export function SessionProvider({
  children,
  initial,
  known,
}: {
  children: ReactNode;
  initial?: Promise<SessionState>;
  /** The session when it is known already (no check is made then). */
  known?: SessionState;
}) {
  const [session, setSession] = useState<SessionState>(known ?? { status: "loading" });
  const refresh = useCallback(async () => {
    setSession(await fetchSession());
  }, []);
  const checked = known !== undefined;
  useEffect(() => {
    if (checked) return;
    if (initial) {
      let live = true;
      void initial.then((s) => {
        if (live) setSession(s);
      });
      return () => {
        live = false;
      };
    }
    void refresh();
  }, [checked, initial, refresh]);
  const signOut = useCallback(async () => {
    if (session.status === "signed-in") {
      await fetch("/auth/signout", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": session.user.csrfToken },
      }).catch(() => undefined);
    }
    setSession({ status: "anonymous" });
  }, [session]);
  const value = useMemo(() => ({ session, refresh, signOut }), [session, refresh, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error("useSession outside SessionProvider");
  return ctx;
}

/** The app's sign-in page, coming back to `next` afterwards. */
export function signInUrl(next: string): string {
  return `/signin?next=${encodeURIComponent(next)}`;
}

/** A same-site path to return to after signing in (anything else goes home). */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return next;
}

/** `POST /auth/signin`: sets the session cookie on success. */
export async function signIn(
  login: string,
  password: string,
): Promise<{ ok: true } | { ok: false; message: string }> {
  try {
    const res = await fetch("/auth/signin", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ login, password }),
    });
    if (res.ok) return { ok: true };
    const body = (await res.json().catch(() => null)) as { errors?: { detail?: string }[] } | null;
    return { ok: false, message: body?.errors?.[0]?.detail ?? `sign-in failed (HTTP ${res.status})` };
  } catch {
    return { ok: false, message: "the server cannot be reached" };
  }
}
