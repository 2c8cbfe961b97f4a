import { use, useEffect, useState, type ComponentType, type JSX } from "react";

/** A lazily loaded component that can be fetched ahead of its first render. */
export type Preloadable<P extends object> = ((props: P) => JSX.Element) & {
  /** Starts loading the module (once); resolves when it is there. */
  preload: () => Promise<unknown>;
  /** The component when its module is there already. */
  current: () => ComponentType<P> | null;
};

/**
 * Like `React.lazy` (it suspends until the module is there), but once the module has arrived (for example through `preload()` while the
 * session is being checked) the component renders straight away instead of suspending: a
 * suspended boundary shows its fallback and React then holds the real content back for up to
 * 300 ms (its fallback throttle), which would make a page opened directly paint that much later.
 */
export function lazyWithPreload<P extends object>(
  load: () => Promise<{ default: ComponentType<P> }>,
): Preloadable<P> {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<{ default: ComponentType<P> }> | null = null;
  const preload = () => {
    pending ??= load().then((m) => {
      loaded = m.default;
      return m;
    });
    return pending;
  };
  // One component type whether or not the module had arrived when it first rendered: switching
  // between two types would mount the page (or README) a second time.
  const Component = (props: P) => {
    const Loaded = loaded ?? use(preload()).default;
    return <Loaded {...props} />;
  };
  return Object.assign(Component, { preload, current: () => loaded });
}

/**
 * The component of `lazy` once its module is there, `null` until then, without suspending: the
 * caller shows its own placeholder, and the real content replaces it as soon as it can (a
 * suspended boundary would hold it back for up to 300 ms).
 */
export function useLoaded<P extends object>(lazy: Preloadable<P>): ComponentType<P> | null {
  const [component, setComponent] = useState<ComponentType<P> | null>(() => lazy.current());
  useEffect(() => {
    if (component) return;
    let live = true;
    void lazy.preload().then(() => {
      if (live) setComponent(() => lazy.current());
    });
    return () => {
      live = false;
    };
  }, [lazy, component]);
  return component;
}
