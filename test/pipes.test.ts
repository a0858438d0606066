// A closed output ends regctl quietly. Each command runs piped into `head -c1` (stdout; or its
// --curl transcript: `2>&1 >/dev/null | head -c1`) twenty times, since when the reader leaves is
// a race: regctl's own status (${PIPESTATUS[0]}) is 0 when everything had been written, else 141
// (128 + SIGPIPE, as coreutils), and it says nothing about it, never a stack trace. An output
// bigger than a pipe buffer cannot all be written, so there 141 must come. A prune whose output
// closes while it deletes finishes the steps in flight, starts no new one, and leaves no tag on a
// throwaway manifest.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ACCEPT_ALL, CACHE_HOME, regctlCommand, registryTags, run } from "./cli.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { exec, sha256 } from "./fixtures.ts";
import { MediaTypes, pool, pushImage, pushManyTags } from "./seed.ts";

/** Runs of each command: the reader leaves at a different moment each time. */
const RUNS = 20;
/** Runs at once: enough to keep two cores busy. */
const AT_ONCE = 6;
/** Linux's default pipe buffer: a bigger output cannot all be written before `head -c1` leaves. */
const PIPE_BUFFER = 64 << 10;
/** Tags are at most 128 characters: long names make big outputs of few requests. */
const LONG = `release-${"x".repeat(110)}-`;

let reg: Registry; // a few small repositories, so that du REGISTRY reads little
let big: Registry; // long tag lists, and the prunes that are cut short
let wide: string; // digest of an index of 600 platforms: a big manifest and inspect
let pruned: { stdout: string; stderr: string }; // the one digest of each repository pruned below
let tmp: string;

const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", XDG_CACHE_HOME: CACHE_HOME, NO_COLOR: "1" };

/** An index of `count` entries, all the one image pushed by digest, each under its own platform variant. */
async function pushWideIndex(base: string, repo: string, tag: string, count: number): Promise<string> {
  const child = await pushImage(base, repo, [], { seed: "wide" });
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.docker.index,
    manifests: Array.from({ length: count }, (_, i) => ({
      mediaType: child.mediaType,
      digest: child.digest,
      size: child.size,
      platform: { os: "linux", architecture: "amd64", variant: `v${i}` },
    })),
  });
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: "PUT", headers: { "Content-Type": MediaTypes.docker.index }, body });
  if (res.status !== 201) throw new Error(`PUT index: ${res.status} ${await res.text()}`);
  return sha256(body);
}

beforeAll(async () => {
  [reg, big] = await Promise.all([startRegistry({ deleteEnabled: true }), startRegistry({ deleteEnabled: true })]);
  tmp = mkdtempSync(join(tmpdir(), "regctl-pipes-"));
  const [index, stdout, stderr] = await Promise.all([
    pushWideIndex(reg.url, "wide", "1", 600),
    pushManyTags(big.url, "prune/stdout", 320, { prefix: LONG }),
    pushManyTags(big.url, "prune/stderr", 120, { prefix: LONG }),
    pushManyTags(reg.url, "app", 8, { prefix: LONG }),
    pushManyTags(big.url, "shared", 36, { prefix: LONG }),
    pushManyTags(big.url, "many", 600, { prefix: LONG }),
  ]);
  wide = index;
  pruned = { stdout: stdout[0]!.digest, stderr: stderr[0]!.digest };
}, 60_000);

