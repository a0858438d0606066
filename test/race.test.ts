// A push that races a delete or a prune loses nothing. The plan is read again right before the
// first write: a tag pushed meanwhile onto a digest to delete (or a tag to untag that moved, or a
// new list holding a digest to delete) stops it, exit 1, nothing changed. Against the REAL
// registry: at a real prompt (tmux), with --yes (the fault proxy holds the first DELETE while the
// test pushes), and in the --dry-run --curl script run by sh.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ACCEPT_ALL, CACHE_HOME, manifestStatus, regctlCommand, registryTags, run, sh } from "./cli.ts";
import { startFaultProxy, type FaultProxy } from "./faultproxy.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { pushImage, pushIndex, type PushedImage } from "./seed.ts";
import { Pane, startTmux, stopTmux } from "./terminal.ts";

let reg: Registry;
let proxy: FaultProxy;
let tmp = "";

const ZERO = `sha256:${"0".repeat(64)}`;
const CHANGED = "the repository changed since the plan";

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "regctl-race-"));
  startTmux(tmp);
  reg = await startRegistry({ deleteEnabled: true });
  proxy = await startFaultProxy(reg.url);
}, 30_000);

afterAll(async () => {
  stopTmux();
  await proxy?.stop();
  await reg?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Put an image's manifest bytes under another tag, as `curl -X PUT` (or a CI push) would. */
async function tagAs(repo: string, img: { manifest: Uint8Array; mediaType: string }, tag: string): Promise<void> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: "PUT", headers: { "Content-Type": img.mediaType }, body: new Uint8Array(img.manifest) });
  expect(res.status).toBe(201);
}

/** The digest a tag points at, asked straight from the registry; null when the tag is gone. */
async function digestOf(repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } });
  return res.status === 200 ? res.headers.get("docker-content-digest") : null;
}

/** Two images: `old` (created 2024-01) and `new` (2024-02), each under its own tags. */
async function twoImages(repo: string, oldTags: string[], newTags: string[]): Promise<{ old: PushedImage; new: PushedImage }> {
  const old = await pushImage(reg.url, repo, oldTags, { seed: `${repo}-old`, created: "2024-01-01T00:00:00Z" });
  const young = await pushImage(reg.url, repo, newTags, { seed: `${repo}-new`, created: "2024-02-01T00:00:00Z" });
  return { old, new: young };
}

/** The requests the proxy saw for a repository that deleted something real (not the probe). */
const realDeletes = (repo: string) => proxy.log.filter((r) => r.method === "DELETE" && r.path.startsWith(`/v2/${repo}/`) && !r.path.endsWith(ZERO));

// ───────────── a real terminal (test/terminal.ts) ─────────────

/** regctl run in a terminal of its own; `exit=N` is printed when it ends, and the pane stays up. */
function regctlIn(args: string[]): Pane {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp, XDG_CACHE_HOME: CACHE_HOME, NO_COLOR: "1", LANG: "C.UTF-8" };
  return new Pane("", ["sh", "-c", '"$@"; echo "exit=$?"; sleep 600', "sh", ...regctlCommand(), ...args], env);
}

/** Poll the screen (wrapped lines joined) until `ok` holds for it, 20 s at most; returns it. */
async function screenWhen(pane: Pane, what: string, ok: (text: string) => boolean): Promise<string> {
  let text = "";
  await pane.until(
    what,
    () => {
      text = pane.text(true);
      return ok(text);
    },
    20_000,
  );
  return text;
}

/** The screen once it shows the n-th [y/N]. */
const prompts = (pane: Pane, n: number) => screenWhen(pane, `prompt ${n}`, (t) => t.split("[y/N]").length - 1 >= n);

/** Type an answer and Enter. */
function answer(pane: Pane, text: string): void {
  pane.type(text);
  pane.keys("Enter");
}

/** regctl's exit status and the screen, once it has exited. */
async function exited(pane: Pane): Promise<{ code: number; text: string }> {
  const text = await screenWhen(pane, "regctl to exit", (t) => /^exit=\d+$/m.test(t));
  return { code: Number(/^exit=(\d+)$/m.exec(text)![1]), text };
}

