// A tiny registry stand-in of the tests' own. It exists ONLY because distribution 2.8 ignores
// `n`/`last` on tags/list (all tags in one answer, no Link), so the real registry cannot show
// tag pagination. It serves one repository's tags in pages (like distribution v3, zot, ECR, GHCR)
// and, optionally, manifests for some tags. Everything else is the real registry's job.
import { serve, sha256 } from "./fixtures.ts";

export type TagServerOptions = {
  repo: string;
  tags: string[];
  pageSize: number; // the server's maximum page; a larger `n` is capped to it
  absoluteLinks?: boolean; // Link: <http://host/v2/…> instead of </v2/…>
  manifests?: Record<string /* tag */, { body: Uint8Array; mediaType: string }>;
};

export type TagServer = { url: string; host: string; requests: string[]; stop(): void };

const API = { "Docker-Distribution-Api-Version": "registry/2.0" };

const error = (status: number, code: string, message: string) => Response.json({ errors: [{ code, message, detail: null }] }, { status, headers: API });

export function startTagServer(opts: TagServerOptions): TagServer {
  const sorted = [...opts.tags].sort(); // lexical, as paginating registries do
  const requests: string[] = [];
  const byRef = new Map<string, { body: Uint8Array<ArrayBuffer>; mediaType: string; digest: string }>();
  for (const [tag, m] of Object.entries(opts.manifests ?? {})) {
    const digest = sha256(m.body);
    const entry = { body: new Uint8Array(m.body), mediaType: m.mediaType, digest }; // a BodyInit copy
    byRef.set(tag, entry);
    byRef.set(entry.digest, entry);
  }
  const prefix = `/v2/${opts.repo}/`;

  const server = serve((req, url) => {
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const path = url.pathname;
    if (path === "/v2/" || path === "/v2") return Response.json({}, { headers: API });

    if (path === `${prefix}tags/list` && req.method === "GET") {
      const asked = Number(url.searchParams.get("n"));
      const n = asked > 0 ? Math.min(asked, opts.pageSize) : opts.pageSize;
      const last = url.searchParams.get("last");
      const rest = last === null ? sorted : sorted.filter((t) => t > last);
      const page = rest.slice(0, n);
      const headers: Record<string, string> = { ...API };
      if (rest.length > n) {
        const next = `/v2/${opts.repo}/tags/list?last=${encodeURIComponent(page.at(-1)!)}&n=${n}`;
        headers.Link = `<${opts.absoluteLinks ? server.url : ""}${next}>; rel="next"`;
      }
      return Response.json({ name: opts.repo, tags: page }, { headers });
    }

    if (path.startsWith(`${prefix}manifests/`) && (req.method === "GET" || req.method === "HEAD")) {
      const m = byRef.get(decodeURIComponent(path.slice(`${prefix}manifests/`.length)));
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
