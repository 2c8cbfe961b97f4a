import { describe, expect, it } from "vitest";
import { MAX_TERM, nextActive, suggestionTerm } from "./suggest";

describe("suggestionTerm", () => {
  it("trims and collapses spaces", () => {
    expect(suggestionTerm("  serde   json ")).toBe("serde json");
    expect(suggestionTerm("   ")).toBe("");
  });
  it("caps the length", () => {
    expect(suggestionTerm("x".repeat(500))).toHaveLength(MAX_TERM);
  });
});

describe("nextActive", () => {
  it("walks down and wraps through the text box", () => {
    expect(nextActive(-1, 1, 3)).toBe(0);
    expect(nextActive(0, 1, 3)).toBe(1);
    expect(nextActive(2, 1, 3)).toBe(-1);
  });
  it("walks up and wraps to the last one", () => {
    expect(nextActive(-1, -1, 3)).toBe(2);
    expect(nextActive(0, -1, 3)).toBe(-1);
  });
  it("has nothing to highlight without suggestions", () => {
    expect(nextActive(-1, 1, 0)).toBe(-1);
    expect(nextActive(4, -1, 0)).toBe(-1);
  });
});