// ───────────── tests ─────────────

describe("at the prompt: a tag pushed while [y/N] waits", () => {
  test("delete: prod, pushed onto the planned digest, survives with the image; exit 1 with what changed", async () => {
    const repo = "race/tty-delete";
    const img = await pushImage(reg.url, repo, ["latest", "1.36"], { seed: repo });
    await pushImage(reg.url, repo, ["keep"], { seed: `${repo}-keep` });
    const pane = regctlIn(["delete", `${reg.host}/${repo}:latest`]);
    const asked = await prompts(pane, 1);
    expect(asked).toContain("Delete this Docker image and its 2 tags (1.36, latest)? [y/N]");
    await tagAs(repo, img, "prod");
    answer(pane, "y");
    const { code, text } = await exited(pane);
    expect(code).toBe(1);
    expect(text).toContain(`regctl: ${CHANGED}: prod → ${img.digest}; run it again`);
    expect(text).toContain("hint:");
    expect(await registryTags(reg.url, repo)).toEqual(["1.36", "keep", "latest", "prod"]);
    expect(await manifestStatus(reg.url, repo, img.digest)).toBe(200);
  }, 60_000);

  test("prune --keep 1: prod survives; the plan is made again, shown, and asked again", async () => {
    const repo = "race/tty-prune";
    const { old } = await twoImages(repo, ["v1"], ["v2"]);
    const pane = regctlIn(["prune", `${reg.host}/${repo}`, "--keep", "1"]);
    const first = await prompts(pane, 1);
    expect(first).toContain("delete 1 manifest (1 tag)");
    expect(first).toContain("Carry out this plan (1 change)? [y/N]");
    await tagAs(repo, old, "prod");
    answer(pane, "y");
    // What changed is said, the new plan (prod goes with v1: it is beyond the newest) is shown and asked for.
    const second = await prompts(pane, 2);
    expect(second).toContain(`${CHANGED}: prod → ${old.digest}; planning again`);
    expect(second).toContain("delete 1 manifest (2 tags)");
    expect(await registryTags(reg.url, repo)).toEqual(["prod", "v1", "v2"]);
    answer(pane, "n");
    const { code, text } = await exited(pane);
    expect(code).toBe(1);
    expect(text).toContain("nothing changed: not confirmed");
    expect(await registryTags(reg.url, repo)).toEqual(["prod", "v1", "v2"]);
    expect(await digestOf(repo, "prod")).toBe(old.digest);
  }, 60_000);
});

