// regctl under faults, against the REAL registry behind the tests' fault proxy (test/faultproxy.ts):
// dropped connections (before the registry saw the request, and after it acted on it), 503,
// 429 with Retry-After, slow answers, and an interrupt in the middle of a prune. Whatever happens
// on the way, a prune must end in exactly the planned state, say what it did, and a DELETE whose
// answer was lost must be looked at (HEAD) before it is counted done or sent again.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ACCEPT_ALL, CACHE_HOME, ROOT, registryTags, regctlCommand, run, type RunResult } from "./cli.ts";
import { startFaultProxy, type FaultProxy, type LoggedRequest } from "./faultproxy.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { pushImage, pushManyTags, type TaggedImage } from "./seed.ts";
import { naturalCompare } from "../regctl.ts";

let reg: Registry;
const seeded: Record<string, TaggedImage[]> = {};
const proxies: FaultProxy[] = [];
/** What the tests saw, printed at the end for the report. */
const figures: string[] = [];

const FAULTS = { dropRate: 0.1, status503Rate: 0.05, status429Rate: 0.05, slowRate: 0.05, slowMs: 200 };

beforeAll(async () => {
  reg = await startRegistry({ deleteEnabled: true });
  // Seeded straight into the registry (no proxy): the faults are for regctl alone.
  const repos = ["f/tags", "f/prune", "f/interrupt", "f/interrupt-plan"];
  const lists = await Promise.all(repos.map((r) => pushManyTags(reg.url, r, r === "f/interrupt-plan" ? 100 : 300, { distinctImages: true })));
  for (const [i, r] of repos.entries()) seeded[r] = lists[i]!;
}, 60_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.stop()));
  await reg?.stop();
  if (figures.length) console.log(`\nfault figures:\n  ${figures.join("\n  ")}`);
});

async function proxy(faults: Parameters<typeof startFaultProxy>[1]): Promise<FaultProxy> {
  const p = await startFaultProxy(reg.url, faults);
  proxies.push(p);
  return p;
}

const newest = (pushed: TaggedImage[], n: number) => [...pushed].sort((a, b) => b.created.localeCompare(a.created)).slice(0, n);

/** The digest the registry stores for a tag, asked directly (no proxy, no regctl). */
async function digestOf(repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } });
  return res.status === 200 ? res.headers.get("docker-content-digest") : null;
}

