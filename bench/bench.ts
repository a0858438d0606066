// Benchmark: regctl beside the ways people do the same job by hand, against a REAL registry.
//   make bench                  (builds dist/regctl first)
//   BENCH_TAGS=300 BENCH_RUNS=5 node_modules/.bin/bun bench/bench.ts
// Jobs: list the tags of a repository and resolve every tag's digest; prune 300 tags down to the
// 10 newest; regctl's startup and shell-completion latency, a TAB on a registry that is down and on
// one that does not answer among them; copy every tag to a second registry, and one 150 MiB layer;
// 100,000 tags and 10,000 repositories on the tests' own server. To add a row, add a Case in
// buildCases(); cases sharing a `job` form one table, compared with that job's first case.
// BENCH_ONLY=WORD runs the jobs whose name holds that word alone: copy, prune, repositories (the scale rows).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TCPSocketListener } from "bun";
import { exec as spawnProcess, execSync, freePort } from "../test/fixtures.ts";
import { startRegistry, type Registry } from "../test/registry.ts";
import { pool, pushImage, pushManyTags, MediaTypes } from "../test/seed.ts";
import { startTagServer, type TagServer } from "../test/tagserver.ts";

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
const PRUNE_TAGS = 300;
const PRUNE_KEEP = 10;
const PRUNE_RUNS = 3; // each on a freshly seeded repository (~1.5 s of untimed seeding)
// What the curl loop doing the whole prune sends: tags/list, a manifest and a config per tag, the deletes.
const WHOLE_JOB_REQUESTS = 1 + 2 * PRUNE_TAGS + (PRUNE_TAGS - PRUNE_KEEP);
const COMPLETE_RUNS = 20;
const UNANSWERED_RUNS = 3; // a TAB on a registry that does not answer waits for its deadline: about a second a run
const TIMEOUT_MS = 120_000; // per subprocess (and curl --max-time, skopeo --command-timeout per request)
const REPO = "bench/app";
// The scale rows: the tests' own server (test/tagserver.ts), as seeding the real registry with
// 100,000 tags takes many minutes and distribution 2.8 cannot page a tag list.
const BIG_TAGS = 100_000;
const BIG_REPOS = 10_000;
const BIG_RUNS = 3; // tags --digests of 100,000 takes seconds a run
const BIG_PAGE = 1000;
const REGCTL = resolve(import.meta.dir, "..", "dist", "regctl");
const ACCEPT = MediaTypes.docker.manifest;
const MiB = 1024 * 1024;
/** Run only the jobs whose name starts with this (e.g. copy); all of them when unset. */
const ONLY = process.env.BENCH_ONLY;
const BIG_LAYER = 150 * MiB;

// ───────────────────────────── subprocesses ─────────────────────────────

const work = mkdtempSync(join(tmpdir(), "regctl-bench-"));
const dirIn = (name: string) => {
  const d = join(work, name);
  mkdirSync(d, { recursive: true, mode: 0o700 });
  return d;
};

/**
 * Peak RSS counts the binary's own pages as the kernel maps them, and the same bytes read ~5 MiB
 * higher right after the file is written than once they have been read back from disk (measured:
 * `regctl --version` 34.9 MiB fresh from `bun build` or `cp`, 29.8 MiB after its cached pages are
 * dropped and read again). A server runs a binary read from disk; so before measuring, the bench
 * writes each binary of its own out and drops its cached pages (coreutils sync and dd
 * iflag=nocache). curl and skopeo are the system's, read from disk already.
 */
