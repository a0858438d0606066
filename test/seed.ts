// Push test images straight through the registry HTTP API v2 with plain fetch (no regctl code),
// so tests of regctl never depend on regctl to build their fixtures.
// Library, and CLI: bun test/seed.ts push|many-tags|many-repos …
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { sha256 } from "./fixtures.ts";

export type Format = "docker" | "oci";
export type Net = { headers?: Record<string, string>; fetchOptions?: object };

export type PushImageOptions = Net & {
  format?: Format;
  created?: string; // ISO date for config.created
  layerSizes?: number[]; // uncompressed file size per layer; default one 64-byte layer
  seed?: string; // distinct seeds give distinct layers; same seed gives identical bytes
  architecture?: string;
  os?: string;
  mountFrom?: string; // try a cross-repository blob mount from this repo before uploading
  knownBlobs?: Set<string>; // digests known to be in the repo: no HEAD, no upload; uploads are added
};

export type PushedImage = {
  digest: string;
  mediaType: string;
  size: number;
  configDigest: string;
  layerDigests: string[];
  layerSizes: number[]; // compressed blob sizes, as in the manifest
  manifest: Uint8Array;
};

export type Platform = { os: string; architecture: string; variant?: string };
export type IndexChild = { platform: Platform; seed: string; created?: string };
export type PushedIndex = {
  digest: string;
  mediaType: string;
  size: number;
  manifest: Uint8Array;
  children: (PushedImage & { platform: Platform })[];
};

export const MediaTypes = {
  docker: {
    manifest: "application/vnd.docker.distribution.manifest.v2+json",
    index: "application/vnd.docker.distribution.manifest.list.v2+json",
    config: "application/vnd.docker.container.image.v1+json",
    layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  },
  oci: {
    manifest: "application/vnd.oci.image.manifest.v1+json",
    index: "application/vnd.oci.image.index.v1+json",
    config: "application/vnd.oci.image.config.v1+json",
    layer: "application/vnd.oci.image.layer.v1.tar+gzip",
  },
} as const;

const DEFAULT_CREATED = "2024-01-01T00:00:00Z"; // fixed, so the same seed gives the same digest
const enc = new TextEncoder();

