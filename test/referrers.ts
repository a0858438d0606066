// Push what signers and SBOM tools push next to an image, straight over the registry HTTP API
// (plain fetch, no regctl code), so tests of regctl's referrer handling never depend on regctl:
//
// - cosign's tag scheme: a manifest tagged `sha256-<hex>.sig` (`.att`, `.sbom`) beside the image,
//   with no `subject` field (pushCosignSignature);
// - OCI 1.1 artifacts: an image manifest with `artifactType`, the empty config and a `subject`,
//   pushed by digest (pushArtifact); on a registry without the referrers API the pushing client
//   also keeps the fallback tag `sha256-<hex>` up to date: an OCI index listing the referrers
//   (distribution-spec v1.1 "Pushing Manifests with Subject" and "Referrers Tag Schema");
// - reading and changing that fallback index (fallbackIndex, deleteReferrer), and following the
//   referrers API page by page (listReferrers).
//
// Distribution 2.8 (the tests' registry) has no referrers API: /v2/<name>/referrers/<digest>
// answers a plain-text 404. test/referrersserver.ts puts the API in front of it.
import { sha256 } from "./fixtures.ts";
import { call, ctxOf, type Ctx, type Format, MediaTypes, type Net, putManifest, upload } from "./seed.ts";

export type Descriptor = {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
};

/** What a referrer points at: a PushedImage or PushedIndex fits. */
export type Subject = { digest: string; mediaType: string; size: number };

export const OCI_INDEX = MediaTypes.oci.index;
export const OCI_MANIFEST = MediaTypes.oci.manifest;

/** The OCI empty descriptor (image-spec v1.1 manifest.md, "Guidance for an Empty Descriptor"): the 2 bytes `{}`. */
export const EMPTY_JSON = new TextEncoder().encode("{}");
export const EMPTY_DESCRIPTOR: Descriptor = { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(EMPTY_JSON), size: 2 };

export const COSIGN = {
  simpleSigning: "application/vnd.dev.cosign.simplesigning.v1+json",
  dsse: "application/vnd.dsse.envelope.v1+json",
  spdxJson: "text/spdx+json",
  signatureAnnotation: "dev.cosignproject.cosign/signature",
} as const;

/** cosign's own config `created` unless run with --record-creation-timestamp: Go's zero time. */
export const COSIGN_ZERO_TIME = "0001-01-01T00:00:00Z";
/** The default `created` of a signature here: after seed.ts's default image date (2024-01-01). */
export const SIGNED_AT = "2024-06-01T00:00:00Z";

const enc = new TextEncoder();
const dec = new TextDecoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));
const MAX_MANIFEST = 4 << 20; // the spec's "at least 4 megabytes"; more is refused here

function splitDigest(digest: string): { algorithm: string; encoded: string } {
  const i = digest.indexOf(":");
  if (i <= 0 || i === digest.length - 1) throw new Error(`not a digest: ${digest}`);
  return { algorithm: digest.slice(0, i), encoded: digest.slice(i + 1) };
}

/**
 * The fallback tag of a subject (distribution-spec v1.1, "Referrers Tag Schema"): the algorithm cut
 * to 32 characters, `-`, the encoded part cut to 64, and every character a tag may not hold
 * (outside [a-zA-Z0-9_.-]) replaced by `-`. sha256:abc… → sha256-abc….
 */
export function referrersTag(digest: string): string {
  const { algorithm, encoded } = splitDigest(digest);
  return `${algorithm.slice(0, 32)}-${encoded.slice(0, 64)}`.replace(/[^a-zA-Z0-9_.-]/g, "-");
}

export type CosignSuffix = "sig" | "att" | "sbom";

/** cosign's tag for what it attaches to a digest: `<algorithm>-<encoded>.<suffix>` (no truncation). */
export function cosignTag(digest: string, suffix: CosignSuffix = "sig"): string {
  const { algorithm, encoded } = splitDigest(digest);
  return `${algorithm}-${encoded}.${suffix}`;
}

