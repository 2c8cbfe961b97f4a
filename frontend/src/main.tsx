import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import App, { firstPageReady } from "./App";
import { fetchSession, SessionProvider, type SessionState } from "./session";
import "./styles.css";

// The saved theme before the first paint (no inline script: the CSP forbids it).
const savedTheme = localStorage.getItem("raktar-theme");
if (savedTheme === "light" || savedTheme === "dark") document.documentElement.dataset.theme = savedTheme;

// Who is signed in: asked before React starts, in parallel with it and with the first page's code.
const session = Promise.all([fetchSession(), firstPageReady.catch(() => undefined)]).then(([s]) => s);

/** How long the first render waits for the session (after that it shows "Loading…" meanwhile). */
const FIRST_RENDER_WAIT_MS = 1000;

function render(root: HTMLElement, known: SessionState | null) {
  createRoot(root).render(
    <StrictMode>
      <BrowserRouter>
        <SessionProvider known={known ?? undefined} initial={known ? undefined : session}>
          <App />
        </SessionProvider>
      </BrowserRouter>
    </StrictMode>,
  );
}

// The app renders once the session and the first page's code are there (one render and one paint
// of the whole page instead of a "Loading…" shell first), or after FIRST_RENDER_WAIT_MS at most.
const root = document.getElementById("root");
if (root) {
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), FIRST_RENDER_WAIT_MS));
  void Promise.race([session, timeout]).then((known) => render(root, known));
}
