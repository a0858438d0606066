// untag, prune and du against the real registry, with a real garbage-collect run.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ACCEPT_ALL, manifestStatus, registryTags, run, sh } from "./cli.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { sha256 } from "./fixtures.ts";
import { pushImage, pushIndex, pushManyTags } from "./seed.ts";

let reg: Registry;
let off: Registry;

beforeAll(async () => {
  [reg, off] = await Promise.all([startRegistry({ deleteEnabled: true }), startRegistry({ deleteEnabled: false })]);
}, 30_000);
afterAll(async () => {
  await Promise.all([reg?.stop(), off?.stop()]);
});

/** Manifest revisions the registry stores for a repository (throwaways included, were any left), read from its storage. */
function revisions(r: Registry, repo: string): string[] {
  const dir = join(r.dir, "storage", "docker", "registry", "v2", "repositories", repo, "_manifests", "revisions", "sha256");
  // A DELETE removes the revision's link file; the empty directory stays until garbage-collect.
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((h) => existsSync(join(dir, h, "link")))
        .map((h) => `sha256:${h}`)
        .sort()
    : [];
}

/** Pull an image whole, as docker would: the manifest, then its config and every layer, each checked. */
async function pullsWhole(r: Registry, repo: string, ref: string): Promise<boolean> {
  const res = await fetch(`${r.url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT_ALL } });
  if (res.status !== 200) return false;
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (sha256(bytes) !== res.headers.get("docker-content-digest")) return false;
  const m = JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: { digest: string }[]; config?: { digest: string }; layers?: { digest: string }[] };
  if (m.manifests) {
    for (const c of m.manifests) if (!(await pullsWhole(r, repo, c.digest))) return false;
    return true;
  }
  for (const b of [m.config!, ...(m.layers ?? [])]) {
    const blob = await fetch(`${r.url}/v2/${repo}/blobs/${b.digest}`);
    if (blob.status !== 200 || sha256(new Uint8Array(await blob.arrayBuffer())) !== b.digest) return false;
  }
  return true;
}

describe("untag", () => {
  test("removes just that tag: 1.36 stays on the same digest, and no throwaway is left", async () => {
    const img = await pushImage(reg.url, "u/busybox", ["latest", "1.36"], { seed: "busybox" });
    const edge = await pushImage(reg.url, "u/busybox", ["edge"], { seed: "edge" });
    const r = await run(["untag", `${reg.host}/u/busybox:latest`, "--yes"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`untagged ${reg.host}/u/busybox:latest`);
    expect(r.stderr).toBe("the image keeps its other tag: 1.36\n");
    expect(await registryTags(reg.url, "u/busybox")).toEqual(["1.36", "edge"]);
    const head = await fetch(`${reg.url}/v2/u/busybox/manifests/1.36`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } });
    expect(head.headers.get("docker-content-digest")).toBe(img.digest);
    expect(revisions(reg, "u/busybox")).toEqual([img.digest, edge.digest].sort());
  });

  test("the last tag: the manifest stays, untagged, and regctl says so", async () => {
    const img = await pushImage(reg.url, "u/last", ["only"], { seed: "last" });
    const r = await run(["untag", `${reg.host}/u/last:only`, "--yes"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`that was its last tag: the image stays, untagged; to remove it:\n  regctl delete ${reg.host}/u/last@${img.digest}\n`);
    expect(await registryTags(reg.url, "u/last")).toEqual([]);
    expect(await manifestStatus(reg.url, "u/last", img.digest)).toBe(200);
  });

  test("deletes disabled: a clear error, exit 1, nothing changed and nothing uploaded", async () => {
    const img = await pushImage(off.url, "u/busybox", ["latest", "1.36"], { seed: "busybox" });
    const before = revisions(off, "u/busybox");
    const r = await run(["untag", `${off.host}/u/busybox:latest`, "--yes"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("deletes are disabled");
    expect(r.stderr).toContain("storage.delete.enabled");
    expect(await registryTags(off.url, "u/busybox")).toEqual(["1.36", "latest"]);
    expect(revisions(off, "u/busybox")).toEqual(before);
    expect(before).toEqual([img.digest]);
  });

  test("untag --dry-run --curl: the script does the untag with sh and curl", async () => {
    const img = await pushImage(reg.url, "u/script", ["a", "b"], { seed: "script" });
    const plan = await run(["untag", `${reg.host}/u/script:a`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toBe(`dry run: would untag ${reg.host}/u/script:a (on ${img.digest})\n`);
    expect(await registryTags(reg.url, "u/script")).toEqual(["a", "b"]);
    const result = await sh(plan.stderr);
    expect(result.code).toBe(0);
    expect(await registryTags(reg.url, "u/script")).toEqual(["b"]);
    expect(revisions(reg, "u/script")).toEqual([img.digest]);
  });
});

describe("prune", () => {
  test("--keep 10 of 300 tags keeps the 10 newest by creation time (not by name), each still pulls whole", async () => {
    const pushed = await pushManyTags(reg.url, "p/many", 300, { distinctImages: true });
    const newest = [...pushed]
      .sort((a, b) => b.created.localeCompare(a.created))
      .slice(0, 10)
      .map((t) => t.tag)
      .sort();
    const byName = [...pushed]
      .map((t) => t.tag)
      .sort()
      .slice(-10);
    expect(newest).not.toEqual(byName);
    const r = await run(["prune", `${reg.host}/p/many`, "--keep", "10", "--yes"], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${reg.host}/p/many: deleted 290 manifests, untagged 0 tags\n`);
    expect(r.stdout).toMatch(
      /^plan: keep 10 tags, delete 290 manifests \(290 tags\), untag 0 tags; frees up to [\d.]+ KiB after garbage-collect, less where other repositories share its blobs$/m,
    );
    // The garbage-collect advice: once, in two lines within 80 columns, the long form under regctl help gc.
    expect(r.stderr.split("\n").filter((l) => l.includes("garbage-collect") || l.includes("regctl help gc"))).toEqual([
      "disk space comes back only with garbage-collect, run on the registry host:",
      "regctl help gc says how (and why not --delete-untagged on distribution 2.8)",
    ]);
    for (const line of r.stderr.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
    expect(await registryTags(reg.url, "p/many")).toEqual(newest);
    for (const t of newest) expect(await pullsWhole(reg, "p/many", t)).toBe(true);
    const again = await run(["prune", `${reg.host}/p/many`, "--keep", "10", "--yes"]);
    expect(again.stdout).toContain("nothing to prune");
  }, 120_000);

  test("--match, --exclude and --older-than", async () => {
    const day = 86_400_000;
    const old = new Date(Date.now() - 40 * day).toISOString();
    const recent = new Date(Date.now() - 2 * day).toISOString();
    await pushImage(reg.url, "p/policy", ["pr-1"], { seed: "pr-1", created: old });
    await pushImage(reg.url, "p/policy", ["pr-2"], { seed: "pr-2", created: recent });
    await pushImage(reg.url, "p/policy", ["pr-3-keep"], { seed: "pr-3", created: old });
    await pushImage(reg.url, "p/policy", ["v1.0"], { seed: "v1", created: old });
    const args = ["prune", `${reg.host}/p/policy`, "--match", "^pr-", "--exclude", "keep$", "--older-than", "30d"];
    // A dry run's JSON is the plan, with no outcome; the run's has the outcome.
    const dry = await run([...args, "--dry-run", "--json"]);
    expect(dry.code).toBe(0);
    const [planned] = JSON.parse(dry.stdout);
    expect(planned.dryRun).toBe(true);
    expect(planned).not.toHaveProperty("outcome");
    const r = await run([...args, "--yes", "--json"]);
    expect(r.code).toBe(0);
    const [plan] = JSON.parse(r.stdout);
    const why = Object.fromEntries(plan.rows.map((x: { tag: string; action: string; reason: string }) => [x.tag, `${x.action}: ${x.reason}`]));
    expect(why).toEqual({
      "pr-1": `delete: matched by --match, created before ${plan.cutoff.slice(0, 10)} ${plan.cutoff.slice(11, 19)} UTC`,
      "pr-2": `keep: created after ${plan.cutoff.slice(0, 10)} ${plan.cutoff.slice(11, 19)} UTC`,
      "pr-3-keep": "keep: excluded by --exclude",
      "v1.0": "keep: not matched by --match",
    });
    expect(plan.rows.map((x: { tag: string; action: string }) => x.action)).toEqual(planned.rows.map((x: { tag: string; action: string }) => x.action));
    expect(plan.outcome).toEqual({ deleted: [plan.deletes[0]], untagged: [], failed: [], notStarted: [] });
    expect(plan.dryRun).toBe(false);
    expect(await registryTags(reg.url, "p/policy")).toEqual(["pr-2", "pr-3-keep", "v1.0"]);
  });

  test("a removed tag that shares its digest with a kept tag is untagged, never deleted", async () => {
    const shared = await pushImage(reg.url, "p/shared", ["new", "old-alias"], { seed: "shared", created: "2024-06-01T00:00:00Z" });
    await pushImage(reg.url, "p/shared", ["old"], { seed: "old", created: "2024-01-01T00:00:00Z" });
    const r = await run(["prune", `${reg.host}/p/shared`, "--keep", "1", "--match", "^(new|old)$", "--yes", "--json"]);
    // old-alias is not matched: kept; new is the newest: kept; old: deleted.
    expect(r.code).toBe(0);
    expect(await registryTags(reg.url, "p/shared")).toEqual(["new", "old-alias"]);
    const r2 = await run(["prune", `${reg.host}/p/shared`, "--keep", "0", "--match", "alias", "--yes"]);
    expect(r2.code).toBe(0);
    expect(await registryTags(reg.url, "p/shared")).toEqual(["new"]);
    expect(await manifestStatus(reg.url, "p/shared", shared.digest)).toBe(200);
  });

  test("an index keeps its children after its sibling tags are pruned and after garbage-collect", async () => {
    const children = [
      { platform: { os: "linux", architecture: "amd64" }, seed: "idx-amd64", created: "2025-01-02T00:00:00Z" },
      { platform: { os: "linux", architecture: "arm64" }, seed: "idx-arm64", created: "2025-01-02T00:00:00Z" },
    ];
    const index = await pushIndex(reg.url, "p/index", ["current"], children, { format: "oci" });
    // A child tagged on its own, and older single images.
    const child = index.children[0]!;
    const put = await fetch(`${reg.url}/v2/p/index/manifests/amd64-only`, {
      method: "PUT",
      headers: { "Content-Type": child.mediaType },
      body: new TextDecoder().decode(child.manifest),
    });
    expect(put.status).toBe(201);
    for (let i = 0; i < 3; i++) await pushImage(reg.url, "p/index", [`old-${i}`], { seed: `old-${i}`, created: `2024-0${i + 1}-01T00:00:00Z` });
    const r = await run(["prune", `${reg.host}/p/index`, "--keep", "1", "--match", "^(current|old-)", "--yes"]);
    expect(r.code).toBe(0);
    const r2 = await run(["prune", `${reg.host}/p/index`, "--match", "amd64-only", "--yes", "--json"]);
    expect(JSON.parse(r2.stdout)[0].rows.find((x: { tag: string }) => x.tag === "amd64-only").action).toBe("untag");
    expect(await registryTags(reg.url, "p/index")).toEqual(["current"]);
    const gc = await reg.garbageCollect();
    expect(gc).toContain("eligible for deletion");
    expect(await pullsWhole(reg, "p/index", "current")).toBe(true);
    for (const c of index.children) expect(await pullsWhole(reg, "p/index", c.digest)).toBe(true);
    expect(await pullsWhole(reg, "p/many", (await registryTags(reg.url, "p/many"))[0]!)).toBe(true);
  }, 60_000);

  test("prune --dry-run --curl: the script, run by sh, leaves the same state as the prune itself", async () => {
    const a = await pushManyTags(reg.url, "p/twin-a", 20, { distinctImages: true });
    const b = await pushManyTags(reg.url, "p/twin-b", 20, { distinctImages: true });
    await pushImage(reg.url, "p/twin-a", ["alias"], { seed: "p/twin-a", created: a.find((t) => t.tag === "v1.0.3")!.created });
    await pushImage(reg.url, "p/twin-b", ["alias"], { seed: "p/twin-b", created: b.find((t) => t.tag === "v1.0.3")!.created });
    const plan = await run(["prune", `${reg.host}/p/twin-b`, "--keep", "5", "--exclude", "alias", "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    expect((await registryTags(reg.url, "p/twin-b")).length).toBe(21);
    const done = await run(["prune", `${reg.host}/p/twin-a`, "--keep", "5", "--exclude", "alias", "--yes"]);
    expect(done.code).toBe(0);
    const script = await sh(plan.stderr);
    expect(script.code).toBe(0);
    const left = await registryTags(reg.url, "p/twin-a");
    expect(left.length).toBeGreaterThan(5);
    expect(await registryTags(reg.url, "p/twin-b")).toEqual(left);
  }, 60_000);

  test("prune REGISTRY --repo REGEX works across the matching repositories only", async () => {
    for (const repo of ["ci/a", "ci/b", "keep/c"])
      for (let i = 0; i < 3; i++) await pushImage(reg.url, repo, [`v${i}`], { seed: `${repo}-${i}`, created: `2024-0${i + 1}-01T00:00:00Z` });
    const r = await run(["prune", reg.host, "--repo", "^ci/", "--keep", "1", "--yes", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).map((p: { repository: string }) => p.repository)).toEqual(["ci/a", "ci/b"]);
    expect(await registryTags(reg.url, "ci/a")).toEqual(["v2"]);
    expect(await registryTags(reg.url, "ci/b")).toEqual(["v2"]);
    expect(await registryTags(reg.url, "keep/c")).toEqual(["v0", "v1", "v2"]);
  });

  test("across repositories: each says what it did, in words that count right; the garbage-collect advice comes once", async () => {
    for (const repo of ["w/a", "w/b"]) for (let i = 0; i < 3; i++) await pushImage(reg.url, repo, [`v${i}`], { seed: `${repo}-${i}`, created: `2024-0${i + 1}-01T00:00:00Z` });
    const dry = await run(["prune", reg.host, "--repo", "^w/", "--keep", "2", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`${reg.host}/w/a: dry run: would delete 1 manifest, untag 0 tags\n${reg.host}/w/b: dry run: would delete 1 manifest, untag 0 tags\n`);
    expect(dry.stdout).toContain("plan: keep 2 tags, delete 1 manifest (1 tag), untag 0 tags;");
    // A dry run sends no DELETE: whether the registry takes one is not known, and it says so, once.
    expect(dry.stderr).toBe(`dry run: whether ${reg.host} accepts DELETE is unknown until one is sent (regctl ping ${reg.host} tells)\n`);
    const r = await run(["prune", reg.host, "--repo", "^w/", "--keep", "2", "--yes"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${reg.host}/w/a: deleted 1 manifest, untagged 0 tags\n${reg.host}/w/b: deleted 1 manifest, untagged 0 tags\n`);
    expect(r.stderr.match(/regctl help gc/g)?.length).toBe(1);
    expect(r.stderr.trim().split("\n").length).toBe(2);
    const ping = await run(["ping", reg.host]);
    expect(ping.stdout).toMatch(/^deletes\s+enabled$/m);
  });

  test("--keep with images all dated 1970 (reproducible builds): the plan says the tag order broke the tie, in text and JSON", async () => {
    for (const t of ["v2.1", "v2.2", "v2.9", "v2.10", "v2.11"]) await pushImage(reg.url, "p/repro", [t], { seed: `repro-${t}`, created: "1970-01-01T00:00:00Z" });
    const r = await run(["prune", `${reg.host}/p/repro`, "--keep", "1", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "tie: 5 images share the creation time 1970-01-01, so --keep ranked them\n  by tag, natural version order, highest first: 1 of the 5 tags is kept\nplan: keep 1 tag, delete 4 manifests (4 tags), untag 0 tags;",
    );
    expect(r.stdout).toMatch(/^v2\.11\s.*keep\s+the newest$/m);
    const [plan] = JSON.parse((await run(["prune", `${reg.host}/p/repro`, "--keep", "2", "--dry-run", "--json"])).stdout);
    expect(plan.ties).toEqual({ created: "1970-01-01T00:00:00Z", tags: 5, images: 5, kept: 2, order: "tag, natural version order, highest first" });
    // One image with two tags at the last place: the tie is between its tags.
    await pushImage(reg.url, "p/one-tie", ["old"], { seed: "one-tie-old", created: "2023-01-01T00:00:00Z" });
    await pushImage(reg.url, "p/one-tie", ["v3", "stable"], { seed: "one-tie-new", created: "2024-01-01T00:00:00Z" });
    const one = await run(["prune", `${reg.host}/p/one-tie`, "--keep", "1", "--dry-run"]);
    expect(one.stdout).toContain("tie: the 2 tags of one image share the creation time 2024-01-01, so --keep ranked them\n");
    // Dated apart: no tie to speak of.
    const dated = JSON.parse((await run(["prune", `${reg.host}/p/policy`, "--keep", "1", "--dry-run", "--json"])).stdout);
    expect(dated[0]).not.toHaveProperty("ties");
  });

  test("bad policies are refused before any request", async () => {
    for (const args of [["--keep", "-1"], ["--match", "("], ["--older-than", "soon"], []]) {
      const r = await run(["prune", `${reg.host}/p/many`, ...args, "--yes"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("hint:");
    }
  });
});

describe("du", () => {
  test("figures match the blobs' real sizes", async () => {
    const a = await pushImage(reg.url, "d/app", ["1", "one"], { seed: "du-a", layerSizes: [5000, 7000] });
    const b = await pushImage(reg.url, "d/app", ["2"], { seed: "du-b", layerSizes: [3000] });
    const blobSize = async (digest: string) => (await (await fetch(`${reg.url}/v2/d/app/blobs/${digest}`)).arrayBuffer()).byteLength;
    const sizeOf = async (img: typeof a) => {
      let n = 0;
      for (const d of [img.configDigest, ...img.layerDigests]) n += await blobSize(d);
      return n;
    };
    const [sa, sb] = [await sizeOf(a), await sizeOf(b)];
    const r = await run(["du", `${reg.host}/d/app`, "--json"]);
    expect(r.code).toBe(0);
    const u = JSON.parse(r.stdout);
    expect(u.stored).toBe(sa + sb);
    const row = (tag: string) => u.tags.find((t: { tag: string }) => t.tag === tag);
    expect(row("1")).toMatchObject({ size: sa, frees: sa, otherTags: ["one"] });
    expect(row("2")).toMatchObject({ size: sb, frees: sb, otherTags: [] });
    expect(Object.keys(row("1")).sort()).toEqual(["digest", "frees", "otherTags", "referrers", "size", "tag"]);
    const text = await run(["du", reg.host]);
    expect(text.stdout).toMatch(/^REPOSITORY\s+TAGS\s+STORED\s+SHARED\s+FREES$/m);
    expect(text.stdout).toMatch(/d\/app\s+3\s/);
    expect(text.stdout).toContain("█");
    expect(text.stdout).toMatch(/^total: \d+ repositories, \d+ tags, [\d.]+ (B|KiB|MiB) stored \(each blob once\)$/m);
    expect(text.stdout).not.toContain("--repo left out");
    const repo = await run(["du", `${reg.host}/d/app`]);
    expect(repo.stdout).toMatch(/^TAG\s+DIGEST\s+SIZE\s+FREES\s+REFERRERS\s+SAME IMAGE AS$/m);
    expect(repo.stdout).toMatch(/^1\s+\w{12}\s.*█+\s+one$/m);
    expect(repo.stdout).toContain(`total: 3 tags on 2 images, ${(sa + sb) / 1024 < 1 ? `${sa + sb} B` : `${((sa + sb) / 1024).toFixed(1)} KiB`} stored (each blob once)`);
    expect(repo.stdout).toContain("another repository uses too is not freed");
  });

  test("tags in natural version order, and a total, in the repository and the registry view; one word for what a delete frees", async () => {
    for (const t of ["v1.10", "v1.9", "v1.2", "v1.11"]) await pushImage(reg.url, "d/order", [t], { seed: `order-${t}` });
    const r = await run(["du", `${reg.host}/d/order`, "--json"]);
    expect(JSON.parse(r.stdout).tags.map((t: { tag: string }) => t.tag)).toEqual(["v1.2", "v1.9", "v1.10", "v1.11"]);
    const text = await run(["du", `${reg.host}/d/order`]);
    expect(
      text.stdout
        .split("\n")
        .filter((l) => /^v\d/.test(l))
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(["v1.2", "v1.9", "v1.10", "v1.11"]);
    for (const old of ["ALONE", "SHARED WITH", "unique"]) expect(text.stdout).not.toContain(old);
    const all = await run(["du", reg.host, "--repo", "^d/", "--json"]);
    const repos = JSON.parse(all.stdout) as { repository: string; frees: number }[];
    expect(repos.map((u) => u.repository)).toEqual(["d/app", "d/order"]);
    for (const u of repos) expect(u).not.toHaveProperty("unique");
  });

  test("--repo: says that blobs shared with the repositories it leaves out are not seen", async () => {
    // One image in two repositories: deleting either frees nothing while the other stays.
    await pushImage(reg.url, "d/twin-1", ["a"], { seed: "twin" });
    await pushImage(reg.url, "d/twin-2", ["a"], { seed: "twin" });
    const both = JSON.parse((await run(["du", reg.host, "--repo", "^d/twin-", "--json"])).stdout) as { repository: string; frees: number; stored: number }[];
    expect(both.map((u) => u.frees)).toEqual([0, 0]);
    const one = await run(["du", reg.host, "--repo", "^d/twin-1$"]);
    const catalog = (await (await fetch(`${reg.url}/v2/_catalog?n=1000`)).json()) as { repositories: string[] };
    const left = catalog.repositories.length - 1;
    expect(one.stdout).toContain(`--repo left out ${left} repositories: blobs shared with them are not seen, so a delete may free less`);
  });
});
