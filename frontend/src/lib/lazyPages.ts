// Code the crate page loads on demand, shared with the app shell so a crate page opened directly
// can fetch it early (see `lazyWithPreload`).
import { lazyWithPreload } from "./lazy";

export const Markdown = lazyWithPreload(() => import("./Markdown"));
// Only owners and administrators see it.
export const TrustedPublishing = lazyWithPreload(() => import("../pages/TrustedPublishing"));