describe("--yes: a push lands while the first DELETE (the deletes-enabled probe) is held", () => {
  /** Run regctl through the proxy, holding its first DELETE until `meanwhile` has run. */
  async function racing(args: string[], meanwhile: () => Promise<void>) {
    const hold = proxy.hold("DELETE");
    const result = run(args);
    try {
      const held = await Promise.race([
        hold.arrived,
        result.then((r) => {
          throw new Error(`regctl ended before any DELETE: ${r.stderr}`);
        }),
      ]);
      await meanwhile();
      hold.release();
      return { held, ...(await result) };
    } finally {
      hold.release();
    }
  }

  test("delete: prod survives, the image stays, exit 1", async () => {
    const repo = "race/yes-delete";
    const img = await pushImage(reg.url, repo, ["latest", "1.36"], { seed: repo });
    const r = await racing(["delete", `${proxy.host}/${repo}:latest`, "--yes"], () => tagAs(repo, img, "prod"));
    // The probe comes first and deletes nothing; the recheck after it sees prod.
    expect(r.held.path).toBe(`/v2/${repo}/manifests/${ZERO}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`regctl: ${CHANGED}: prod → ${img.digest}; run it again`);
    expect(realDeletes(repo)).toEqual([]);
    expect(await registryTags(reg.url, repo)).toEqual(["1.36", "latest", "prod"]);
    expect(await manifestStatus(reg.url, repo, img.digest)).toBe(200);
  });

  test("prune --keep 1: prod survives, nothing is deleted, exit 1", async () => {
    const repo = "race/yes-prune";
    const { old } = await twoImages(repo, ["v1"], ["v2"]);
    const r = await racing(["prune", `${proxy.host}/${repo}`, "--keep", "1", "--yes"], () => tagAs(repo, old, "prod"));
    expect(r.held.path).toBe(`/v2/${repo}/manifests/${ZERO}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`regctl: ${CHANGED}: prod → ${old.digest}; run it again`);
    expect(realDeletes(repo)).toEqual([]);
    expect(await registryTags(reg.url, repo)).toEqual(["prod", "v1", "v2"]);
    expect(await digestOf(repo, "prod")).toBe(old.digest);
  });

  test("prune: a tag to untag that moved to a new image keeps the new image", async () => {
    const repo = "race/yes-untag";
    // v2 and latest share the newest image: --keep 1 keeps v2 and untags latest; v1 is deleted.
    const { new: young } = await twoImages(repo, ["v1"], ["v2", "latest"]);
    const plan = await run(["prune", `${reg.host}/${repo}`, "--keep", "1", "--dry-run", "--json"]);
    const actions = Object.fromEntries(JSON.parse(plan.stdout)[0].rows.map((x: { tag: string; action: string }) => [x.tag, x.action]));
    expect(actions).toEqual({ latest: "untag", v1: "delete", v2: "keep" });
    let pushed: PushedImage | undefined;
    const r = await racing(["prune", `${proxy.host}/${repo}`, "--keep", "1", "--yes"], async () => {
      pushed = await pushImage(reg.url, repo, ["latest"], { seed: `${repo}-newer`, created: "2024-03-01T00:00:00Z" });
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`regctl: ${CHANGED}: latest → ${pushed!.digest} (planned on ${young.digest}); run it again`);
    expect(await digestOf(repo, "latest")).toBe(pushed!.digest);
    expect(await registryTags(reg.url, repo)).toEqual(["latest", "v1", "v2"]);
  });

  test("delete: a new list holding the planned digest as a platform stops it", async () => {
    const repo = "race/yes-list";
    const img = await pushImage(reg.url, repo, ["amd64"], { seed: repo, created: "2024-01-01T00:00:00Z" });
    let list: Awaited<ReturnType<typeof pushIndex>> | undefined;
    const r = await racing(["delete", `${proxy.host}/${repo}:amd64`, "--yes"], async () => {
      list = await pushIndex(reg.url, repo, ["multi"], [{ platform: { os: "linux", architecture: "amd64" }, seed: repo, created: "2024-01-01T00:00:00Z" }]);
    });
    expect(list!.children[0]!.digest).toBe(img.digest);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`regctl: ${CHANGED}: multi → ${list!.digest} (a list holding ${img.digest}); run it again`);
    expect(await manifestStatus(reg.url, repo, img.digest)).toBe(200);
    expect(await registryTags(reg.url, repo)).toEqual(["amd64", "multi"]);
  });
});

