// The core against the real registry (Debian's docker-registry, distribution 2.8), started here on
// loopback ports with storage of its own: one instance with deletes enabled, one without.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { manifestStatus, registryTags, ROOT, run, sh, SCRIPT } from "./cli.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { sha256 } from "./fixtures.ts";
import { pushImage, pushIndex, pushManyRepos, pushManyTags, type PushedImage, type PushedIndex } from "./seed.ts";
import { startTagServer } from "./tagserver.ts";

let reg: Registry; // deletes enabled
let off: Registry; // deletes disabled (the registry's default)
let busybox: PushedImage; // latest and 1.36 on one digest
let edge: PushedImage;
let list: PushedIndex;
let index: PushedIndex;
let oci: PushedImage;

const platforms = [
  { platform: { os: "linux", architecture: "amd64" }, seed: "amd64" },
  { platform: { os: "linux", architecture: "arm64", variant: "v8" }, seed: "arm64" },
];

beforeAll(async () => {
  [reg, off] = await Promise.all([startRegistry({ deleteEnabled: true }), startRegistry({ deleteEnabled: false })]);
  busybox = await pushImage(reg.url, "busybox", ["latest", "1.36"], { seed: "busybox" });
  edge = await pushImage(reg.url, "busybox", ["edge"], { seed: "busybox-edge" });
  oci = await pushImage(reg.url, "oci/app", ["1"], { format: "oci", seed: "oci" });
  list = await pushIndex(reg.url, "multi/list", ["1", "stable"], platforms, { format: "docker" });
  index = await pushIndex(reg.url, "multi/index", ["1"], platforms, { format: "oci" });
  await pushManyTags(reg.url, "many", 300);
  await pushManyRepos(reg.url, 120);
  await pushImage(off.url, "busybox", ["latest", "1.36"], { seed: "busybox" });
}, 60_000);

afterAll(async () => {
  await Promise.all([reg?.stop(), off?.stop()]);
});

