// The README renderer (a lazily loaded chunk): marked turns the Markdown into HTML, DOMPurify
// keeps only an allowlist of it, React inserts the result. Raw HTML in a README is never rendered
// (marked's HTML tokens are dropped), so nothing a README says runs or loads: no scripts, no event
// handlers, no `javascript:`/`data:` URLs (only http, https, mailto and fragments survive), no
// styles, frames or forms, and images are never loaded: each becomes a link the reader can follow.
import DOMPurify from "dompurify";
import { Marked, type Tokens } from "marked";
import { useMemo } from "react";
import { readmeBase, resolveLink } from "./links";
import { useAfterPaint } from "./paint";

export interface MarkdownProps {
  source: string;
  repository?: string | null;
}

/** What sanitizing keeps (everything else goes, its text kept where it has any). */
const PURIFY = {
  ALLOWED_TAGS: [
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "input",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
  ],
  ALLOWED_ATTR: ["href", "title", "class", "rel", "target", "align", "start", "aria-label"],
  // Any attribute value with a scheme must be http(s) or mailto (DOMPurify applies this to every
  // attribute value, so plain words such as "nofollow" must pass too).
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  ALLOW_DATA_ATTR: false,
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Source characters of a README rendered before the first paint (about a screenful). */
const FIRST_PART = 4000;

function readmeRenderer(base: URL | null): Marked {
  const marked = new Marked({ gfm: true, async: false });
  marked.use({
    renderer: {
      // Raw HTML is never rendered.
      html: () => "",
      // README headings sit below the page's own headings (h2 "README").
      heading({ tokens, depth }: Tokens.Heading) {
        const level = Math.min(depth + 2, 6);
        return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
      },
      link({ href, title, tokens }: Tokens.Link) {
        const inner = this.parser.parseInline(tokens);
        const url = resolveLink(href, base);
        if (!url) return `<span class="dead-link">${inner}</span>`;
        const titled = title ? ` title="${escapeHtml(title)}"` : "";
        if (url.startsWith("#")) return `<a href="${escapeHtml(url)}"${titled}>${inner}</a>`;
        return `<a href="${escapeHtml(url)}"${titled} rel="nofollow noopener noreferrer" target="_blank">${inner}</a>`;
      },
      // Task list items: a mark, not a form control.
      checkbox({ checked }: Tokens.Checkbox) {
        return checked
          ? '<span class="task done" aria-label="done">☑</span> '
          : '<span class="task" aria-label="to do">☐</span> ';
      },
      // Column alignment as an attribute (styles are not kept).
      tablecell(token: Tokens.TableCell) {
        const tag = token.header ? "th" : "td";
        const align = token.align ? ` align="${token.align}"` : "";
        return `<${tag}${align}>${this.parser.parseInline(token.tokens)}</${tag}>\n`;
      },
      image({ href, text }: Tokens.Image) {
        const url = resolveLink(href, base);
        const label = escapeHtml(`Image: ${text || "untitled"}`);
        if (!url || url.startsWith("#")) return `<span class="readme-image">${label}</span>`;
        const host = escapeHtml(new URL(url).host);
        return `<a class="readme-image" href="${escapeHtml(url)}" rel="nofollow noopener noreferrer" target="_blank">${label} (not loaded, opens ${host})</a>`;
      },
    },
  });
  return marked;
}

/**
 * A README in two parts: `head`, its first blocks (about a screenful), rendered at once, and
 * `tail()`, the rest, rendered when asked. Both are sanitized HTML; together they are exactly
 * `renderReadme` (blocks render independently; link definitions are shared).
 */
export interface ReadmeParts {
  head: string;
  hasTail: boolean;
  tail: () => string;
}

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})/;
const FENCE_CLOSE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;
const HEADING = /^#{1,6}(?:[ \t]|$)/;
const DEFINITION = /^ {0,3}\[[^\]\n]+\]:[ \t]*\S/;
/** Raw HTML blocks that may hold blank lines, and what ends each. */
const HTML_BLOCKS: [RegExp, string][] = [
  [/^ {0,3}<(?:script|pre|style|textarea)(?:[\s>]|$)/i, "</"],
  [/^ {0,3}<!--/, "-->"],
  [/^ {0,3}<\?/, "?>"],
  [/^ {0,3}<!\[CDATA\[/, "]]>"],
  [/^ {0,3}<![A-Za-z]/, ">"],
];

/**
 * Where a README can be cut in two parts that render exactly as the whole: the first line after
 * `FIRST_PART` characters that is an ATX heading at column 0 outside fenced code and raw HTML
 * blocks (such a line always starts a new block). Also returns the link definition lines of each
 * side, so that each part can resolve the other's references. `cut` is -1 when there is no such line.
 */
export function splitReadme(source: string): { cut: number; headDefs: string[]; tailDefs: string[] } {
  let fence: string | null = null;
  let html: string | null = null;
  let cut = -1;
  let pos = 0;
  const headDefs: string[] = [];
  const tailDefs: string[] = [];
  for (const line of source.split("\n")) {
    if (fence) {
      const close = FENCE_CLOSE.exec(line)?.[1];
      if (close && close[0] === fence[0] && close.length >= fence.length) fence = null;
    } else if (html) {
      if (line.toLowerCase().includes(html)) html = null;
    } else {
      const open = FENCE_OPEN.exec(line)?.[1];
      const block = HTML_BLOCKS.find(([re]) => re.test(line));
      if (open) fence = open;
      else if (block) html = line.toLowerCase().includes(block[1], 4) ? null : block[1];
      else if (cut < 0 && pos >= FIRST_PART && HEADING.test(line)) cut = pos;
      else if (DEFINITION.test(line)) (cut < 0 ? headDefs : tailDefs).push(line);
    }
    pos += line.length + 1;
  }
  return { cut, headDefs, tailDefs };
}

export function readmeParts(source: string, repository?: string | null): ReadmeParts {
  const marked = readmeRenderer(readmeBase(repository));
  const render = (text: string) => DOMPurify.sanitize(marked.parse(text) as string, PURIFY);
  const { cut, headDefs, tailDefs } = splitReadme(source);
  if (cut < 0) {
    const whole = render(source);
    return { head: whole, hasTail: false, tail: () => "" };
  }
  // Each part is lexed on its own (the first paint waits for the first part only), with the other
  // part's link definitions: the first part's come first, as in the whole.
  const head = render(`${source.slice(0, cut)}\n\n${tailDefs.join("\n")}\n`);
  let tail: string | null = null;
  return {
    head,
    hasTail: true,
    tail: () => (tail ??= render(`${headDefs.join("\n")}\n\n${source.slice(cut)}`)),
  };
}

/** The README as sanitized HTML, its links resolved against `repository`. */
export function renderReadme(source: string, repository?: string | null): string {
  const marked = readmeRenderer(readmeBase(repository));
  return DOMPurify.sanitize(marked.parse(source) as string, PURIFY);
}

/** The last READMEs rendered (a page re-mounting its README, or switching back, renders it once). */
const rendered: { source: string; repository: string | null; parts: ReadmeParts }[] = [];

function cachedParts(source: string, repository: string | null): ReadmeParts {
  const hit = rendered.find((r) => r.source === source && r.repository === repository);
  if (hit) return hit.parts;
  const parts = readmeParts(source, repository);
  rendered.unshift({ source, repository, parts });
  rendered.length = Math.min(rendered.length, 4);
  return parts;
}

export default function Markdown({ source, repository }: MarkdownProps) {
  const parts = useMemo(() => cachedParts(source, repository ?? null), [source, repository]);
  // The first blocks paint first; the rest follows right after.
  const painted = useAfterPaint(parts.hasTail);
  // Sanitized above: only the allowlisted tags and attributes remain.
  return (
    <>
      <div className="readme-body" dangerouslySetInnerHTML={{ __html: parts.head }} />
      {parts.hasTail && painted && (
        <div className="readme-body" dangerouslySetInnerHTML={{ __html: parts.tail() }} />
      )}
    </>
  );
}
