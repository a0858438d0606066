// Referrers against the real registry (distribution 2.8: no referrers API, so the fallback tag
// `sha256-<hex>` indexes them) and through the tests' own referrers server (the API, with Link
// pages). A signature, an SBOM or an attestation stays with the image it describes: kept with a
// kept image, deleted after a deleted one. State is checked with plain fetch, not with regctl.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { run, sh } from "./cli.ts";
import { COSIGN_ZERO_TIME, cosignTag, fallbackIndex, pushArtifact, pushCosignSignature, referrersTag } from "./referrers.ts";
import { type ReferrersServer, startReferrersServer } from "./referrersserver.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { MediaTypes, type PushedImage, pushImage } from "./seed.ts";

const SPDX = "application/spdx+json";
const ACCEPT = [MediaTypes.oci.manifest, MediaTypes.oci.index, MediaTypes.docker.manifest, MediaTypes.docker.index].join(", ");

let reg: Registry;
let api: ReferrersServer;
beforeAll(async () => {
  reg = await startRegistry({ deleteEnabled: true });
  api = startReferrersServer({ upstream: reg.url, pageSize: 2 });
}, 30_000);
afterAll(async () => {
  await api?.stop();
  await reg?.stop();
});

const exists = async (base: string, repo: string, ref: string) =>
  (await fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: "HEAD", headers: { Accept: ACCEPT } })).status === 200;
const tagsOf = async (base: string, repo: string) => ((await (await fetch(`${base}/v2/${repo}/tags/list`)).json()) as { tags: string[] | null }).tags ?? [];

type Signed = { tag: string; image: PushedImage; sig: string; sigTag: string; sbom: string; index?: string };

/**
 * Three images a day apart, each signed after every image was pushed (one signature with cosign's
 * zero time, as cosign writes by default), each with an SBOM that refers to it (`subject`),
 * indexed by the fallback tag when the registry has no referrers API.
 */
async function seedSigned(base: string, repo: string, fallback: boolean): Promise<Signed[]> {
  const out: Signed[] = [];
  for (const [i, tag] of ["v1", "v2", "v3"].entries()) {
    const image = await pushImage(base, repo, [tag], { seed: `${repo}-${tag}`, created: `2026-01-0${i + 1}T00:00:00Z` });
    out.push({ tag, image, sig: "", sigTag: "", sbom: "" });
  }
  for (const [i, s] of out.entries()) {
    const sig = await pushCosignSignature(base, repo, s.image.digest, { created: i === 0 ? COSIGN_ZERO_TIME : "2026-02-01T00:00:00Z" });
    const sbom = await pushArtifact(base, repo, s.image, { artifactType: SPDX, fallback, created: "2026-02-02T00:00:00Z" });
    Object.assign(s, { sig: sig.digest, sigTag: sig.tag, sbom: sbom.digest, index: sbom.fallbackIndexDigest });
  }
  return out;
}

