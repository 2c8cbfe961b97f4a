import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import Markdown from "./Markdown";

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
});
