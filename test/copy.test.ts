// tag and copy against REAL registries: a plain one, and one with htpasswd behind TLS (a CA of its
// own). Every seed image (schema2, OCI, docker list, OCI index) is copied across and within
// registries; the destination is checked with plain fetch (digests, every child present), and
// skopeo, a client this project did not write, copies the result back out (it verifies every
// blob). The registry's side of a copy is seen through the tests' fault proxy: its log of requests
// shows mounts and no upload, and its dropped connection shows a chunked upload resuming.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ACCEPT_ALL, CACHE_HOME, regctlCommand, run, secret, sh } from "./cli.ts";
import { exec, serve, sha256 } from "./fixtures.ts";
import { type FaultProxy, startFaultProxy } from "./faultproxy.ts";
import { startRegistry, tempRoot, type Registry } from "./registry.ts";
import { type PushedImage, type PushedIndex, pushImage, pushIndex, pushManyTags } from "./seed.ts";
import { cosignTag, pushArtifact, pushCosignSignature, referrersTag } from "./referrers.ts";
import { Pane, startTmux, stopTmux, tmux } from "./terminal.ts";
import { fitProgress } from "../regctl.ts";
import { startTokenRegistry, type TokenRegistry } from "./tokenserver.ts";

const USER = "mirror";
const PASSWORD = secret("copy-Secret-7");
const BASIC = secret(Buffer.from(`${USER}:${PASSWORD}`).toString("base64"));
const READER = "reader";
const READER_PASSWORD = secret("reader-Secret-8");

let plain: Registry; // no auth, plain http
let tls: Registry; // htpasswd behind TLS
let tok: TokenRegistry; // auth: token; the reader may pull, not push
let home: string;
let certDir: string; // for skopeo: the TLS registry's CA as ca.crt
const seeds: Record<string, PushedImage | PushedIndex> = {};

const env = () => ({ HOME: home, DOCKER_CONFIG: join(home, ".docker"), REGCTL_USERNAME: USER, REGCTL_PASSWORD: PASSWORD });
const tlsFetch = () => ({ tls: { ca: readFileSync(tls.caCertPath!, "utf8") } });
const tlsHeaders = () => ({ Authorization: `Basic ${BASIC}` });

/** HEAD of a manifest or blob, straight from the registry (no regctl code): status and digest. */
async function head(r: Registry, repo: string, kind: "manifests" | "blobs", ref: string): Promise<{ status: number; digest: string | null }> {
  const opts = r === tls ? { headers: { ...tlsHeaders(), Accept: ACCEPT_ALL }, ...tlsFetch() } : { headers: { Accept: ACCEPT_ALL } };
  const res = await fetch(`${r.url}/v2/${repo}/${kind}/${ref}`, { method: "HEAD", ...opts } as RequestInit);
  return { status: res.status, digest: res.headers.get("docker-content-digest") };
}

/** Every child of a seed (platform manifests, configs, layers) is at the destination. */
async function expectComplete(r: Registry, repo: string, seed: PushedImage | PushedIndex): Promise<void> {
  const images = "children" in seed ? seed.children : [seed];
  for (const img of images) {
    expect((await head(r, repo, "manifests", img.digest)).status).toBe(200);
    for (const blob of [img.configDigest, ...img.layerDigests]) expect((await head(r, repo, "blobs", blob)).status).toBe(200);
  }
}

/** skopeo copies the image (every platform) out of the registry into a directory: it checks every blob's digest. */
async function skopeoCopiesOut(r: Registry, repo: string, tag: string): Promise<void> {
  const dir = mkdtempSync(join(tempRoot(), "regctl-skopeo-"));
  const auth = r === tls ? ["--src-cert-dir", certDir, "--src-creds", `${USER}:${PASSWORD}`] : ["--src-tls-verify=false"];
  try {
    const res = await exec(["skopeo", "--command-timeout", "30s", "copy", "--all", ...auth, `docker://${r.host}/${repo}:${tag}`, `dir:${join(dir, "out")}`], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_RUNTIME_DIR: dir, XDG_CONFIG_HOME: dir, TMPDIR: dir },
      timeoutMs: 60_000,
    });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "regctl-home-"));
  [plain, tls, tok] = await Promise.all([
    startRegistry({ deleteEnabled: true }),
    startRegistry({ tls: true, htpasswd: { user: USER, password: PASSWORD } }),
    startTokenRegistry({ users: { [READER]: READER_PASSWORD }, grants: (user, scope) => (user === READER ? scope.actions.filter((a) => a === "pull") : []) }),
  ]);
  certDir = mkdtempSync(join(tmpdir(), "regctl-certs-"));
  writeFileSync(join(certDir, "ca.crt"), readFileSync(tls.caCertPath!));
  const children = [
    { platform: { os: "linux", architecture: "amd64" }, seed: "c-amd64" },
    { platform: { os: "linux", architecture: "arm64", variant: "v8" }, seed: "c-arm64" },
  ];
  seeds.schema2 = await pushImage(plain.url, "seed/schema2", ["v1"], { seed: "schema2", layerSizes: [64, 300] });
  seeds.oci = await pushImage(plain.url, "seed/oci", ["v1"], { seed: "oci", format: "oci" });
  seeds.list = await pushIndex(plain.url, "seed/list", ["v1"], children);
  seeds.index = await pushIndex(plain.url, "seed/index", ["v1"], children, { format: "oci" });
}, 60_000);

afterAll(async () => {
  stopTmux();
  await Promise.all([plain?.stop(), tls?.stop(), tok?.stop()]);
  rmSync(home, { recursive: true, force: true });
  rmSync(certDir, { recursive: true, force: true });
});