function readFromDisk(path: string): void {
  for (const cmd of [
    ["sync", path],
    ["dd", `if=${path}`, "iflag=nocache", "count=0", "status=none"],
  ]) {
    const r = execSync(cmd);
    if (r.code !== 0) throw new Error(`${cmd.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  }
}

/**
 * A program that prints its argument, compiled with the Makefile's flags for dist/regctl: the
 * time no compiled program of this runtime starts under, so a startup target is read against it.
 */
let empty: string | undefined;
function emptyBinary(): string {
  if (empty) return empty;
  const src = join(dirIn("empty"), "empty.ts");
  writeFileSync(src, "console.log(process.argv[2]);\n");
  const out = join(dirIn("empty"), "empty");
  // The flags are read from the Makefile's rule for dist/regctl, so the two builds cannot drift apart.
  const rule = /\$\(BUN\) build (.+) regctl\.ts --outfile dist\/regctl$/m.exec(readFileSync(resolve(import.meta.dir, "..", "Makefile"), "utf8"));
  if (!rule) throw new Error("the Makefile's rule for dist/regctl was not found: the floor needs its build flags");
  const built = Bun.spawnSync([process.execPath, "build", ...rule[1]!.split(/\s+/), src, "--outfile", out], {
    stdout: "ignore",
    stderr: "pipe",
  });
  if (built.exitCode !== 0) throw new Error(`bun build --compile of an empty program failed: ${built.stderr.toString().trim()}`);
  readFromDisk(out);
  empty = out;
  return out;
}

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
  const r = await spawnProcess(argv, { env, timeoutMs: TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.signal ?? r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  if (rssFile) peakRss = Math.max(peakRss ?? 0, Number((await Bun.file(rssFile).text()).trim()) * 1024);
  return r.stdout;
}

// ───────────────────────────── registry CPU ─────────────────────────────
// The registry is CPU-bound on this job (distribution 2.8 reads every tag's link on each DELETE
// by digest), and it shares the machine's CPUs with the client: its CPU time per run says how
// fast any client could possibly be here. Read from /proc (Linux); undefined elsewhere.

const CPUS = availableParallelism();
const CLK_TCK = (() => {
  const n = Number(execSync(["getconf", "CLK_TCK"]).stdout.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** The pid of the process whose command line holds the registry's config path. */
function registryPid(configPath: string): number | undefined {
  try {
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").includes(configPath)) return Number(name);
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

/** User + system CPU time of a process so far, in ms. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

// ───────────────────────────── correctness ─────────────────────────────

/** `TAG<TAB>DIGEST` lines must be exactly the seeded tags and digests. */
function checkLines(tool: string, output: string, expected: Map<string, string>): undefined {
  const lines = output.trim().split("\n").filter(Boolean);
  if (lines.length !== expected.size) throw new Error(`${tool}: ${lines.length} lines, expected ${expected.size}`);
  for (const line of lines) {
    const [tag = "", digest] = line.split("\t");
    if (expected.get(tag) !== digest) throw new Error(`${tool}: wrong line "${line}", expected ${tag}\t${expected.get(tag)}`);
  }
}

/** The tags of a repository, sorted, from tags/list (plain fetch, no regctl). */
async function tagsOf(base: string): Promise<string[]> {
  const res = await fetch(`${base}/tags/list`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`GET ${base}/tags/list → ${res.status}: ${await res.text()}`);
  return (((await res.json()) as { tags: string[] | null }).tags ?? []).sort();
}

/** Two sorted tag lists must be equal; the error names what is missing and what is extra. */
function checkTags(tool: string, got: string[], want: string[]): void {
  if (got.length === want.length && got.every((t, i) => t === want[i])) return;
  const missing = want.filter((t) => !got.includes(t)),
    extra = got.filter((t) => !want.includes(t));
  throw new Error(
    `${tool}: the repository holds ${got.length} tags, expected ${want.length}; ` +
      `missing ${missing.slice(0, 5).join(" ") || "none"}${missing.length > 5 ? " …" : ""}, ` +
      `extra ${extra.slice(0, 5).join(" ") || "none"}${extra.length > 5 ? " …" : ""}`,
  );
}

// ───────────────────────────── cases ─────────────────────────────

type Case = {
  job: string; // rows of one job are compared with that job's first case
  name: string;
  note?: string;
  runs?: number; // default RUNS, after one untimed warm-up run
  rss?: boolean; // report the peak RSS of the processes it spawns (in its warm-up run)
  prime?(): Promise<unknown>; // before the warm-up, unmeasured: a warm case's cache is filled here, so its warm-up (and RSS) is warm too
  /** Does the job once, checking its result; a returned number replaces the measured wall time
   *  (a case that times a sample returns its extrapolation, one that seeds first its timed part). */
  run(): Promise<number | undefined>;
  /** After the timed runs: facts that explain the numbers, printed under the job's table. */
  explain?(): Promise<string | undefined>;
};

/** A repository seeded for one prune run: what must stay and what must go. */
type PruneRepo = { repo: string; base: string; all: string[]; kept: string[]; doomed: string[] };

/** Hosts a TAB cannot get an answer from: a closed port, and a listener that never answers. */
type Unreachable = { down: string; unanswered: string };

function buildCases(reg: Registry, expected: Map<string, string>, unreachable: Unreachable, big: TagServer): Case[] {
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
  const PRUNE = `prune ${PRUNE_TAGS} tags → keep ${PRUNE_KEEP}`;
  const STARTUP = `startup and completion (TAB after ${REPO}: with ${TAGS} tags)`;
  const skopeo = (...args: string[]) => exec(["skopeo", "--command-timeout", "30s", ...args, "--tls-verify=false"], skopeoEnv);

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
    ...pruneCases(reg, PRUNE, regctlEnv),
    {
      job: STARTUP,
      name: "regctl --help",
      runs: HELP_RUNS,
      rss: true,
      run: async () => {
        if (!(await exec([REGCTL, "--help"], regctlEnv)).includes("Usage")) throw new Error("regctl --help: no usage text");
      },
    },
    {
      job: STARTUP,
      name: "floor: an empty program, compiled as regctl is",
      note: "the runtime's own start",
      runs: HELP_RUNS,
      rss: true,
      run: async () => {
        if ((await exec([emptyBinary(), "x"], regctlEnv)) !== "x\n") throw new Error("the empty program did not answer");
      },
    },
    ...completionCases(reg, STARTUP, tags),
    ...unreachableCases(STARTUP, unreachable),
    ...copyCases(reg, regctlEnv, skopeoEnv),
    ...scaleCases(big),
  ];
}

/**
 * Copy every tag of the seeded repository to a second registry, each run into a new repository
 * (a rerun would skip everything): regctl copy --all-tags against skopeo sync doing the same. And
 * one image with a 150 MiB layer, regctl against curl piping the GET into the upload's PUT.
 */
function copyCases(reg: Registry, regctlEnv: Record<string, string>, skopeoEnv: Record<string, string>): Case[] {
  const ALL = `copy --all-tags: ${TAGS} tags to another registry`;
  const BIG = "copy one 150 MiB layer to another registry";
  let dst: Registry | undefined;
  let big: { digest: string; layer: string } | undefined;
  let n = 0;
  const target = async () => (dst ??= await startRegistry({ deleteEnabled: true }));
  const copied = async (repo: string, tags: number) => {
    const got = await tagsOf(`${(await target()).url}/v2/${repo}`);
    if (got.length !== tags) throw new Error(`${repo}: ${got.length} tags at the destination, expected ${tags}`);
  };
  const bigImage = async () => {
    if (!big) {
      const img = await pushImage(reg.url, "bench/big", ["v1"], { seed: "bench-big", layerSizes: [BIG_LAYER] });
      big = { digest: img.digest, layer: img.layerDigests[0]! };
    }
    return big;
  };
  // sh and curl: a POST for the upload's Location, then GET piped into PUT (-T - streams it).
  const curlPipe = `
    loc=$(curl -sSf -D - -o /dev/null -X POST "$2/v2/$3/blobs/uploads/" | awk 'tolower($1) == "location:" { sub(/\r$/, "", $2); print $2 }')
    case $loc in /*) loc="$2$loc" ;; esac
    curl -sSf "$1/v2/bench/big/blobs/$4" | curl -sSf -X PUT -T - -H 'Content-Type: application/octet-stream' "$loc&digest=$4" -o /dev/null`;
  return [
    {
      job: ALL,
      name: "regctl copy --all-tags",
      runs: 2,
      rss: true,
      run: async () => {
        const repo = `regctl-${++n}/app`;
        await exec([REGCTL, "copy", `${reg.host}/${REPO}`, `${(await target()).host}/${repo}`, "--all-tags", "--yes"], regctlEnv);
        await copied(repo, TAGS);
      },
    },
    {
      job: ALL,
      name: "skopeo sync --all",
      runs: 1,
      rss: true,
      run: async () => {
        const prefix = `skopeo-${++n}`;
        await exec(
          [
            "skopeo",
            "--command-timeout",
            "60s",
            "sync",
            "--all",
            "--src",
            "docker",
            "--dest",
            "docker",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            `${reg.host}/${REPO}`,
            `${(await target()).host}/${prefix}`,
          ],
          skopeoEnv,
        );
        await copied(`${prefix}/app`, TAGS);
      },
    },
    {
      job: BIG,
      name: "regctl copy",
      runs: 2,
      rss: true,
      run: async () => {
        const { layer } = await bigImage();
        const repo = `big-${++n}/app`;
        const t0 = performance.now();
        await exec([REGCTL, "copy", `${reg.host}/bench/big:v1`, `${(await target()).host}/${repo}:v1`], regctlEnv);
        const ms = performance.now() - t0;
        if ((await fetch(`${dst!.url}/v2/${repo}/blobs/${layer}`, { method: "HEAD" })).status !== 200) throw new Error("regctl copy: the layer is not there");
        return ms;
      },
      explain: async () => `${(BIG_LAYER / MiB).toFixed(0)} MiB layer: one streamed GET cut into 8 MiB PATCHes, the next chunk read while one is sent`,
    },
    {
      job: BIG,
      name: "curl GET piped into curl PUT (sh)",
      runs: 2,
      rss: true,
      run: async () => {
        const { layer } = await bigImage();
        const repo = `curl-${++n}/app`;
        const t0 = performance.now();
        await exec(["sh", "-c", curlPipe, "sh", reg.url, (await target()).url, repo, layer], cleanEnv());
        const ms = performance.now() - t0;
        if ((await fetch(`${dst!.url}/v2/${repo}/blobs/${layer}`, { method: "HEAD" })).status !== 200) throw new Error("curl pipe: the layer is not there");
        await dst?.stop();
        dst = undefined;
        return ms;
      },
      explain: async () => "the blob alone: no manifest, no HEAD first; one streamed PUT",
    },
  ];
}

/** A manifest of each tag's own, made when the server is asked for it. */
const bigManifest = (tag: string) =>
  new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.oci.manifest,
      config: { mediaType: MediaTypes.oci.config, digest: `sha256:${"0".repeat(64)}`, size: 2 },
      layers: [],
      annotations: { tag },
    }),
  );

