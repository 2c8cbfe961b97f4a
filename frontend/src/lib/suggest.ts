/** Longest term the suggestion box sends (the server refuses much longer queries anyway). */
export const MAX_TERM = 64;

/** What the suggestion box searches for: the box's text trimmed, inner spaces collapsed, capped. */
export function suggestionTerm(text: string): string {
  return text.trim().replace(/\s+/g, " ").slice(0, MAX_TERM);
}

/**
 * The highlighted suggestion after an arrow key: `step` is +1 (down) or -1 (up), `n` suggestions,
 * -1 means none (the text box itself). Moving past either end returns to the text box, and from
 * there to the other end, as in a browser's own address bar.
 */
export function nextActive(current: number, step: 1 | -1, n: number): number {
  if (n <= 0) return -1;
  const next = current + step;
  if (next < -1) return n - 1;
  if (next >= n) return -1;
  return next;
}