describe("tag", () => {
  test("a new tag on the same manifest, byte for byte: the digest of a schema2 image and of an OCI index stays", async () => {
    for (const name of ["schema2", "index"]) {
      const r = await run(["tag", `${plain.host}/seed/${name}:v1`, "stable"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`tagged ${plain.host}/seed/${name}:stable (${seeds[name]!.digest}, as ${plain.host}/seed/${name}:v1)\n`);
      expect((await head(plain, `seed/${name}`, "manifests", "stable")).digest).toBe(seeds[name]!.digest);
    }
  });

  test("NEWTAG as a whole reference: its tag when it is REF's repository; another repository refused with the copy to run", async () => {
    const full = await run(["tag", `${plain.host}/seed/oci:v1`, `${plain.host}/seed/oci:prod`]);
    expect(full.stderr).toBe("");
    expect(full.code).toBe(0);
    expect(full.stdout).toBe(`tagged ${plain.host}/seed/oci:prod (${seeds.oci!.digest}, as ${plain.host}/seed/oci:v1)\n`);
    expect((await head(plain, "seed/oci", "manifests", "prod")).digest).toBe(seeds.oci!.digest);
    const other = await run(["tag", `${plain.host}/seed/oci:v1`, `${plain.host}/seed/other:prod`]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(`regctl: ${plain.host}/seed/other is another repository than ${plain.host}/seed/oci`);
    expect(other.stderr).toContain(`hint: tag adds a tag within REF's repository; to another repository: regctl copy ${plain.host}/seed/oci:v1 ${plain.host}/seed/other:prod`);
    expect((await head(plain, "seed/other", "manifests", "prod")).status).toBe(404);
  });

  test("a tag on that image already: said so, nothing written", async () => {
    await run(["tag", `${plain.host}/seed/schema2:v1`, "again"]);
    const r = await run(["tag", `${plain.host}/seed/schema2:v1`, "again", "--curl"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${plain.host}/seed/schema2:again is ${seeds.schema2!.digest} already: nothing to tag\n`);
    expect(r.stderr).not.toMatch(/-X (PUT|POST|PATCH)/);
    expect(JSON.parse((await run(["tag", `${plain.host}/seed/schema2:v1`, "again", "--json"])).stdout).already).toBe(true);
  });

  test("a new tag that is not a tag, or a second argument missing: exit 2, nothing sent", async () => {
    const bad = await run(["tag", `${plain.host}/seed/oci:v1`, "other/repo:x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("regctl copy");
    const missing = await run(["tag", `${plain.host}/seed/oci:v1`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("needs a newtag");
  });
});

describe("a destination tag on another image moves, and says so", () => {
  test("copy, copy --dry-run, copy --json and tag: the old digest named; that image stays", async () => {
    const a = await pushImage(plain.url, "move/a", ["v1"], { seed: "move-a" });
    const b = await pushImage(plain.url, "move/b", ["v1", "prod"], { seed: "move-b" });
    const moved = (old: string, verb = "moved") => `; the tag ${verb} from ${old} (that image keeps its other tags, if any)`;
    const dry = await run(["copy", `${plain.host}/move/a:v1`, `${plain.host}/move/b:v1`, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(`dry run: would copy ${plain.host}/move/a:v1 to ${plain.host}/move/b:v1 (${a.digest})${moved(b.digest, "would move")}\n`);
    expect((await head(plain, "move/b", "manifests", "v1")).digest).toBe(b.digest);
    const json = await run(["copy", `${plain.host}/move/a:v1`, `${plain.host}/move/b:v1`, "--dry-run", "--json"]);
    expect(JSON.parse(json.stdout).replaced).toBe(b.digest);
    const r = await run(["copy", `${plain.host}/move/a:v1`, `${plain.host}/move/b:v1`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`copied ${plain.host}/move/a:v1 to ${plain.host}/move/b:v1 (${a.digest})${moved(b.digest)}\n`);
    expect((await head(plain, "move/b", "manifests", "v1")).digest).toBe(a.digest);
    expect((await head(plain, "move/b", "manifests", "prod")).digest).toBe(b.digest);
    // tag: the same, within the repository
    const t = await run(["tag", `${plain.host}/move/b:v1`, "prod"]);
    expect(t.code).toBe(0);
    expect(t.stdout).toBe(`tagged ${plain.host}/move/b:prod (${a.digest}, as ${plain.host}/move/b:v1)${moved(b.digest)}\n`);
    const tj = await run(["tag", `${plain.host}/move/b:v1`, "prod", "--json"]);
    expect(JSON.parse(tj.stdout).replaced).toBeUndefined();
    // a tag new at the destination moves nothing
    const fresh = await run(["copy", `${plain.host}/move/a:v1`, `${plain.host}/move/c:v1`]);
    expect(fresh.stdout).not.toContain("moved");
  });
});

describe("copy across registries (plain → htpasswd behind TLS)", () => {
  for (const name of ["schema2", "oci", "list", "index"]) {
    test(`${name}: the same digest, every child present, and skopeo copies it back out`, async () => {
      const r = await run(["copy", `${plain.host}/seed/${name}:v1`, `${tls.host}/mirror/${name}:v1`, "--cacert", tls.caCertPath!], { env: env() });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`copied ${plain.host}/seed/${name}:v1 to ${tls.host}/mirror/${name}:v1 (${seeds[name]!.digest})\n`);
      expect((await head(tls, `mirror/${name}`, "manifests", "v1")).digest).toBe(seeds[name]!.digest);
      await expectComplete(tls, `mirror/${name}`, seeds[name]!);
      await skopeoCopiesOut(tls, `mirror/${name}`, "v1");
    });
  }

  test("a TLS destination remembered as plain http (its port once a plain registry's): the bare 400 to a HEAD reprobes it", async () => {
    // Go answers plain http on a TLS port with a 400 without headers; to a HEAD, without its body too.
    const cache = mkdtempSync(join(tmpdir(), "regctl-cache-"));
    mkdirSync(join(cache, "regctl"));
    writeFileSync(join(cache, "regctl", "schemes.json"), JSON.stringify({ [tls.host]: "http" }));
    const r = await run(["copy", `${plain.host}/seed/oci:v1`, `${tls.host}/reused/oci:v1`, "--cacert", tls.caCertPath!, "--verbose"], { env: { ...env(), XDG_CACHE_HOME: cache } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the scheme remembered for it failed; asking it again");
    expect((await head(tls, "reused/oci", "manifests", "v1")).digest).toBe(seeds.oci!.digest);
    expect(JSON.parse(readFileSync(join(cache, "regctl", "schemes.json"), "utf8"))[tls.host]).toBe("https");
    // forced by --plain-http, the same answer names the flag to drop
    const forced = await run(["copy", `${plain.host}/seed/oci:v1`, `${tls.host}/reused/oci:v2`, "--cacert", tls.caCertPath!, "--plain-http"], { env: env() });
    expect(forced.code).toBe(1);
    expect(forced.stderr).toContain("hint: the registry speaks https: drop --plain-http");
  });

  test("a rerun HEADs first and writes nothing", async () => {
    const r = await run(["copy", `${plain.host}/seed/list:v1`, `${tls.host}/mirror/list:v1`, "--cacert", tls.caCertPath!, "--curl"], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${tls.host}/mirror/list:v1 is ${seeds.list!.digest} already: nothing to copy\n`);
    expect(r.stderr).not.toMatch(/-X (PUT|POST|PATCH)/);
  });

  test("back again, to a registry alone as DST (the same repository name): the digest of the list stays", async () => {
    const r = await run(["copy", `${tls.host}/mirror/list:v1`, `${plain.host}`, "--cacert", tls.caCertPath!], { env: env() });
    expect(r.code).toBe(0);
    expect((await head(plain, "mirror/list", "manifests", "v1")).digest).toBe(seeds.list!.digest);
  });
});

describe("copy within a registry", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(plain.url);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  test("an OCI index: every blob mounted, none uploaded; the tag last; skopeo copies it out", async () => {
    const from = proxy.log.length;
    const r = await run(["copy", `${proxy.host}/seed/index:v1`, `${proxy.host}/within/index:latest`]);
    expect(r.code).toBe(0);
    expect((await head(plain, "within/index", "manifests", "latest")).digest).toBe(seeds.index!.digest);
    await expectComplete(plain, "within/index", seeds.index!);
    const log = proxy.log.slice(from).filter((l) => l.method !== "GET" && l.method !== "HEAD");
    const blobs = (seeds.index as PushedIndex).children.flatMap((c) => [c.configDigest, ...c.layerDigests]);
    const mounts = log.filter((l) => l.method === "POST" && l.path.includes("mount="));
    expect(mounts.length).toBe(new Set(blobs).size);
    for (const m of mounts) expect(m.path).toContain("from=seed%2Findex");
    expect(log.filter((l) => l.method === "PATCH" || (l.method === "PUT" && l.path.includes("/blobs/")))).toEqual([]);
    // children first, the tag last
    const puts = log.filter((l) => l.method === "PUT").map((l) => l.path.replace(/^.*\/manifests\//, ""));
    expect(puts.at(-1)).toBe("latest");
    expect(puts.slice(0, -1).sort()).toEqual((seeds.index as PushedIndex).children.map((c) => c.digest).sort());
    await skopeoCopiesOut(plain, "within/index", "latest");
  });

  test("--platform: one platform of a docker list, under the tag", async () => {
    const arm = (seeds.list as PushedIndex).children[1]!;
    const r = await run(["copy", `${plain.host}/seed/list:v1`, `${plain.host}/within/arm:v1`, "--platform", "linux/arm64"]);
    expect(r.code).toBe(0);
    expect((await head(plain, "within/arm", "manifests", "v1")).digest).toBe(arm.digest);
    const none = await run(["copy", `${plain.host}/seed/list:v1`, `${plain.host}/within/arm:s390x`, "--platform", "linux/s390x"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("linux/amd64, linux/arm64/v8");
  });

  test("the same reference as source and destination, whatever prefix names either: exit 2, nothing sent", async () => {
    for (const [from, to] of [
      [`http://${plain.host}/seed/oci:v1`, `${plain.host}/seed/oci:v1`],
      [`docker://${plain.host}/seed/oci:v1`, `${plain.host}/seed/oci:v1`],
      [`${plain.host}/seed/oci:v1`, `http://${plain.host}/seed/oci:v1`],
    ]) {
      const r = await run(["copy", from!, to!, "--curl"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("the source and the destination are the same");
      // the transcript holds comments alone: no request was made
      expect(r.stderr.split("\n").filter((l) => l && !l.startsWith("#") && l !== "set -eu")).toEqual([]);
    }
  });

  test("by digest to a repository with no tag: copied, and the note says nothing is tagged and how to tag it", async () => {
    const r = await run(["copy", `${plain.host}/seed/oci@${seeds.oci!.digest}`, `${plain.host}/within/bydig`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`copied ${plain.host}/seed/oci@${seeds.oci!.digest} to ${plain.host}/within/bydig@${seeds.oci!.digest} (${seeds.oci!.digest})\n`);
    expect(r.stderr).toContain(
      `no tag points at it in ${plain.host}/within/bydig: untagged, it is not in \`regctl tags\`, and garbage-collect --delete-untagged removes it; to tag it, give DST as ${plain.host}/within/bydig:TAG`,
    );
    expect((await head(plain, "within/bydig", "manifests", seeds.oci!.digest)).status).toBe(200);
    const tagged = await run(["copy", `${plain.host}/seed/oci:v1`, `${plain.host}/within/bydig:v1`]);
    expect(tagged.stderr).not.toContain("no tag points");
  });

  test("--platform of an image that is not a list: exit 1, its own platform named, nothing copied", async () => {
    const r = await run(["copy", `${plain.host}/seed/oci:v1`, `${plain.host}/within/notalist:v1`, "--platform", "linux/arm64"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`regctl: seed/oci:v1 is not a list or index (it is linux/amd64): --platform picks an image of a list`);
    expect((await head(plain, "within/notalist", "manifests", "v1")).status).toBe(404);
  });

  test("--platform linux/arm64/v8 picks an arm64 entry with no variant, and linux/arm64 one with v8 (arm64 is v8 by default)", async () => {
    const bare = await pushIndex(
      plain.url,
      "seed/bare-arm",
      ["v1"],
      [
        { platform: { os: "linux", architecture: "amd64" }, seed: "bare-amd64" },
        { platform: { os: "linux", architecture: "arm64" }, seed: "bare-arm64" },
      ],
    );
    const r = await run(["copy", `${plain.host}/seed/bare-arm:v1`, `${plain.host}/within/bare-arm:v1`, "--platform", "linux/arm64/v8"]);
    expect(r.stderr).not.toContain("has no");
    expect(r.code).toBe(0);
    expect((await head(plain, "within/bare-arm", "manifests", "v1")).digest).toBe(bare.children[1]!.digest);
    const v8 = (seeds.list as PushedIndex).children[1]!;
    const plainArm = await run(["copy", `${plain.host}/seed/list:v1`, `${plain.host}/within/v8-arm:v1`, "--platform", "linux/arm64/v8"]);
    expect(plainArm.code).toBe(0);
    expect((await head(plain, "within/v8-arm", "manifests", "v1")).digest).toBe(v8.digest);
    const v7 = await run(["copy", `${plain.host}/seed/bare-arm:v1`, `${plain.host}/within/bare-arm:v7`, "--platform", "linux/arm64/v7"]);
    expect(v7.code).toBe(1);
  });
});

describe("--dry-run --curl: the script does the copy with sh and curl alone", () => {
  test("across registries: Location captured, blobs piped from one curl into the other, the manifest PUT last; the same digests", async () => {
    const plan = await run(["copy", `${plain.host}/seed/list:v1`, `${tls.host}/script/list:v1`, "--cacert", tls.caCertPath!, "--dry-run", "--curl"], { env: env() });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("dry run: would copy");
    expect((await head(tls, "script/list", "manifests", "v1")).status).toBe(404);
    const script = plan.stderr;
    // nothing was written: the script's last comment says what it would do
    expect(script.trim().split("\n").at(-1)).toBe("# dry run: would write 3 manifests, 0 manifests already there; blobs: would upload 4, would mount 0, 0 already there");
    expect(script).not.toContain(" written, ");
    expect(script).toMatch(/UPLOAD_1=\$\(printf/);
    expect(script).toMatch(/-f -L \S+\/blobs\/sha256:\w+ \| curl .*--data-binary @- "\$UPLOAD_\d"/);
    const commands = script.split("\n").filter((l) => !l.startsWith("#"));
    expect(commands.filter((l) => l.includes("-X PUT")).at(-1)).toContain("/manifests/v1");
    // only sh and curl on PATH
    const bin = mkdtempSync(join(tmpdir(), "regctl-bin-"));
    for (const tool of ["sh", "curl"]) symlinkSync(Bun.which(tool)!, join(bin, tool));
    const r = await sh(script, { PATH: bin, REGCTL_USERNAME: USER, REGCTL_PASSWORD: PASSWORD });
    rmSync(bin, { recursive: true, force: true });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const said = r.stdout.trim().split("\n");
    expect(said.filter((l) => l.startsWith("started a blob upload")).length).toBe(4);
    expect(said.filter((l) => l.startsWith("uploaded blob")).length).toBe(4);
    expect(said.at(-1)).toBe(`pushed ${tls.host}/script/list:v1`);
    expect((await head(tls, "script/list", "manifests", "v1")).digest).toBe(seeds.list!.digest);
    await expectComplete(tls, "script/list", seeds.list!);
  });

  test("within a registry: the script mounts, and says so", async () => {
    const plan = await run(["copy", `${plain.host}/seed/oci:v1`, `${plain.host}/script/oci:v1`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    const r = await sh(plan.stderr);
    expect(r.code).toBe(0);
    expect(plan.stderr).toContain("# dry run: would write 1 manifest, 0 manifests already there; blobs: would upload 0, would mount 2, 0 already there");
    const said = r.stdout.trim().split("\n");
    // the blobs in either order, the manifest last
    expect(said.slice(0, -1).sort()).toEqual(
      [(seeds.oci as PushedImage).configDigest, ...(seeds.oci as PushedImage).layerDigests].map((d) => `mounted blob ${d} from seed/oci into ${plain.host}/script/oci`).sort(),
    );
    expect(said.at(-1)).toBe(`pushed ${plain.host}/script/oci:v1`);
    expect((await head(plain, "script/oci", "manifests", "v1")).digest).toBe(seeds.oci!.digest);
  });

  test("tag: the script PUTs the stored bytes under the new tag", async () => {
    const plan = await run(["tag", `${plain.host}/seed/oci:v1`, "scripted", "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    const r = await sh(plan.stderr);
    expect(r).toMatchObject({ code: 0, stdout: `pushed ${plain.host}/seed/oci:scripted\n`, stderr: "" });
    expect((await head(plain, "seed/oci", "manifests", "scripted")).digest).toBe(seeds.oci!.digest);
  });
});

describe("errors: one line, a hint, exit 1, nothing tagged", () => {
  test("a destination that grants pull but not push (token server): insufficient scope", async () => {
    const r = await run(["copy", `${plain.host}/seed/oci:v1`, `${tok.registry.host}/denied/oci:v1`], {
      env: { ...env(), REGCTL_USERNAME: READER, REGCTL_PASSWORD: READER_PASSWORD },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("401");
    expect(r.stderr).toMatch(new RegExp(`hint: these credentials may pull but not push to ${tok.registry.host} .*lacks the permission.*nothing was tagged at `));
    expect(r.stderr).not.toContain("run the same copy again");
    expect(r.stderr).not.toContain("    at ");
    expect(tok.requests.some((q) => q.query.includes("push"))).toBe(true);
  });

  test("a read-only destination (405): copy, copy --all-tags and tag say the registry takes no push, not to run it again", async () => {
    const options: { readOnly?: boolean } = {};
    const ro = await startRegistry(options);
    try {
      await pushImage(ro.url, "ro/app", ["v1"], { seed: "ro" });
      options.readOnly = true;
      await ro.restart();
      const readOnly = "hint: the registry is read-only, or does not accept pushes: nothing can be written there";
      const copy = await run(["copy", `${plain.host}/seed/oci:v1`, `${ro.host}/ro/oci:v1`]);
      expect(copy.code).toBe(1);
      expect(copy.stderr).toContain("405 Method Not Allowed");
      expect(copy.stderr).toContain(`${readOnly}; nothing was tagged at ${ro.host}/ro/oci`);
      const all = await run(["copy", `${plain.host}/seed/oci`, `${ro.host}/ro/oci`, "--all-tags", "--yes"]);
      expect(all.code).toBe(1);
      expect(all.stderr).toContain(readOnly);
      expect(all.stderr).not.toContain("run the same copy again");
      const tag = await run(["tag", `${ro.host}/ro/app:v1`, "v2"]);
      expect(tag.code).toBe(1);
      expect(tag.stderr).toContain("405 Method Not Allowed");
      expect(tag.stderr).toContain(readOnly);
    } finally {
      await ro.stop();
    }
  });

  test("a blob the source lost: BLOB_UNKNOWN, nothing tagged", async () => {
    const img = await pushImage(plain.url, "lost/app", ["v1"], { seed: "lost" });
    const del = await fetch(`${plain.url}/v2/lost/app/blobs/${img.layerDigests[0]}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    const r = await run(["copy", `${plain.host}/lost/app:v1`, `${tls.host}/lost/app:v1`, "--cacert", tls.caCertPath!], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("BLOB_UNKNOWN");
    expect(r.stderr).toMatch(/hint: .*nothing was tagged at /);
    expect((await head(tls, "lost/app", "manifests", "v1")).status).toBe(404);
  });
});

describe("a manifest the destination refuses", () => {
  test("an unknown media type: the registry's 400, a hint, exit 1, nothing tagged", async () => {
    // A source of the tests' own: the real registry stores no manifest of a type it does not know.
    const blob = new TextEncoder().encode("{}");
    const manifest = JSON.stringify({ schemaVersion: 2, config: { mediaType: "application/x-unknown", digest: sha256(blob), size: 2 }, layers: [] });
    const digest = sha256(manifest);
    const source = serve((req, url) => {
      const headers = { "Docker-Distribution-Api-Version": "registry/2.0" };
      if (url.pathname === "/v2/") return new Response("{}", { headers });
      if (url.pathname.includes("/manifests/"))
        return new Response(req.method === "HEAD" ? null : manifest, {
          headers: { ...headers, "Content-Type": "application/vnd.example.unknown+json", "Docker-Content-Digest": digest },
        });
      if (url.pathname.endsWith(`/blobs/${sha256(blob)}`)) return new Response(req.method === "HEAD" ? null : blob, { headers });
      return new Response(JSON.stringify({ errors: [{ code: "NOT_FOUND" }] }), { status: 404, headers });
    });
    try {
      const r = await run(["copy", `${source.host}/odd/app:v1`, `${plain.host}/odd/app:v1`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("400");
      expect(r.stderr).toMatch(/hint: the registry refused the manifest.*nothing was tagged at /);
      expect(r.stderr.trim().split("\n").length).toBe(2);
      expect((await head(plain, "odd/app", "manifests", "v1")).status).toBe(404);
    } finally {
      await source.stop();
    }
  });
});

describe("a source that answers other bytes than the digest asked for, with no Docker-Content-Digest", () => {
  test("the message names the digest read and the one asked for, not a digest the registry never said", async () => {
    // A source of the tests' own: the real registry always sends Docker-Content-Digest.
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256("{}"), size: 2 },
      layers: [],
    });
    const asked = sha256("other bytes");
    const source = serve((req, url) => {
      const headers = { "Docker-Distribution-Api-Version": "registry/2.0" };
      if (url.pathname === "/v2/") return new Response("{}", { headers });
      if (url.pathname.includes("/manifests/"))
        return new Response(req.method === "HEAD" ? null : manifest, { headers: { ...headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json" } });
      return new Response(JSON.stringify({ errors: [{ code: "NOT_FOUND" }] }), { status: 404, headers });
    });
    try {
      const r = await run(["copy", `${source.host}/odd/app@${asked}`, `${plain.host}/odd/bytes:v1`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the manifest read has digest ${sha256(manifest)}, not the ${asked} asked for`);
      expect(r.stderr).not.toContain("the registry says");
      expect((await head(plain, "odd/bytes", "manifests", "v1")).status).toBe(404);
    } finally {
      await source.stop();
    }
  });
});

describe("--referrers", () => {
  test("an image with a cosign signature and an OCI 1.1 SBOM (fallback tag): all of it, digests kept", async () => {
    const img = await pushImage(plain.url, "signed/app", ["v1"], { seed: "signed" });
    const sig = await pushCosignSignature(plain.url, "signed/app", img.digest);
    const sbom = await pushArtifact(
      plain.url,
      "signed/app",
      { digest: img.digest, mediaType: img.mediaType, size: img.size },
      { artifactType: "application/spdx+json", fallback: true },
    );
    const r = await run(["copy", `${plain.host}/signed/app:v1`, `${tls.host}/signed/app:v1`, "--referrers", "--cacert", tls.caCertPath!], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("and 3 referrers");
    expect((await head(tls, "signed/app", "manifests", "v1")).digest).toBe(img.digest);
    expect((await head(tls, "signed/app", "manifests", cosignTag(img.digest))).digest).toBe(sig.digest);
    expect((await head(tls, "signed/app", "manifests", referrersTag(img.digest))).digest).toBe(sbom.fallbackIndexDigest!);
    expect((await head(tls, "signed/app", "manifests", sbom.digest)).status).toBe(200);
  });
});

describe("--platform with signatures", () => {
  test("copy --all-tags --platform --referrers: the list's signature tag is copied as it is, once, not read as a list", async () => {
    const list = await pushIndex(
      plain.url,
      "signed/multi",
      ["v1"],
      [
        { platform: { os: "linux", architecture: "amd64" }, seed: "sm-amd64" },
        { platform: { os: "linux", architecture: "arm64" }, seed: "sm-arm64" },
      ],
    );
    const sig = await pushCosignSignature(plain.url, "signed/multi", list.digest);
    const r = await run(["copy", `${plain.host}/signed/multi`, `${plain.host}/signed/amd64`, "--all-tags", "--platform", "linux/amd64", "--referrers", "--yes", "--json"]);
    expect(r.code).toBe(0);
    expect((await head(plain, "signed/amd64", "manifests", "v1")).digest).toBe(list.children.find((c) => c.platform.architecture === "amd64")!.digest);
    expect((await head(plain, "signed/amd64", "manifests", cosignTag(list.digest))).digest).toBe(sig.digest);
    expect(r.stderr).not.toMatch(/not a list|has no linux\/amd64/);
  });
});

describe("big blobs: chunks, resumed", () => {
  test("a 150 MiB layer across registries: the same digest, and the peak RSS stays low (two chunks at a time)", async () => {
    const img = await pushImage(plain.url, "huge/app", ["v1"], { seed: "huge", layerSizes: [150 << 20] });
    const r = await exec(
      ["/usr/bin/time", "-f", "RSS %M", ...(await import("./cli.ts")).regctlCommand(), "copy", `${plain.host}/huge/app:v1`, `${tls.host}/huge/app:v1`, "--cacert", tls.caCertPath!],
      {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env() },
        timeoutMs: 120_000,
      },
    );
    expect(r.code).toBe(0);
    const kib = Number(/RSS (\d+)/.exec(r.stderr)?.[1]);
    console.log(`copy of a 150 MiB layer: peak RSS ${(kib / 1024).toFixed(1)} MiB`);
    expect(kib / 1024).toBeLessThan(120);
    expect((await head(tls, "huge/app", "manifests", "v1")).digest).toBe(img.digest);
    expect((await head(tls, "huge/app", "blobs", img.layerDigests[0]!)).status).toBe(200);
  }, 120_000);

  test("a 20 MiB layer across registries: chunked PATCHes; a connection dropped halfway resumes from the upload's Range", async () => {
    const img = await pushImage(plain.url, "big/app", ["v1"], { seed: "big", layerSizes: [20 << 20] });
    const other = await startRegistry({ deleteEnabled: true });
    const proxy = await startFaultProxy(other.url);
    try {
      // Drop the second PATCH before the registry sees it: the first chunk is there, the rest resumes.
      const done = (async () => {
        for (let i = 0; i < 600 && !proxy.log.some((l) => l.method === "PATCH"); i++) await Bun.sleep(5);
        proxy.setFaults({ dropRate: 1, dropKind: "before", onlyMethods: ["PATCH"], maxFaults: 1 });
      })();
      const r = await run(["copy", `${plain.host}/big/app:v1`, `${proxy.host}/big/app:v1`]);
      await done;
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("resuming the upload");
      expect((await head(other, "big/app", "manifests", "v1")).digest).toBe(img.digest);
      // three chunks (8 + 8 + 4 MiB), one of them sent twice; one upload session, not a new one
      expect(proxy.log.filter((l) => l.method === "PATCH").length).toBe(4);
      expect(proxy.log.filter((l) => l.method === "POST").length).toBe(2); // the layer's and the config's
      expect(proxy.stats.dropped).toBe(1);
    } finally {
      await proxy.stop();
      await other.stop();
    }
  }, 60_000);
});

/**
 * A TCP proxy to `target` that cuts the connection carrying the first GET of `path` without a
 * Range header once `after` bytes of its answer have passed (with `stall`, holds the rest back and
 * keeps the connection open); `seen` lists every request line, with " range" when it asked for a
 * byte range.
 */
async function startCuttingProxy(target: string, path: string, after: number, { stall = false } = {}) {
  const up = new URL(target);
  const seen: string[] = [];
  let cut = false;
  const server = createServer((client) => {
    const upstream = connect(Number(up.port), up.hostname);
    let answered = -1; // bytes of the answer to cut, counted once its request passed
    client.on("data", (d) => {
      const text = d.toString("latin1");
      const ranged = /\r\nrange:/i.test(text);
      for (const m of text.matchAll(/^([A-Z]+) (\S+) HTTP\/1\.1\r\n/gm)) seen.push(`${m[1]} ${m[2]}${ranged ? " range" : ""}`);
      if (!cut && text.startsWith(`GET ${path} `) && !ranged) {
        cut = true;
        answered = 0;
      }
      upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => {
      if (answered < 0) return client.write(d);
      if (answered > after) return; // stalled: held back
      answered += d.length;
      if (answered <= after) return client.write(d);
      client.write(d.subarray(0, d.length - (answered - after)));
      if (stall) return upstream.pause();
      client.destroy();
      upstream.destroy();
    });
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.on("close", () => b.destroy());
      a.on("error", () => b.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { host: `127.0.0.1:${port}`, seen, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("big blobs: one streamed read of the source", () => {
  test("a 20 MiB layer is read with one GET; a read cut halfway goes on with a ranged GET from the byte it reached", async () => {
    const img = await pushImage(plain.url, "cut/app", ["v1"], { seed: "cut", layerSizes: [20 << 20] });
    const layer = img.layerDigests[0]!;
    const proxy = await startCuttingProxy(plain.url, `/v2/cut/app/blobs/${layer}`, 5 << 20);
    try {
      const r = await run(["copy", `${proxy.host}/cut/app:v1`, `${tls.host}/cut/app:v1`, "--cacert", tls.caCertPath!], { env: env() });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`reading ${layer.slice(0, 19)}\\S* again from byte \\d+`));
      const reads = proxy.seen.filter((l) => l.startsWith(`GET /v2/cut/app/blobs/${layer}`));
      expect(reads).toEqual([`GET /v2/cut/app/blobs/${layer}`, `GET /v2/cut/app/blobs/${layer} range`]);
      expect((await head(tls, "cut/app", "manifests", "v1")).digest).toBe(img.digest);
      expect((await head(tls, "cut/app", "blobs", layer)).status).toBe(200);
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  test("a read that stalls halfway is given up after --timeout and goes on with a ranged GET", async () => {
    const img = await pushImage(plain.url, "stall/app", ["v1"], { seed: "stall", layerSizes: [12 << 20] });
    const layer = img.layerDigests[0]!;
    const proxy = await startCuttingProxy(plain.url, `/v2/stall/app/blobs/${layer}`, 5 << 20, { stall: true });
    try {
      const t0 = Date.now();
      const r = await run(["copy", `${proxy.host}/stall/app:v1`, `${tls.host}/stall/app:v1`, "--cacert", tls.caCertPath!, "--timeout", "2s"], { env: env() });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`timed out: reading ${layer.slice(0, 19)}\\S* again from byte \\d+`));
      expect(Date.now() - t0).toBeGreaterThan(2000);
      expect(proxy.seen.filter((l) => l.startsWith(`GET /v2/stall/app/blobs/${layer}`))).toEqual([`GET /v2/stall/app/blobs/${layer}`, `GET /v2/stall/app/blobs/${layer} range`]);
      expect((await head(tls, "stall/app", "manifests", "v1")).digest).toBe(img.digest);
    } finally {
      await proxy.stop();
    }
  }, 60_000);
});

/** A bounded wait: `cond` polled every 20 ms, failing the test after `ms`. */
async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  for (let t = 0; !cond(); t += 20) {
    if (t >= ms) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** `promise`, or a failure after `ms`. */
const within = <T>(what: string, promise: Promise<T>, ms = 20_000) => Promise.race([promise, Bun.sleep(ms).then(() => Promise.reject(new Error(`timed out waiting for ${what}`)))]);

/**
 * regctl ARGS with its first PATCH held at the proxy: the signal is sent while that chunk is in
 * flight, the chunk let through once regctl said it was interrupted; its exit code and outputs.
 */
async function interruptedAtFirstChunk(args: string[], proxy: FaultProxy, signal: "SIGINT" | "SIGTERM"): Promise<{ code: number; stdout: string; stderr: string }> {
  const held = proxy.hold("PATCH");
  const child = Bun.spawn([...regctlCommand(), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_CACHE_HOME: CACHE_HOME, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  let stderr = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const piece of child.stderr) stderr += decoder.decode(piece, { stream: true });
  })();
  const stdout = new Response(child.stdout).text();
  try {
    await within("the first PATCH", held.arrived);
    child.kill(signal);
    await waitFor("regctl to say it was interrupted", () => stderr.includes("interrupted: starting nothing new"));
    held.release();
    const code = await within("regctl to exit", child.exited);
    await reading;
    return { code, stdout: await stdout, stderr };
  } finally {
    held.release();
    child.kill("SIGKILL");
  }
}

describe("Ctrl-C and SIGTERM during a copy", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`${signal} while a 20 MiB layer uploads: its next chunk is not sent, no manifest PUT, no tag; exit 130 and a summary; a rerun finishes`, async () => {
      const repo = `intr/${signal.toLowerCase()}`;
      const img = await pushImage(plain.url, repo, ["huge"], { seed: repo, layerSizes: [20 << 20] });
      const other = await startRegistry();
      const proxy = await startFaultProxy(other.url);
      try {
        const args = ["copy", `${plain.host}/${repo}:huge`, `${proxy.host}/${repo}:huge`];
        const { code, stdout, stderr } = await interruptedAtFirstChunk(args, proxy, signal);
        expect(code).toBe(130);
        expect(stdout).toBe("");
        const writes = proxy.log.filter((l) => l.method === "PATCH" || l.method === "PUT");
        expect(writes.filter((l) => l.method === "PATCH").length).toBe(1);
        expect(writes.filter((l) => l.path.includes("/manifests/"))).toEqual([]);
        expect((await fetch(`${other.url}/v2/${repo}/manifests/huge`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } })).status).toBe(404);
        expect((await fetch(`${other.url}/v2/${repo}/blobs/${img.layerDigests[0]}`, { method: "HEAD" })).status).toBe(404);
        expect(stderr).toContain(`the upload of ${img.layerDigests[0]!.slice(0, 19)}… was left unfinished: it references nothing, and the registry purges it`);
        expect(stderr).toMatch(new RegExp(`regctl: interrupted: the copy stopped before the end: nothing was tagged at ${proxy.host}/${repo}; 0 manifests written`));
        expect(stderr).toContain(`hint: run the same copy again: it skips what is there already (regctl ${args.join(" ")})`);
        expect(stderr).not.toContain("copied");
        // The rerun finds the config there, uploads the layer and tags it.
        const again = await run(args);
        expect(again.code).toBe(0);
        expect(again.stderr).toContain("1 already there");
        expect((await fetch(`${other.url}/v2/${repo}/manifests/huge`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } })).headers.get("docker-content-digest")).toBe(img.digest);
      } finally {
        await proxy.stop();
        await other.stop();
      }
    }, 60_000);
  }
});

describe("Ctrl-C during copy --all-tags", () => {
  test("SIGINT while the first tag's layer uploads: no tag written, exit 130, every tag named as not copied", async () => {
    const repo = "intr/all";
    for (const tag of ["a", "b", "c"]) await pushImage(plain.url, repo, [tag], { seed: `${repo}-${tag}`, layerSizes: [20 << 20] });
    const other = await startRegistry();
    const proxy = await startFaultProxy(other.url);
    try {
      const args = ["copy", `${plain.host}/${repo}`, proxy.host, "--all-tags", "--yes", "--concurrency", "1"];
      const { code, stdout, stderr } = await interruptedAtFirstChunk(args, proxy, "SIGINT");
      expect(code).toBe(130);
      expect(stdout).toContain(`${proxy.host}/${repo}: copied 0 tags, 0 already there`);
      expect(proxy.log.filter((l) => l.method === "PUT" && l.path.includes("/manifests/"))).toEqual([]);
      expect(stderr).toContain("not copied (3): a, b, c");
      expect(stderr).toContain("regctl: interrupted: the copy stopped before the end: 0 copied, 3 not copied");
      expect(stderr).toContain("hint: run the same copy again: it skips what is there already");
    } finally {
      await proxy.stop();
      await other.stop();
    }
  }, 60_000);
});

describe("--all-tags", () => {
  test("every tag of a repository, with the plan printed; without a terminal or --yes it refuses", async () => {
    const tags = await pushManyTags(plain.url, "many/app", 30, { distinctImages: true });
    await pushIndex(plain.url, "many/app", ["multi"], [{ platform: { os: "linux", architecture: "amd64" }, seed: "m1" }], { format: "oci" });
    const refused = await run(["copy", `${plain.host}/many/app`, `${tls.host}/many/app`, "--all-tags", "--cacert", tls.caCertPath!], { env: env() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--yes");
    const r = await run(["copy", `${plain.host}/many/app`, `${tls.host}`, "--all-tags", "--yes", "--cacert", tls.caCertPath!], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("plan: copy 31 tags of");
    expect(r.stdout).toContain(`${tls.host}/many/app: copied 31 tags, 0 already there`);
    for (const t of tags) expect((await head(tls, "many/app", "manifests", t.tag)).digest).toBe(t.digest);
    expect((await head(tls, "many/app", "manifests", "multi")).status).toBe(200);
  }, 60_000);

  test("the plan is a table of every tag: copy, there already, or moves from the digest the destination tag is on", async () => {
    const tags = await pushManyTags(plain.url, "plan/app", 9, { distinctImages: true });
    // At the destination: two tags there already, one on another image.
    for (const t of tags.slice(0, 2)) expect((await run(["copy", `${plain.host}/plan/app:${t.tag}`, `${plain.host}/plan/copy:${t.tag}`])).code).toBe(0);
    const other = await pushImage(plain.url, "plan/copy", [tags[2]!.tag], { seed: "plan-other" });
    const r = await run(["copy", `${plain.host}/plan/app`, `${plain.host}/plan/copy`, "--all-tags", "--dry-run"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^TAG +DIGEST +ACTION$/);
    const action = (tag: string) => lines.find((l) => l.startsWith(`${tag} `))?.replace(/^\S+ +\S+ +/, "");
    for (const t of tags.slice(0, 2)) expect(action(t.tag)).toBe("there already");
    expect(action(tags[2]!.tag)).toBe(`moves from ${other.digest.slice(0, 19)}…`);
    for (const t of tags.slice(3)) expect(action(t.tag)).toBe("copy");
    expect(r.stdout).not.toContain("more");
    expect(r.stdout).toContain(`plan: copy 9 tags of ${plain.host}/plan/app to ${plain.host}/plan/copy: 7 to copy (1 moving from another image), 2 there already`);
    expect((await head(plain, "plan/copy", "manifests", tags[2]!.tag)).digest).toBe(other.digest);
    const done = await run(["copy", `${plain.host}/plan/app`, `${plain.host}/plan/copy`, "--all-tags", "--yes"]);
    expect(done.code).toBe(0);
    expect(done.stderr).toContain(`moved from another image (1; those images keep their other tags, if any): ${tags[2]!.tag} from ${other.digest.slice(0, 19)}…`);
    expect((await head(plain, "plan/copy", "manifests", tags[2]!.tag)).digest).toBe(tags[2]!.digest);
  }, 60_000);
});

describe("the progress bar, in bytes", () => {
  test("drawn on a terminal and cleared at the end; absent with --curl on the same terminal, and down a pipe", async () => {
    const dir = mkdtempSync(join(tempRoot(), "regctl-tty-"));
    startTmux(dir);
    const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    /** regctl copy on a terminal of its own: the screen at the end, and every byte the terminal received. */
    const onTerminal = async (dst: string, ...extra: (string | { columns: number; rows: number })[]) => {
      const size = extra.find((m) => typeof m !== "string");
      const more = extra.filter((m): m is string => typeof m === "string");
      const raw = join(dir, `${dst.replace("/", "-")}.log`);
      const copy = [...regctlCommand(), "copy", `${plain.host}/seed/schema2:v1`, `${tls.host}/${dst}:v1`, "--cacert", tls.caCertPath!, ...more].map(shq).join(" ");
      // A second to start logging what the terminal receives before regctl writes to it.
      const pane = new Pane("", ["sh", "-c", `sleep 1; ${copy}; echo "exit=$?"; exec sleep 600`], { ...env(), XDG_CACHE_HOME: join(dir, "cache") }, size);
      tmux("pipe-pane", "-t", pane.id, `cat > ${shq(raw)}`);
      const received = () => (existsSync(raw) ? readFileSync(raw, "latin1") : "");
      await pane.until("the copy to end", () => /exit=\d+/.test(received()), 30_000);
      await pane.until("the screen to show it", () => /exit=\d+/.test(pane.text(true)));
      return { screen: pane.text(true), received: received() };
    };
    const tty = await onTerminal("bar/a");
    expect(tty.received).toContain("exit=0");
    expect(tty.received).toMatch(/\r\x1b\[Kcopying \[[^\]]*\] [\d.]+ \S+ of [\d.]+ \S+/);
    // cleared at the end: nothing of the bar stays on the screen
    expect(tty.screen).not.toContain("copying [");
    expect(tty.screen).toContain(`copied ${plain.host}/seed/schema2:v1 to ${tls.host}/bar/a:v1`);
    // Each redraw fits a 50-column terminal: no line of it reaches the last column, so none wraps.
    const narrow = await onTerminal("bar/n", { columns: 50, rows: 20 });
    expect(narrow.received).toContain("exit=0");
    const draws = [...narrow.received.matchAll(/\r\x1b\[K(copying [^\r\n]*)/g)].map((m) => m[1]!);
    expect(draws.length).toBeGreaterThan(0);
    for (const d of draws) expect(Buffer.from(d, "latin1").toString("utf8").length).toBeLessThan(50);
    expect(draws.some((d) => /^copying \[[^\]]+\] [\d.]+ \S+ of [\d.]+ \S+$/.test(d))).toBe(true);
    const curl = await onTerminal("bar/b", "--curl");
    expect(curl.received).toContain("exit=0");
    expect(curl.received).toContain("#!/bin/sh");
    expect(curl.received).not.toContain("copying [");
    expect((await head(tls, "bar/b", "manifests", "v1")).digest).toBe(seeds.schema2!.digest);
    const piped = await run(["copy", `${plain.host}/seed/schema2:v1`, `${tls.host}/bar/c:v1`, "--cacert", tls.caCertPath!], { env: env() });
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain("copying");
    expect(piped.stderr).not.toContain("\r");
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});

describe("--help of every command", () => {
  test("every example fits one line of 80 columns, as written (a wrapped command cannot be pasted)", async () => {
    const commands = (await run(["--help"])).stdout.split("\n").flatMap((l) => /^ {2}([a-z]+)\b/.exec(l)?.[1] ?? []);
    expect(commands).toContain("delete");
    for (const command of commands) {
      const lines = (await run([command, "--help"])).stdout.split("\n");
      const at = lines.indexOf("Examples:");
      if (at < 0) continue;
      for (const l of lines.slice(at + 1, lines.indexOf("", at))) expect({ command, l, fits: l.startsWith("  $ ") && l.length <= 80 }).toEqual({ command, l, fits: true });
    }
  });
});

describe("copy --help", () => {
  test("every example on one line of 80 columns, the script's one with its 2>copy.sh", async () => {
    const r = await run(["copy", "--help"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    const examples = lines.slice(lines.indexOf("Examples:") + 1, lines.indexOf("", lines.indexOf("Examples:")));
    expect(examples.length).toBe(3);
    for (const l of examples) {
      expect(l).toStartWith("  $ regctl copy ");
      expect(l.length).toBeLessThanOrEqual(80);
    }
    expect(examples.at(-1)).toEndWith("--dry-run --curl 2>copy.sh");
  });
});

describe("fitProgress: the byte progress line within the terminal's width", () => {
  const MiB = 1 << 20;
  for (const [columns, expected] of [
    [200, `copying [${"█".repeat(15)}${"·".repeat(15)}] 50.0 MiB of 100.0 MiB`],
    [50, `copying [${"█".repeat(9)}${"·".repeat(8)}] 50.0 MiB of 100.0 MiB`],
    [36, "copying 50.0 MiB of 100.0 MiB"],
    [20, "50.0 MiB of 100.0 M"],
  ] as const)
    test(`${columns} columns → ${expected}`, () => {
      expect(fitProgress("copying", 50 * MiB, 100 * MiB, columns)).toBe(expected);
    });
});

describe("--all-tags --dry-run --curl", () => {
  test("the script, run by sh with only sh and curl on PATH, copies every tag: the same digests", async () => {
    const tags = await pushManyTags(plain.url, "scripted/many", 4, { distinctImages: true });
    const plan = await run(["copy", `${plain.host}/scripted/many`, tls.host, "--all-tags", "--dry-run", "--curl", "--cacert", tls.caCertPath!], { env: env() });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(`${tls.host}/scripted/many: dry run: would copy 4 tags`);
    for (const t of tags) expect((await head(tls, "scripted/many", "manifests", t.tag)).status).toBe(404);
    const bin = mkdtempSync(join(tmpdir(), "regctl-bin-"));
    for (const tool of ["sh", "curl"]) symlinkSync(Bun.which(tool)!, join(bin, tool));
    const r = await sh(plan.stderr, { PATH: bin, REGCTL_USERNAME: USER, REGCTL_PASSWORD: PASSWORD });
    rmSync(bin, { recursive: true, force: true });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const pushed = r.stdout.split("\n").filter((l) => l.startsWith("pushed "));
    expect(pushed.sort()).toEqual(tags.map((t) => `pushed ${tls.host}/scripted/many:${t.tag}`).sort());
    for (const t of tags) expect((await head(tls, "scripted/many", "manifests", t.tag)).digest).toBe(t.digest);
  }, 60_000);
});

describe("a mount on a registry with token auth", () => {
  test("one token for both repositories' scopes; the registry sees mounts, no upload", async () => {
    const auth = await startTokenRegistry({ users: { [USER]: PASSWORD } });
    const proxy = await startFaultProxy(auth.registry.url);
    try {
      const seeded = await run(["copy", `${plain.host}/seed/oci:v1`, `${proxy.host}/from/oci:v1`], { env: env() });
      expect(seeded.code).toBe(0);
      const [logged, tokens] = [proxy.log.length, auth.requests.length];
      const r = await run(["copy", `${proxy.host}/from/oci:v1`, `${proxy.host}/to/oci:v1`], { env: env() });
      expect(r.stderr).toContain("blobs: 0 uploaded (0 B), 2 mounted, 0 already there");
      expect(r.code).toBe(0);
      const seen = proxy.log.slice(logged);
      const posts = seen.filter((l) => l.method === "POST");
      const img = seeds.oci as PushedImage;
      expect(posts.map((l) => new URL(l.path, "http://x").searchParams.get("mount")).sort()).toEqual([img.configDigest, ...img.layerDigests].sort());
      for (const p of posts) expect(new URL(p.path, "http://x").searchParams.get("from")).toBe("from/oci");
      expect(seen.filter((l) => l.method === "PATCH" || (l.method === "PUT" && l.path.includes("/blobs/")))).toEqual([]);
      expect(seen.filter((l) => l.method === "PUT").map((l) => l.path)).toEqual(["/v2/to/oci/manifests/v1"]);
      const scopes = auth.requests.slice(tokens).map((t) => new URLSearchParams(t.method === "POST" ? t.body : t.query).getAll("scope").join(" ").split(" "));
      expect(scopes.some((s) => s.includes("repository:to/oci:pull,push") && s.includes("repository:from/oci:pull"))).toBe(true);
      const res = await fetch(`${auth.registry.url}/v2/to/oci/blobs/${img.layerDigests[0]}`, { method: "HEAD" });
      expect(res.status).toBe(401); // the registry wants a token: the mount went through one
      expect((await run(["digest", `${proxy.host}/to/oci:v1`], { env: env() })).stdout.trim()).toBe(img.digest);
    } finally {
      await proxy.stop();
      await auth.stop();
    }
  }, 60_000);
});

describe("--curl between two registries that both need a login", () => {
  test("the script takes each registry's credentials from variables of its own, and says which are missing for which host", async () => {
    const user2 = "other";
    const password2 = secret("other-Secret-9");
    const second = await startRegistry({ htpasswd: { user: user2, password: password2 } });
    const config = mkdtempSync(join(tmpdir(), "regctl-config-"));
    const basic = (u: string, p: string) => Buffer.from(`${u}:${p}`).toString("base64");
    writeFileSync(join(config, "config.json"), JSON.stringify({ auths: { [tls.host]: { auth: basic(USER, PASSWORD) }, [second.host]: { auth: basic(user2, password2) } } }));
    try {
      const seeded = await run(["copy", `${plain.host}/seed/oci:v1`, `${tls.host}/twologins/oci:v1`, "--cacert", tls.caCertPath!], { env: env() });
      expect(seeded.code).toBe(0);
      // no REGCTL_USERNAME: each registry's credentials come from config.json
      const plan = await run(["copy", `${tls.host}/twologins/oci:v1`, `${second.host}/twologins/oci:v1`, "--cacert", tls.caCertPath!, "--dry-run", "--curl"], {
        env: { HOME: home, DOCKER_CONFIG: config },
      });
      expect(plan.code).toBe(0);
      const suffix = second.host.replace(/[^A-Za-z0-9]/g, "_");
      const [u2, p2] = [`REGCTL_USERNAME_${suffix}`, `REGCTL_PASSWORD_${suffix}`];
      const script = plan.stderr;
      expect(script).toContain(`: "\${REGCTL_USERNAME:?set REGCTL_USERNAME and REGCTL_PASSWORD to the credentials for ${tls.host}}"`);
      expect(script).toContain(`: "\${${u2}:?set ${u2} and ${p2} to the credentials for ${second.host}}"`);
      // a blob piped from one registry into the other: each curl with its own registry's credentials
      expect(script).toMatch(new RegExp(`-u "\\$REGCTL_USERNAME:\\$REGCTL_PASSWORD" .*\\| curl .*-u "\\$${u2}:\\$${p2}"`));
      const bin = mkdtempSync(join(tmpdir(), "regctl-bin-"));
      for (const tool of ["sh", "curl"]) symlinkSync(Bun.which(tool)!, join(bin, tool));
      const first = { PATH: bin, REGCTL_USERNAME: USER, REGCTL_PASSWORD: PASSWORD };
      const missing = await sh(script, first);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain(`${u2}: set ${u2} and ${p2} to the credentials for ${second.host}`);
      const r = await sh(script, { ...first, [u2]: user2, [p2]: password2 });
      rmSync(bin, { recursive: true, force: true });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split("\n").at(-1)).toBe(`pushed ${second.host}/twologins/oci:v1`);
      const res = await fetch(`${second.url}/v2/twologins/oci/manifests/v1`, {
        method: "HEAD",
        headers: { Accept: ACCEPT_ALL, Authorization: `Basic ${basic(user2, password2)}` },
      });
      expect(res.headers.get("docker-content-digest")).toBe(seeds.oci!.digest);
    } finally {
      rmSync(config, { recursive: true, force: true });
      await second.stop();
    }
  }, 60_000);
});
