// Benchmark: regctl beside the ways people do the same job by hand, against a REAL registry.
//   make bench                  (builds dist/regctl first)
//   BENCH_TAGS=300 BENCH_RUNS=5 node_modules/.bin/bun bench/bench.ts
// One job so far: list the tags of a repository and resolve every tag's digest (plus regctl's
// startup). To add a row, add a Case in buildCases(); cases sharing a `job` form one table,
// compared with that job's first case.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startRegistry, type Registry } from "../test/registry.ts";
import { pool, pushManyTags, MediaTypes } from "../test/seed.ts";

// ───────────────────────────── settings ─────────────────────────────

function envCount(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${name}="${raw}": give a whole number from 1 to ${max}`);
  return n;
}

const TAGS = envCount("BENCH_TAGS", 300, 5000);
const RUNS = envCount("BENCH_RUNS", 5, 50);
const HELP_RUNS = 30;
const SKOPEO_SAMPLE = Math.min(30, TAGS);
const CEILING_CONCURRENCY = 32;
const TIMEOUT_MS = 120_000; // per subprocess (and curl --max-time, skopeo --command-timeout per request)
const REPO = "bench/app";
const REGCTL = resolve(import.meta.dir, "..", "dist", "regctl");
const ACCEPT = MediaTypes.docker.manifest;
const MiB = 1024 * 1024;

// ───────────────────────────── subprocesses ─────────────────────────────

const work = mkdtempSync(join(tmpdir(), "regctl-bench-"));
const dirIn = (name: string) => {
  const d = join(work, name);
  mkdirSync(d, { recursive: true, mode: 0o700 });
  return d;
};

/** A clean environment: no proxy variables (everything goes to 127.0.0.1), caches in `work`. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dirIn("home"), LANG: "C", NO_COLOR: "1", ...extra };
}

// Peak RSS comes from GNU time (%M, KiB), not Bun's resourceUsage().maxRSS: that one is in bytes,
// but it is the high-water mark of the forked child, which starts as a copy of bun's own memory
// (`true` shows 24 MB there, 1 MB under time). time's wait4 also covers reaped descendants: for
// `sh` it is the largest of sh and each curl/awk it ran, not their sum.
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/** Peak RSS (bytes) while a case's warm-up run measures it; undefined when not measuring. */
let peakRss: number | undefined;

/** Run a command to completion; throws on a non-zero exit or after TIMEOUT_MS. */
async function exec(cmd: string[], env: Record<string, string>): Promise<string> {
  const rssFile = peakRss !== undefined && TIME ? join(work, "rss.txt") : undefined;
  const argv = rssFile ? [TIME!, "-o", rssFile, "-f", "%M", ...cmd] : cmd;
  const p = Bun.spawn(argv, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), TIMEOUT_MS);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${p.signalCode ?? code}: ${err.trim() || out.trim()}`);
  if (rssFile) peakRss = Math.max(peakRss ?? 0, Number((await Bun.file(rssFile).text()).trim()) * 1024);
  return out;
}

// ───────────────────────────── correctness ─────────────────────────────

/** `TAG<TAB>DIGEST` lines must be exactly the seeded tags and digests. */
function checkLines(tool: string, output: string, expected: Map<string, string>): void {
  const lines = output.trim().split("\n").filter(Boolean);
  if (lines.length !== expected.size) throw new Error(`${tool}: ${lines.length} lines, expected ${expected.size}`);
  for (const line of lines) {
    const [tag = "", digest] = line.split("\t");
    if (expected.get(tag) !== digest) throw new Error(`${tool}: wrong line "${line}", expected ${tag}\t${expected.get(tag)}`);
  }
}

// ───────────────────────────── cases ─────────────────────────────

type Case = {
  job: string; // rows of one job are compared with that job's first case
  name: string;
  note?: string;
  runs?: number; // default RUNS, after one untimed warm-up run
  rss?: boolean; // report the peak RSS of the processes it spawns (in its warm-up run)
  /** Does the job once, checking its result; a returned number replaces the measured wall time
   *  (a case that times a sample returns its extrapolation). */
  run(): Promise<number | void>;
};