/** GET a manifest with the given Accept types: its bytes, media type and digest, or undefined on 404. */
async function getManifest(ctx: Ctx, ref: string, accept: string[]): Promise<{ bytes: Uint8Array; mediaType: string; digest: string } | undefined> {
  const url = `${ctx.base}/v2/${ctx.repo}/manifests/${ref}`;
  const res = await call(ctx, "GET", url, [200, 404], { headers: { Accept: accept.join(", ") } });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status === 404) return undefined;
  if (bytes.length > MAX_MANIFEST) throw new Error(`GET ${url}: manifest of ${bytes.length} bytes`);
  const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
  return { bytes, mediaType, digest: sha256(bytes) };
}

const uploadAll = async (ctx: Ctx, blobs: Uint8Array[]) => {
  for (const b of blobs) await upload(ctx, b, sha256(b));
};

// ───────────── cosign ─────────────

export type CosignOptions = Net & {
  /** sig (default), att or sbom: what `cosign sign`, `cosign attest`, `cosign attach sbom` push */
  suffix?: CosignSuffix;
  /** config.created. Default SIGNED_AT (later than seed.ts's images). Real cosign writes
   *  COSIGN_ZERO_TIME unless given --record-creation-timestamp, then the signing time. */
  created?: string;
  /** oci (cosign's default) or docker (what cosign writes with COSIGN_DOCKER_MEDIA_TYPES=1) */
  format?: Format;
  /** tells signatures apart (the fake signature and key id derive from it); default "test-key" */
  signer?: string;
  /** keep the layers of a manifest already under the tag and add this one, as a second
   *  `cosign sign` or `cosign attest` does; default true for sig and att, false for sbom */
  append?: boolean;
  /** the SBOM bytes (sbom) or the in-toto predicate (att); a small fixed document by default */
  content?: string | Uint8Array;
};

export type PushedCosign = {
  digest: string;
  tag: string;
  /** the manifest's bytes */
  bytes: Uint8Array;
  mediaType: string;
  size: number;
  configDigest: string;
  /** layer descriptors, the earlier signatures first when appended */
  layers: Descriptor[];
};

/** A base64 string that looks like an ECDSA signature (it is NOT one: nothing here verifies it). */
const fakeSignature = (signer: string, payload: Uint8Array) =>
  Buffer.from(`${sha256(signer)}${sha256(payload)}`.replace(/sha256:/g, ""), "hex")
    .subarray(0, 48)
    .toString("base64");

function cosignLayer(suffix: CosignSuffix, repo: string, subjectDigest: string, signer: string, content?: string | Uint8Array): { blob: Uint8Array; descriptor: Descriptor } {
  const asBytes = (c: string | Uint8Array) => (typeof c === "string" ? enc.encode(c) : c);
  if (suffix === "sig") {
    // The simple-signing payload cosign signs: the image digest in critical.image.
    const blob = json({
      critical: { identity: { "docker-reference": repo }, image: { "docker-manifest-digest": subjectDigest }, type: "cosign container image signature" },
      optional: null,
    });
    return {
      blob,
      descriptor: { mediaType: COSIGN.simpleSigning, digest: sha256(blob), size: blob.length, annotations: { [COSIGN.signatureAnnotation]: fakeSignature(signer, blob) } },
    };
  }
  if (suffix === "att") {
    const predicateType = "https://slsa.dev/provenance/v0.2";
    const statement = {
      _type: "https://in-toto.io/Statement/v0.1",
      predicateType,
      subject: [{ name: repo, digest: { sha256: splitDigest(subjectDigest).encoded } }],
      predicate: content === undefined ? { builder: { id: "regctl-test" } } : JSON.parse(dec.decode(asBytes(content))),
    };
    const payload = json(statement);
    const blob = json({
      payloadType: "application/vnd.in-toto+json",
      payload: Buffer.from(payload).toString("base64"),
      signatures: [{ keyid: signer, sig: fakeSignature(signer, payload) }],
    });
    return { blob, descriptor: { mediaType: COSIGN.dsse, digest: sha256(blob), size: blob.length, annotations: { predicateType } } };
  }
  const blob = content === undefined ? json({ spdxVersion: "SPDX-2.3", name: repo, documentDescribes: [subjectDigest] }) : asBytes(content);
  return { blob, descriptor: { mediaType: COSIGN.spdxJson, digest: sha256(blob), size: blob.length } };
}

