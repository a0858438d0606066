// A tiny registry stand-in of the tests' own. It exists ONLY for what the real registry cannot
// show: distribution 2.8 ignores `n`/`last` on tags/list (all tags in one answer, no Link), so it
// cannot show tag pagination, and seeding it with 100,000 tags or 10,000 repositories takes many
// minutes. It serves one repository's tags (and, optionally, a catalog) in pages like distribution
// v3, zot, ECR or GHCR do, and manifests for some tags or for every tag. Everything else is the
// real registry's job.
import { serve, sha256 } from "./fixtures.ts";

type Manifest = { body: Uint8Array; mediaType: string };

export type TagServerOptions = {
  repo: string;
  tags: string[];
  pageSize: number; // the server's maximum page; a larger `n` is capped to it
  /** Without `n`, the whole list in one answer (as distribution 2.8 does); pages only when asked. */
  wholeUnlessAsked?: boolean;
  absoluteLinks?: boolean; // Link: <http://host/v2/…> instead of </v2/…>
  manifests?: Record<string /* tag */, Manifest>;
  /** A manifest for any tag, made when asked (for lists too big to hold one per tag). */
  manifestFor?: (tag: string) => Manifest | undefined;
  /** The catalog: /v2/_catalog answers these names, paged as the tags are. */
  repositories?: string[];
  /** Every page after the first answers this much later (a slow registry, page by page). */
  pageDelayMs?: number;
};

export type TagServer = { url: string; host: string; requests: string[]; stop(): void };

const API = { "Docker-Distribution-Api-Version": "registry/2.0" };
const MAX_LOG = 10_000; // requests remembered; a 100k-tag run sends more than that

const error = (status: number, code: string, message: string) => Response.json({ errors: [{ code, message, detail: null }] }, { status, headers: API });

/** The first index whose entry sorts after `last` (a binary search: the list is sorted). */
function after(sorted: string[], last: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= last) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function startTagServer(opts: TagServerOptions): TagServer {
  const sortedTags = [...opts.tags].sort(); // lexical, as paginating registries do
  const sortedRepos = [...(opts.repositories ?? [])].sort();
  const requests: string[] = [];
  const byRef = new Map<string, { body: Uint8Array<ArrayBuffer>; mediaType: string; digest: string }>();
  const remember = (tag: string, m: Manifest) => {
    const entry = { body: new Uint8Array(m.body), mediaType: m.mediaType, digest: sha256(m.body) }; // a BodyInit copy
    byRef.set(tag, entry);
    byRef.set(entry.digest, entry);
    return entry;
  };
  for (const [tag, m] of Object.entries(opts.manifests ?? {})) remember(tag, m);
  const lookup = (ref: string) => {
    const known = byRef.get(ref);
    if (known || !opts.manifestFor || ref.startsWith("sha256:")) return known;
    const made = opts.manifestFor(ref);
    if (!made) return undefined;
    const body = new Uint8Array(made.body);
    return { body, mediaType: made.mediaType, digest: sha256(body) };
  };
  const prefix = `/v2/${opts.repo}/`;

  /** One page of a sorted list: `n` and `last` as the distribution spec has them, Link to the next. */
  const page = (url: URL, sorted: string[], key: "tags" | "repositories", extra: Record<string, string>) => {
    const raw = url.searchParams.get("n");
    const asked = Number(raw);
    const n = asked > 0 ? Math.min(asked, opts.pageSize) : raw === null && opts.wholeUnlessAsked ? sorted.length : opts.pageSize;
    const last = url.searchParams.get("last");
    const from = last === null ? 0 : after(sorted, last);
    const items = sorted.slice(from, from + n);
    const headers: Record<string, string> = { ...API };
    if (from + n < sorted.length) {
      const next = `${url.pathname}?last=${encodeURIComponent(items.at(-1)!)}&n=${n}`;
      headers.Link = `<${opts.absoluteLinks ? server.url : ""}${next}>; rel="next"`;
    }
    return Response.json({ ...extra, [key]: items }, { headers });
  };

  const server = serve(async (req, url) => {
    if (requests.length < MAX_LOG) requests.push(`${req.method} ${url.pathname}${url.search}`);
    const path = url.pathname;
    if (path === "/v2/" || path === "/v2") return Response.json({}, { headers: API });
    if (opts.pageDelayMs && url.searchParams.has("last")) await Bun.sleep(opts.pageDelayMs);
    if (path === "/v2/_catalog" && req.method === "GET" && opts.repositories) return page(url, sortedRepos, "repositories", {});
    if (path === `${prefix}tags/list` && req.method === "GET") return page(url, sortedTags, "tags", { name: opts.repo });

    if (path.startsWith(`${prefix}manifests/`) && (req.method === "GET" || req.method === "HEAD")) {
      const m = lookup(decodeURIComponent(path.slice(`${prefix}manifests/`.length)));
      if (!m) return error(404, "MANIFEST_UNKNOWN", "manifest unknown");
      const headers = {
        ...API,
        "Content-Type": m.mediaType,
        "Content-Length": String(m.body.length),
        "Docker-Content-Digest": m.digest,
      };
      return new Response(req.method === "HEAD" ? null : m.body, { headers });
    }

    return error(404, "NAME_UNKNOWN", "repository name not known to registry");
  });

  return {
    url: server.url,
    host: server.host,
    requests,
    stop: () => void server.stop(),
  };
}