function buildCases(reg: Registry, expected: Map<string, string>): Case[] {
  const tags = [...expected.keys()];
  const base = `${reg.url}/v2/${REPO}`;
  const regctlEnv = cleanEnv({ XDG_CACHE_HOME: dirIn("regctl-cache") });
  const skopeoEnv = cleanEnv({ XDG_RUNTIME_DIR: dirIn("run"), XDG_CONFIG_HOME: dirIn("config"), XDG_CACHE_HOME: dirIn("cache") });

  // The loop a person types: list the tags, then one HEAD per tag, digest picked out with awk.
  const curlLoop = `
    curl -sSf --max-time 10 "$1/tags/list" | sed 's/.*"tags":\\[//; s/\\].*//' | tr -d '"' | tr ',' '\\n' |
    while read -r tag; do
      printf '%s\\t' "$tag"
      curl -sSfI --max-time 10 -H "Accept: $2" "$1/manifests/$tag" |
        awk 'tolower($1) == "docker-content-digest:" { sub(/\\r$/, "", $2); print $2 }'
    done`;

  // skopeo: one list-tags, then an inspect per tag of an evenly spread sample, extrapolated.
  const sample = Array.from({ length: SKOPEO_SAMPLE }, (_, i) => tags[Math.floor((i * tags.length) / SKOPEO_SAMPLE)]!);
  const LIST = `list ${TAGS} tags + resolve every digest`;
  const skopeo = (...args: string[]) =>
    exec(["skopeo", "--command-timeout", "30s", ...args, "--tls-verify=false"], skopeoEnv);

  return [
    {
      job: LIST,
      name: "regctl tags --digests",
      rss: true,
      run: async () => checkLines("regctl", await exec([REGCTL, "tags", `${reg.host}/${REPO}`, "--digests"], regctlEnv), expected),
    },
    {
      job: LIST,
      name: "curl loop (sh, sequential)",
      rss: true,
      run: async () => checkLines("curl loop", await exec(["sh", "-c", curlLoop, "sh", base, ACCEPT], cleanEnv()), expected),
    },
    {
      job: LIST,
      name: "skopeo list-tags + inspect per tag",
      note: `${SKOPEO_SAMPLE} of ${TAGS} inspects timed, extrapolated`,
      rss: true,
      run: async () => {
        const t0 = performance.now();
        const listed = JSON.parse(await skopeo("list-tags", `docker://${reg.host}/${REPO}`)) as { Tags: string[] };
        if (listed.Tags.length !== TAGS) throw new Error(`skopeo list-tags: ${listed.Tags.length} tags, expected ${TAGS}`);
        const t1 = performance.now();
        for (const tag of sample) {
          const digest = (await skopeo("inspect", "--format", "{{.Digest}}", `docker://${reg.host}/${REPO}:${tag}`)).trim();
          if (digest !== expected.get(tag)) throw new Error(`skopeo inspect ${tag}: ${digest}, expected ${expected.get(tag)}`);
        }
        return t1 - t0 + ((performance.now() - t1) * TAGS) / SKOPEO_SAMPLE;
      },
    },
    {
      job: LIST,
      name: `ceiling: in-process fetch ×${CEILING_CONCURRENCY}`,
      note: "keep-alive, no process start",
      run: async () => {
        const signal = AbortSignal.timeout(TIMEOUT_MS);
        const list = (await (await fetch(`${base}/tags/list`, { signal })).json()) as { tags: string[] };
        const digests = await pool(list.tags, CEILING_CONCURRENCY, async (tag) => {
          const res = await fetch(`${base}/manifests/${tag}`, { method: "HEAD", headers: { Accept: ACCEPT }, signal });
          return `${tag}\t${res.headers.get("docker-content-digest")}`;
        });
        checkLines("ceiling", digests.join("\n"), expected);
      },
    },
    {
      job: "startup",
      name: "regctl --help",
      runs: HELP_RUNS,
      rss: true,
      run: async () => {
        if (!(await exec([REGCTL, "--help"], regctlEnv)).includes("Usage")) throw new Error("regctl --help: no usage text");
      },
    },
  ];
}

// ───────────────────────────── measuring ─────────────────────────────

