import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import App, { firstPageReady } from "./App";
import { fetchSession, SessionProvider } from "./session";
import "./styles.css";

// The saved theme before the first paint (no inline script: the CSP forbids it).
const savedTheme = localStorage.getItem("raktar-theme");
if (savedTheme === "light" || savedTheme === "dark") document.documentElement.dataset.theme = savedTheme;

// Who is signed in: asked before React starts, in parallel with it and with the first page's code.
const session = Promise.all([fetchSession(), firstPageReady.catch(() => undefined)]).then(([s]) => s);

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <BrowserRouter>
        <SessionProvider initial={session}>
          <App />
        </SessionProvider>
      </BrowserRouter>
    </StrictMode>,
  );
}