/**
 * Push what cosign pushes for `subjectDigest`: a manifest tagged `sha256-<hex>.sig` (or .att,
 * .sbom) in the same repository, one layer per signature, a config whose `created` the caller
 * picks, and NO subject field — cosign's tag scheme predates the referrers API.
 */
export async function pushCosignSignature(base: string, repo: string, subjectDigest: string, opts: CosignOptions = {}): Promise<PushedCosign> {
  const ctx = ctxOf(base, repo, opts);
  const suffix = opts.suffix ?? "sig";
  const format = opts.format ?? "oci";
  const types = MediaTypes[format];
  const tag = cosignTag(subjectDigest, suffix);
  const layer = cosignLayer(suffix, repo, subjectDigest, opts.signer ?? "test-key", opts.content);

  let layers: Descriptor[] = [];
  if (opts.append ?? suffix !== "sbom") {
    const old = await getManifest(ctx, tag, [MediaTypes.oci.manifest, MediaTypes.docker.manifest]);
    if (old) layers = (JSON.parse(dec.decode(old.bytes)) as { layers?: Descriptor[] }).layers ?? [];
  }
  const same = (d: Descriptor) => d.digest === layer.descriptor.digest && JSON.stringify(d.annotations ?? {}) === JSON.stringify(layer.descriptor.annotations ?? {});
  if (!layers.some(same)) layers = [...layers, layer.descriptor];

  // The config cosign builds (go-containerregistry's empty image plus the layers): empty
  // architecture and os, one diff_id and one zero-time history entry per layer.
  const config = json({
    architecture: "",
    created: opts.created ?? SIGNED_AT,
    history: layers.map(() => ({ created: COSIGN_ZERO_TIME })),
    os: "",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    config: {},
  });
  await uploadAll(ctx, [layer.blob, config]);
  const bytes = json({
    schemaVersion: 2,
    mediaType: types.manifest,
    config: { mediaType: types.config, size: config.length, digest: sha256(config) },
    layers,
  });
  const { digest } = await putManifest(ctx, tag, bytes, types.manifest);
  return { digest, tag, bytes, mediaType: types.manifest, size: bytes.length, configDigest: sha256(config), layers };
}

// ───────────── OCI 1.1 artifacts and the fallback tag ─────────────

export type ArtifactOptions = Net & {
  /** e.g. application/spdx+json (SBOM), application/vnd.dev.sigstore.bundle.v0.3+json, application/vnd.cncf.notary.signature */
  artifactType: string;
  /** manifest annotations; the spec copies them into the referrer's descriptor */
  annotations?: Record<string, string>;
  /** written as the annotation org.opencontainers.image.created, as `oras attach` does (an
   *  artifact's empty config has no `created`) */
  created?: string;
  /**
   * Keep the fallback tag `sha256-<hex>` of the subject up to date, as a client must on a
   * registry without the referrers API: true always, false never, "auto" only when the PUT's
   * answer has no OCI-Subject header (the spec's rule).
   */
  fallback: boolean | "auto";
  /** delete the fallback index this push replaced, by digest, as oras-go does unless told to skip
   *  "referrers GC"; default false: the old index stays, untagged */
  gcOldIndex?: boolean;
  /** the one layer (the SBOM, the signature envelope …); a small document naming the subject by default */
  content?: string | Uint8Array;
  /** the layer's media type; default artifactType */
  layerMediaType?: string;
  /** also put the manifest under these tags; default none (by digest only, as oras attach does) */
  tags?: string[];
};

