import { Suspense, useEffect, useMemo, useRef, useState } from "react";
import { Link, NavLink, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { Provider } from "urql";
import { makeClient } from "./client";
import { signInUrl, useSession } from "./session";
import Home from "./pages/Home";
import Search from "./pages/Search";
import NotFound from "./pages/NotFound";
import { SearchBox } from "./SearchBox";
import { lazyWithPreload } from "./lib/lazy";

const CratePage = lazyWithPreload(() => import("./pages/CratePage"));
const UserPage = lazyWithPreload(() => import("./pages/UserPage"));
const Tokens = lazyWithPreload(() => import("./pages/Tokens"));
const SignIn = lazyWithPreload(() => import("./pages/SignIn"));
const Account = lazyWithPreload(() => import("./pages/Account"));
const AdminUsers = lazyWithPreload(() => import("./pages/AdminUsers"));
const AdminAudit = lazyWithPreload(() => import("./pages/AdminAudit"));
const AdminUpstream = lazyWithPreload(() => import("./pages/AdminUpstream"));

/**
 * The code of the page opened directly, loading while the session is checked rather than after it
 * (the crate page loads its README renderer itself, once its query is on its way). main.tsx shows
 * the app once both are there: a page whose code is still missing would suspend, and React holds a
 * suspended page back for up to 300 ms after its fallback appears.
 */
export const firstPageReady: Promise<unknown> = (() => {
  const path = window.location.pathname;
  if (path.startsWith("/crates/")) return CratePage.preload();
  if (path.startsWith("/users/")) return UserPage.preload();
  const pages: Record<string, { preload: () => Promise<unknown> }> = {
    "/tokens": Tokens,
    "/signin": SignIn,
    "/account": Account,
    "/admin/users": AdminUsers,
    "/admin/audit": AdminAudit,
    "/admin/upstream": AdminUpstream,
  };
  return pages[path]?.preload() ?? Promise.resolve();
})();

type Theme = "light" | "dark";

function initialTheme(): Theme | null {
  const saved = localStorage.getItem("raktar-theme");
  return saved === "light" || saved === "dark" ? saved : null;
}

function useSystemDark(): boolean {
  const query = "(prefers-color-scheme: dark)";
  const [dark, setDark] = useState(() => window.matchMedia?.(query).matches ?? false);
  useEffect(() => {
    const mq = window.matchMedia?.(query);
    if (!mq) return;
    const onChange = () => setDark(mq.matches);
    mq.addEventListener("change", onChange);
    return () => mq.removeEventListener("change", onChange);
  }, []);
  return dark;
}

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme | null>(initialTheme);
  useEffect(() => {
    if (theme) {
      document.documentElement.dataset.theme = theme;
      localStorage.setItem("raktar-theme", theme);
    }
  }, [theme]);
  const systemDark = useSystemDark();
  const current: Theme = theme ?? (systemDark ? "dark" : "light");
  const next: Theme = current === "dark" ? "light" : "dark";
  return (
    <button
      type="button"
      className="theme-toggle"
      onClick={() => setTheme(next)}
      aria-label={`Use ${next} theme`}
    >
      {current === "dark" ? "☀ Light" : "☾ Dark"}
    </button>
  );
}

function Header() {
  const { session, signOut } = useSession();
  const location = useLocation();
  const navigate = useNavigate();
  return (
    <header className="site-header">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Link to="/" className="brand">
        Raktar
      </Link>
      <SearchBox />
      <nav aria-label="Account" className="account">
        {session.status === "signed-in" ? (
          <>
            <NavLink to={`/users/${encodeURIComponent(session.user.login)}`}>{session.user.login}</NavLink>
            <NavLink to="/tokens">Tokens</NavLink>
            <NavLink to="/account">Account</NavLink>
            {session.user.role === "admin" && (
              <>
                <NavLink to="/admin/users">Users</NavLink>
                <NavLink to="/admin/audit">Audit</NavLink>
                <NavLink to="/admin/upstream">Upstream</NavLink>
              </>
            )}
            <button
              type="button"
              onClick={() => {
                void signOut().then(() => navigate("/"));
              }}
            >
              Sign out
            </button>
          </>
        ) : session.status === "loading" || location.pathname === "/signin" ? null : (
          <Link to={signInUrl(location.pathname + location.search)}>Sign in</Link>
        )}
        <ThemeToggle />
      </nav>
    </header>
  );
}

export default function App() {
  const { session, refresh } = useSession();
  const client = useMemo(() => makeClient(session, () => void refresh()), [session, refresh]);
  const location = useLocation();
  // After a client-side navigation, focus moves to the new content (screen readers announce it);
  // the first load leaves focus where the browser puts it, so Tab reaches the skip link first.
  const firstPath = useRef(location.pathname);
  useEffect(() => {
    if (firstPath.current === location.pathname) return;
    firstPath.current = "";
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [location.pathname]);
  return (
    <Provider value={client}>
      <Header />
      <main id="main" tabIndex={-1}>
        {session.status === "loading" ? (
          <p className="status" role="status">
            Loading…
          </p>
        ) : (
          <Suspense
            fallback={
              <p className="status" role="status">
                Loading…
              </p>
            }
          >
            <Routes>
              <Route path="/" element={<Home />} />
              <Route path="/search" element={<Search />} />
              <Route path="/crates/:name" element={<CratePage />} />
              <Route path="/crates/:name/:version" element={<CratePage />} />
              <Route path="/users/:login" element={<UserPage />} />
              <Route path="/tokens" element={<Tokens />} />
              <Route path="/signin" element={<SignIn />} />
              <Route path="/account" element={<Account />} />
              <Route path="/admin/users" element={<AdminUsers />} />
              <Route path="/admin/audit" element={<AdminAudit />} />
              <Route path="/admin/upstream" element={<AdminUpstream />} />
              <Route path="*" element={<NotFound />} />
            </Routes>
          </Suspense>
        )}
      </main>
      <footer className="site-footer">
        <span>Raktar, a private Cargo registry</span>
      </footer>
    </Provider>
  );
}