async function manifestPresent(repo: string, digest: string): Promise<boolean> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${digest}`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } });
  if (res.status !== 200 && res.status !== 404) throw new Error(`HEAD ${digest}: ${res.status}`);
  return res.status === 200;
}

/** The registry's state for a repository after a prune: exactly `keep`, each on its own digest, and every other manifest gone. */
async function expectExactly(repo: string, keep: TaggedImage[]): Promise<void> {
  const pushed = seeded[repo]!;
  // Safety first: no kept tag lost or moved.
  for (const t of keep) expect({ tag: t.tag, digest: await digestOf(repo, t.tag) }).toEqual({ tag: t.tag, digest: t.digest });
  // Then completeness: nothing planned for removal is left, as a tag or as a manifest.
  expect(await registryTags(reg.url, repo)).toEqual(keep.map((t) => t.tag).sort());
  const kept = new Set(keep.map((t) => t.digest));
  const left: string[] = [];
  for (const t of pushed) if (!kept.has(t.digest) && (await manifestPresent(repo, t.digest))) left.push(t.digest);
  expect(left).toEqual([]);
}

const IMPOSSIBLE = `sha256:${"0".repeat(64)}`;
const isRealDelete = (r: LoggedRequest, repo: string) => r.method === "DELETE" && r.path.startsWith(`/v2/${repo}/manifests/sha256:`) && !r.path.endsWith(IMPOSSIBLE);

/**
 * A DELETE whose answer was lost may have happened: before it is sent again, regctl must look
 * (HEAD of the same digest). Returns the DELETEs sent again blindly after a drop.
 */
function blindRepeats(log: LoggedRequest[], repo: string): string[] {
  const blind: string[] = [];
  const pendingCheck = new Map<string, boolean>(); // path → last DELETE dropped and not yet HEADed
  for (const r of log) {
    if (!r.path.startsWith(`/v2/${repo}/manifests/sha256:`)) continue;
    if (r.method === "HEAD") pendingCheck.set(r.path, false);
    if (r.method !== "DELETE") continue;
    if (pendingCheck.get(r.path)) blind.push(r.path);
    pendingCheck.set(r.path, r.fault === "drop" || r.fault === "drop-after-forward");
  }
  return blind;
}

/** Faults met, by kind and by method. */
function faultTable(log: LoggedRequest[]): Record<string, Record<string, number>> {
  const t: Record<string, Record<string, number>> = {};
  for (const r of log) {
    if (r.fault === "none") continue;
    t[r.fault] ??= {};
    t[r.fault]![r.method] = (t[r.fault]![r.method] ?? 0) + 1;
  }
  return t;
}

/** Most faults one request (method and path) met in a row: what the retry budget had to survive. */
function longestStreak(log: LoggedRequest[]): number {
  const streak = new Map<string, number>();
  let most = 0;
  for (const r of log) {
    const key = `${r.method} ${r.path}`;
    const hit = r.fault !== "none" && r.fault !== "slow";
    const n = hit ? (streak.get(key) ?? 0) + 1 : 0;
    streak.set(key, n);
    most = Math.max(most, n);
  }
  return most;
}

const noStack = (r: RunResult) => expect(r.stderr).not.toContain("    at ");

/** What a prune says it did to a repository, from its summary line: `HOST/REPO: deleted N manifests, untagged 0 tags[, F failed][, S not started]` (1 manifest). */
function pruneSummary(stdout: string, repository: string): { deleted: number; failed: number; notStarted: number } | undefined {
  const line = stdout.split("\n").find((l) => l.startsWith(`${repository}: deleted `));
  const m = line === undefined ? null : /: deleted (\d+) manifests?, untagged 0 tags(?:, (\d+) failed)?(?:, (\d+) not started)?$/.exec(line);
  if (!m) return undefined;
  expect(m[0]).toMatch(Number(m[1]) === 1 ? /deleted 1 manifest,/ : /deleted \d+ manifests,/);
  return { deleted: Number(m[1]), failed: Number(m[2] ?? 0), notStarted: Number(m[3] ?? 0) };
}

/**
 * What a prune says it left undone, from stderr: `failed (N): a, b …and K more — ERROR` a group,
 * `not started (N): a, b, c, d, e …and K more`. Names are tags; the first few are named, the rest counted.
 */
function unfinished(stderr: string): { failed: { count: number; names: string[]; more: number; error: string }[]; notStarted?: { count: number; names: string[]; more: number } } {
  const names = (list: string) => {
    const m = /^(.*?)(?: …and (\d+) more)?$/.exec(list)!;
    return { names: m[1]!.split(", "), more: Number(m[2] ?? 0) };
  };
  const failed = [...stderr.matchAll(/^failed \((\d+)\): (.*?) — (.*)$/gm)].map((m) => ({ count: Number(m[1]), ...names(m[2]!), error: m[3]! }));
  for (const g of failed) expect(g.names.length + g.more).toBe(g.count);
  const ns = /^not started \((\d+)\): (.*)$/m.exec(stderr);
  const notStarted = ns ? { count: Number(ns[1]), ...names(ns[2]!) } : undefined;
  if (notStarted) expect(notStarted.names.length + notStarted.more).toBe(notStarted.count);
  return { failed, notStarted };
}

/** regctl spawned by hand, as test/cli.ts runs it (same command and environment), to send it a signal; killed after 90 s whatever happens. */
function spawnRegctl(args: string[]) {
  const child = Bun.spawn([...regctlCommand(), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", XDG_CACHE_HOME: CACHE_HOME, NO_COLOR: "1" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  void child.exited.then(() => clearTimeout(killer));
  return child;
}

describe("reads through faults", () => {
  test("tags --digests of 300 tags through ~10% drops, 5% 503, 5% 429 (Retry-After), 5% slow: all 300, each digest right", async () => {
    const p = await proxy({ ...FAULTS, seed: 11 });
    const t0 = performance.now();
    const r = await run(["tags", `${p.host}/f/tags`, "--digests"], { timeoutMs: 120_000 });
    const ms = Math.round(performance.now() - t0);
    figures.push(`tags --digests: ${p.stats.requests} requests, faults ${JSON.stringify(faultTable(p.log))}, longest streak ${longestStreak(p.log)}, exit ${r.code}, ${ms} ms`);
    noStack(r);
    expect(r.code).toBe(0);
    const got = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    const want = seeded["f/tags"]!.map((t) => [t.tag, t.digest]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
    expect(got).toEqual(want);
    // The faults really happened, of every kind.
    expect(p.stats.dropped).toBeGreaterThan(10);
    expect(p.stats.dropsAfterForward).toBeGreaterThan(3);
    expect(p.stats.s503).toBeGreaterThan(3);
    expect(p.stats.s429).toBeGreaterThan(3);
    expect(p.stats.slow).toBeGreaterThan(3);
  }, 150_000);
});

describe("prune through faults", () => {
  test("prune --keep 10 of 300 with faults on every method, DELETE included: it finishes, or says what did not and the same prune finishes it; exactly the 10 newest remain; then a rerun is a no-op", async () => {
    const repo = "f/prune";
    const keep = newest(seeded[repo]!, 10);
    const planned = seeded[repo]!.length - keep.length; // each tag its own digest: 290 deletes, no untags
    const p = await proxy({ ...FAULTS, seed: 23 });
    const prune = () => run(["prune", `${p.host}/${repo}`, "--keep", "10", "--yes"], { timeoutMs: 150_000 });
    const first = await prune();
    // Each run with its requests: a rerun reads the registry afresh, so each is judged on its own.
    const rounds = [{ result: first, log: p.log.slice() }];
    const deletesFirst = p.log.filter((r) => isRealDelete(r, repo));
    figures.push(
      `prune: ${p.log.length} requests, faults ${JSON.stringify(faultTable(p.log))}, longest streak ${longestStreak(p.log)}; ` +
        `${deletesFirst.length} DELETEs for ${planned} digests (${deletesFirst.filter((r) => r.fault === "drop-after-forward").length} acted on with the answer lost), exit ${first.code}`,
    );
    noStack(first);
    const firstSaid = pruneSummary(first.stdout, `${p.host}/${repo}`);
    expect(firstSaid).toBeDefined();
    if (first.code === 0) {
      // It finished: every planned manifest deleted, nothing failed, nothing left out.
      expect(firstSaid).toEqual({ deleted: planned, failed: 0, notStarted: 0 });
    } else {
      // Or it says what did not finish, each one by name, and to run it again ...
      figures.push(
        `FINDING prune under faults exited ${first.code}: ${first.stderr
          .split("\n")
          .filter((l) => /^(regctl:|failed )/.test(l))
          .slice(0, 6)
          .join(" | ")}`,
      );
      expect(first.code).toBe(1);
      expect(first.stderr).toContain("regctl: the prune did not finish");
      expect(first.stderr).toContain(`hint: run the same prune again to finish: regctl prune ${p.host}/${repo} --keep 10 --yes\n`);
      expect(firstSaid!.failed + firstSaid!.notStarted).toBeGreaterThan(0);
      const said = unfinished(first.stderr);
      expect(said.failed.reduce((n, g) => n + g.count, 0)).toBe(firstSaid!.failed);
      expect(said.notStarted?.count ?? 0).toBe(firstSaid!.notStarted);
      // Named by tag, each planned for removal, none twice.
      const removable = new Set(seeded[repo]!.filter((t) => !keep.includes(t)).map((t) => t.tag));
      const named = [...said.failed.flatMap((g) => g.names), ...(said.notStarted?.names ?? [])];
      for (const t of named) expect({ t, planned: removable.has(t) }).toEqual({ t, planned: true });
      expect(new Set(named).size).toBe(named.length);
      // ... and the same prune, through the same faults, finishes: it deletes what is left, which is
      // what the first did not report deleted, less any failed DELETE that did happen (when every
      // one did, there is nothing left to prune).
      const second = await prune();
      rounds.push({ result: second, log: p.log.slice(rounds[0]!.log.length) });
      figures.push(
        `prune rerun (same faults): exit ${second.code}${
          second.code
            ? `: ${second.stderr
                .split("\n")
                .filter((l) => /^(regctl:|failed )/.test(l))
                .slice(0, 4)
                .join(" | ")}`
            : ""
        }`,
      );
      noStack(second);
      expect(second.code).toBe(0);
      const secondSaid = second.stdout.includes("nothing to prune") ? { deleted: 0, failed: 0, notStarted: 0 } : pruneSummary(second.stdout, `${p.host}/${repo}`);
      expect(secondSaid).toMatchObject({ failed: 0, notStarted: 0 });
      expect(firstSaid!.deleted + secondSaid!.deleted).toBeLessThanOrEqual(planned);
      expect(firstSaid!.deleted + secondSaid!.deleted).toBeGreaterThanOrEqual(planned - firstSaid!.failed);
    }
    await expectExactly(repo, keep);
    // Within a run, a DELETE whose answer was lost was looked at (HEAD) before it was sent again or
    // counted done; or, its last attempt lost too, the run said its outcome is unknown.
    const afterDrop = (log: LoggedRequest[]) => log.filter((r) => isRealDelete(r, repo) && r.fault === "drop-after-forward");
    expect(rounds.flatMap((r) => afterDrop(r.log)).length).toBeGreaterThan(0); // the faults did lose the answer of DELETEs the registry carried out
    const tagOf = new Map(seeded[repo]!.map((t) => [t.digest, t.tag]));
    for (const { result, log } of rounds) {
      expect(blindRepeats(log, repo)).toEqual([]);
      const unknown = unfinished(result.stderr).failed.filter((g) => g.error.endsWith("the outcome is unknown"));
      for (const d of afterDrop(log)) {
        const looked = log.some((r) => r.method === "HEAD" && r.path === d.path && r.at >= d.at);
        const tag = tagOf.get(d.path.slice(d.path.lastIndexOf("/") + 1))!;
        // Said by name, or among the ones counted after the first few of that group.
        const accounted = looked || unknown.some((g) => g.names.includes(tag) || g.more > 0);
        expect({ delete: d.path, accounted }).toEqual({ delete: d.path, accounted: true });
      }
    }
    // Nothing left to do: the same prune, through the same faults, plans nothing and deletes nothing.
    const before = p.log.length;
    const again = await prune();
    noStack(again);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("nothing to prune");
    expect(p.log.slice(before).filter((r) => r.method === "DELETE")).toEqual([]);
    await expectExactly(repo, keep);
  }, 400_000);

  test("SIGINT after ~1 s, while the plan is still being read: exit 130, nothing deleted", async () => {
    const repo = "f/interrupt-plan";
    const p = await proxy({ slowRate: 1, slowMs: 100, seed: 6 });
    const child = spawnRegctl(["prune", `${p.host}/${repo}`, "--keep", "10", "--yes"]);
    const output = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    await Bun.sleep(1000);
    const requestsBefore = p.stats.requests;
    child.kill("SIGINT");
    const code = await child.exited;
    const [, stderr] = await output;
    figures.push(`interrupt while planning: SIGINT after 1 s and ${requestsBefore} reads; exit ${code}, signal ${child.signalCode}, stderr ${JSON.stringify(stderr.slice(0, 80))}`);
    expect(stderr).not.toContain("    at ");
    expect(code).toBe(130);
    expect(p.log.filter((r) => r.method === "DELETE")).toEqual([]);
    expect(await registryTags(reg.url, repo)).toEqual(seeded[repo]!.map((t) => t.tag).sort());
  }, 60_000);

  test("SIGINT during the deletes: exit 130, one summary (done, not started, the first few by tag, the command that finishes); the same prune then finishes", async () => {
    const repo = "f/interrupt";
    const keep = newest(seeded[repo]!, 10);
    const p = await proxy({ slowRate: 1, slowMs: 30, seed: 5 });
    const child = spawnRegctl(["prune", `${p.host}/${repo}`, "--keep", "10", "--yes"]);
    const output = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    // Planning reads ~600 slow requests first; the signal goes once the deletes are under way.
    const t0 = Date.now();
    while (Date.now() - t0 < 60_000 && p.log.filter((r) => isRealDelete(r, repo)).length < 16 && child.exitCode === null) await Bun.sleep(10);
    const sentBefore = p.log.filter((r) => isRealDelete(r, repo)).length;
    child.kill("SIGINT");
    const code = await child.exited;
    const [stdout, stderr] = await output;
    const sent = p.log.filter((r) => isRealDelete(r, repo));
    const said = pruneSummary(stdout, `${p.host}/${repo}`)!;
    const { notStarted, failed } = unfinished(stderr);
    const reported = said.deleted;
    figures.push(
      `interrupt: SIGINT after ${Date.now() - t0} ms with ${sentBefore} DELETEs sent; ${sent.length} sent in all, ` +
        `${reported} reported deleted, ${said.notStarted} reported not started; exit ${code}`,
    );
    expect(stderr).not.toContain("    at ");
    expect(sentBefore).toBeGreaterThanOrEqual(16);
    expect(code).toBe(130);
    expect(failed).toEqual([]);
    expect(said.notStarted).toBeGreaterThan(100); // most of the 290 had not started
    // One line for what was not started: the count, the first few by tag (not by digest), the rest counted.
    expect(notStarted).toMatchObject({ count: said.notStarted, more: said.notStarted - 5 });
    expect(stderr.match(/not started/g)?.length).toBe(2); // that line, and the error's count
    expect(stderr).not.toMatch(/sha256:[a-f0-9]{64}/);
    expect(stderr).toContain(`regctl: interrupted: the prune stopped before the end: ${reported} done, ${said.notStarted} not started\n`);
    expect(stderr).toContain(`hint: run the same prune again to finish: regctl prune ${p.host}/${repo} --keep 10 --yes\n`);
    // What it says is what happened: as many planned digests are still there as it says were not
    // started, every other planned one is gone, and the ones it names are the first still there (the
    // prune works in natural version order).
    const keptDigests = new Set(keep.map((t) => t.digest));
    const planned = seeded[repo]!.filter((t) => !keptDigests.has(t.digest));
    const present: string[] = [];
    for (const t of planned) if (await manifestPresent(repo, t.digest)) present.push(t.tag);
    expect(present.length).toBe(said.notStarted);
    expect(notStarted!.names).toEqual(present.sort(naturalCompare).slice(0, 5));
    expect(reported).toBe(planned.length - present.length);
    expect(new Set(sent.map((r) => r.path)).size).toBe(reported);
    for (const t of keep) expect(await digestOf(repo, t.tag)).toBe(t.digest);
    // The same prune, without faults, finishes the job.
    p.setFaults({});
    const again = await run(["prune", `${p.host}/${repo}`, "--keep", "10", "--yes"], { timeoutMs: 120_000 });
    noStack(again);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`deleted ${present.length} manifests`);
    await expectExactly(repo, keep);
  }, 200_000);
});

describe("--timeout and --retries", () => {
  test("--timeout bounds a request, its retries included: a port that accepts and never answers gives up at about the timeout", async () => {
    const { createServer } = await import("node:net");
    const held: import("node:net").Socket[] = [];
    const silent = createServer((sock) => void held.push(sock)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    try {
      const t0 = performance.now();
      const r = await run(["tags", `127.0.0.1:${port}/x`, "--plain-http", "--timeout", "2s"]);
      const ms = performance.now() - t0;
      noStack(r);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("no answer within --timeout 2 s");
      // Six attempts of the whole timeout took 17 s before; the bound is the timeout, not a multiple of it.
      expect(ms).toBeLessThan(6000);
      figures.push(`silent port, --timeout 2s: gave up after ${Math.round(ms)} ms`);
    } finally {
      for (const sock of held) sock.destroy();
      silent.close();
    }
  }, 30_000);

  test("--retries 0 sends once; the default tries again, each retry line said with regctl:", async () => {
    const img = await pushImage(reg.url, "f/retries", ["a"], { seed: "retries" });
    const once = await proxy({ status503Rate: 1, maxFaults: 1 });
    const r0 = await run(["digest", `${once.host}/f/retries:a`, "--retries", "0"]);
    expect(r0.code).toBe(1);
    expect(once.stats.requests).toBe(1);
    const again = await proxy({ status503Rate: 1, maxFaults: 1 });
    const r = await run(["digest", `${again.host}/f/retries:a`]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(img.digest);
    expect(again.stats.requests).toBe(2);
    expect(r.stderr).toMatch(/^regctl: HEAD \S+ ← 503 Service Unavailable; retrying in \d+\.\d s \(attempt 2 of at most 6\)$/m);
  }, 30_000);
});

describe("Retry-After", () => {
  for (const form of ["seconds", "date"] as const) {
    test(`a 429 with Retry-After (${form === "seconds" ? "1" : "an HTTP date 1 s ahead"}) on the first request: regctl waits, then succeeds`, async () => {
      const img = await pushImage(reg.url, "f/retry-after", [form], { seed: `retry-after-${form}` });
      const p = await proxy({ status429Rate: 1, maxFaults: 1, retryAfter: form });
      const t0 = performance.now();
      const r = await run(["digest", `${p.host}/f/retry-after:${form}`]);
      const ms = performance.now() - t0;
      figures.push(`Retry-After ${form}: ${p.stats.s429} × 429, ${p.stats.requests} requests, ${Math.round(ms)} ms`);
      noStack(r);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(img.digest);
      expect(p.stats.s429).toBe(1);
      expect(p.log[0]!.fault).toBe("429");
      // Seconds: at least the second asked for. A date has whole seconds and is rounded up to one
      // at least 1 s ahead when sent; allow the few ms between the proxy's clock read and regctl's.
      expect(ms).toBeGreaterThanOrEqual(form === "seconds" ? 1000 : 950);
    }, 30_000);
  }

  test("a 429 on one of eight concurrent HEADs pauses the whole host for the second it asks: no request starts meanwhile", async () => {
    const tags = Array.from({ length: 40 }, (_, i) => `t${i}`);
    const img = await pushImage(reg.url, "f/pause", tags, { seed: "pause" });
    const p = await proxy({ status429Rate: 1, maxFaults: 1, onlyMethods: ["HEAD"], retryAfter: "seconds" });
    const r = await run(["tags", `${p.host}/f/pause`, "--digests", "--concurrency", "8"]);
    noStack(r);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n").length).toBe(tags.length);
    expect(r.stdout).toContain(img.digest);
    const turnedAway = p.log.find((l) => l.fault === "429")!;
    // Requests already on their way when the 429 arrived may still land just after it; none starts later within the second.
    const meanwhile = p.log.filter((l) => l.at > turnedAway.at + 150 && l.at < turnedAway.at + 900);
    const after = p.log.filter((l) => l.at >= turnedAway.at + 900);
    figures.push(`shared pause: 429 at ${turnedAway.at} ms; ${meanwhile.length} requests in the next 150–900 ms, ${after.length} after`);
    expect(meanwhile).toEqual([]);
    expect(after.length).toBeGreaterThan(8); // the other workers did wait for it, and went on after
  }, 30_000);
});