function startBigServer(): TagServer {
  const tags = Array.from({ length: BIG_TAGS }, (_, i) => `t${String(i).padStart(6, "0")}`);
  const repositories = Array.from({ length: BIG_REPOS }, (_, i) => `team${String(i % 100).padStart(2, "0")}/app${String(i).padStart(5, "0")}`);
  return startTagServer({
    repo: "big/app",
    tags,
    repositories,
    pageSize: BIG_PAGE,
    wholeUnlessAsked: true,
    manifestFor: (tag) => (/^t\d{6}$/.test(tag) ? { body: bigManifest(tag), mediaType: MediaTypes.oci.manifest } : undefined),
  });
}

/**
 * 100,000 tags in one repository and 10,000 repositories, on the tests' own server: tags (one
 * answer, as distribution 2.8 gives it, and pages of 1000), tags --digests, repos in pages of 100,
 * and TAB after `big/app:t0999` (100 of the 100,000), warm and cold; beside an in-process fetch
 * doing the same, the ceiling. Each output is checked: every tag, in order; every digest its own.
 */
function scaleCases(big: TagServer): Case[] {
  const job = `${BIG_TAGS.toLocaleString("en-US")} tags, ${BIG_REPOS.toLocaleString("en-US")} repositories (the tests' own server)`;
  const env = cleanEnv({ XDG_CACHE_HOME: dirIn("big-cache") });
  const tagsUrl = `${big.url}/v2/big/app/tags/list`;
  const want = Array.from({ length: BIG_TAGS }, (_, i) => `t${String(i).padStart(6, "0")}`);
  const check = (what: string, out: string) => {
    const lines = out.trimEnd().split("\n");
    if (lines.length !== BIG_TAGS || lines.some((l, i) => !l.startsWith(want[i]!))) throw new Error(`${what}: ${lines.length} lines, not the ${BIG_TAGS} tags in order`);
    return lines;
  };
  const checkDigests = (what: string, out: string) => {
    const lines = check(what, out);
    for (let i = 0; i < BIG_TAGS; i += 4999) {
      const digest = `sha256:${new Bun.CryptoHasher("sha256").update(bigManifest(want[i]!)).digest("hex")}`;
      if (lines[i] !== `${want[i]}\t${digest}`) throw new Error(`${what}: line ${i} is "${lines[i]}", expected ${want[i]}\t${digest}`);
    }
  };
  const line = `regctl delete ${big.host}/big/app:t0999`;
  const tabEnv = { ...env, COMP_LINE: line, COMP_POINT: String(line.length) };
  const tab = async (before: () => void = () => {}) => {
    before();
    const t0 = performance.now();
    const values = (await exec([REGCTL, "__complete", "zsh"], tabEnv)).trimEnd().split("\n");
    const ms = performance.now() - t0;
    if (values.length !== 100 || values.some((v, i) => v !== `${big.host}/big/app:${want[99_900 + i]}`))
      throw new Error(`TAB after big/app:t0999: ${values.length} candidates, not t099900…t099999`);
    return ms;
  };
  const completion = join(env.XDG_CACHE_HOME!, "regctl", "completion");
  return [
    { job, name: "regctl tags, one answer", rss: true, run: async () => void check("regctl tags", await exec([REGCTL, "tags", `${big.host}/big/app`], env)) },
    {
      job,
      name: "curl tags/list | sed | tr, one answer",
      rss: true,
      run: async () =>
        void check("curl", await exec(["sh", "-c", `curl -sSf --max-time 30 "$1" | sed 's/.*"tags":\\[//; s/\\].*//' | tr -d '"' | tr ',' '\\n'`, "sh", tagsUrl], cleanEnv())),
    },
    {
      job,
      name: `regctl tags, pages of ${BIG_PAGE}`,
      rss: true,
      run: async () => void check("regctl tags --page-size", await exec([REGCTL, "tags", "--page-size", String(BIG_PAGE), `${big.host}/big/app`], env)),
    },
    {
      job,
      name: "regctl tags --digests, one answer",
      runs: BIG_RUNS,
      rss: true,
      run: async () => void checkDigests("regctl tags --digests", await exec([REGCTL, "tags", "--digests", `${big.host}/big/app`], env)),
    },
    {
      job,
      name: `regctl tags --digests, pages of ${BIG_PAGE}`,
      runs: BIG_RUNS,
      rss: true,
      run: async () =>
        void checkDigests("regctl tags --digests --page-size", await exec([REGCTL, "tags", "--digests", "--page-size", String(BIG_PAGE), `${big.host}/big/app`], env)),
    },
    {
      job,
      name: `ceiling: in-process fetch ×${CEILING_CONCURRENCY}, tags + a HEAD each`,
      note: "keep-alive, no process start",
      runs: BIG_RUNS,
      run: async () => {
        const signal = AbortSignal.timeout(TIMEOUT_MS);
        const list = (await (await fetch(tagsUrl, { signal })).json()) as { tags: string[] };
        const rows = await pool(list.tags, CEILING_CONCURRENCY, async (tag) => {
          const res = await fetch(`${big.url}/v2/big/app/manifests/${tag}`, { method: "HEAD", signal });
          return `${tag}\t${res.headers.get("docker-content-digest")}`;
        });
        checkDigests("ceiling", rows.join("\n"));
      },
    },
    {
      job,
      name: "regctl repos, pages of 100",
      rss: true,
      run: async () => {
        const out = await exec([REGCTL, "repos", "--page-size", "100", big.host], env);
        if (out.trimEnd().split("\n").length !== BIG_REPOS) throw new Error("regctl repos: not every repository");
      },
    },
    { job, name: "regctl __complete zsh after big/app:t0999, warm", runs: COMPLETE_RUNS, rss: true, prime: () => tab(), run: () => tab() },
    {
      job,
      name: "regctl __complete zsh after big/app:t0999, cold",
      note: "completion cache removed",
      runs: RUNS,
      rss: true,
      run: () => tab(() => rmSync(completion, { recursive: true, force: true })),
    },
  ];
}

