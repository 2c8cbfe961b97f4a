// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import Markdown, { readmeParts, renderReadme, splitReadme } from "./Markdown";

const hostile = `# Evil

<script>window.pwned = 1</script>

<img src="x" onerror="window.pwned = 2">

[click me](javascript:alert(1))

[data](data:text/html,<script>alert(1)</script>)

![tracker](https://evil.example/pixel.png)

![logo](docs/logo.png)

[guide](docs/guide.md)

<iframe src="https://evil.example"></iframe>
`;

describe("Markdown", () => {
  const html = renderToStaticMarkup(
    <Markdown source={hostile} repository="https://github.com/acme/widget" />,
  );

  it("renders no raw HTML from the README", () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<iframe/i);
    expect(html).not.toMatch(/onerror/i);
  });

  it("drops javascript: and data: links", () => {
    expect(html).not.toMatch(/javascript:/i);
    expect(html).not.toMatch(/href="data:/i);
    expect(html).toContain("click me");
  });

  it("loads no image and shows remote images as links", () => {
    expect(html).not.toMatch(/<img/i);
    expect(html).toContain('href="https://evil.example/pixel.png"');
    expect(html).toContain("Image: tracker");
  });

  it("resolves relative links and images against the repository", () => {
    expect(html).toContain('href="https://github.com/acme/widget/blob/HEAD/docs/guide.md"');
    expect(html).toContain('href="https://github.com/acme/widget/blob/HEAD/docs/logo.png"');
  });

  it("demotes README headings below the page's own", () => {
    expect(html).toContain("<h3>Evil</h3>");
    expect(html).not.toMatch(/<h1/);
  });

  it("drops relative links when there is no repository", () => {
    const out = renderToStaticMarkup(<Markdown source="[x](docs/a.md)" />);
    expect(out).not.toContain("href");
  });

  it("keeps attribute injection, autolinks and raw HTML in link text harmless", () => {
    const out = renderReadme(
      [
        '[x](https://a.example/" onmouseover="alert(1))',
        "<javascript:alert(1)>",
        '[ref][r] and [t](https://a.example "say \\"hi\\" <b>")',
        "[<img src=x onerror=alert(1)>](https://a.example)",
        "",
        "[r]: javascript:alert(2)",
      ].join("\n"),
      null,
    );
    const doc = new DOMParser().parseFromString(out, "text/html");
    expect(doc.querySelectorAll("img, script, iframe, input").length).toBe(0);
    for (const el of doc.querySelectorAll("*")) {
      expect([...el.attributes].filter((x) => x.name.startsWith("on"))).toEqual([]);
    }
    expect(doc.querySelectorAll("a").length).toBeGreaterThan(0);
    for (const a of doc.querySelectorAll("a")) {
      expect(a.getAttribute("href") ?? "").toMatch(/^(https?:|mailto:|#)/);
      expect(a.getAttribute("rel")).toBe("nofollow noopener noreferrer");
      expect(
        [...a.attributes]
          .map((x) => x.name)
          .every((n) => ["href", "title", "rel", "target", "class"].includes(n)),
      ).toBe(true);
    }
  });

  it("renders tables, task lists and code blocks", () => {
    const out = renderReadme(
      "| a | b |\n|:--|--:|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n```rust\nfn main() {}\n```\n",
      null,
    );
    expect(out).toContain("<table>");
    expect(out).toMatch(/<th align="left">a<\/th>/);
    expect(out).toContain('<span class="task done" aria-label="done">☑</span> done');
    expect(out).not.toContain("<input");
    expect(out).toContain('<code class="language-rust">fn main() {}');
  });

  it("renders a long README in two parts that together are the whole", () => {
    const block = (i: number) =>
      `## Part ${i}\n\nSee [the guide][guide] and [item ${i}](docs/${i}.md).\n\n- a\n- b\n`;
    const source =
      Array.from({ length: 600 }, (_, i) => block(i)).join("\n") + "\n[guide]: https://docs.example/guide\n";
    const parts = readmeParts(source, "https://github.com/acme/widget");
    expect(parts.hasTail).toBe(true);
    const whole = renderReadme(source, "https://github.com/acme/widget");
    expect(parts.head.length).toBeLessThan(whole.length / 4);
    expect(parts.head + parts.tail()).toBe(whole);
    // Link definitions at the end serve the first part too.
    expect(parts.head).toContain('href="https://docs.example/guide"');
    const short = readmeParts("# Small", null);
    expect(short.hasTail).toBe(false);
    expect(short.tail()).toBe("");
  });

  it("never cuts a README inside fenced code or raw HTML", () => {
    const filler = "Some prose that fills the first screen of the README.\n\n".repeat(80);
    const source = `${filler}\`\`\`\n# a comment, not a heading\n\`\`\`\n\n<!--\n# hidden\n-->\n\n## Real\n\nText.\n`;
    const { cut } = splitReadme(source);
    expect(source.slice(cut)).toMatch(/^## Real/);
    const parts = readmeParts(source, null);
    expect(parts.head + parts.tail()).toBe(renderReadme(source, null));
    expect(parts.head).toContain("# a comment, not a heading");
    // No heading after the first screen: one part.
    expect(splitReadme(filler).cut).toBe(-1);
  });
});