export type PushedArtifact = {
  digest: string;
  bytes: Uint8Array;
  mediaType: string;
  size: number;
  /** the referrer as a referrers list shows it: mediaType, digest, size, artifactType, annotations */
  descriptor: Descriptor;
  /** the PUT answer's OCI-Subject header (null from a registry without the referrers API) */
  ociSubject: string | null;
  /** the fallback index's digest after this push, when it was updated */
  fallbackIndexDigest?: string;
};

/**
 * Push an OCI 1.1 artifact that refers to `subject`: an image manifest with artifactType, the
 * empty config (uploaded as a blob), one layer and `subject`, by digest; then, per `fallback`,
 * add its descriptor to the subject's fallback index.
 */
export async function pushArtifact(base: string, repo: string, subject: Subject, opts: ArtifactOptions): Promise<PushedArtifact> {
  const ctx = ctxOf(base, repo, opts);
  const content = opts.content ?? JSON.stringify({ spdxVersion: "SPDX-2.3", name: `${repo} ${opts.artifactType}`, documentDescribes: [subject.digest] });
  const blob = typeof content === "string" ? enc.encode(content) : content;
  const annotations = { ...(opts.created ? { "org.opencontainers.image.created": opts.created } : {}), ...opts.annotations };
  await uploadAll(ctx, [EMPTY_JSON, blob]);
  const bytes = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: opts.artifactType,
    config: EMPTY_DESCRIPTOR,
    layers: [{ mediaType: opts.layerMediaType ?? opts.artifactType, digest: sha256(blob), size: blob.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(Object.keys(annotations).length ? { annotations } : {}),
  });
  const digest = sha256(bytes);
  let ociSubject: string | null = null;
  for (const ref of [digest, ...(opts.tags ?? [])]) {
    const put = await putManifest(ctx, ref, bytes, OCI_MANIFEST);
    ociSubject ??= put.headers.get("oci-subject");
  }
  const descriptor: Descriptor = {
    mediaType: OCI_MANIFEST,
    digest,
    size: bytes.length,
    artifactType: opts.artifactType,
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
  const update = opts.fallback === true || (opts.fallback === "auto" && ociSubject === null);
  const fallbackIndexDigest = update
    ? await changeFallback(ctx, subject.digest, (list) => (list.some((d) => d.digest === digest) ? list : [...list, descriptor]), opts)
    : undefined;
  return { digest, bytes, mediaType: OCI_MANIFEST, size: bytes.length, descriptor, ociSubject, ...(fallbackIndexDigest ? { fallbackIndexDigest } : {}) };
}

/** The subject's fallback index, or undefined when its tag does not exist. Throws when the tag holds something else. */
async function readFallback(ctx: Ctx, subjectDigest: string): Promise<{ digest: string; manifests: Descriptor[] } | undefined> {
  const tag = referrersTag(subjectDigest);
  // Every manifest type in Accept: asked for the index type alone, 2.8 answers 404 for any other
  // kind of manifest under the tag, and a client would then overwrite it.
  const got = await getManifest(ctx, tag, [OCI_INDEX, OCI_MANIFEST, MediaTypes.docker.manifest, MediaTypes.docker.index]);
  if (!got) return undefined;
  const index = JSON.parse(dec.decode(got.bytes)) as { mediaType?: string; manifests?: Descriptor[] };
  // The spec: a tag that holds something other than an index is a failure to report, not to overwrite.
  if (got.mediaType !== OCI_INDEX || !Array.isArray(index.manifests)) throw new Error(`${ctx.repo}:${tag} is ${got.mediaType}, not an OCI index`);
  return { digest: got.digest, manifests: index.manifests };
}

/**
 * Read, change and write back the fallback index (no conditional request: 2.8 has none, so two
 * concurrent writers lose an update, as the spec warns). An unchanged list is not written (nor
 * an empty one where there was none). Returns the digest of the index now under the tag
 * (undefined when there is none).
 */
async function changeFallback(ctx: Ctx, subjectDigest: string, change: (list: Descriptor[]) => Descriptor[], opts: { gcOldIndex?: boolean }): Promise<string | undefined> {
  const old = await readFallback(ctx, subjectDigest);
  const before = old?.manifests ?? [];
  const after = change(before);
  if (after.length === before.length && after.every((d, i) => d.digest === before[i]!.digest)) return old?.digest;
  const deleteOld = async () => {
    const res = await call(ctx, "DELETE", `${ctx.base}/v2/${ctx.repo}/manifests/${old!.digest}`, [202, 404]);
    await res.arrayBuffer();
  };
  // oras-go with its referrers GC pushes no empty index: it deletes the old one, and the tag goes with it.
  if (after.length === 0 && opts.gcOldIndex && old) {
    await deleteOld();
    return undefined;
  }
  const bytes = json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: after });
  const { digest } = await putManifest(ctx, referrersTag(subjectDigest), bytes, OCI_INDEX);
  if (opts.gcOldIndex && old && old.digest !== digest) await deleteOld();
  return digest;
}