describe("prune: images count, referrers follow their image", () => {
  for (const [where, base, fallback] of [
    ["the real registry (fallback tags)", () => reg.url, true],
    ["a registry with the referrers API (the tests' own server)", () => api.url, false],
  ] as const) {
    test(`${where}: --keep 2 keeps the two newest images with all their referrers, removes the oldest with all of its`, async () => {
      const repo = fallback ? "ref/prune-fallback" : "ref/prune-api";
      const [v1, v2, v3] = await seedSigned(base(), repo, fallback);
      const host = new URL(base()).host;
      const plan = await run(["prune", `${host}/${repo}`, "--keep", "2", "--dry-run", "--plain-http"]);
      expect(plan.code).toBe(0);
      // The plan shows each image's referrers under it.
      expect(plan.stdout).toContain(`  ↳ sha256-${v1!.image.digest.slice(7, 19)}….sig`);
      expect(plan.stdout).toMatch(/plan: keep 2 tags, delete 1 manifest \(1 tag\), untag 0 tags; referrers: delete \d+, keep \d+/);
      expect(plan.stdout).toMatch(/^ {2}↳ sha256-\w{12}….sig\s.*delete\s+signature \(cosign\) of v1: deleted after it$/m);
      expect(plan.stdout).toMatch(/^ {2}↳ sha256-\w{12}….sig\s.*keep\s+signature \(cosign\) of v2: kept with it$/m);
      const r = await run(["prune", `${host}/${repo}`, "--keep", "2", "--yes", "--plain-http"]);
      expect(r.stderr).not.toContain("    at ");
      expect(r.code).toBe(0);
      const b = base();
      const state = async (s: Signed) => ({
        image: await exists(b, repo, s.image.digest),
        tag: await exists(b, repo, s.tag),
        sig: await exists(b, repo, s.sig),
        sigTag: await exists(b, repo, s.sigTag),
        sbom: await exists(b, repo, s.sbom),
        ...(fallback ? { index: await exists(b, repo, referrersTag(s.image.digest)) } : {}),
      });
      const all = (v: boolean) => ({ image: v, tag: v, sig: v, sigTag: v, sbom: v, ...(fallback ? { index: v } : {}) });
      expect(await state(v1!)).toEqual(all(false));
      expect(await state(v2!)).toEqual(all(true));
      expect(await state(v3!)).toEqual(all(true));
      expect((await tagsOf(b, repo)).sort()).toEqual([v2!, v3!].flatMap((s) => [s.tag, cosignTag(s.image.digest), ...(fallback ? [referrersTag(s.image.digest)] : [])]).sort());
      // Nothing left to do: the same prune plans nothing.
      const again = await run(["prune", `${host}/${repo}`, "--keep", "2", "--yes", "--plain-http"]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain("nothing to prune");
    }, 60_000);
  }

  test("the transcript of such a prune, run by sh, reaches the same state", async () => {
    const repo = "ref/prune-script";
    const [v1, v2, v3] = await seedSigned(reg.url, repo, true);
    const plan = await run(["prune", `${reg.host}/${repo}`, "--keep", "2", "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    expect(await exists(reg.url, repo, v1!.sig)).toBe(true); // the dry run changed nothing
    const script = await sh(plan.stderr);
    expect(script.stderr).toBe("");
    expect(script.code).toBe(0);
    for (const ref of [v1!.image.digest, v1!.sig, v1!.sigTag, v1!.sbom, referrersTag(v1!.image.digest)])
      expect({ ref, there: await exists(reg.url, repo, ref) }).toEqual({ ref, there: false });
    for (const s of [v2!, v3!])
      for (const ref of [s.image.digest, s.sig, s.sigTag, s.sbom, referrersTag(s.image.digest)])
        expect({ ref, there: await exists(reg.url, repo, ref) }).toEqual({ ref, there: true });
  }, 60_000);

  test("a dangling signature (its image deleted by another tool) is shown, and removed only with --dangling", async () => {
    const repo = "ref/dangling";
    const image = await pushImage(reg.url, repo, ["gone"], { seed: "dangling-gone", created: "2026-01-01T00:00:00Z" });
    await pushImage(reg.url, repo, ["stays"], { seed: "dangling-stays", created: "2026-01-02T00:00:00Z" });
    const sig = await pushCosignSignature(reg.url, repo, image.digest, {});
    expect((await fetch(`${reg.url}/v2/${repo}/manifests/${image.digest}`, { method: "DELETE" })).status).toBe(202);
    const host = reg.host;
    const keep = await run(["prune", `${host}/${repo}`, "--keep", "5", "--yes"]);
    expect(keep.code).toBe(0);
    expect(keep.stdout).toContain("dangling: its image is gone (--dangling removes it)");
    expect(await exists(reg.url, repo, sig.tag)).toBe(true);
    const dangling = await run(["prune", `${host}/${repo}`, "--dangling", "--yes"]);
    expect(dangling.code).toBe(0);
    expect(await exists(reg.url, repo, sig.tag)).toBe(false);
    expect(await exists(reg.url, repo, "stays")).toBe(true);
  }, 60_000);
});

describe("delete: an image goes with its referrers, after it", () => {
  for (const [where, base, fallback] of [
    ["the real registry (fallback tags)", () => reg.url, true],
    ["a registry with the referrers API (the tests' own server)", () => api.url, false],
  ] as const) {
    test(`${where}: delete v1 removes its signature, SBOM${fallback ? " and fallback index" : ""}; the others' stay`, async () => {
      const repo = fallback ? "ref/delete-fallback" : "ref/delete-api";
      const [v1, v2] = await seedSigned(base(), repo, fallback);
      const host = new URL(base()).host;
      const r = await run(["delete", `${host}/${repo}:v1`, "--yes", "--plain-http"]);
      expect(r.stderr).not.toContain("    at ");
      expect(r.code).toBe(0);
      expect(r.stdout.match(/, a referrer of it\)$/gm)?.length).toBe(fallback ? 3 : 2);
      expect(r.stderr).not.toContain("(s)");
      const b = base();
      for (const ref of [v1!.image.digest, v1!.sig, v1!.sbom, v1!.sigTag, ...(fallback ? [referrersTag(v1!.image.digest)] : [])])
        expect({ ref, there: await exists(b, repo, ref) }).toEqual({ ref, there: false });
      for (const ref of [v2!.image.digest, v2!.sig, v2!.sbom, v2!.sigTag, "v2", "v3"]) expect({ ref, there: await exists(b, repo, ref) }).toEqual({ ref, there: true });
    }, 60_000);
  }

  test("--keep-referrers: the image goes, its referrers stay", async () => {
    const repo = "ref/delete-keep";
    const [v1] = await seedSigned(reg.url, repo, true);
    const r = await run(["delete", `${reg.host}/${repo}:v1`, "--yes", "--keep-referrers"]);
    expect(r.code).toBe(0);
    expect(await exists(reg.url, repo, v1!.image.digest)).toBe(false);
    for (const ref of [v1!.sig, v1!.sbom, v1!.sigTag, referrersTag(v1!.image.digest)]) expect({ ref, there: await exists(reg.url, repo, ref) }).toEqual({ ref, there: true });
  }, 60_000);

  test("the transcript of a delete with referrers, run by sh, reaches the same state", async () => {
    const repo = "ref/delete-script";
    const [v1, v2] = await seedSigned(reg.url, repo, true);
    const plan = await run(["delete", `${reg.host}/${repo}:v1`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    expect(await exists(reg.url, repo, v1!.sig)).toBe(true); // the dry run changed nothing
    const script = await sh(plan.stderr);
    expect(script.code).toBe(0);
    for (const ref of [v1!.image.digest, v1!.sig, v1!.sbom, v1!.sigTag, referrersTag(v1!.image.digest)])
      expect({ ref, there: await exists(reg.url, repo, ref) }).toEqual({ ref, there: false });
    for (const ref of [v2!.image.digest, v2!.sig, v2!.sbom]) expect({ ref, there: await exists(reg.url, repo, ref) }).toEqual({ ref, there: true });
  }, 60_000);

  test("a fallback index holding two referrers, one deleted by digest: the index keeps the other; the last one takes the index with it", async () => {
    const repo = "ref/one-referrer";
    const image = await pushImage(reg.url, repo, ["app"], { seed: "one-referrer" });
    const a = await pushArtifact(reg.url, repo, image, { artifactType: SPDX, fallback: true });
    const b = await pushArtifact(reg.url, repo, image, { artifactType: "application/vnd.cyclonedx+json", fallback: true });
    const first = await run(["delete", `${reg.host}/${repo}@${a.digest}`, "--yes"]);
    expect(first.stderr).not.toContain("    at ");
    expect(first.code).toBe(0);
    expect(await exists(reg.url, repo, a.digest)).toBe(false);
    expect((await fallbackIndex(reg.url, repo, image.digest))?.map((d) => d.digest)).toEqual([b.digest]);
    expect(await exists(reg.url, repo, image.digest)).toBe(true);
    const last = await run(["delete", `${reg.host}/${repo}@${b.digest}`, "--yes"]);
    expect(last.code).toBe(0);
    expect(await fallbackIndex(reg.url, repo, image.digest)).toBeUndefined();
    expect(await exists(reg.url, repo, "app")).toBe(true);
  }, 60_000);
});

describe("referrers, inspect and tags show them", () => {
  for (const [where, base, fallback] of [
    ["the real registry (fallback tags)", () => reg.url, true],
    ["a registry with the referrers API, two a page (the tests' own server)", () => api.url, false],
  ] as const) {
    test(`${where}: referrers lists the signature and the SBOMs, --artifact-type filters, --json says how each was found`, async () => {
      const repo = fallback ? "ref/list-fallback" : "ref/list-api";
      const [v1] = await seedSigned(base(), repo, fallback);
      const second = await pushArtifact(base(), repo, v1!.image, { artifactType: "application/vnd.cyclonedx+json", fallback });
      const third = await pushArtifact(base(), repo, v1!.image, { artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", fallback });
      const host = new URL(base()).host;
      const text = await run(["referrers", `${host}/${repo}:v1`, "--plain-http"]);
      expect(text.code).toBe(0);
      for (const d of [v1!.sig, v1!.sbom, second.digest, third.digest]) expect(text.stdout).toContain(d);
      expect(text.stdout).toContain("signature (cosign)");
      expect(text.stdout).toContain(SPDX);
      const json = await run(["referrers", `${host}/${repo}:v1`, "--plain-http", "--json"]);
      const tree = JSON.parse(json.stdout) as { digest: string; referrers: { digest: string; found: string; artifactType?: string }[] };
      expect(tree.digest).toBe(v1!.image.digest);
      const found = Object.fromEntries(tree.referrers.map((r) => [r.digest, r.found]));
      expect(found[v1!.sig]).toBe("cosign tag");
      expect(found[v1!.sbom]).toBe(fallback ? "fallback index" : "referrers API");
      expect(found[second.digest]).toBe(fallback ? "fallback index" : "referrers API");
      if (fallback) expect(Object.values(found).filter((f) => f === "fallback tag").length).toBe(1);
      const only = await run(["referrers", `${host}/${repo}:v1`, "--plain-http", "--json", "--artifact-type", SPDX]);
      expect((JSON.parse(only.stdout) as typeof tree).referrers.map((r) => r.digest)).toEqual([v1!.sbom]);
      const inspect = await run(["inspect", `${host}/${repo}:v1`, "--plain-http"]);
      expect(inspect.code).toBe(0);
      expect(inspect.stdout).toContain("referrers");
      expect(inspect.stdout).toContain(v1!.sbom);
      // Three referrers through the API, two a page: the second page was read by following Link.
      if (!fallback) expect(api.seen.some((q) => q.path.startsWith(`/v2/${repo}/referrers/`) && q.path.includes("cursor="))).toBe(true);
    }, 60_000);
  }

  test("tags leaves out the tags named after a digest, and says so; --all lists them last", async () => {
    const repo = "ref/tags";
    const [v1] = await seedSigned(reg.url, repo, true);
    const plain = await run(["tags", `${reg.host}/${repo}`]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim().split("\n")).toEqual(["v1", "v2", "v3"]);
    expect(plain.stderr).toContain("6 tags named after a digest");
    const all = await run(["tags", `${reg.host}/${repo}`, "--all"]);
    const lines = all.stdout.trim().split("\n");
    expect(lines.slice(0, 3)).toEqual(["v1", "v2", "v3"]);
    expect(lines.length).toBe(9);
    expect(lines).toContain(v1!.sigTag);
    const digests = await run(["tags", `${reg.host}/${repo}`, "--digests"]);
    expect(
      digests.stdout
        .trim()
        .split("\n")
        .map((l) => l.split("\t")[0]),
    ).toEqual(["v1", "v2", "v3"]);
  }, 60_000);

  test("the transcript shows the lookup: the referrers API first, then, after its 404, the fallback tag, each with why", async () => {
    const repo = "ref/transcript";
    await seedSigned(reg.url, repo, true);
    const r = await run(["referrers", `${reg.host}/${repo}:v1`, "--curl"]);
    expect(r.code).toBe(0);
    const api404 = r.stderr.indexOf("/referrers/sha256:");
    const fallbackGet = r.stderr.indexOf(`/manifests/sha256-`);
    expect(api404).toBeGreaterThan(0);
    expect(fallbackGet).toBeGreaterThan(api404);
    expect(r.stderr).toContain("404 means it has no referrers API");
    const script = await sh(r.stderr);
    expect(script.code).toBe(0);
  }, 60_000);
});

describe("untag, du and TAB", () => {
  test("untag: the image stays, and so do its referrers", async () => {
    const repo = "ref/untag";
    const [v1] = await seedSigned(reg.url, repo, true);
    const r = await run(["untag", `${reg.host}/${repo}:v1`, "--yes"]);
    expect(r.code).toBe(0);
    expect(await exists(reg.url, repo, "v1")).toBe(false);
    for (const ref of [v1!.image.digest, v1!.sig, v1!.sigTag, v1!.sbom, referrersTag(v1!.image.digest)])
      expect({ ref, there: await exists(reg.url, repo, ref) }).toEqual({ ref, there: true });
  }, 60_000);

  test("du: a signature's and an SBOM's bytes count with their image; their tags are no rows of their own", async () => {
    const repo = "ref/du";
    const [v1] = await seedSigned(reg.url, repo, true);
    const r = await run(["du", `${reg.host}/${repo}`, "--json"]);
    expect(r.code).toBe(0);
    const usage = JSON.parse(r.stdout) as { tags: { tag: string; size: number; frees: number; referrers: number }[] };
    expect(usage.tags.map((t) => t.tag)).toEqual(["v1", "v2", "v3"]);
    const row = usage.tags[0]!;
    expect(row.referrers).toBe(3); // the fallback index, the SBOM it lists, the cosign signature
    const imageOnly = v1!.image.layerSizes.reduce((a, b) => a + b, 0);
    expect(row.size).toBeGreaterThan(imageOnly + v1!.image.manifest.byteLength);
    // What deleting v1 frees includes its referrers' own blobs.
    expect(row.frees).toBeGreaterThan(imageOnly);
  }, 60_000);

  test("TAB never offers a tag named after a digest", async () => {
    const repo = "ref/complete";
    const [v1] = await seedSigned(reg.url, repo, true);
    const line = `regctl inspect ${reg.host}/${repo}:`;
    const r = await run(["__complete", "bash"], { env: { COMP_LINE: line, COMP_POINT: String(line.length) } });
    expect(r.code).toBe(0);
    const offered = r.stdout.trim().split("\n");
    expect(offered).toEqual(["v1", "v2", "v3"].map((t) => `${reg.host}/${repo}:${t}`));
    expect(r.stdout).not.toContain(v1!.sigTag);
  }, 60_000);
});

describe("the fallback index as the spec keeps it", () => {
  test("the fixtures' fallback index lists the SBOM (the state regctl reads)", async () => {
    const repo = "ref/index";
    const image = await pushImage(reg.url, repo, ["a"], { seed: "index-a" });
    const sbom = await pushArtifact(reg.url, repo, image, { artifactType: SPDX, fallback: true });
    expect((await fallbackIndex(reg.url, repo, image.digest))?.map((d) => d.digest)).toEqual([sbom.digest]);
  });
});
