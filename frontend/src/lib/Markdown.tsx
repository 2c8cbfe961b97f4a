// The README renderer (a lazily loaded chunk). Markdown only: raw HTML in a README is never
// rendered (react-markdown drops it without rehype-raw), rehype-sanitize cleans what Markdown
// produces (no event handlers, no `javascript:` URLs, `user-content-` prefixed ids), and images
// are never loaded: each becomes a link the reader can follow.
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeSanitize from "rehype-sanitize";
import { readmeBase, resolveLink } from "./links";

export interface MarkdownProps {
  source: string;
  repository?: string | null;
}

export default function Markdown({ source, repository }: MarkdownProps) {
  const base = readmeBase(repository);
  // README headings sit below the page's own headings (h2 "README").
  const components: Components = {
    h1: ({ children }) => <h3>{children}</h3>,
    h2: ({ children }) => <h4>{children}</h4>,
    h3: ({ children }) => <h5>{children}</h5>,
    h4: ({ children }) => <h6>{children}</h6>,
    h5: ({ children }) => <h6>{children}</h6>,
    a({ href, children }) {
      const url = resolveLink(href, base);
      if (!url) return <span className="dead-link">{children}</span>;
      if (url.startsWith("#")) return <a href={url}>{children}</a>;
      return (
        <a href={url} rel="nofollow noopener noreferrer" target="_blank">
          {children}
        </a>
      );
    },
    img({ src, alt }) {
      const url = typeof src === "string" ? resolveLink(src, base) : null;
      const label = `Image: ${alt || "untitled"}`;
      if (!url || url.startsWith("#")) return <span className="readme-image">{label}</span>;
      return (
        <a className="readme-image" href={url} rel="nofollow noopener noreferrer" target="_blank">
          {label} (not loaded, opens {new URL(url).host})
        </a>
      );
    },
  };
  return (
    <ReactMarkdown rehypePlugins={[rehypeSanitize]} components={components} skipHtml>
      {source}
    </ReactMarkdown>
  );
}