/**
 * Prune PRUNE_TAGS distinct images down to the PRUNE_KEEP newest by `created`. Every run but the
 * dry run's gets a fresh repository (seeding untimed); after each run tags/list must be exactly the
 * PRUNE_KEEP newest tags. The given-digests curl loop and the in-process rows are handed the
 * digests to delete: they do not plan, they are the person who already knows what goes. The
 * whole-job curl loop is the person with sh and curl alone who must find them out first.
 */
function pruneCases(reg: Registry, job: string, regctlEnv: Record<string, string>): Case[] {
  const pid = registryPid(reg.configPath);
  let seeded = 0;
  const seed = async (): Promise<PruneRepo> => {
    const repo = `bench/prune-${++seeded}`;
    const images = await pushManyTags(reg.url, repo, PRUNE_TAGS, { distinctImages: true });
    if (new Set(images.map((i) => i.digest)).size !== PRUNE_TAGS) throw new Error(`${repo}: seeded images do not all have distinct digests`);
    if (new Set(images.map((i) => i.created)).size !== PRUNE_TAGS) throw new Error(`${repo}: two images share a creation time: "newest" is ambiguous`);
    const newest = [...images].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
    return {
      repo,
      base: `${reg.url}/v2/${repo}`,
      all: images.map((i) => i.tag).sort(),
      kept: newest
        .slice(0, PRUNE_KEEP)
        .map((i) => i.tag)
        .sort(),
      doomed: newest.slice(PRUNE_KEEP).map((i) => i.digest),
    };
  };
  let dryRepo: PruneRepo | undefined; // the dry run changes nothing: one repository serves every run

  /** One run: seed (untimed), time `body`, then check what is left; records the registry's CPU. */
  const timed =
    (tool: string, cpu: number[], body: (r: PruneRepo) => Promise<void>, dry = false) =>
    async () => {
      if (dry) dryRepo ??= await seed();
      const r = dry && dryRepo ? dryRepo : await seed();
      const c0 = cpuMs(pid);
      const t0 = performance.now();
      await body(r);
      const ms = performance.now() - t0;
      const c1 = cpuMs(pid);
      if (c0 !== undefined && c1 !== undefined) cpu.push(c1 - c0);
      checkTags(tool, await tagsOf(r.base), dry ? r.all : r.kept);
      return ms;
    };
  const cpuNote = (cpu: number[]) =>
    cpu.length ? `the registry spent ${(median(cpu) / 1000).toFixed(2)} s of CPU per run (median; ${CPUS} CPUs here, shared with the client)` : undefined;
  const notes = (...parts: (string | undefined)[]) => parts.filter(Boolean).join("; ") || undefined;

  const prune = (r: PruneRepo, ...flags: string[]) => exec([REGCTL, "prune", `${reg.host}/${r.repo}`, "--keep", String(PRUNE_KEEP), ...flags], regctlEnv);
  const deleteOne = async (r: PruneRepo, digest: string) => {
    const res = await fetch(`${r.base}/manifests/${digest}`, { method: "DELETE", signal: AbortSignal.timeout(TIMEOUT_MS) });
    const body = await res.text();
    if (res.status !== 202) throw new Error(`DELETE ${r.repo}@${digest} → ${res.status}: ${body}`);
  };
  // The loop a person types once they know the digests: one DELETE per digest, sequential.
  const curlLoop = `
    base=$1; shift
    for digest in "$@"; do
      curl -sSf --max-time 10 -o /dev/null -X DELETE "$base/manifests/$digest" || exit 1
    done`;
  // The loop a person with sh and curl alone types to do the whole job, one curl per request:
  // tags/list; per tag the manifest (config digest by sed, Docker-Content-Digest by awk) and its
  // config blob ("created", the first one: the image's, not a history entry's); sort newest first,
  // keep $2, DELETE every other digest (once, and never one a kept tag points at). It prints the
  // digests it deleted.
  const curlWholeJob = `
    base=$1 keep=$2
    accept='${MediaTypes.docker.manifest}, ${MediaTypes.oci.manifest}'
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    curl -sSf --max-time 10 -o "$tmp/list" "$base/tags/list" || exit 1
    sed 's/.*"tags" *: *\\[//; s/\\].*//' "$tmp/list" | tr -d '" ' | tr ',' '\\n' > "$tmp/tags"
    : > "$tmp/plan"
    while read -r tag; do
      [ -n "$tag" ] || continue
      curl -sSf --max-time 10 -H "Accept: $accept" -D "$tmp/headers" -o "$tmp/manifest" "$base/manifests/$tag" || exit 1
      digest=$(awk 'tolower($1) == "docker-content-digest:" { sub(/\\r$/, "", $2); print $2 }' "$tmp/headers")
      config=$(sed -n 's/.*"config" *: *{[^}]*"digest" *: *"\\([^"]*\\)".*/\\1/p' "$tmp/manifest")
      [ -n "$digest" ] && [ -n "$config" ] || { echo "$tag: no digest or no config digest" >&2; exit 1; }
      curl -sSfL --max-time 10 -o "$tmp/config" "$base/blobs/$config" || exit 1
      created=$(awk 'match($0, /"created" *: *"[^"]*"/) { s = substr($0, RSTART, RLENGTH); sub(/^"created" *: *"/, "", s); print substr(s, 1, length(s) - 1); exit }' "$tmp/config")
      [ -n "$created" ] || { echo "$tag: no created in $config" >&2; exit 1; }
      printf '%s\\t%s\\t%s\\n' "$created" "$digest" "$tag" >> "$tmp/plan"
    done < "$tmp/tags"
    sort -r "$tmp/plan" | awk -F '\\t' -v keep="$keep" 'NR <= keep { kept[$2] = 1; next } !($2 in kept) && !seen[$2]++ { print $2 }' > "$tmp/doomed"
    while read -r digest; do
      curl -sSf --max-time 10 -o /dev/null -X DELETE "$base/manifests/$digest" || exit 1
      echo "$digest"
    done < "$tmp/doomed"`;

  const cpu = { regctl: [] as number[], dry: [] as number[], curl: [] as number[], curlWhole: [] as number[], seq: [] as number[], pool: [] as number[] };
  const latencies: number[][] = []; // per sequential run, the time of each DELETE in order
  return [
    {
      job,
      name: `regctl prune --keep ${PRUNE_KEEP} --yes`,
      note: "list, manifests, configs, plan, deletes ×8",
      runs: PRUNE_RUNS,
      rss: true,
      run: timed("regctl prune", cpu.regctl, async (r) => {
        const out = await prune(r, "--yes");
        if (!out.includes(`deleted ${r.doomed.length} manifests`)) throw new Error(`regctl prune: no "deleted ${r.doomed.length} manifests" in:\n${out.slice(-500)}`);
      }),
      explain: async () => notes(cpuNote(cpu.regctl), await countRequests()),
    },
    {
      job,
      name: `regctl prune --keep ${PRUNE_KEEP} --dry-run`,
      note: "the plan alone: nothing deleted",
      runs: PRUNE_RUNS,
      rss: true,
      run: timed(
        "regctl prune --dry-run",
        cpu.dry,
        async (r) => {
          const out = await prune(r, "--dry-run");
          const keeps = out
            .split("\n")
            .filter((l) => /\s\skeep\s\s/.test(l))
            .map((l) => l.split(" ")[0]!)
            .sort();
          checkTags("regctl prune --dry-run (its plan)", keeps, r.kept);
          if (!out.includes(`would delete ${r.doomed.length} manifests`))
            throw new Error(`regctl prune --dry-run: no "would delete ${r.doomed.length} manifests" in:\n${out.slice(-500)}`);
        },
        true,
      ),
      explain: async () => cpuNote(cpu.dry),
    },
    {
      job,
      name: "curl loop (sh, sequential DELETE by digest)",
      note: `the ${PRUNE_TAGS - PRUNE_KEEP} digests given`,
      runs: PRUNE_RUNS,
      rss: true,
      run: timed("curl loop", cpu.curl, async (r) => void (await exec(["sh", "-c", curlLoop, "sh", r.base, ...r.doomed], cleanEnv()))),
      explain: async () => notes(cpuNote(cpu.curl), `${PRUNE_TAGS - PRUNE_KEEP} requests, one curl process each`),
    },
    {
      job,
      name: "curl loop doing the whole job (sh, sequential)",
      note: `finds the ${PRUNE_TAGS - PRUNE_KEEP} digests itself: ${WHOLE_JOB_REQUESTS} requests`,
      runs: PRUNE_RUNS,
      rss: true,
      run: timed("curl loop doing the whole job", cpu.curlWhole, async (r) => {
        const out = await exec(["sh", "-c", curlWholeJob, "sh", r.base, String(PRUNE_KEEP)], cleanEnv());
        // What it deleted must be exactly what had to go (tags/list is checked after).
        checkTags("curl loop doing the whole job (the digests it deleted)", out.split("\n").filter(Boolean).sort(), [...r.doomed].sort());
      }),
      explain: async () =>
        notes(
          cpuNote(cpu.curlWhole),
          `${WHOLE_JOB_REQUESTS} requests (1 GET tags/list, ${PRUNE_TAGS} GET manifests, ${PRUNE_TAGS} GET blobs, ` +
            `${PRUNE_TAGS - PRUNE_KEEP} DELETE manifests), one curl process each`,
        ),
    },
    {
      job,
      name: "registry alone: in-process DELETE, sequential",
      note: "digests given, keep-alive, no process start",
      runs: PRUNE_RUNS,
      run: timed("in-process sequential DELETE", cpu.seq, async (r) => {
        const times: number[] = [];
        for (const d of r.doomed) {
          const t0 = performance.now();
          await deleteOne(r, d);
          times.push(performance.now() - t0);
        }
        latencies.push(times);
      }),
      explain: async () => {
        const avg = (pick: (t: number[]) => number[]) => {
          const xs = latencies.flatMap(pick);
          return (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1);
        };
        const perDelete = cpu.seq.length ? `, ${(median(cpu.seq) / (PRUNE_TAGS - PRUNE_KEEP)).toFixed(1)} ms of registry CPU` : "";
        return (
          `one DELETE takes ${avg((t) => t)} ms on average${perDelete}: ${avg((t) => t.slice(0, 10))} ms for the first 10 ` +
          `(${PRUNE_TAGS} tags in the repository), ${avg((t) => t.slice(-10))} ms for the last 10 (${PRUNE_KEEP + 10} tags)`
        );
      },
    },
    {
      job,
      name: "ceiling: in-process DELETE ×8",
      note: "digests given, keep-alive, no plan",
      runs: PRUNE_RUNS,
      run: timed("in-process DELETE ×8", cpu.pool, async (r) => void (await pool(r.doomed, 8, (d) => deleteOne(r, d)))),
      explain: async () => cpuNote(cpu.pool),
    },
  ];

  /** One more prune, untimed, with --curl: its transcript (stderr) has a `curl` line per request sent. */
  async function countRequests(): Promise<string> {
    const r = await seed();
    const { code, stderr: err } = await spawnProcess([REGCTL, "prune", `${reg.host}/${r.repo}`, "--keep", String(PRUNE_KEEP), "--yes", "--curl"], { env: regctlEnv });
    if (code !== 0) throw new Error(`regctl prune --curl exited ${code}: ${err.slice(-500)}`);
    checkTags("regctl prune --curl", await tagsOf(r.base), r.kept);
    const kinds = new Map<string, number>();
    let total = 0;
    for (const line of err.split("\n")) {
      // The recheck before the first write is one loop in the script: its tags/list, then a HEAD per tag.
      if (line.startsWith("TAGS=$(curl ")) {
        total += 1 + PRUNE_TAGS;
        kinds.set("GET tags/list (recheck)", 1);
        kinds.set("HEAD manifests (recheck)", PRUNE_TAGS);
        continue;
      }
      if (!line.startsWith("curl ")) continue;
      total++;
      const method = line.match(/ -X (\w+)/)?.[1] ?? (/ -I\b/.test(line) ? "HEAD" : "GET");
      const what = line.match(/\/v2\/\S*?\/(tags\/list|manifests|blobs)(?=[/?\s'"]|$)/)?.[1] ?? line.match(/\/v2\/\S*/)?.[0] ?? "?";
      kinds.set(`${method} ${what}`, (kinds.get(`${method} ${what}`) ?? 0) + 1);
    }
    return (
      `regctl sends ${total} requests (${[...kinds].map(([k, n]) => `${n} ${k}`).join(", ")}), ` +
      `the curl loop given the digests ${r.doomed.length}, the curl loop doing the whole job ${WHOLE_JOB_REQUESTS}`
    );
  }
}

/**
 * `regctl __complete zsh` as zsh calls it on TAB after `regctl delete HOST/REPO:`: warm (the
 * completion cache filled by the untimed warm-up; it lives COMPLETION_TTL 60 s), cold (the
 * completion cache removed before each call, schemes.json kept: no http/https probe), and with no
 * cache at all (the probe paid again). Each answer must be every tag, as HOST/REPO:TAG.
 */
function completionCases(reg: Registry, job: string, tags: string[]): Case[] {
  const cache = dirIn("completion-cache");
  const line = `regctl delete ${reg.host}/${REPO}:`;
  const env = cleanEnv({ XDG_CACHE_HOME: cache, COMP_LINE: line, COMP_POINT: String(line.length) });
  const prefix = `${reg.host}/${REPO}:`;
  const want = [...tags].sort();
  const complete = async (before: () => void = () => {}) => {
    before();
    const t0 = performance.now();
    const out = await exec([REGCTL, "__complete", "zsh"], env);
    const ms = performance.now() - t0;
    const values = out
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split("\t")[0]!);
    const stray = values.find((v) => !v.startsWith(prefix));
    if (stray !== undefined) throw new Error(`regctl __complete: "${stray}" does not start with ${prefix}`);
    checkTags("regctl __complete zsh", values.map((v) => v.slice(prefix.length)).sort(), want);
    return ms;
  };
  const schemes = join(cache, "regctl", "schemes.json");
  return [
    {
      job,
      name: "regctl __complete zsh, warm cache",
      note: "filled before the warm-up",
      runs: COMPLETE_RUNS,
      rss: true,
      prime: () => complete(),
      run: () => complete(),
    },
    {
      job,
      name: "regctl __complete zsh, cold",
      note: "completion cache removed, schemes.json kept",
      runs: COMPLETE_RUNS,
      run: () =>
        complete(() => {
          if (!existsSync(schemes)) throw new Error(`${schemes} missing: the cold case would pay the http/https probe`);
          rmSync(join(cache, "regctl", "completion"), { recursive: true, force: true });
        }),
    },
    {
      job,
      name: "regctl __complete zsh, no cache at all",
      note: "http/https probe paid again",
      runs: COMPLETE_RUNS,
      run: () => complete(() => rmSync(join(cache, "regctl"), { recursive: true, force: true })),
    },
  ];
}

/**
 * `regctl __complete zsh` on TAB after `regctl delete HOST/busybox:` where HOST is down (a closed
 * port: refused at once) or does not answer (it accepts the connection and says nothing: the TAB
 * gives up at its deadline). Each answer must be empty and silent, exit 0.
 */
function unreachableCases(job: string, hosts: Unreachable): Case[] {
  const cache = dirIn("unreachable-cache");
  const tab = (host: string) => async () => {
    const line = `regctl delete ${host}/busybox:`;
    const env = cleanEnv({ XDG_CACHE_HOME: cache, COMP_LINE: line, COMP_POINT: String(line.length) });
    const r = await spawnProcess([REGCTL, "__complete", "zsh"], { env, timeoutMs: TIMEOUT_MS });
    if (r.code !== 0 || r.stdout !== "" || r.stderr !== "") {
      throw new Error(`regctl __complete zsh, ${host}: exit ${r.signal ?? r.code}, stdout "${r.stdout.trim()}", stderr "${r.stderr.trim()}": want exit 0, no output`);
    }
    return r.ms;
  };
  return [
    { job, name: "TAB on a registry that is down", note: "connection refused", runs: COMPLETE_RUNS, run: tab(hosts.down) },
    { job, name: "TAB on a registry that does not answer", note: "gives up at its deadline", runs: UNANSWERED_RUNS, run: tab(hosts.unanswered) },
  ];
}

// ───────────────────────────── measuring ─────────────────────────────

type Result = Case & { ms: number; rssBytes?: number; explanation?: string };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function measure(c: Case): Promise<Result> {
  // Untimed warm-up (page cache, regctl's scheme cache, keep-alive), which also takes the RSS.
  await c.prime?.();
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
  const r: Result = { ...c, ms: median(times), rssBytes, explanation: await c.explain?.() };
  console.error(`  ${c.name}: ${r.ms.toFixed(1)} ms (runs: ${times.map((t) => t.toFixed(0)).join(", ")})`);
  return r;
}

// ───────────────────────────── report ─────────────────────────────

const ms = (n: number) => (n < 100 ? n.toFixed(1) : n.toFixed(0));

/** One table a job, each row against the job's first. */
function reportTables(results: Result[]): void {
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
    const explained = rows.filter((r) => r.explanation);
    if (explained.length) console.log("");
    for (const r of explained) console.log(`- ${r.name}: ${r.explanation}`);
  }
}

function report(results: Result[]): void {
  reportTables(results);

  console.log("\n### targets\n");
  for (const [label, met, got] of [...mainTargets(results), ...scaleTargets(results)])
    console.log(`- ${met === undefined ? "unknown" : met ? "met" : "MISSED"}: ${label} (${got})`);
  console.log(
    `\n${RUNS} runs per row (--help: ${HELP_RUNS}; prune: ${PRUNE_RUNS}, each on a freshly seeded repository, seeding untimed; ` +
      `completion: ${COMPLETE_RUNS}, a TAB on a registry that does not answer: ${UNANSWERED_RUNS}; ${BIG_TAGS.toLocaleString("en-US")} tags --digests: ${BIG_RUNS}) after one untimed warm-up; peak RSS from the warm-up run, each binary read from disk (its cached pages dropped first); ${CPUS} CPUs.`,
  );
}

type Target = [string, boolean | undefined, string];
const fmtMs = (n: number) => (n < 100 ? n.toFixed(1) : n.toFixed(0));

/** The targets of the 300-tag and copy jobs: each one whose rows ran (BENCH_ONLY may leave some out). */
function mainTargets(results: Result[]): Target[] {
  const ms = fmtMs;
  const find = (job: string, name: string) => results.find((x) => x.job.startsWith(job) && x.name.startsWith(name));
  const targets: Target[] = [];
  /** A target, when every row it compares was measured. */
  const when = (rows: (Result | undefined)[], make: (...rows: Result[]) => Target) => {
    if (rows.every((r) => r !== undefined)) targets.push(make(...(rows as Result[])));
  };
  const regctl = find("list", "regctl tags");
  const prune = find("prune", "regctl prune");
  const copyAll = find("copy --all-tags", "regctl copy");
  const copyBig = find("copy one 150 MiB", "regctl copy");
  when([regctl, find("list", "curl loop")], (r, curl) => ["regctl ≥ 5× faster than the curl loop", curl.ms >= 5 * r.ms, `${(curl.ms / r.ms).toFixed(1)}×`]);
  when([regctl, find("list", "ceiling")], (r, ceiling) => ["regctl within 2× of the ceiling", r.ms <= 2 * ceiling.ms, `${(r.ms / ceiling.ms).toFixed(2)}× the ceiling's time`]);
  when([prune, find("prune", "curl loop (sh, sequential DELETE")], (p, curl) => [
    `regctl prune ≥ 5× faster than the curl loop of ${PRUNE_TAGS - PRUNE_KEEP} DELETEs`,
    curl.ms >= 5 * p.ms,
    `${(curl.ms / p.ms).toFixed(1)}×`,
  ]);
  when([prune, find("prune", "curl loop doing the whole job")], (p, whole) => [
    `regctl prune ≥ 5× faster than the curl loop doing the whole job (${WHOLE_JOB_REQUESTS} requests, finds the digests itself)`,
    whole.ms >= 5 * p.ms,
    `${(whole.ms / p.ms).toFixed(1)}×`,
  ]);
  // The runtime's own start, beside each startup figure: a target under it cannot be met by regctl's code.
  const floor = () => {
    const f = find("startup", "floor: an empty program");
    return f ? `; an empty program compiled the same way: ${ms(f.ms)} ms` : "";
  };
  when([find("startup", "regctl --help")], (help) => ["regctl --help ≤ 20 ms", help.ms <= 20, `${ms(help.ms)} ms${floor()}`]);
  when([find("startup", "regctl __complete zsh, warm")], (warm) => ["completion, warm cache ≤ 30 ms", warm.ms <= 30, `${ms(warm.ms)} ms${floor()}`]);
  when([find("startup", "regctl __complete zsh, cold")], (cold) => ["completion, cold cache ≤ 100 ms", cold.ms <= 100, `${ms(cold.ms)} ms`]);
  when([find("startup", "TAB on a registry that is down"), find("startup", "TAB on a registry that does not answer")], (down, unanswered) => [
    "TAB on a registry that is down, or does not answer, ≤ 2 s",
    Math.max(down.ms, unanswered.ms) <= 2000,
    `${ms(down.ms)} ms, ${ms(unanswered.ms)} ms`,
  ]);
  when([copyAll, find("copy --all-tags", "skopeo sync")], (c, sync) => [
    `regctl copy --all-tags ≥ 3× faster than skopeo sync (${TAGS} tags)`,
    sync.ms >= 3 * c.ms,
    `${(sync.ms / c.ms).toFixed(1)}×`,
  ]);
  when([copyBig, find("copy one 150 MiB", "curl GET piped")], (c, pipe) => [
    "a 150 MiB layer: regctl within 2× of curl's GET | PUT pipe",
    c.ms <= 2 * pipe.ms,
    `${(BIG_LAYER / MiB / (c.ms / 1000)).toFixed(0)} MiB/s against ${(BIG_LAYER / MiB / (pipe.ms / 1000)).toFixed(0)} MiB/s; peak RSS ${c.rssBytes === undefined ? "unknown" : `${(c.rssBytes / MiB).toFixed(0)} MiB`}`,
  ]);
  // Peak RSS of every regctl row that measured one; the largest is the target's. The copies hold
  // chunks (a bound of their own); the scale rows have theirs (≤ 64 MiB at 100,000 tags).
  const rssRows = results.filter(
    (r) => r.name.startsWith("regctl") && r.rssBytes !== undefined && r !== copyBig && r !== copyAll && !r.job.startsWith(BIG_TAGS.toLocaleString("en-US")),
  );
  if (rssRows.length) {
    const biggest = rssRows.reduce((a, b) => (b.rssBytes! > a.rssBytes! ? b : a));
    const mib = biggest.rssBytes! / MiB;
    targets.push(["regctl peak RSS ≤ 60 MiB", mib <= 60, `${mib.toFixed(1)} MiB, ${biggest.name}`]);
  } else if (!TIME && results.length) targets.push(["regctl peak RSS ≤ 60 MiB", undefined, "no /usr/bin/time"]);
  return targets;
}

/** The targets of the 100,000-tag rows: flat memory (≤ 64 MiB, as at 300 tags), TAB by prefix. */
function scaleTargets(results: Result[]): Target[] {
  const rows = results.filter((r) => r.job.startsWith(BIG_TAGS.toLocaleString("en-US")));
  if (!rows.length) return [];
  const row = (name: string) => rows.find((r) => r.name.startsWith(name))!;
  const rss = (r: Result) => (r.rssBytes === undefined ? undefined : r.rssBytes / MiB);
  const memory = (r: Result): Target => {
    const mib = rss(r);
    return [`${r.name}: peak RSS ≤ 64 MiB`, mib === undefined ? undefined : mib <= 64, mib === undefined ? "no /usr/bin/time" : `${mib.toFixed(1)} MiB`];
  };
  const warm = row("regctl __complete zsh after big/app:t0999, warm");
  const cold = row("regctl __complete zsh after big/app:t0999, cold");
  const digests = row("regctl tags --digests, one answer");
  const ceiling = row("ceiling: in-process fetch");
  return [
    ...rows.filter((r) => r.name.startsWith("regctl")).map(memory),
    [`TAB on ${BIG_TAGS.toLocaleString("en-US")} tags, warm ≤ 30 ms`, warm.ms <= 30, `${fmtMs(warm.ms)} ms`],
    [`TAB on ${BIG_TAGS.toLocaleString("en-US")} tags, cold within the 1 s budget`, cold.ms <= 1000, `${fmtMs(cold.ms)} ms`],
    [`tags --digests of ${BIG_TAGS.toLocaleString("en-US")} against the ceiling`, undefined, `${(digests.ms / ceiling.ms).toFixed(2)}× the ceiling's time`],
  ];
}

// ───────────────────────────── main ─────────────────────────────

let reg: Registry | undefined;
let unanswering: TCPSocketListener | undefined; // accepts connections, never answers
let big: TagServer | undefined;
let failed = false;
try {
  if (!(await Bun.file(REGCTL).exists())) throw new Error(`${REGCTL} not found: run \`make build\``);
  readFromDisk(REGCTL);
  reg = await startRegistry({ deleteEnabled: true });
  if (!reg.host.startsWith("127.0.0.1:")) throw new Error(`registry not on loopback: ${reg.host}`);
  const t0 = performance.now();
  const seeded = await pushManyTags(reg.url, REPO, TAGS, { distinctImages: true });
  const expected = new Map(seeded.map((s) => [s.tag, s.digest]));
  if (new Set(expected.values()).size !== TAGS) throw new Error("seeded images do not all have distinct digests");
  console.error(`registry ${reg.host}: seeded ${REPO} with ${TAGS} tags in ${(performance.now() - t0).toFixed(0)} ms; ${RUNS} runs each`);

  unanswering = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open() {} } });
  const unreachable = { down: `127.0.0.1:${await freePort()}`, unanswered: `127.0.0.1:${unanswering.port}` };

  const results: Result[] = [];
  big = startBigServer();
  for (const c of buildCases(reg, expected, unreachable, big)) if (!ONLY || c.job.includes(ONLY)) results.push(await measure(c));
  report(results);
} catch (err) {
  failed = true;
  console.error(`bench failed: ${err instanceof Error ? err.message : err}`);
} finally {
  unanswering?.stop(true);
  big?.stop();
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
