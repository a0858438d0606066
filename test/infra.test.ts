// Tests of the test helpers themselves, against the real registry: if these fail,
// every other test's fixtures are suspect.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sha256 } from "./fixtures.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { MediaTypes, pushImage, pushIndex, pushManyRepos, pushManyTags } from "./seed.ts";
import { startTagServer } from "./tagserver.ts";

const ALL_TYPES = [MediaTypes.docker.manifest, MediaTypes.docker.index, MediaTypes.oci.manifest, MediaTypes.oci.index].join(", ");

const registries: Registry[] = [];
afterAll(async () => {
  await Promise.all(registries.map((r) => r.stop()));
});

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

async function manifestDigest(url: string, accept: string): Promise<string | null> {
  const res = await fetch(url, { headers: { Accept: accept } });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return res.headers.get("docker-content-digest");
}

describe("real registry + seed", () => {
  let reg: Registry;
  beforeAll(async () => {
    reg = await startRegistry({ deleteEnabled: true });
    registries.push(reg);
  });

  test("push docker, OCI, manifest list and index; read them back", async () => {
    const v2 = `${reg.url}/v2`;
    const docker = await pushImage(reg.url, "demo/app", ["1.0", "latest"], { seed: "a" });
    const oci = await pushImage(reg.url, "demo/app", ["oci"], { format: "oci", seed: "b" });
    const platforms = [
      { platform: { os: "linux", architecture: "amd64" }, seed: "x86" },
      { platform: { os: "linux", architecture: "arm64", variant: "v8" }, seed: "arm" },
    ];
    const list = await pushIndex(reg.url, "demo/app", ["multi"], platforms);
    const index = await pushIndex(reg.url, "demo/app", ["multi-oci"], platforms, { format: "oci" });

    const { tags } = await getJson<{ tags: string[] }>(`${v2}/demo/app/tags/list`);
    expect(tags.sort()).toEqual(["1.0", "latest", "multi", "multi-oci", "oci"]);

    const m = `${v2}/demo/app/manifests`;
    expect(await manifestDigest(`${m}/1.0`, MediaTypes.docker.manifest)).toBe(docker.digest);
    expect(await manifestDigest(`${m}/latest`, MediaTypes.docker.manifest)).toBe(docker.digest);
    expect(await manifestDigest(`${m}/oci`, MediaTypes.oci.manifest)).toBe(oci.digest);
    expect(await manifestDigest(`${m}/multi`, MediaTypes.docker.index)).toBe(list.digest);
    expect(await manifestDigest(`${m}/multi-oci`, MediaTypes.oci.index)).toBe(index.digest);
    expect(await manifestDigest(`${m}/multi`, ALL_TYPES)).toBe(list.digest);
    // 2.8 answers a list asked for with only the v2 type by its linux/amd64 child.
    expect(await manifestDigest(`${m}/multi`, MediaTypes.docker.manifest)).toBe(list.children[0]!.digest);
    // Children were pushed by digest and are reachable that way.
    for (const c of [...list.children, ...index.children]) {
      expect(await manifestDigest(`${m}/${c.digest}`, ALL_TYPES)).toBe(c.digest);
    }
    expect(list.children.map((c) => c.mediaType)).toEqual([MediaTypes.docker.manifest, MediaTypes.docker.manifest]);
    expect(index.children.map((c) => c.mediaType)).toEqual([MediaTypes.oci.manifest, MediaTypes.oci.manifest]);
    // The stored config is the one we built, with the child's platform.
    const cfg = await getJson<{ architecture: string; rootfs: { diff_ids: string[] } }>(`${v2}/demo/app/blobs/${list.children[1]!.configDigest}`);
    expect(cfg.architecture).toBe("arm64");
    expect(cfg.rootfs.diff_ids).toHaveLength(1);
  }, 20_000);

  test("seeds are deterministic and distinct", async () => {
    const a1 = await pushImage(reg.url, "demo/seed", ["a1"], { seed: "same", layerSizes: [100, 5000] });
    const a2 = await pushImage(reg.url, "demo/seed", ["a2"], { seed: "same", layerSizes: [100, 5000] });
    const b = await pushImage(reg.url, "demo/seed", ["b"], { seed: "other", layerSizes: [100, 5000] });
    expect(a2.digest).toBe(a1.digest);
    expect(a1.layerDigests[0]).not.toBe(a1.layerDigests[1]);
    expect(b.layerDigests.some((d) => a1.layerDigests.includes(d))).toBe(false);
    const blob = await fetch(`${reg.url}/v2/demo/seed/blobs/${a1.layerDigests[1]}`);
    expect((await blob.arrayBuffer()).byteLength).toBe(a1.layerSizes[1]!);
  }, 20_000);

  test("pushManyTags: 300 distinct images with shuffled created dates", async () => {
    const t0 = performance.now();
    const pushed = await pushManyTags(reg.url, "demo/many", 300, { distinctImages: true });
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(15_000);
    const { tags } = await getJson<{ tags: string[] }>(`${reg.url}/v2/demo/many/tags/list`);
    expect(tags).toHaveLength(300);
    expect(new Set(tags)).toEqual(new Set(pushed.map((p) => p.tag)));
    expect(new Set(pushed.map((p) => p.digest)).size).toBe(300);
    expect(new Set(pushed.map((p) => p.created)).size).toBe(300);
    // Creation order is not tag order, so a prune by date cannot pass by accident.
    const byCreated = [...pushed].sort((a, b) => a.created.localeCompare(b.created)).map((p) => p.tag);
    expect(byCreated).not.toEqual(pushed.map((p) => p.tag));
    // The registry serves the created date we recorded.
    const p = pushed[7]!;
    const man = await getJson<{ config: { digest: string } }>(`${reg.url}/v2/demo/many/manifests/${p.tag}`, { headers: { Accept: MediaTypes.docker.manifest } });
    const cfg = await getJson<{ created: string }>(`${reg.url}/v2/demo/many/blobs/${man.config.digest}`);
    expect(new Date(cfg.created).getTime()).toBe(new Date(p.created).getTime());
  }, 30_000);

  test("pushManyTags on one image and pushManyRepos 120 in the catalog", async () => {
    const same = await pushManyTags(reg.url, "demo/same", 50, { prefix: "t" });
    expect(new Set(same.map((s) => s.digest)).size).toBe(1);
    const { tags } = await getJson<{ tags: string[] }>(`${reg.url}/v2/demo/same/tags/list`);
    expect(tags).toHaveLength(50);

    const repos = await pushManyRepos(reg.url, 120);
    const { repositories } = await getJson<{ repositories: string[] }>(`${reg.url}/v2/_catalog?n=1000`);
    for (const r of repos) expect(repositories).toContain(r.repo);
    expect(repositories.filter((r) => r.startsWith("bulk/repo-"))).toHaveLength(120);
  }, 30_000);

  test("garbageCollect frees a deleted image's unique blobs and restarts the registry", async () => {
    const img = await pushImage(reg.url, "demo/gc", ["gone"], { seed: "gc-only" });
    const del = await fetch(`${reg.url}/v2/demo/gc/manifests/${img.digest}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    const blobUrl = `${reg.url}/v2/demo/gc/blobs/${img.layerDigests[0]}`;
    expect((await fetch(blobUrl, { method: "HEAD" })).status).toBe(200); // still there before gc
    const out = await reg.garbageCollect();
    // (a boolean, not toContain: the gc output lists every blob and would flood a failure report)
    expect(out.includes(`blob eligible for deletion: ${img.layerDigests[0]}`)).toBe(true);
    expect(out.includes(`blob eligible for deletion: ${img.configDigest}`)).toBe(true);
    expect((await fetch(blobUrl, { method: "HEAD" })).status).toBe(404);
    // Everything else survived the restart.
    expect(await manifestDigest(`${reg.url}/v2/demo/app/manifests/1.0`, MediaTypes.docker.manifest)).toBeTruthy();
  }, 30_000);
});

test("a taken port fails with the registry's own error", async () => {
  const first = registries[0]!;
  const port = Number(first.host.split(":")[1]);
  await expect(startRegistry({ port })).rejects.toThrow("address already in use");
}, 20_000);

test("TLS + htpasswd registry: 401 without credentials, 200 with them", async () => {
  const user = { user: "alice", password: "s3cret" };
  const reg = await startRegistry({ tls: true, htpasswd: user });
  registries.push(reg);
  expect(reg.url).toStartWith("https://127.0.0.1:");
  const ca = await Bun.file(reg.caCertPath!).text();
  const anon = await fetch(`${reg.url}/v2/`, { tls: { ca } });
  expect(anon.status).toBe(401);
  expect(anon.headers.get("www-authenticate")).toStartWith("Basic ");
  const Authorization = `Basic ${btoa(`${user.user}:${user.password}`)}`;
  const ok = await fetch(`${reg.url}/v2/`, { tls: { ca }, headers: { Authorization } });
  expect(ok.status).toBe(200);
  // Without our CA the certificate is rejected.
  await expect(fetch(`${reg.url}/v2/`)).rejects.toThrow();
  const img = await pushImage(reg.url, "secure/app", ["v1"], { headers: { Authorization }, fetchOptions: { tls: { ca } } });
  const res = await fetch(`${reg.url}/v2/secure/app/manifests/v1`, { tls: { ca }, headers: { Authorization, Accept: MediaTypes.docker.manifest } });
  expect(res.headers.get("docker-content-digest")).toBe(img.digest);
}, 20_000);

test("tag server paginates with Link headers and serves manifests", async () => {
  const tags = Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, "0")}`).reverse();
  const body = new TextEncoder().encode('{"schemaVersion":2}');
  const srv = startTagServer({
    repo: "pages/app",
    tags,
    pageSize: 10,
    manifests: { t00: { body, mediaType: MediaTypes.oci.manifest } },
  });
  try {
    const seen: string[] = [];
    let next: string | null = `${srv.url}/v2/pages/app/tags/list?n=100`;
    while (next) {
      const res: Response = await fetch(next);
      expect(res.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
      seen.push(...((await res.json()) as { tags: string[] }).tags);
      const link = res.headers.get("link");
      next = link ? new URL(link.match(/<([^>]+)>/)![1]!, srv.url).href : null;
    }
    expect(seen).toEqual([...tags].sort());
    expect(srv.requests).toEqual(["GET /v2/pages/app/tags/list?n=100", "GET /v2/pages/app/tags/list?last=t09&n=10", "GET /v2/pages/app/tags/list?last=t19&n=10"]);
    const head = await fetch(`${srv.url}/v2/pages/app/manifests/t00`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("docker-content-digest")).toBe(sha256(body));
    expect((await fetch(`${srv.url}/v2/other/tags/list`)).status).toBe(404);
  } finally {
    srv.stop();
  }

  const abs = startTagServer({ repo: "a", tags: ["x", "y"], pageSize: 1, absoluteLinks: true });
  try {
    const res = await fetch(`${abs.url}/v2/a/tags/list`);
    expect(res.headers.get("link")).toBe(`<${abs.url}/v2/a/tags/list?last=x&n=1>; rel="next"`);
  } finally {
    abs.stop();
  }
}, 10_000);
