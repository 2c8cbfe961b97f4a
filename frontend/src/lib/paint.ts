import { useEffect, useState } from "react";

/**
 * `false` until the browser has painted once after `ready` became true, then `true`. A page shows
 * what is at its top first and adds what lies further down right after (a crate page with a long
 * README, many versions and dependencies otherwise waits for all of it before its first paint).
 */
export function useAfterPaint(ready: boolean): boolean {
  const [painted, setPainted] = useState(false);
  useEffect(() => {
    if (!ready || painted) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The next frame is the paint; the timeout runs right after it.
    const frame = requestAnimationFrame(() => {
      timer = setTimeout(() => setPainted(true), 0);
    });
    return () => {
      cancelAnimationFrame(frame);
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [ready, painted]);
  return painted;
}