afterAll(async () => {
  await Promise.all([reg?.stop(), big?.stop()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * Run regctl in bash, with `pipe` after it (stdout, or stderr alone, into a reader that may leave
 * early); regctl's own status, and its stderr when that is not piped.
 */
async function piped(args: string[], pipe: string, extraEnv: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  const r = await exec(["bash", "-c", `"$@" ${pipe}; echo "\${PIPESTATUS[0]}"`, "bash", ...regctlCommand(), ...args], {
    env: { ...env, ...extraEnv },
    timeoutMs: 30_000,
  });
  return { code: Number(r.stdout.trim()), stderr: r.stderr };
}

const HEAD = { stdout: "| head -c1 >/dev/null", stderr: "2>&1 >/dev/null | head -c1 >/dev/null" } as const;

/** A stack trace, or a message of the runtime's own. */
function expectNoTrace(stderr: string): void {
  for (const mark of ["EPIPE", "error:", "    at ", "Bun v"]) expect(stderr).not.toContain(mark);
}

interface Case {
  name: string;
  args: () => string[];
  /** which output `head -c1` reads */
  stream: keyof typeof HEAD;
  /** the whole output is bigger than a pipe buffer, so some runs must end with 141 */
  big?: boolean;
}

const cases: Case[] = [
  { name: "ping", stream: "stdout", args: () => ["ping", reg.host] },
  { name: "repos", stream: "stdout", args: () => ["repos", reg.host] },
  { name: "tags", stream: "stdout", big: true, args: () => ["tags", `${big.host}/many`] },
  { name: "tags --json", stream: "stdout", big: true, args: () => ["tags", `${big.host}/many`, "--json"] },
  { name: "tags --digests", stream: "stdout", args: () => ["tags", `${reg.host}/app`, "--digests"] },
  { name: "digest", stream: "stdout", args: () => ["digest", `${reg.host}/wide:1`] },
  { name: "manifest", stream: "stdout", big: true, args: () => ["manifest", `${reg.host}/wide:1`] },
  { name: "manifest --raw", stream: "stdout", big: true, args: () => ["manifest", `${reg.host}/wide@${wide}`, "--raw"] },
  { name: "inspect", stream: "stdout", big: true, args: () => ["inspect", `${reg.host}/wide:1`] },
  { name: "inspect --json", stream: "stdout", big: true, args: () => ["inspect", `${reg.host}/wide:1`, "--json"] },
  { name: "delete --dry-run --json", stream: "stdout", args: () => ["delete", `${reg.host}/app:${LONG}0`, "--dry-run", "--json"] },
  { name: "untag --dry-run", stream: "stdout", args: () => ["untag", `${reg.host}/app:${LONG}0`, "--dry-run"] },
  { name: "prune --dry-run", stream: "stdout", args: () => ["prune", `${reg.host}/app`, "--keep", "1", "--dry-run"] },
  { name: "prune --dry-run --json", stream: "stdout", args: () => ["prune", `${reg.host}/app`, "--keep", "1", "--dry-run", "--json"] },
  { name: "du REGISTRY", stream: "stdout", args: () => ["du", reg.host] },
  { name: "du REPO", stream: "stdout", big: true, args: () => ["du", `${big.host}/shared`] },
  { name: "completion bash", stream: "stdout", args: () => ["completion", "bash"] },
  { name: "--help", stream: "stdout", args: () => ["--help"] },
  { name: "--version", stream: "stdout", args: () => ["--version"] },
  { name: "version --json", stream: "stdout", args: () => ["version", "--json"] },
  { name: "tags --digests --curl", stream: "stderr", args: () => ["tags", `${reg.host}/app`, "--digests", "--curl"] },
  { name: "prune --dry-run --curl", stream: "stderr", big: true, args: () => ["prune", `${big.host}/shared`, "--keep", "1", "--dry-run", "--curl"] },
];

describe("regctl … | head -c1: a closed output ends the run quietly, with 0 or 141", () => {
  for (const c of cases)
    test(`${c.name}${c.stream === "stderr" ? " (stderr)" : ""}`, async () => {
      const whole = await run(c.args());
      expect(whole.code).toBe(0);
      const size = (c.stream === "stdout" ? whole.stdout : whole.stderr).length;
      if (c.big) expect(size).toBeGreaterThan(PIPE_BUFFER);
      const runs = await pool(Array.from({ length: RUNS }), AT_ONCE, () => piped(c.args(), HEAD[c.stream]));
      for (const r of runs) {
        expect([0, 141]).toContain(r.code);
        expectNoTrace(r.stderr);
        // Nothing but what a whole run says on stderr, if anything, cut where the run ended.
        if (c.stream === "stdout") expect(whole.stderr.slice(0, r.stderr.length)).toBe(r.stderr);
      }
      if (c.big) expect(runs.some((r) => r.code === 141)).toBe(true);
    });
});

test("a TAB's answer into a pipe already closed: 141, nothing on stderr", async () => {
  // `true` has exited long before regctl starts writing: the write meets EPIPE.
  const line = "regctl ";
  const runs = await pool(Array.from({ length: 5 }), AT_ONCE, () => piped(["__complete", "bash"], "| true", { COMP_LINE: line, COMP_POINT: String(line.length) }));
  for (const r of runs) {
    expect([0, 141]).toContain(r.code);
    expect(r.stderr).toBe("");
  }
  expect(runs.some((r) => r.code === 141)).toBe(true);
});

test("--help, --version and help COMMAND on /dev/full: one line, exit 1, not a silent 0", async () => {
  for (const args of [["--help"], ["--version"], ["version", "--json"], ["help", "copy"]]) {
    const r = await piped(args, ">/dev/full");
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 1, stderr: "regctl: cannot write the output: ENOSPC: no space left on device, write\n" });
  }
});

test("any other write error (stdout on /dev/full) ends the run with one line and 1, no trace", async () => {
  const r = await piped(["tags", `${big.host}/many`], ">/dev/full");
  expect(r.code).toBe(1);
  expect(r.stderr).toStartWith("regctl: cannot write the output: ENOSPC");
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).not.toContain("    at ");
});

/** Manifest revisions the registry stores for a repository, read from its storage (see cleanup.test.ts). */
function revisions(r: Registry, repo: string): string[] {
  const dir = join(r.dir, "storage", "docker", "registry", "v2", "repositories", repo, "_manifests", "revisions", "sha256");
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((h) => existsSync(join(dir, h, "link")))
        .map((h) => `sha256:${h}`)
        .sort()
    : [];
}

/** Where each tag points, straight from the registry. */
async function tagTargets(r: Registry, repo: string): Promise<Map<string, string | null>> {
  const targets = new Map<string, string | null>();
  await pool(await registryTags(r.url, repo), 8, async (tag) => {
    const res = await fetch(`${r.url}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } });
    targets.set(tag, res.headers.get("docker-content-digest"));
  });
  return targets;
}

/**
 * What a prune cut short may leave: fewer tags, each on the original digest, and no other
 * manifest. Untagging puts a throwaway manifest on the tag, then deletes it: stopped between the
 * two steps, the tag would be left on the throwaway (or gone from under a listed tag).
 */
async function expectNoHalfDoneChange(r: Registry, repo: string, digest: string, count: number): Promise<void> {
  const targets = await tagTargets(r, repo);
  expect(new Set(targets.values())).toEqual(new Set([digest]));
  expect(revisions(r, repo)).toEqual([digest]);
  // Cut short: the step in flight finished (a tag fewer), and not every step was started.
  expect(targets.size).toBeLessThan(count);
  expect(targets.size).toBeGreaterThan(1);
}

describe("an output closed while prune deletes: what is in flight finishes, nothing new starts, 141", () => {
  test("stdout: the plan (over a pipe buffer) is still being written when the reader leaves", async () => {
    const transcript = join(tmp, "stdout.sh");
    // The reader reads nothing, and leaves once the transcript shows a tag moving onto a
    // throwaway. Were the plan all written by then, the prune would run to its end unstopped.
    const r = await piped(
      ["prune", `${big.host}/prune/stdout`, "--keep", "1", "--yes", "--curl"],
      `2>"$TRANSCRIPT" | for _ in $(seq 2000); do grep -q 'onto a throwaway' "$TRANSCRIPT" && break; sleep 0.01; done`,
      { TRANSCRIPT: transcript },
    );
    expect(r.code).toBe(141);
    expectNoTrace(readFileSync(transcript, "utf8"));
    await expectNoHalfDoneChange(big, "prune/stdout", pruned.stdout, 320);
  }, 60_000);

  test("stderr: the --curl transcript's reader leaves at the first throwaway", async () => {
    const r = await piped(["prune", `${big.host}/prune/stderr`, "--keep", "1", "--yes", "--curl"], `2>&1 >/dev/null | grep -q -m1 'onto a throwaway'`);
    expect(r.code).toBe(141);
    await expectNoHalfDoneChange(big, "prune/stderr", pruned.stderr, 120);
  }, 60_000);
});