/** The descriptors listed by the subject's fallback tag `sha256-<hex>`, or undefined when there is no such tag. */
export async function fallbackIndex(base: string, repo: string, subjectDigest: string, opts: Net = {}): Promise<Descriptor[] | undefined> {
  return (await readFallback(ctxOf(base, repo, opts), subjectDigest))?.manifests;
}

/**
 * Delete a referrer (DELETE of its digest) and, with `fallback`, take it out of the subject's
 * fallback index, as the spec asks of a client on a registry without the referrers API.
 */
export async function deleteReferrer(
  base: string,
  repo: string,
  subjectDigest: string,
  referrerDigest: string,
  opts: Net & { fallback: boolean; gcOldIndex?: boolean },
): Promise<void> {
  const ctx = ctxOf(base, repo, opts);
  const res = await call(ctx, "DELETE", `${ctx.base}/v2/${repo}/manifests/${referrerDigest}`, [202]);
  await res.arrayBuffer();
  if (opts.fallback) await changeFallback(ctx, subjectDigest, (list) => list.filter((d) => d.digest !== referrerDigest), opts);
}

// ───────────── the referrers API, as a client reads it ─────────────

export type ReferrersListing = {
  /** the first page's status: 200 from a registry with the API, 404 from one without */
  status: number;
  /** every page's descriptors, in order (empty on 404) */
  manifests: Descriptor[];
  /** the pages fetched */
  pages: number;
  /** each page's OCI-Filters-Applied header */
  filtersApplied: (string | null)[];
  /** each page's Content-Type */
  contentTypes: (string | null)[];
};

/** GET /v2/<repo>/referrers/<digest>[?artifactType=…], following Link rel="next" for at most maxPages pages. */
export async function listReferrers(base: string, repo: string, subjectDigest: string, opts: Net & { artifactType?: string; maxPages?: number } = {}): Promise<ReferrersListing> {
  const ctx = ctxOf(base, repo, opts);
  const query = opts.artifactType === undefined ? "" : `?artifactType=${encodeURIComponent(opts.artifactType)}`;
  let url: string | undefined = `${ctx.base}/v2/${repo}/referrers/${subjectDigest}${query}`;
  const out: ReferrersListing = { status: 0, manifests: [], pages: 0, filtersApplied: [], contentTypes: [] };
  const maxPages = opts.maxPages ?? 100;
  while (url && out.pages < maxPages) {
    const res = await call(ctx, "GET", url, out.pages === 0 ? [200, 404] : [200]);
    out.status ||= res.status;
    if (res.status === 404) {
      await res.arrayBuffer();
      return out;
    }
    const index = (await res.json()) as { manifests?: Descriptor[] };
    out.pages++;
    out.manifests.push(...(index.manifests ?? []));
    out.filtersApplied.push(res.headers.get("oci-filters-applied"));
    out.contentTypes.push(res.headers.get("content-type"));
    const next = /<([^>]*)>\s*;\s*rel="?next"?/.exec(res.headers.get("link") ?? "")?.[1];
    url = next === undefined ? undefined : new URL(next, url).href;
  }
  if (url) throw new Error(`referrers of ${subjectDigest}: more than ${maxPages} pages`);
  return out;
}
