// URL handling of rendered READMEs.

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/** The base for a README's relative links: the repository's file view where we know its shape. */
export function readmeBase(repository: string | null | undefined): URL | null {
  if (!repository) return null;
  let url: URL;
  try {
    url = new URL(repository);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  let path = url.pathname.replace(/\.git$/, "").replace(/\/+$/, "");
  const host = url.hostname.toLowerCase();
  if ((host === "github.com" || host.startsWith("gitlab.")) && path.split("/").length === 3) {
    path += host === "github.com" ? "/blob/HEAD" : "/-/blob/HEAD";
  }
  return new URL(`${url.origin}${path}/`);
}

/**
 * Resolves a README link: absolute http(s)/mailto links stay, fragments stay, relative links are
 * resolved against the repository (or dropped when there is none); everything else is dropped.
 */
export function resolveLink(href: string | undefined | null, base: URL | null): string | null {
  if (!href) return null;
  const trimmed = href.trim();
  if (trimmed.startsWith("#")) return trimmed;
  try {
    const abs = new URL(trimmed);
    return SAFE_PROTOCOLS.has(abs.protocol) ? abs.href : null;
  } catch {
    // relative
  }
  if (!base) return null;
  try {
    const url = new URL(trimmed, base);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** Whether a URL (absolute or relative to `origin`) is of this origin. */
export function sameOrigin(href: string, origin: string): boolean {
  try {
    return new URL(href, origin).origin === origin;
  } catch {
    return false;
  }
}
