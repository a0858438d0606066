// The referrer fixtures themselves, against the real registry (distribution 2.8) and the tests'
// referrers server in front of it: what test/referrers.ts pushes is what cosign and oras push,
// the fallback index is kept as the spec says, and the server answers the referrers API as the
// spec says. State is checked with plain fetch, never with regctl.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sha256 } from "./fixtures.ts";
import {
  COSIGN,
  cosignTag,
  type Descriptor,
  deleteReferrer,
  EMPTY_DESCRIPTOR,
  fallbackIndex,
  listReferrers,
  OCI_INDEX,
  OCI_MANIFEST,
  pushArtifact,
  pushCosignSignature,
  referrersTag,
  SIGNED_AT,
} from "./referrers.ts";
import { type ReferrersServer, startReferrersServer } from "./referrersserver.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { MediaTypes, pushImage } from "./seed.ts";

const SPDX = "application/spdx+json";
const CYCLONEDX = "application/vnd.cyclonedx+json";
const SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";
const ALL_MANIFEST_TYPES = [MediaTypes.oci.manifest, MediaTypes.oci.index, MediaTypes.docker.manifest, MediaTypes.docker.index].join(", ");

let reg: Registry;
beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
});

const tags = async (base: string, repo: string): Promise<string[]> => {
  const res = await fetch(`${base}/v2/${repo}/tags/list`);
  return (((await res.json()) as { tags: string[] }).tags ?? []).sort();
};
const manifest = async (base: string, repo: string, ref: string) => {
  const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { headers: { Accept: ALL_MANIFEST_TYPES } });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    digest: res.headers.get("docker-content-digest"),
    text,
    json: res.status === 200 ? JSON.parse(text) : undefined,
  };
};
const blobJson = async (base: string, repo: string, digest: string) => (await fetch(`${base}/v2/${repo}/blobs/${digest}`)).json();
const digests = (ds: Descriptor[] | undefined) => ds?.map((d) => d.digest);

describe("tag names", () => {
  test("referrersTag follows the spec's table: algorithm cut to 32, encoded to 64, other characters as '-'", () => {
    expect(referrersTag(`sha256:${"a".repeat(64)}`)).toBe(`sha256-${"a".repeat(64)}`);
    expect(referrersTag(`sha512:${"a".repeat(128)}`)).toBe(`sha512-${"a".repeat(64)}`);
    const long =
      "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation";
    expect(referrersTag(long)).toBe("test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot");
    expect(() => referrersTag("nodigest")).toThrow();
  });

  test("cosignTag is <algorithm>-<hex>.<suffix>", () => {
    const d = `sha256:${"b".repeat(64)}`;
    expect(cosignTag(d)).toBe(`sha256-${"b".repeat(64)}.sig`);
    expect(cosignTag(d, "att")).toBe(`sha256-${"b".repeat(64)}.att`);
    expect(cosignTag(d, "sbom")).toBe(`sha256-${"b".repeat(64)}.sbom`);
  });
});