describe("--dry-run --curl: the script rechecks before its first write", () => {
  test("delete: prod pushed after the plan stops the script; without it the script deletes as planned", async () => {
    const repo = "race/script-delete";
    const img = await pushImage(reg.url, repo, ["latest", "1.36"], { seed: repo });
    await pushImage(reg.url, repo, ["keep"], { seed: `${repo}-keep` });
    const plan = await run(["delete", `${reg.host}/${repo}:latest`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    // The recheck is one loop in the script, not a line per tag.
    expect(plan.stderr).toContain("PLAN_DELETES=");
    expect(plan.stderr.split("\n").filter((l) => l.startsWith("curl -sS -f -o /dev/null -I ")).length).toBe(3); // the plan's own HEADs
    await tagAs(repo, img, "prod");
    const stopped = await sh(plan.stderr);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`${CHANGED}: prod → ${img.digest}; run it again`);
    expect(await registryTags(reg.url, repo)).toEqual(["1.36", "keep", "latest", "prod"]);
    expect(await manifestStatus(reg.url, repo, img.digest)).toBe(200);
    // Without the push: the same kind of script deletes what it planned.
    await fetch(`${reg.url}/v2/${repo}/manifests/${img.digest}`, { method: "DELETE" });
    const again = await pushImage(reg.url, repo, ["latest", "1.36"], { seed: repo });
    const plan2 = await run(["delete", `${reg.host}/${repo}:latest`, "--dry-run", "--curl"]);
    expect(plan2.stderr).toContain("PLAN_DELETES=");
    const done = await sh(plan2.stderr);
    expect(done).toMatchObject({ code: 0, stderr: "" });
    expect(await registryTags(reg.url, repo)).toEqual(["keep"]);
    expect(await manifestStatus(reg.url, repo, again.digest)).toBe(404);
  });

  test("prune: prod pushed after the plan stops the script; without it the script prunes as planned", async () => {
    const repo = "race/script-prune";
    const { old } = await twoImages(repo, ["v1"], ["v2"]);
    const plan = await run(["prune", `${reg.host}/${repo}`, "--keep", "1", "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    await tagAs(repo, old, "prod");
    const stopped = await sh(plan.stderr);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`${CHANGED}: prod → ${old.digest}; run it again`);
    expect(await registryTags(reg.url, repo)).toEqual(["prod", "v1", "v2"]);
    expect(await manifestStatus(reg.url, repo, old.digest)).toBe(200);
    // prod moved onto a scratch image, and that deleted: the repository is as planned again, and
    // the same script now does the prune.
    await tagAs(repo, await pushImage(reg.url, repo, [], { seed: `${repo}-scratch` }), "prod");
    await fetch(`${reg.url}/v2/${repo}/manifests/${(await digestOf(repo, "prod"))!}`, { method: "DELETE" });
    expect(await registryTags(reg.url, repo)).toEqual(["v1", "v2"]);
    const done = await sh(plan.stderr);
    expect(done.stderr).not.toContain(CHANGED);
    expect(done.code).toBe(0);
    expect(await registryTags(reg.url, repo)).toEqual(["v2"]);
    expect(await manifestStatus(reg.url, repo, old.digest)).toBe(404);
  });

  test("prune: a tag to untag that moved stops the script; the new image keeps its tag", async () => {
    const repo = "race/script-untag";
    const { new: young } = await twoImages(repo, ["v1"], ["v2", "latest"]);
    const plan = await run(["prune", `${reg.host}/${repo}`, "--keep", "1", "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    const pushed = await pushImage(reg.url, repo, ["latest"], { seed: `${repo}-newer`, created: "2024-03-01T00:00:00Z" });
    const stopped = await sh(plan.stderr);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`${CHANGED}: latest → ${pushed.digest} (planned on ${young.digest}); run it again`);
    expect(await digestOf(repo, "latest")).toBe(pushed.digest);
    expect(await registryTags(reg.url, repo)).toEqual(["latest", "v1", "v2"]);
  });

  test("with --curl, the recheck is shown as the script's loop, not as a line per tag", async () => {
    const repo = "race/script-yes";
    const img = await pushImage(reg.url, repo, ["latest", "1.36"], { seed: repo });
    await pushImage(reg.url, repo, ["keep"], { seed: `${repo}-keep` });
    const r = await run(["delete", `${reg.host}/${repo}:latest`, "--yes", "--curl"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("PLAN_DELETES=");
    // Three tags HEADed by the plan; the recheck's three HEADs are in the loop.
    expect(r.stderr.split("\n").filter((l) => l.startsWith("curl -sS -f -o /dev/null -I ")).length).toBe(3);
    expect(await manifestStatus(reg.url, repo, img.digest)).toBe(404);
  });

  test("delete: a new list holding the planned digest stops the script", async () => {
    const repo = "race/script-list";
    const img = await pushImage(reg.url, repo, ["amd64"], { seed: repo, created: "2024-01-01T00:00:00Z" });
    const plan = await run(["delete", `${reg.host}/${repo}:amd64`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    const list = await pushIndex(reg.url, repo, ["multi"], [{ platform: { os: "linux", architecture: "amd64" }, seed: repo, created: "2024-01-01T00:00:00Z" }]);
    const stopped = await sh(plan.stderr);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`${CHANGED}: multi → ${list.digest} (a list holding ${img.digest}); run it again`);
    expect(await manifestStatus(reg.url, repo, img.digest)).toBe(200);
  });
});
