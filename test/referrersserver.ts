// A referrers API of the tests' own, in front of the REAL registry.
//
// Why it exists: distribution 2.8 (the tests' registry) has no OCI 1.1 referrers API —
// GET /v2/<name>/referrers/<digest> answers a plain-text `404 page not found`, and a manifest with
// `subject` is stored but its answer carries no OCI-Subject — and distribution 3.0 has none
// either. So what a registry WITH the API does (hosted registries, zot, Harbor, Quay) cannot be
// shown by the real one: this proxy adds exactly that and forwards everything else untouched.
//
// What it does (distribution-spec v1.1, "Pushing Manifests with Subject" and "Listing Referrers"):
// - forwards every request to the registry (method, path, query, headers; bodies stream through)
//   and streams the answer back, with an absolute Location that names the registry rewritten to
//   name the proxy;
// - on a PUT of a manifest or index that has `subject`, once the registry answered 201, records
//   the referrer (mediaType, digest, size, artifactType — or config.mediaType for a manifest
//   without one — and annotations) and adds `OCI-Subject: <subject digest>` to the answer;
// - answers GET /v2/<name>/referrers/<digest> itself: 200, an OCI index of the recorded referrers
//   in push order (empty when there are none; never 404), filtered by ?artifactType= with
//   `OCI-Filters-Applied: artifactType`, in pages of `pageSize` linked by `Link: <…>; rel="next"`;
//   400 for a malformed digest; the registry's 401 when the registry refuses the caller's
//   credentials for that repository (asked with a HEAD of the subject);
// - forgets a referrer once a DELETE of its digest succeeded (202). Deleting a subject leaves its
//   referrers listed, which the spec allows (what happens to them is left open).
// Bounded: manifests over 4 MiB are refused (413), at most 10000 referrers per repository, pages
// of at most 1000. Loopback only (serve() binds 127.0.0.1).
import { type Seen, serve, sha256 } from "./fixtures.ts";
import type { Descriptor } from "./referrers.ts";

export type ReferrersServerOptions = {
  /** the real registry, e.g. registry.url */
  upstream: string;
  /** referrers per page; more → Link rel="next". Default 0: everything in one answer */
  pageSize?: number;
  /** Link with an absolute URL (http://127.0.0.1:PORT/v2/…) instead of a relative one */
  absoluteLinks?: boolean;
  /** honour ?artifactType= (default true); false plays a registry that ignores the filter (the
   *  spec's SHOULD) and so sends every referrer and no OCI-Filters-Applied */
  filter?: boolean;
  /** send OCI-Subject on a PUT with subject (default true) */
  ociSubject?: boolean;
  /** extra fetch options for the proxy's requests to the registry (e.g. { tls: { ca } }) */
  upstreamFetchOptions?: object;
};

export type ReferrersServer = {
  url: string; // "http://127.0.0.1:PORT"
  host: string; // "127.0.0.1:PORT"
  /** every request, in order (from serve()) */
  seen: Seen[];
  /** the referrers recorded for a subject, in push order */
  referrers(repo: string, subjectDigest: string): Descriptor[];
  stop(): Promise<void>;
};

const API = { "Docker-Distribution-Api-Version": "registry/2.0" };
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST_TYPES = new Set(["application/vnd.oci.image.manifest.v1+json", OCI_INDEX]);
const MAX_MANIFEST = 4 << 20;
const MAX_REFERRERS = 10_000; // per repository
const MAX_PAGE = 1000;
// Request headers that belong to one hop, not to the request (RFC 9110 7.6.1), plus Host: fetch sets its own.
const HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"];
// The OCI digest grammar (image-spec descriptor.md), and sha256's fixed form.
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

const error = (status: number, code: string, message: string) => Response.json({ errors: [{ code, message, detail: null }] }, { status, headers: API });

const validDigest = (d: string) => DIGEST.test(d) && (!d.startsWith("sha256:") || /^sha256:[a-f0-9]{64}$/.test(d));

type Manifest = {
  mediaType?: string;
  artifactType?: string;
  config?: { mediaType?: string };
  subject?: { digest?: unknown };
  annotations?: Record<string, string>;
};

/** The referrer's descriptor as the spec wants it listed, or undefined when the body has no subject. */
function referrerOf(body: Uint8Array, contentType: string): { subject: string; descriptor: Descriptor } | undefined {
  let m: Manifest;
  try {
    m = JSON.parse(new TextDecoder().decode(body)) as Manifest;
  } catch {
    return undefined;
  }
  const subject = m?.subject?.digest;
  if (typeof subject !== "string" || !validDigest(subject)) return undefined;
  const mediaType = m.mediaType ?? contentType;
  if (!MANIFEST_TYPES.has(mediaType)) return undefined;
  // An index without artifactType is listed without one; a manifest falls back to its config's type.
  const artifactType = m.artifactType || (mediaType === OCI_INDEX ? undefined : m.config?.mediaType);
  const descriptor: Descriptor = {
    mediaType,
    digest: sha256(body),
    size: body.length,
    ...(artifactType ? { artifactType } : {}),
    ...(m.annotations && Object.keys(m.annotations).length ? { annotations: m.annotations } : {}),
  };
  return { subject, descriptor };
}