describe("the real registry (distribution 2.8, no referrers API)", () => {
  test("answers a plain-text 404 on /v2/<name>/referrers/<digest>, even for a subject with referrers", async () => {
    const img = await pushImage(reg.url, "plain/app", ["v1"], { format: "oci" });
    await pushArtifact(reg.url, "plain/app", img, { artifactType: SPDX, fallback: false });
    for (const path of [
      `plain/app/referrers/${img.digest}`,
      `plain/app/referrers/${img.digest}?artifactType=${encodeURIComponent(SPDX)}`,
      `no/such/repo/referrers/${img.digest}`,
      "plain/app/referrers/not-a-digest",
    ]) {
      const res = await fetch(`${reg.url}/v2/${path}`);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toStartWith("text/plain");
      expect(await res.text()).toBe("404 page not found\n");
    }
    const listing = await listReferrers(reg.url, "plain/app", img.digest);
    expect(listing).toMatchObject({ status: 404, manifests: [], pages: 0 });
  });

  test("accepts subject and artifactType (the empty config, a subject that does not exist) but answers no OCI-Subject", async () => {
    const img = await pushImage(reg.url, "plain/accepts", ["v1"]); // a docker image as the subject
    const art = await pushArtifact(reg.url, "plain/accepts", img, { artifactType: SPDX, annotations: { "org.example.format": "json" }, fallback: false });
    expect(art.ociSubject).toBeNull();
    expect(art.fallbackIndexDigest).toBeUndefined();
    const got = await manifest(reg.url, "plain/accepts", art.digest);
    expect(got.status).toBe(200);
    expect(got.contentType).toBe(OCI_MANIFEST);
    expect(got.text).toBe(new TextDecoder().decode(art.bytes)); // stored as sent: subject and artifactType kept
    expect(got.json).toMatchObject({ artifactType: SPDX, config: EMPTY_DESCRIPTOR, subject: { digest: img.digest, mediaType: img.mediaType, size: img.size } });
    expect(await blobJson(reg.url, "plain/accepts", EMPTY_DESCRIPTOR.digest)).toEqual({});
    // Untagged: pushed by digest only, and no fallback tag was written.
    expect(await tags(reg.url, "plain/accepts")).toEqual(["v1"]);
    // The spec lets referrers come first: a subject the registry has never seen is accepted.
    const orphan = await pushArtifact(
      reg.url,
      "plain/accepts",
      { digest: `sha256:${"c".repeat(64)}`, mediaType: OCI_MANIFEST, size: 100 },
      { artifactType: SPDX, fallback: false },
    );
    expect((await manifest(reg.url, "plain/accepts", orphan.digest)).status).toBe(200);
  });

  test("an OCI manifest is refused by digest without its Accept type (a docker one is not)", async () => {
    const img = await pushImage(reg.url, "plain/accept", [], { format: "oci" });
    const art = await pushArtifact(reg.url, "plain/accept", img, { artifactType: SPDX, fallback: false });
    const bare = await fetch(`${reg.url}/v2/plain/accept/manifests/${art.digest}`);
    expect(bare.status).toBe(404);
    expect(await bare.text()).toContain("accept header does not support OCI manifests");
    const docker = await pushImage(reg.url, "plain/accept", []);
    expect((await fetch(`${reg.url}/v2/plain/accept/manifests/${docker.digest}`)).status).toBe(200);
  });

  test("cosign: sha256-<hex>.sig beside the image, a simple-signing layer, created after the image, no subject", async () => {
    const repo = "plain/signed";
    const img = await pushImage(reg.url, repo, ["v1"], { created: "2024-01-01T00:00:00Z" });
    const sig = await pushCosignSignature(reg.url, repo, img.digest);
    expect(sig.tag).toBe(`sha256-${img.digest.slice(7)}.sig`);
    expect(await tags(reg.url, repo)).toEqual([sig.tag, "v1"].sort());
    const got = await manifest(reg.url, repo, sig.tag);
    expect(got).toMatchObject({ status: 200, contentType: OCI_MANIFEST, digest: sig.digest });
    expect(got.json.subject).toBeUndefined();
    expect(got.json.artifactType).toBeUndefined();
    expect(got.json.layers).toHaveLength(1);
    expect(got.json.layers[0].mediaType).toBe(COSIGN.simpleSigning);
    expect(got.json.layers[0].annotations[COSIGN.signatureAnnotation]).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const payload = await blobJson(reg.url, repo, got.json.layers[0].digest);
    expect(payload.critical.image["docker-manifest-digest"]).toBe(img.digest);
    const config = await blobJson(reg.url, repo, got.json.config.digest);
    expect(config.created).toBe(SIGNED_AT);
    expect(Date.parse(config.created)).toBeGreaterThan(Date.parse("2024-01-01T00:00:00Z"));

    // A second signer: the tag moves to a manifest with both layers; the first stays, untagged.
    const again = await pushCosignSignature(reg.url, repo, img.digest, { signer: "other-key", created: "2024-07-01T00:00:00Z" });
    expect(again.tag).toBe(sig.tag);
    expect(again.digest).not.toBe(sig.digest);
    expect(again.layers).toHaveLength(2);
    expect((await manifest(reg.url, repo, sig.tag)).digest).toBe(again.digest);
    expect((await manifest(reg.url, repo, sig.digest)).status).toBe(200);
    expect((await blobJson(reg.url, repo, again.configDigest)).created).toBe("2024-07-01T00:00:00Z");
  });

  test("cosign .att (docker media types) and .sbom, the caller's created (cosign's zero time too)", async () => {
    const repo = "plain/attested";
    const img = await pushImage(reg.url, repo, ["v1"]);
    const att = await pushCosignSignature(reg.url, repo, img.digest, { suffix: "att", format: "docker", created: "0001-01-01T00:00:00Z" });
    const sbom = await pushCosignSignature(reg.url, repo, img.digest, { suffix: "sbom", content: '{"spdxVersion":"SPDX-2.3"}' });
    expect(await tags(reg.url, repo)).toEqual([att.tag, sbom.tag, "v1"].sort());
    const a = await manifest(reg.url, repo, att.tag);
    expect(a.contentType).toBe(MediaTypes.docker.manifest);
    expect(a.json.layers[0]).toMatchObject({ mediaType: COSIGN.dsse, annotations: { predicateType: "https://slsa.dev/provenance/v0.2" } });
    const envelope = await blobJson(reg.url, repo, a.json.layers[0].digest);
    expect(JSON.parse(Buffer.from(envelope.payload, "base64").toString()).subject[0].digest.sha256).toBe(img.digest.slice(7));
    expect((await blobJson(reg.url, repo, att.configDigest)).created).toBe("0001-01-01T00:00:00Z");
    const s = await manifest(reg.url, repo, sbom.tag);
    expect(s.json.layers[0]).toMatchObject({ mediaType: COSIGN.spdxJson, digest: sha256('{"spdxVersion":"SPDX-2.3"}') });
  });

  test("two SBOMs with fallback: the fallback tag's index lists both, with artifactType and annotations", async () => {
    const repo = "plain/sboms";
    const img = await pushImage(reg.url, repo, ["v1"]);
    const sig = await pushCosignSignature(reg.url, repo, img.digest);
    expect(await fallbackIndex(reg.url, repo, img.digest)).toBeUndefined();
    const spdx = await pushArtifact(reg.url, repo, img, { artifactType: SPDX, created: "2024-02-01T00:00:00Z", fallback: true });
    const cdx = await pushArtifact(reg.url, repo, img, { artifactType: CYCLONEDX, annotations: { "org.example.tool": "syft" }, fallback: true });
    const list = await fallbackIndex(reg.url, repo, img.digest);
    expect(list).toEqual([
      { mediaType: OCI_MANIFEST, digest: spdx.digest, size: spdx.size, artifactType: SPDX, annotations: { "org.opencontainers.image.created": "2024-02-01T00:00:00Z" } },
      { mediaType: OCI_MANIFEST, digest: cdx.digest, size: cdx.size, artifactType: CYCLONEDX, annotations: { "org.example.tool": "syft" } },
    ]);
    expect(list).toEqual([spdx.descriptor, cdx.descriptor]);
    // What the registry holds under the tag: an OCI index (the artifacts themselves stay untagged).
    const fallbackTag = referrersTag(img.digest);
    expect(fallbackTag).toBe(`sha256-${img.digest.slice(7)}`);
    expect(await tags(reg.url, repo)).toEqual([fallbackTag, sig.tag, "v1"].sort());
    const index = await manifest(reg.url, repo, fallbackTag);
    expect(index).toMatchObject({ status: 200, contentType: OCI_INDEX, digest: cdx.fallbackIndexDigest });
    expect(index.json).toMatchObject({ schemaVersion: 2, mediaType: OCI_INDEX });
    // The same artifact pushed again is not listed twice.
    const dup = await pushArtifact(reg.url, repo, img, { artifactType: SPDX, created: "2024-02-01T00:00:00Z", fallback: true });
    expect(dup.digest).toBe(spdx.digest);
    expect(digests(await fallbackIndex(reg.url, repo, img.digest))).toEqual([spdx.digest, cdx.digest]);
    // Each update left the index it replaced behind, untagged (nothing collected it).
    expect((await manifest(reg.url, repo, spdx.fallbackIndexDigest!)).status).toBe(200);
  });

  test('fallback "auto" updates the tag on a registry that sends no OCI-Subject', async () => {
    const repo = "plain/auto";
    const img = await pushImage(reg.url, repo, ["v1"], { format: "oci" });
    const art = await pushArtifact(reg.url, repo, img, { artifactType: SIGSTORE_BUNDLE, fallback: "auto" });
    expect(art.ociSubject).toBeNull();
    expect(digests(await fallbackIndex(reg.url, repo, img.digest))).toEqual([art.digest]);
  });

  test("deleting a referrer takes it out of the fallback index; with gcOldIndex the replaced index goes, and an empty list takes the tag", async () => {
    const repo = "plain/delete";
    const img = await pushImage(reg.url, repo, ["v1"]);
    const a = await pushArtifact(reg.url, repo, img, { artifactType: SPDX, fallback: true });
    const b = await pushArtifact(reg.url, repo, img, { artifactType: CYCLONEDX, fallback: true });
    const before = (await manifest(reg.url, repo, referrersTag(img.digest))).digest!;
    await deleteReferrer(reg.url, repo, img.digest, a.digest, { fallback: true });
    expect((await manifest(reg.url, repo, a.digest)).status).toBe(404);
    expect(digests(await fallbackIndex(reg.url, repo, img.digest))).toEqual([b.digest]);
    expect((await manifest(reg.url, repo, before)).status).toBe(200); // left behind, untagged
    const last = (await manifest(reg.url, repo, referrersTag(img.digest))).digest!;
    await deleteReferrer(reg.url, repo, img.digest, b.digest, { fallback: true, gcOldIndex: true });
    expect(await fallbackIndex(reg.url, repo, img.digest)).toBeUndefined();
    expect((await manifest(reg.url, repo, last)).status).toBe(404);
    expect(await tags(reg.url, repo)).toEqual(["v1"]);
  });

  test("a tag of the fallback name that holds something else is reported, not overwritten", async () => {
    const repo = "plain/squatted";
    const img = await pushImage(reg.url, repo, ["v1"]);
    await pushImage(reg.url, repo, [referrersTag(img.digest)], { seed: "other", format: "oci" });
    await expect(fallbackIndex(reg.url, repo, img.digest)).rejects.toThrow("not an OCI index");
    await expect(pushArtifact(reg.url, repo, img, { artifactType: SPDX, fallback: true })).rejects.toThrow("not an OCI index");
  });
});

