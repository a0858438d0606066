// What the test files (and the bench) share, one of each.
import { createHash } from "node:crypto";

// ───────────── digests ─────────────

/** The digest of some bytes (a string as its UTF-8), as registries write it: `sha256:HEX`. */
export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;