describe("the seed question: delete busybox:latest", () => {
  test("without Accept the registry answers a schema1 digest that DELETE cannot find", async () => {
    const res = await fetch(`${reg.url}/v2/busybox/manifests/latest`);
    const converted = res.headers.get("docker-content-digest")!;
    expect(res.headers.get("content-type")).toContain("prettyjws");
    expect(converted).not.toBe(busybox.digest);
    const del = await fetch(`${reg.url}/v2/busybox/manifests/${converted}`, { method: "DELETE" });
    expect(del.status).toBe(404);
    expect(((await del.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe("MANIFEST_UNKNOWN");
    // regctl names the stored digest, and explains the one that does not exist.
    const d = await run(["digest", `${reg.host}/busybox:latest`]);
    expect(d).toMatchObject({ code: 0, stdout: `${busybox.digest}\n` });
    const wrong = await run(["delete", `${reg.host}/busybox@${converted}`, "--yes"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("MANIFEST_UNKNOWN");
    expect(wrong.stderr).toContain("schema1");
    expect(wrong.stderr).not.toContain("    at ");
    expect(await registryTags(reg.url, "busybox")).toEqual(["1.36", "edge", "latest"]);
  });

  test("--dry-run --curl prints a script that sh runs to do the delete; the dry run itself deletes nothing", async () => {
    const repo = "seed/dry";
    const img = await pushImage(reg.url, repo, ["latest", "1.36"], { seed: "busybox" });
    await pushImage(reg.url, repo, ["keep"], { seed: "keep" });
    const plan = await run(["delete", `${reg.host}/${repo}:latest`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    expect(await registryTags(reg.url, repo)).toEqual(["1.36", "keep", "latest"]);
    // stderr is itself a script: every line a command or a comment (the deletes-enabled probe and
    // the recheck's loop before the DELETE included).
    for (const line of plan.stderr.trim().split("\n"))
      expect(
        line.startsWith("#") ||
          /^(curl |(HEADERS|STATUS|ANSWER)=\$\(curl |DIGEST=\$\(printf |case \$(STATUS|ANSWER) in |\[ "\$DIGEST" = |ACCEPT=|set -eu|\[ "\$\(curl |TAGS=|PLAN_[A-Z]+=|CHANGED=$|while :; do$| {2}|done$|\[ -z "\$CHANGED" \])/.test(
            line,
          ),
      ).toBe(true);
    // the dry-run note stands above the command regctl did not send, never under it
    expect(plan.stderr).toContain(`# dry run: regctl did not send the next command; this script will\nANSWER=$(curl -sS -w ' %{http_code}' -X DELETE`);
    expect(plan.stderr).not.toContain("dry run: not sent");
    expect(plan.stderr).toContain("PLAN_DELETES=");
    expect(plan.stderr).toContain(`-X DELETE http://${reg.host}/v2/${repo}/manifests/"$DIGEST"`);
    expect(plan.stderr).toContain("Accept: ");
    // the dry run's result is on stdout, as every other command's: `2>plan.sh` leaves it on the terminal
    expect(plan.stdout).toBe("dry run: would delete this Docker image and its 2 tags (1.36, latest)\n");
    expect(plan.stderr).not.toContain("would delete");
    expect(plan.stderr).toContain(`# dry run: whether ${reg.host} accepts DELETE is unknown until one is sent (regctl ping ${reg.host} tells)\n`);
    const result = await sh(plan.stderr);
    expect(result.code).toBe(0);
    // the reads print nothing; the write says what it did
    expect(result.stdout).toBe(`deleted ${reg.host}/${repo}@${img.digest}\n`);
    expect(await registryTags(reg.url, repo)).toEqual(["keep"]);
    expect(await manifestStatus(reg.url, repo, img.digest)).toBe(404);
  });

  test("the script stops when the tag moved after the plan", async () => {
    const repo = "seed/moved";
    await pushImage(reg.url, repo, ["latest"], { seed: "first" });
    const plan = await run(["delete", `${reg.host}/${repo}:latest`, "--dry-run", "--curl"]);
    const moved = await pushImage(reg.url, repo, ["latest"], { seed: "second" });
    const result = await sh(plan.stderr);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("not sha256:");
    expect(await manifestStatus(reg.url, repo, moved.digest)).toBe(200);
  });

  test("delete removes every tag on the digest and leaves the others, then tells how to free the disk", async () => {
    const r = await run(["delete", `${reg.host}/busybox:latest`, "--yes"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`deleted ${reg.host}/busybox@${busybox.digest}`);
    expect(r.stdout).toContain(`untagged ${reg.host}/busybox:1.36`);
    expect(r.stdout).toContain(`untagged ${reg.host}/busybox:latest`);
    expect(r.stderr).toContain("garbage-collect");
    expect(r.stderr).toContain("--delete-untagged");
    expect(await registryTags(reg.url, "busybox")).toEqual(["edge"]);
    expect(await manifestStatus(reg.url, "busybox", busybox.digest)).toBe(404);
    expect(await manifestStatus(reg.url, "busybox", edge.digest)).toBe(200);
  });

  test("--json reports the plan and the outcome", async () => {
    const img = await pushImage(reg.url, "seed/json", ["a", "b"], { seed: "json" });
    const r = await run(["delete", `${reg.host}/seed/json@${img.digest}`, "--yes", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ digest: img.digest, tags: ["a", "b"], deleted: true, dryRun: false });
  });

  test("without a terminal and without --yes nothing is deleted (exit 2)", async () => {
    const img = await pushImage(reg.url, "seed/noyes", ["latest"], { seed: "noyes" });
    const r = await run(["delete", `${reg.host}/seed/noyes:latest`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--yes");
    expect(await manifestStatus(reg.url, "seed/noyes", img.digest)).toBe(200);
  });

  test("deletes disabled: 405 UNSUPPORTED, the hint, exit 1, nothing changed", async () => {
    const r = await run(["delete", `${off.host}/busybox:latest`, "--yes"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("405");
    expect(r.stderr).toContain("UNSUPPORTED");
    expect(r.stderr).toContain("storage.delete.enabled: true");
    expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(4);
    expect(await registryTags(off.url, "busybox")).toEqual(["1.36", "latest"]);
  });
});

test("REGCTL_CURL=1 turns the transcript on without --curl", async () => {
  const r = await run(["digest", `${reg.host}/busybox:edge`], { env: { REGCTL_CURL: "1" } });
  expect(r.code).toBe(0);
  expect(r.stderr.startsWith("#!/bin/sh\n")).toBe(true);
  expect(r.stderr).toContain(`curl -sS -f -o /dev/null -I -H 'Accept: '"$ACCEPT" http://${reg.host}/v2/busybox/manifests/edge`);
});

describe("lists and indexes", () => {
  test("inspect shows the platforms of a docker list and an OCI index", async () => {
    for (const [repo, pushed] of [
      ["multi/list", list],
      ["multi/index", index],
    ] as const) {
      const r = await run(["inspect", `${reg.host}/${repo}:1`, "--json"]);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout);
      expect(s.digest).toBe(pushed.digest);
      expect(s.mediaType).toBe(pushed.mediaType);
      expect(s.manifests.map((m: { platform: string }) => m.platform)).toEqual(["linux/amd64", "linux/arm64/v8"]);
      expect(s.manifests.map((m: { digest: string }) => m.digest)).toEqual(pushed.children.map((c) => c.digest));
    }
  });

  test("a child of a tagged list is never deleted", async () => {
    const child = list.children[0]!.digest;
    const r = await run(["delete", `${reg.host}/multi/list@${child}`, "--yes"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("platform manifest of");
    expect(await manifestStatus(reg.url, "multi/list", child)).toBe(200);
  });

  test("deleting a list by tag deletes the list whole, never a child", async () => {
    const r = await run(["delete", `${reg.host}/multi/list:stable`, "--yes", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ digest: list.digest, tags: ["1", "stable"] });
    expect(await manifestStatus(reg.url, "multi/list", list.digest)).toBe(404);
    for (const c of list.children) expect(await manifestStatus(reg.url, "multi/list", c.digest)).toBe(200);
  });

  test("an OCI index is deleted whole too", async () => {
    const r = await run(["delete", `${reg.host}/multi/index:1`, "--yes"]);
    expect(r.code).toBe(0);
    expect(await manifestStatus(reg.url, "multi/index", index.digest)).toBe(404);
    for (const c of index.children) expect(await manifestStatus(reg.url, "multi/index", c.digest)).toBe(200);
  });
});

describe("reads", () => {
  test("tags of a repository whose tags were all deleted: nothing on stdout, a note on stderr, exit 0", async () => {
    await pushImage(reg.url, "emptied/app", ["only"], { seed: "emptied" });
    expect((await run(["delete", `${reg.host}/emptied/app:only`, "--yes"])).code).toBe(0);
    const r = await run(["tags", `${reg.host}/emptied/app`]);
    expect(r).toEqual({ code: 0, stdout: "", stderr: `${reg.host}/emptied/app has no tags\n` });
    expect((await run(["tags", `${reg.host}/emptied/app`, "--json"])).stdout).toBe("[]\n");
  });

  test("ping tells deletes enabled from disabled, and deletes nothing", async () => {
    const on = await run(["ping", reg.host, "--json"]);
    const no = await run(["ping", off.host, "--json"]);
    expect(JSON.parse(on.stdout)).toMatchObject({ registry: reg.host, apiVersion: "registry/2.0", auth: "none", deletes: true, url: `http://${reg.host}` });
    expect(JSON.parse(no.stdout)).toMatchObject({ deletes: false });
    expect(await registryTags(off.url, "busybox")).toEqual(["1.36", "latest"]);
  });

  test("repos follows every catalog page", async () => {
    const r = await run(["repos", reg.host, "--curl"]);
    expect(r.code).toBe(0);
    const repos = r.stdout.trim().split("\n");
    const bulk = repos.filter((x) => x.startsWith("bulk/"));
    expect(bulk.length).toBe(120);
    expect(repos).toContain("oci/app");
    expect(new Set(repos).size).toBe(repos.length);
    // distribution's default page is 100: the second page was asked for by its Link.
    expect(r.stderr).toMatch(/_catalog\?last=[^ ]+&n=100/);
    const small = await run(["repos", reg.host, "--page-size", "7"]);
    expect(small.stdout).toBe(r.stdout);
  });

  test("tags of a repository with hundreds of tags, and --digests in tag order", async () => {
    const r = await run(["tags", `${reg.host}/many`]);
    const tags = r.stdout.trim().split("\n");
    expect(tags.length).toBe(300);
    expect(tags).toEqual([...tags].sort());
    const d = await run(["tags", `${reg.host}/busybox`, "--digests"]);
    expect(d.stdout).toBe(`edge\t${edge.digest}\n`);
    const many = await run(["tags", `${reg.host}/many`, "--digests", "--concurrency", "16"]);
    const rows = many.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    expect(rows.map((x) => x[0])).toEqual(tags);
    const digests = new Set(rows.map((x) => x[1]));
    expect(digests.size).toBe(1);
    expect(await manifestStatus(reg.url, "many", [...digests][0]!)).toBe(200);
  });

  test("manifest --raw gives the exact stored bytes; the default is pretty JSON", async () => {
    const raw = await run(["manifest", `${reg.host}/oci/app:1`, "--raw"]);
    expect(sha256(raw.stdout)).toBe(oci.digest);
    const pretty = await run(["manifest", `${reg.host}/oci/app:1`]);
    expect(JSON.parse(pretty.stdout).mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(pretty.stdout).toContain("\n  ");
  });

  test("inspect of an image: config, created, layers and their total", async () => {
    const r = await run(["inspect", `${reg.host}/oci/app:1`, "--json"]);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ digest: oci.digest, config: { digest: oci.configDigest }, platform: "linux/amd64" });
    expect(s.layers.map((l: { digest: string }) => l.digest)).toEqual(oci.layerDigests);
    expect(s.layersSize).toBe(oci.layerSizes.reduce((a, b) => a + b, 0));
    const text = await run(["inspect", `${reg.host}/oci/app:1`]);
    expect(text.stdout).toContain(oci.configDigest);
  });

  test("unknown tag and unknown repository: exit 1 with a hint", async () => {
    const t = await run(["digest", `${reg.host}/busybox:nope`]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain("regctl tags");
    const n = await run(["tags", `${reg.host}/nope`]);
    expect(n.code).toBe(1);
    expect(n.stderr).toContain("NAME_UNKNOWN");
    expect(n.stderr).toContain("regctl repos");
  });
});

describe("tag pagination (a server of the tests' own: distribution 2.8 ignores n and last on tags)", () => {
  test.each([false, true])("follows relative and absolute Links (absolute: %p)", async (absoluteLinks) => {
    const tags = Array.from({ length: 53 }, (_, i) => `t${String(i).padStart(3, "0")}`);
    const srv = startTagServer({ repo: "paged", tags, pageSize: 7, absoluteLinks });
    try {
      const r = await run(["tags", `${srv.host}/paged`, "--plain-http"]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split("\n")).toEqual(tags);
      expect(srv.requests.filter((q) => q.includes("/tags/list")).length).toBe(8);
    } finally {
      srv.stop();
    }
  });
});

describe("bad input: exit 2, before any request", () => {
  const srv = startTagServer({ repo: "x", tags: ["a"], pageSize: 10 });
  afterAll(() => srv.stop());
  test.each([
    [["delete", "127.0.0.1:1/Bad:tag", "--yes"], "invalid reference"],
    [["digest", "HOST/x@sha256:123"], "invalid reference"],
    [["tags", "localhost:5000/busybox:latest"], "takes a repository"],
    [["delete", "localhost:5000/busybox", "--yes"], "names no tag or digest"],
    [["tags", "localhost:5000/busybox", "--concurrency", "0"], "--concurrency"],
    [["tags", "localhost:5000/busybox", "--timeout", "soon"], "invalid duration"],
    [["tags", "localhost:5000/busybox", "--bogus"], "unknown option"],
    [["frobnicate"], "unknown command"],
    [["tags"], "tags needs a repo"],
    [["ping", "not a host"], "invalid registry"],
  ])("%p", async (args, message) => {
    const withHost = args.map((a) => a.replace("localhost:5000", srv.host));
    const r = await run(withHost);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("hint:");
    expect(r.stderr).not.toContain("    at ");
    expect(r.stdout).toBe("");
    expect(srv.requests).toEqual([]);
  });
});

describe("a registry that is not there", () => {
  test("connection refused: one line, a hint, exit 1, no stack trace", async () => {
    const r = await run(["tags", "127.0.0.1:1/busybox", "--plain-http"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("connection refused");
    expect(r.stderr).toContain("hint: is the registry running");
    expect(r.stderr).not.toContain("    at ");
  });
});

describe("other runtimes", () => {
  const deno = join(ROOT, "node_modules", ".bin", "deno");
  test("deno run -A regctl.ts: tags and digest", async () => {
    expect(existsSync(deno)).toBe(true); // npm ci installs deno as a dev dependency
    const cmd = [deno, "run", "-A", SCRIPT];
    const t = await run(["tags", `${reg.host}/busybox`, "--digests"], { cmd, env: { DENO_NO_UPDATE_CHECK: "1" }, timeoutMs: 60_000 });
    expect(t.stderr).toBe("");
    expect(t).toMatchObject({ code: 0, stdout: `edge\t${edge.digest}\n` });
    const d = await run(["digest", `${reg.host}/oci/app:1`], { cmd, env: { DENO_NO_UPDATE_CHECK: "1" }, timeoutMs: 60_000 });
    expect(d).toMatchObject({ code: 0, stdout: `${oci.digest}\n` });
  }, 90_000);
});