describe("the tests' referrers server in front of the real registry", () => {
  let proxy: ReferrersServer;
  beforeAll(() => {
    proxy = startReferrersServer({ upstream: reg.url, pageSize: 2 });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  test("passes pushes through (blobs, manifests, HEAD with its Content-Length) and answers OCI-Subject", async () => {
    const repo = "proxied/pass";
    const img = await pushImage(proxy.url, repo, ["v1"], { format: "oci", layerSizes: [300_000] });
    const head = await fetch(`${proxy.url}/v2/${repo}/manifests/v1`, { method: "HEAD", headers: { Accept: OCI_MANIFEST } });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(img.size));
    expect(head.headers.get("docker-content-digest")).toBe(img.digest);
    const layer = await fetch(`${proxy.url}/v2/${repo}/blobs/${img.layerDigests[0]}`);
    expect(sha256(new Uint8Array(await layer.arrayBuffer()))).toBe(img.layerDigests[0]!);
    const art = await pushArtifact(proxy.url, repo, img, { artifactType: SPDX, fallback: "auto" });
    expect(art.ociSubject).toBe(img.digest);
    // With OCI-Subject answered, "auto" wrote no fallback tag; the registry behind holds the same.
    expect(art.fallbackIndexDigest).toBeUndefined();
    expect(await tags(reg.url, repo)).toEqual(["v1"]);
    expect((await manifest(reg.url, repo, art.digest)).status).toBe(200);
    // An image without subject gets no OCI-Subject.
    const plain = await fetch(`${proxy.url}/v2/${repo}/manifests/v2`, { method: "PUT", headers: { "Content-Type": img.mediaType }, body: new Uint8Array(img.manifest) });
    expect(plain.status).toBe(201);
    expect(plain.headers.get("oci-subject")).toBeNull();
    expect(plain.headers.get("location")).toStartWith(`${proxy.url}/v2/${repo}/manifests/`);
  });

  test("lists the referrers (200, an OCI index, each with artifactType and annotations), in pages linked by Link", async () => {
    const repo = "proxied/list";
    const img = await pushImage(proxy.url, repo, ["v1"]);
    const sig = await pushCosignSignature(proxy.url, repo, img.digest); // no subject: not a referrer
    const a = await pushArtifact(proxy.url, repo, img, { artifactType: SPDX, created: "2024-02-01T00:00:00Z", fallback: false });
    const b = await pushArtifact(proxy.url, repo, img, { artifactType: CYCLONEDX, annotations: { "org.example.tool": "syft" }, fallback: false });
    const c = await pushArtifact(proxy.url, repo, img, { artifactType: SPDX, content: "second spdx", fallback: false });
    expect(proxy.referrers(repo, img.digest)).toEqual([a.descriptor, b.descriptor, c.descriptor]);

    const first = await fetch(`${proxy.url}/v2/${repo}/referrers/${img.digest}`);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe(OCI_INDEX);
    expect(first.headers.get("oci-filters-applied")).toBeNull();
    const link = first.headers.get("link");
    expect(link).toMatch(new RegExp(`^</v2/${repo}/referrers/${img.digest}\\?[^>]+>; rel="next"$`));
    const page1 = (await first.json()) as { schemaVersion: number; mediaType: string; manifests: Descriptor[] };
    expect(page1).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [a.descriptor, b.descriptor] });
    const second = await fetch(new URL(/<([^>]+)>/.exec(link!)![1]!, proxy.url));
    expect(second.headers.get("link")).toBeNull();
    expect(((await second.json()) as { manifests: Descriptor[] }).manifests).toEqual([c.descriptor]);

    const all = await listReferrers(proxy.url, repo, img.digest);
    expect(all).toMatchObject({ status: 200, pages: 2, manifests: [a.descriptor, b.descriptor, c.descriptor] });
    expect(digests(all.manifests)).not.toContain(sig.digest);
  });

  test("filters by artifactType and says so with OCI-Filters-Applied, on every page", async () => {
    const repo = "proxied/filter";
    const img = await pushImage(proxy.url, repo, ["v1"]);
    const spdx = [];
    for (let i = 0; i < 3; i++) {
      spdx.push(await pushArtifact(proxy.url, repo, img, { artifactType: SPDX, content: `spdx ${i}`, fallback: false }));
      await pushArtifact(proxy.url, repo, img, { artifactType: CYCLONEDX, content: `cdx ${i}`, fallback: false });
    }
    const only = await listReferrers(proxy.url, repo, img.digest, { artifactType: SPDX });
    expect(only.pages).toBe(2);
    expect(only.filtersApplied).toEqual(["artifactType", "artifactType"]);
    expect(only.manifests).toEqual(spdx.map((s) => s.descriptor));
    const none = await listReferrers(proxy.url, repo, img.digest, { artifactType: "application/x-none" });
    expect(none).toMatchObject({ status: 200, pages: 1, manifests: [], filtersApplied: ["artifactType"] });
  });

  test("a DELETE of a referrer through the proxy removes it from the list", async () => {
    const repo = "proxied/delete";
    const img = await pushImage(proxy.url, repo, ["v1"]);
    const a = await pushArtifact(proxy.url, repo, img, { artifactType: SPDX, fallback: false });
    const b = await pushArtifact(proxy.url, repo, img, { artifactType: CYCLONEDX, fallback: false });
    const c = await pushArtifact(proxy.url, repo, img, { artifactType: SIGSTORE_BUNDLE, fallback: false });
    await deleteReferrer(proxy.url, repo, img.digest, b.digest, { fallback: false });
    expect((await manifest(reg.url, repo, b.digest)).status).toBe(404);
    expect(digests((await listReferrers(proxy.url, repo, img.digest)).manifests)).toEqual([a.digest, c.digest]);
    // A refused DELETE (already gone) changes nothing.
    expect((await fetch(`${proxy.url}/v2/${repo}/manifests/${b.digest}`, { method: "DELETE" })).status).toBe(404);
    expect(proxy.referrers(repo, img.digest)).toEqual([a.descriptor, c.descriptor]);
  });

  test("an empty list for a subject without referrers (never 404), 400 for a malformed digest", async () => {
    const repo = "proxied/empty";
    const img = await pushImage(proxy.url, repo, ["v1"]);
    const res = await fetch(`${proxy.url}/v2/${repo}/referrers/${img.digest}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    expect((await fetch(`${proxy.url}/v2/${repo}/referrers/sha256:xyz`)).status).toBe(400);
    expect((await fetch(`${proxy.url}/v2/${repo}/referrers/latest`)).status).toBe(400);
  });

  test("lists an index with subject without artifactType, and a manifest without one under its config type", async () => {
    const repo = "proxied/types";
    const img = await pushImage(proxy.url, repo, ["v1"]);
    const art = await pushArtifact(proxy.url, repo, img, { artifactType: SPDX, fallback: false });
    const index = new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [art.descriptor], subject: { mediaType: img.mediaType, digest: img.digest, size: img.size } }),
    );
    const putIndex = await fetch(`${proxy.url}/v2/${repo}/manifests/${sha256(index)}`, { method: "PUT", headers: { "Content-Type": OCI_INDEX }, body: index });
    expect(putIndex.headers.get("oci-subject")).toBe(img.digest);
    const other = await pushImage(proxy.url, repo, [], { format: "oci", seed: "typed" });
    const typed = { ...JSON.parse(new TextDecoder().decode(other.manifest)), subject: { mediaType: img.mediaType, digest: img.digest, size: img.size } };
    const typedBytes = new TextEncoder().encode(JSON.stringify(typed));
    await fetch(`${proxy.url}/v2/${repo}/manifests/${sha256(typedBytes)}`, { method: "PUT", headers: { "Content-Type": OCI_MANIFEST }, body: typedBytes });
    const listed = (await listReferrers(proxy.url, repo, img.digest)).manifests;
    expect(listed).toHaveLength(3);
    expect(listed[1]).toEqual({ mediaType: OCI_INDEX, digest: sha256(index), size: index.length });
    expect(listed[2]).toEqual({ mediaType: OCI_MANIFEST, digest: sha256(typedBytes), size: typedBytes.length, artifactType: MediaTypes.oci.config });
  });

  test("options: absolute Links, a registry that ignores the filter", async () => {
    const loose = startReferrersServer({ upstream: reg.url, pageSize: 1, absoluteLinks: true, filter: false });
    try {
      const repo = "proxied/options";
      const img = await pushImage(loose.url, repo, ["v1"]);
      await pushArtifact(loose.url, repo, img, { artifactType: SPDX, fallback: false });
      await pushArtifact(loose.url, repo, img, { artifactType: CYCLONEDX, fallback: false });
      const res = await fetch(`${loose.url}/v2/${repo}/referrers/${img.digest}?artifactType=${encodeURIComponent(SPDX)}`);
      expect(res.headers.get("oci-filters-applied")).toBeNull();
      expect(res.headers.get("link")).toStartWith(`<${loose.url}/v2/${repo}/referrers/`);
      const all = await listReferrers(loose.url, repo, img.digest, { artifactType: SPDX });
      expect(all.manifests.map((d) => d.artifactType)).toEqual([SPDX, CYCLONEDX]); // the caller must filter
    } finally {
      await loose.stop();
    }
  });
});

describe("the referrers server in front of a registry with basic auth", () => {
  let authReg: Registry;
  let proxy: ReferrersServer;
  const headers = { Authorization: `Basic ${Buffer.from("alice:secret").toString("base64")}` };
  beforeAll(async () => {
    authReg = await startRegistry({ htpasswd: { user: "alice", password: "secret" } });
    proxy = startReferrersServer({ upstream: authReg.url });
  });
  afterAll(async () => {
    await proxy?.stop();
    await authReg?.stop();
  });

  test("the referrers API asks for the registry's credentials: 401 with its challenge without them", async () => {
    const img = await pushImage(proxy.url, "private/app", ["v1"], { headers });
    const art = await pushArtifact(proxy.url, "private/app", img, { artifactType: SPDX, fallback: "auto", headers });
    expect(art.ociSubject).toBe(img.digest);
    const anonymous = await fetch(`${proxy.url}/v2/private/app/referrers/${img.digest}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toStartWith("Basic");
    expect((await listReferrers(proxy.url, "private/app", img.digest, { headers })).manifests).toEqual([art.descriptor]);
  });
});