export function startReferrersServer(opts: ReferrersServerOptions): ReferrersServer {
  const upstream = new URL(opts.upstream).origin;
  const pageSize = Math.min(opts.pageSize ?? 0, MAX_PAGE);
  // repo → subject digest → referrer digest → (sequence number, descriptor). Maps keep insertion order.
  const store = new Map<string, Map<string, Map<string, { seq: number; descriptor: Descriptor }>>>();
  let seq = 0;
  const countIn = (repo: string) => [...(store.get(repo)?.values() ?? [])].reduce((n, m) => n + m.size, 0);

  const record = (repo: string, subject: string, descriptor: Descriptor) => {
    const subjects = store.get(repo) ?? new Map();
    store.set(repo, subjects);
    const refs = subjects.get(subject) ?? new Map();
    subjects.set(subject, refs);
    if (refs.has(descriptor.digest)) return; // pushed again (another tag): listed once
    if (countIn(repo) >= MAX_REFERRERS) throw new Error(`referrers server: more than ${MAX_REFERRERS} referrers in ${repo}`);
    refs.set(descriptor.digest, { seq: ++seq, descriptor });
  };
  const forget = (repo: string, digest: string) => {
    for (const refs of store.get(repo)?.values() ?? []) refs.delete(digest);
  };

  /** Send a request on to the registry; its answer comes back as the registry gave it. */
  const forward = (method: string, pathAndQuery: string, reqHeaders: Headers, body?: BodyInit | null): Promise<Response> => {
    const headers = new Headers(reqHeaders);
    for (const h of HOP) headers.delete(h);
    return fetch(`${upstream}${pathAndQuery}`, {
      ...opts.upstreamFetchOptions,
      method,
      headers,
      body: method === "GET" || method === "HEAD" ? undefined : body,
      redirect: "manual",
      decompress: false, // pass the bytes through as they are
    } as RequestInit);
  };

  /** The registry's answer, to the client: headers copied, Location made to name the proxy, one added header. */
  const relay = (res: Response, proxyOrigin: string, extra: Record<string, string> = {}): Response => {
    const headers = new Headers(res.headers);
    const location = headers.get("location");
    if (location?.startsWith(upstream)) headers.set("location", proxyOrigin + location.slice(upstream.length));
    for (const [k, v] of Object.entries(extra)) headers.set(k, v);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };

  const putManifest = async (req: Request, url: URL, repo: string): Promise<Response> => {
    const declared = Number(req.headers.get("content-length") ?? 0);
    if (declared > MAX_MANIFEST) return error(413, "SIZE_INVALID", `manifest over ${MAX_MANIFEST} bytes`);
    const body = new Uint8Array(await req.arrayBuffer());
    if (body.length > MAX_MANIFEST) return error(413, "SIZE_INVALID", `manifest over ${MAX_MANIFEST} bytes`);
    const res = await forward("PUT", url.pathname + url.search, req.headers, body);
    const ref = res.status === 201 ? referrerOf(body, (req.headers.get("content-type") ?? "").split(";")[0]!.trim()) : undefined;
    if (!ref) return relay(res, url.origin);
    record(repo, ref.subject, ref.descriptor);
    return relay(res, url.origin, opts.ociSubject === false ? {} : { "OCI-Subject": ref.subject });
  };

  const listReferrers = async (req: Request, url: URL, repo: string, subject: string): Promise<Response> => {
    if (!validDigest(subject)) return error(400, "DIGEST_INVALID", "invalid digest");
    // The registry decides who may read the repository: ask it with a HEAD of the subject.
    const probe = await forward("HEAD", `/v2/${repo}/manifests/${subject}`, req.headers);
    await probe.arrayBuffer();
    if (probe.status === 401 || probe.status === 403) return relay(probe, url.origin);
    const wanted = url.searchParams.get("artifactType");
    const filtering = wanted !== null && opts.filter !== false;
    const after = Number(url.searchParams.get("cursor") ?? 0);
    const all = [...(store.get(repo)?.get(subject)?.values() ?? [])].filter((r) => r.seq > after && (!filtering || r.descriptor.artifactType === wanted));
    const page = pageSize > 0 ? all.slice(0, pageSize) : all;
    const headers: Record<string, string> = { ...API, "Content-Type": OCI_INDEX };
    if (filtering) headers["OCI-Filters-Applied"] = "artifactType";
    if (page.length < all.length) {
      const q = new URLSearchParams();
      if (wanted !== null) q.set("artifactType", wanted);
      q.set("cursor", String(page.at(-1)!.seq));
      headers.Link = `<${opts.absoluteLinks ? url.origin : ""}/v2/${repo}/referrers/${subject}?${q}>; rel="next"`;
    }
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: page.map((r) => r.descriptor) };
    return new Response(JSON.stringify(index), { status: 200, headers });
  };

  const server = serve(async (req, url) => {
    const referrers = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(url.pathname);
    if (referrers && req.method === "GET") return listReferrers(req, url, referrers[1]!, decodeURIComponent(referrers[2]!));
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (manifest && req.method === "PUT") return putManifest(req, url, manifest[1]!);
    const res = await forward(req.method, url.pathname + url.search, req.headers, req.body);
    if (manifest && req.method === "DELETE" && res.status === 202) forget(manifest[1]!, decodeURIComponent(manifest[2]!));
    return relay(res, url.origin);
  });

  return {
    url: server.url,
    host: server.host,
    seen: server.seen,
    referrers: (repo, subject) => [...(store.get(repo)?.get(subject)?.values() ?? [])].map((r) => r.descriptor),
    stop: server.stop,
  };
}