/** Deterministic bytes from a seed (xorshift32): incompressible, like real layer content. */
function bytesFrom(seed: string, size: number): Uint8Array {
  let x = createHash("sha256").update(seed).digest().readUInt32LE(0) || 1;
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A ustar archive with one regular file and a fixed mtime, so it is byte-for-byte reproducible. */
function tarOneFile(name: string, data: Uint8Array): Uint8Array {
  const header = new Uint8Array(512);
  const put = (off: number, s: string) => header.set(enc.encode(s), off);
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, "0")}\0`;
  put(0, name);
  put(100, octal(0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(data.length, 12));
  put(136, octal(0, 12)); // mtime 1970: deterministic
  put(148, "        "); // checksum is computed with its own field as spaces
  put(156, "0");
  put(257, "ustar\u000000");
  const sum = header.reduce((a, b) => a + b, 0);
  put(148, `${sum.toString(8).padStart(6, "0")}\0 `);
  const padded = Math.ceil(data.length / 512) * 512;
  const tar = new Uint8Array(512 + padded + 1024); // two zero blocks end the archive
  tar.set(header);
  tar.set(data, 512);
  return tar;
}

export type Ctx = { base: string; repo: string; headers: Record<string, string>; fetchOptions: object };

/** fetch that throws with method, url, status and body unless the status is expected. */
export async function call(ctx: Ctx, method: string, url: string, expect: number[], extra: { headers?: Record<string, string>; body?: Uint8Array } = {}): Promise<Response> {
  const res = await fetch(url, {
    ...ctx.fetchOptions,
    method,
    headers: { ...ctx.headers, ...extra.headers },
    body: extra.body,
  } as RequestInit);
  if (!expect.includes(res.status)) {
    throw new Error(`${method} ${url} → ${res.status}: ${await res.text()}`);
  }
  return res;
}

async function uploadBlob(ctx: Ctx, blob: Uint8Array, digest: string, opts: { mountFrom?: string; knownBlobs?: Set<string> }): Promise<void> {
  if (opts.knownBlobs?.has(digest)) return;
  await upload(ctx, blob, digest, opts.mountFrom);
  opts.knownBlobs?.add(digest);
}

export async function upload(ctx: Ctx, blob: Uint8Array, digest: string, mountFrom?: string): Promise<void> {
  const v2 = `${ctx.base}/v2/${ctx.repo}/blobs`;
  const head = await call(ctx, "HEAD", `${v2}/${digest}`, [200, 404]);
  if (head.status === 200) return;
  const start = mountFrom ? `${v2}/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}` : `${v2}/uploads/`;
  const post = await call(ctx, "POST", start, [201, 202]);
  await post.arrayBuffer();
  if (post.status === 201) return; // mounted from the other repository
  const location = post.headers.get("location");
  if (!location) throw new Error(`POST ${start} → ${post.status} without Location`);
  // Location may be relative, and usually already carries a query (_state): append, don't
  // re-serialize the registry's opaque parameters.
  const url = new URL(location, ctx.base).href;
  const put = `${url}${url.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`;
  const res = await call(ctx, "PUT", put, [201], {
    headers: { "Content-Type": "application/octet-stream" },
    body: blob,
  });
  await res.arrayBuffer();
}

/** PUT a manifest; returns its digest (checked against Docker-Content-Digest) and the answer's headers. */
export async function putManifest(ctx: Ctx, ref: string, body: Uint8Array, mediaType: string): Promise<{ digest: string; headers: Headers }> {
  const url = `${ctx.base}/v2/${ctx.repo}/manifests/${ref}`;
  const res = await call(ctx, "PUT", url, [201], { headers: { "Content-Type": mediaType }, body });
  await res.arrayBuffer();
  const digest = sha256(body);
  const got = res.headers.get("docker-content-digest");
  if (got !== digest) throw new Error(`PUT ${url}: Docker-Content-Digest ${got}, expected ${digest}`);
  return { digest, headers: res.headers };
}

export const ctxOf = (base: string, repo: string, o: Net): Ctx => ({ base: base.replace(/\/+$/, ""), repo, headers: o.headers ?? {}, fetchOptions: o.fetchOptions ?? {} });

/** Push one image under each tag; with no tags it is pushed by digest only. */
export async function pushImage(base: string, repo: string, tags: string[], opts: PushImageOptions = {}): Promise<PushedImage> {
  const ctx = ctxOf(base, repo, opts);
  const types = MediaTypes[opts.format ?? "docker"];
  const seed = opts.seed ?? "seed";
  const layers = (opts.layerSizes ?? [64]).map((size, i) => {
    const tar = tarOneFile(`layer${i}.bin`, bytesFrom(`${seed}/${i}`, size));
    const blob = gzipSync(tar); // gzip header mtime is 0: deterministic
    return { blob, digest: sha256(blob), diffId: sha256(tar) };
  });
  const config = enc.encode(
    JSON.stringify({
      architecture: opts.architecture ?? "amd64",
      os: opts.os ?? "linux",
      created: opts.created ?? DEFAULT_CREATED,
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      // One history entry per layer, as docker writes: distribution needs them to convert the
      // image to schema1 for a client that sends no Accept header (else 400 MANIFEST_INVALID).
      history: layers.map(() => ({ created: opts.created ?? DEFAULT_CREATED, created_by: "regctl test layer" })),
      config: {},
    }),
  );
  const configDigest = sha256(config);
  for (const l of layers) await uploadBlob(ctx, l.blob, l.digest, opts);
  await uploadBlob(ctx, config, configDigest, opts);

  const manifest = enc.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: types.layer, digest: l.digest, size: l.blob.length })),
    }),
  );
  const digest = sha256(manifest);
  for (const ref of tags.length ? tags : [digest]) await putManifest(ctx, ref, manifest, types.manifest);
  return {
    digest,
    mediaType: types.manifest,
    size: manifest.length,
    configDigest,
    layerDigests: layers.map((l) => l.digest),
    layerSizes: layers.map((l) => l.blob.length),
    manifest,
  };
}

/** Push each platform image by digest, then a docker manifest list or OCI index under the tags. */
export async function pushIndex(base: string, repo: string, tags: string[], children: IndexChild[], opts: Net & { format?: Format } = {}): Promise<PushedIndex> {
  const format = opts.format ?? "docker";
  const types = MediaTypes[format];
  const pushed: PushedIndex["children"] = [];
  for (const c of children) {
    const img = await pushImage(base, repo, [], {
      ...opts,
      format,
      seed: c.seed,
      created: c.created,
      os: c.platform.os,
      architecture: c.platform.architecture,
    });
    pushed.push({ ...img, platform: c.platform });
  }
  const manifest = enc.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.index,
      manifests: pushed.map((c) => ({ mediaType: c.mediaType, digest: c.digest, size: c.size, platform: c.platform })),
    }),
  );
  const ctx = ctxOf(base, repo, opts);
  const digest = sha256(manifest);
  for (const ref of tags.length ? tags : [digest]) await putManifest(ctx, ref, manifest, types.index);
  return { digest, mediaType: types.index, size: manifest.length, manifest, children: pushed };
}

/** Run fn over items with at most `limit` in flight; results keep the input order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Deterministic Fisher–Yates shuffle of 0..n-1 (LCG), so creation order differs from tag order. */
function shuffled(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  let s = 12345;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export type ManyTagsOptions = Net & {
  prefix?: string; // tag names `${prefix}${i}`; default v1.<i/100>.<i%100>
  concurrency?: number;
  distinctImages?: boolean; // one small image per tag, each with its own `created`
  baseDate?: Date; // created = baseDate + rank hours (distinct images only)
};
export type TaggedImage = { tag: string; digest: string; created: string };

/**
 * Push `count` tags, either all on one image (fast) or one distinct image per tag whose
 * `created` is baseDate + k hours, with k a shuffle of the tag index (for prune tests).
 * Distinct images share one layer and differ by config, so each costs 4 requests, not 7:
 * the registry's ~1 ms of CPU per request is what bounds seeding time.
 */
export async function pushManyTags(base: string, repo: string, count: number, opts: ManyTagsOptions = {}): Promise<TaggedImage[]> {
  if (count <= 0) return [];
  const name = (i: number) => (opts.prefix !== undefined ? `${opts.prefix}${i}` : `v1.${Math.floor(i / 100)}.${i % 100}`);
  const tags = Array.from({ length: count }, (_, i) => name(i));
  const limit = opts.concurrency ?? 8;
  const net: Net = { headers: opts.headers, fetchOptions: opts.fetchOptions };
  if (!opts.distinctImages) {
    const img = await pushImage(base, repo, tags.slice(0, 1), { ...net, seed: repo });
    const ctx = ctxOf(base, repo, net);
    await pool(tags.slice(1), limit, (t) => putManifest(ctx, t, img.manifest, img.mediaType));
    return tags.map((tag) => ({ tag, digest: img.digest, created: DEFAULT_CREATED }));
  }
  const baseMs = (opts.baseDate ?? new Date(DEFAULT_CREATED)).getTime();
  const rank = shuffled(count);
  const knownBlobs = new Set<string>();
  const push = async (tag: string, i: number): Promise<TaggedImage> => {
    const created = new Date(baseMs + rank[i]! * 3_600_000).toISOString();
    const img = await pushImage(base, repo, [tag], { ...net, seed: repo, created, knownBlobs });
    return { tag, digest: img.digest, created };
  };
  // The first push uploads the shared layer; the rest then skip it.
  const first = await push(tags[0]!, 0);
  return [first, ...(await pool(tags.slice(1), limit, (t, i) => push(t, i + 1)))];
}

export type ManyReposOptions = Net & { prefix?: string; tag?: string; concurrency?: number };

/** Push `count` repositories (bulk/repo-000 …) with one tag each, all sharing one layer blob. */
export async function pushManyRepos(base: string, count: number, opts: ManyReposOptions = {}): Promise<{ repo: string; digest: string }[]> {
  if (count <= 0) return [];
  const prefix = opts.prefix ?? "bulk/repo-";
  const width = Math.max(3, String(count - 1).length);
  const repos = Array.from({ length: count }, (_, i) => prefix + String(i).padStart(width, "0"));
  const net: Net = { headers: opts.headers, fetchOptions: opts.fetchOptions };
  // The first push uploads the blobs; the others mount them (no data sent again).
  const first = await pushImage(base, repos[0]!, [opts.tag ?? "latest"], { ...net, seed: prefix });
  const rest = await pool(repos.slice(1), opts.concurrency ?? 8, (repo) => pushImage(base, repo, [opts.tag ?? "latest"], { ...net, seed: prefix, mountFrom: repos[0] }));
  return [first, ...rest].map((img, i) => ({ repo: repos[i]!, digest: img.digest }));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  // Remove a flag (and its value, if it takes one) from args; returns the value or true.
  const flag = (name: string, takesValue = false): string | boolean | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const [, value] = args.splice(i, takesValue ? 2 : 1);
    return takesValue ? value : true;
  };
  const seed = flag("--seed", true) as string | undefined;
  const oci = flag("--oci") === true;
  const distinct = flag("--distinct") === true;
  const layerBytes = flag("--layer-bytes", true) as string | undefined;
  const [cmd, base, ...rest] = args;
  const count = (s: string | undefined) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a count: ${s}`);
    return n;
  };
  const usage =
    "usage: bun test/seed.ts push BASE REPO TAG [TAG...] [--oci] [--seed S] [--layer-bytes N]\n" +
    "       bun test/seed.ts many-tags BASE REPO COUNT [--distinct]\n" +
    "       bun test/seed.ts many-repos BASE COUNT";
  if (cmd === "push" && base && rest.length >= 2) {
    const img = await pushImage(base, rest[0]!, rest.slice(1), { format: oci ? "oci" : "docker", seed, layerSizes: layerBytes ? [count(layerBytes)] : undefined });
    console.log(img.digest);
  } else if (cmd === "many-tags" && base && rest.length === 2) {
    const t0 = performance.now();
    const tags = await pushManyTags(base, rest[0]!, count(rest[1]), { distinctImages: distinct });
    console.log(`${tags.length} tags in ${Math.round(performance.now() - t0)} ms`);
  } else if (cmd === "many-repos" && base && rest.length === 1) {
    const t0 = performance.now();
    const repos = await pushManyRepos(base, count(rest[0]));
    console.log(`${repos.length} repositories in ${Math.round(performance.now() - t0)} ms`);
  } else {
    console.error(usage);
    process.exit(2);
  }
}
