// regctl.ts alone: copied into an empty folder with an empty HOME, it runs under bun and deno
// with nothing beside it (no package.json, lock file or node_modules), and deno runs it from a
// URL. The pinned versions and the version constant agree with package.json.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NPM_PACKAGES, VERSION } from "../regctl.ts";
import { ROOT } from "./cli.ts";
import { exec, serve } from "./fixtures.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { pushImage, type PushedImage } from "./seed.ts";

const BUN = join(ROOT, "node_modules", ".bin", "bun");
const DENO = join(ROOT, "node_modules", ".bin", "deno");
let reg: Registry;
let img: PushedImage;
let dir: string;
// An empty HOME (no caches, no config); the rest of the environment stays, as the machine's CA
// settings may be needed to reach the npm registry.
const env = () => ({ ...(process.env as Record<string, string>), HOME: join(dir, "home"), XDG_CACHE_HOME: join(dir, "home", ".cache"), NO_COLOR: "1" });

beforeAll(async () => {
  reg = await startRegistry();
  img = await pushImage(reg.url, "alone/app", ["v1", "v2"], { seed: "alone" });
  dir = mkdtempSync(join(tmpdir(), "regctl-alone-"));
  mkdirSync(join(dir, "home"));
  copyFileSync(join(ROOT, "regctl.ts"), join(dir, "regctl.ts"));
}, 30_000);
afterAll(async () => {
  await reg?.stop();
});

describe("the file alone", () => {
  test("nothing but regctl.ts in the folder", () => {
    expect(readdirSync(dir).sort()).toEqual(["home", "regctl.ts"]);
  });

  test("bun regctl.ts tags and digest", async () => {
    const tags = await exec([BUN, "regctl.ts", "tags", `${reg.host}/alone/app`], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect({ code: tags.code, stdout: tags.stdout, stderr: tags.stderr.replace(/^.*(Resolving|Resolved|Saved|Downloaded).*\n/gm, "") }).toEqual({
      code: 0,
      stdout: "v1\nv2\n",
      stderr: "",
    });
    const digest = await exec([BUN, "regctl.ts", "digest", `${reg.host}/alone/app:v1`], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect({ code: digest.code, stdout: digest.stdout }).toEqual({ code: 0, stdout: `${img.digest}\n` });
    expect(readdirSync(dir).sort()).toEqual(["home", "regctl.ts"]); // bun installed nothing beside it
  }, 180_000);

  test("deno run -A regctl.ts tags, digest and --help", async () => {
    const tags = await exec([DENO, "run", "-A", "regctl.ts", "tags", `${reg.host}/alone/app`], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect({ code: tags.code, stdout: tags.stdout }).toEqual({ code: 0, stdout: "v1\nv2\n" });
    const digest = await exec([DENO, "run", "-A", "regctl.ts", "digest", `${reg.host}/alone/app:v1`], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect({ code: digest.code, stdout: digest.stdout }).toEqual({ code: 0, stdout: `${img.digest}\n` });
    // With a cache of its own, deno finds by itself that this loopback port speaks plain http (its
    // TLS error is worded apart from bun's: "received corrupt message of type InvalidContentType").
    const fresh = { ...env(), XDG_CACHE_HOME: mkdtempSync(join(tmpdir(), "regctl-deno-cache-")) };
    const probed = await exec([DENO, "run", "-A", "regctl.ts", "tags", `${reg.host}/alone/app`], { cwd: dir, env: fresh, timeoutMs: 120_000 });
    expect({ code: probed.code, stdout: probed.stdout, stderr: probed.stderr.replace(/^.*Download.*\n/gm, "") }).toEqual({ code: 0, stdout: "v1\nv2\n", stderr: "" });
    const help = await exec([DENO, "run", "-A", "regctl.ts", "help", "tags"], { cwd: dir, env: env(), timeoutMs: 120_000 });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("regctl tags <repo>");
  }, 240_000);

  test("deno run -A http://…/regctl.ts tags: the file served, nothing on disk", async () => {
    const source = readFileSync(join(ROOT, "regctl.ts"));
    const web = serve((_req, url) =>
      url.pathname === "/regctl.ts" ? new Response(source, { headers: { "Content-Type": "application/typescript" } }) : new Response("", { status: 404 }),
    );
    try {
      const empty = mkdtempSync(join(tmpdir(), "regctl-url-"));
      const r = await exec([DENO, "run", "-A", `http://${web.host}/regctl.ts`, "tags", `${reg.host}/alone/app`], { cwd: empty, env: env(), timeoutMs: 120_000 });
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: "v1\nv2\n" });
    } finally {
      web.stop();
    }
  }, 180_000);

  test("--version is the same from the file (bun, deno), the checkout and the binary", async () => {
    const want = new RegExp(`^regctl ${VERSION.replaceAll(".", "\\.")} \\(`);
    const runs = await Promise.all([
      exec([BUN, "regctl.ts", "--version"], { cwd: dir, env: env(), timeoutMs: 120_000 }),
      exec([DENO, "run", "-A", "regctl.ts", "--version"], { cwd: dir, env: env(), timeoutMs: 120_000 }),
      exec([BUN, join(ROOT, "regctl.ts"), "--version"], { cwd: ROOT, env: env() }),
      exec([join(ROOT, "dist", "regctl"), "--version"], { cwd: dir, env: env() }),
    ]);
    for (const r of runs) expect(r.stdout).toMatch(want);
  }, 180_000);
});

describe("a build for every server", () => {
  test("make builds the baseline target (x64 CPUs without AVX2) with its sum; --version names it", async () => {
    const file = `regctl-${VERSION}-linux-x64-baseline`;
    const built = await exec(["make", `dist/release/${file}`], { cwd: ROOT, env: process.env as Record<string, string>, timeoutMs: 170_000 });
    expect(built.code).toBe(0);
    const sum = await exec(["sha256sum", "-c", `${file}.sha256`], { cwd: join(ROOT, "dist", "release") });
    expect(sum.stdout).toBe(`${file}: OK\n`);
    const version = await exec([join(ROOT, "dist", "release", file), "--version"], { cwd: dir, env: env() });
    expect(version.stdout).toMatch(new RegExp(`^regctl ${VERSION.replaceAll(".", "\\.")} \\(bun [\\d.]+, linux-x64-baseline\\)$`, "m"));
  }, 180_000);
});

describe("one version, one pin", () => {
  test("VERSION is package.json's; the pinned cac and ofetch are the ones the checkout installs", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string> };
    expect(VERSION).toBe(pkg.version);
    for (const [name, version] of Object.entries(NPM_PACKAGES)) {
      const installed = JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string };
      expect({ name, pinned: version, installed: installed.version }).toEqual({ name, pinned: version, installed: version });
      expect(pkg.dependencies[name]).toBe(version);
    }
  });
});