type Result = Case & { ms: number; rssBytes?: number };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function measure(c: Case): Promise<Result> {
  // Untimed warm-up (page cache, regctl's scheme cache, keep-alive), which also takes the RSS.
  peakRss = c.rss && TIME ? 0 : undefined;
  await c.run();
  const rssBytes = peakRss;
  peakRss = undefined;
  const times: number[] = [];
  for (let i = 0; i < (c.runs ?? RUNS); i++) {
    const t0 = performance.now();
    const reported = await c.run();
    times.push(typeof reported === "number" ? reported : performance.now() - t0);
  }
  const r: Result = { ...c, ms: median(times), rssBytes };
  console.error(`  ${c.name}: ${r.ms.toFixed(1)} ms (runs: ${times.map((t) => t.toFixed(0)).join(", ")})`);
  return r;
}

// ───────────────────────────── report ─────────────────────────────

function report(results: Result[]): void {
  const ms = (n: number) => (n < 100 ? n.toFixed(1) : n.toFixed(0));
  for (const job of new Set(results.map((r) => r.job))) {
    const rows = results.filter((r) => r.job === job);
    const baseline = rows[0]!;
    console.log(`\n### ${job}\n`);
    console.log(`| tool | median ms | vs ${baseline.name.split(" ")[0]} | peak RSS MiB |`);
    console.log("|---|---:|---|---:|");
    for (const r of rows) {
      const x = r.ms / baseline.ms;
      const ratio = r === baseline ? "—" : x >= 1 ? `${x.toFixed(1)}× slower` : `${(1 / x).toFixed(1)}× faster`;
      const rss = r.rssBytes === undefined ? "—" : (r.rssBytes / MiB).toFixed(1);
      console.log(`| ${r.name}${r.note ? ` (${r.note})` : ""} | ${ms(r.ms)} | ${ratio} | ${rss} |`);
    }
  }

  const get = (name: string) => {
    const r = results.find((x) => x.name.startsWith(name));
    if (!r) throw new Error(`no result named ${name}`);
    return r;
  };
  const regctl = get("regctl tags"), curl = get("curl loop"), ceiling = get("ceiling"), help = get("regctl --help");
  const rss = [regctl.rssBytes, help.rssBytes].filter((b) => b !== undefined);
  const regctlMiB = rss.length ? Math.max(...rss) / MiB : undefined;
  const targets: [string, boolean | undefined, string][] = [
    ["regctl ≥ 5× faster than the curl loop", curl.ms >= 5 * regctl.ms, `${(curl.ms / regctl.ms).toFixed(1)}×`],
    ["regctl within 2× of the ceiling", regctl.ms <= 2 * ceiling.ms, `${(regctl.ms / ceiling.ms).toFixed(2)}× the ceiling's time`],
    ["regctl --help ≤ 20 ms", help.ms <= 20, `${ms(help.ms)} ms`],
    ["regctl peak RSS ≤ 60 MiB", regctlMiB === undefined ? undefined : regctlMiB <= 60,
      regctlMiB === undefined ? "no /usr/bin/time" : `${regctlMiB.toFixed(1)} MiB`],
  ];
  console.log("\n### targets\n");
  for (const [label, met, got] of targets) console.log(`- ${met === undefined ? "unknown" : met ? "met" : "MISSED"}: ${label} (${got})`);
  console.log(`\n${RUNS} runs per row (--help: ${HELP_RUNS}) after one untimed warm-up; peak RSS from the warm-up run.`);
}

// ───────────────────────────── main ─────────────────────────────

let reg: Registry | undefined;
let failed = false;
try {
  if (!(await Bun.file(REGCTL).exists())) throw new Error(`${REGCTL} not found: run \`make build\``);
  reg = await startRegistry({ deleteEnabled: true });
  if (!reg.host.startsWith("127.0.0.1:")) throw new Error(`registry not on loopback: ${reg.host}`);
  const t0 = performance.now();
  const seeded = await pushManyTags(reg.url, REPO, TAGS, { distinctImages: true });
  const expected = new Map(seeded.map((s) => [s.tag, s.digest]));
  if (new Set(expected.values()).size !== TAGS) throw new Error("seeded images do not all have distinct digests");
  console.error(`registry ${reg.host}: seeded ${REPO} with ${TAGS} tags in ${(performance.now() - t0).toFixed(0)} ms; ${RUNS} runs each`);

  const results: Result[] = [];
  for (const c of buildCases(reg, expected)) results.push(await measure(c));
  report(results);
} catch (err) {
  failed = true;
  console.error(`bench failed: ${err instanceof Error ? err.message : err}`);
} finally {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
