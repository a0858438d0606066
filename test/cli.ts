// Run regctl as a user does: a child process, its exit code, stdout and stderr.
// REGCTL_BIN picks the program (make test sets it to dist/regctl, the compiled binary);
// by default the tests run `bun regctl.ts`.
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { OLDEST_CURL } from "../regctl.ts";
import { exec } from "./fixtures.ts";

export const ROOT = resolve(import.meta.dir, "..");
export const SCRIPT = join(ROOT, "regctl.ts");

/** The command that runs regctl: the compiled binary under `make test`, else bun on the script. */
export function regctlCommand(): string[] {
  const bin = process.env.REGCTL_BIN;
  return bin ? [resolve(ROOT, bin)] : [process.execPath, SCRIPT];
}

/** A cache directory of the tests' own, so no run sees another's remembered schemes. */
export const CACHE_HOME = mkdtempSync(join(tmpdir(), "regctl-cache-"));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Secrets the tests use: every output of regctl (and of the scripts it prints) is scanned for
 * them as it arrives, so a leak fails the test that caused it. A JWT of any kind counts too.
 */
const secrets = new Set<string>();
export function secret(value: string): string {
  secrets.add(value);
  return value;
}
const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\./;
export function assertNoSecret(text: string, where: string): void {
  for (const s of secrets) if (text.includes(s)) throw new Error(`a test secret appeared in ${where}`);
  if (JWT.test(text)) throw new Error(`a token (JWT) appeared in ${where}`);
}
export const secretsWatched = () => [...secrets];

/** One run of regctl, or of a transcript by sh: whether a test secret was handed to it (env or stdin), and how many of its two outputs were scanned. */
export interface RunRecord {
  what: string;
  handedSecret: boolean;
  scanned: number;
}
/** Every run the suite made, in order (all test files share it). */
export const runs: RunRecord[] = [];

function record(what: string, given: (string | undefined)[]): RunRecord {
  const r = { what, handedSecret: given.some((v) => v !== undefined && [...secrets].some((s) => v.includes(s))), scanned: 0 };
  runs.push(r);
  return r;
}

function scan(r: RunRecord, text: string, where: string): void {
  assertNoSecret(text, where);
  r.scanned++;
}

export async function run(args: string[], opts: { env?: Record<string, string>; stdin?: string; cmd?: string[]; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const r = record(`regctl ${args.join(" ")}`, [...Object.values(opts.env ?? {}), opts.stdin]);
  const { code, stdout, stderr } = await exec([...(opts.cmd ?? regctlCommand()), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", XDG_CACHE_HOME: CACHE_HOME, NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin,
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
  scan(r, stdout, `stdout of ${r.what}`);
  scan(r, stderr, `stderr of ${r.what}`);
  if (stderr.startsWith("#!/bin/sh\n")) assertOldCurl(stderr, `the transcript of ${r.what}`);
  return { code, stdout, stderr };
}

/**
 * The curl options and -w variables a transcript may use, each with the curl release that added it
 * (the "Added:" line of curl's docs/cmdline-opts/<option>.md; a -w variable's "(Added in …)" in
 * write-out.md, none for http_code: as old as -w). Every transcript the suite prints or runs is
 * checked against it: an option missing here, or newer than OLDEST_CURL, fails the test that made it.
 */
export const CURL_ADDED: Record<string, string> = {
  "-s": "4.0", // --silent
  "-S": "5.9", // --show-error
  "-f": "4.0", // --fail
  "-o": "4.0", // --output
  "-I": "4.0", // --head
  "-D": "5.7", // --dump-header
  "-X": "6.0", // --request
  "-H": "5.0", // --header
  "-u": "4.0", // --user
  "-k": "7.10", // --insecure
  "-L": "4.9", // --location
  "--cacert": "7.5",
  "--cert": "5.0",
  "--key": "7.9.3",
  "--data-binary": "7.2",
  "--data-urlencode": "7.18.0",
  "-w": "6.5", // --write-out
  "%{http_code}": "6.5",
};
/** What older scripts used, and the curl release that added it: none may appear any more. */
export const CURL_TOO_NEW: Record<string, string> = { "--fail-with-body": "7.76.0", header_json: "7.83.0", "%header{": "7.84.0" };

/** Options of curl that take a value (the next word). */
const CURL_TAKES_VALUE = new Set(["-o", "-D", "-X", "-H", "-u", "-w", "--cacert", "--cert", "--key", "--data-binary", "--data-urlencode"]);

/** The options (and -w variables) of every curl command in a script, comments left out. */
export function curlOptions(script: string): string[] {
  const found = new Set<string>();
  const commands = script
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n");
  // From each "curl", its sh words (quotes removed, "$VAR" kept as text) up to what ends the command.
  for (const start of commands.matchAll(/(?<=^|[\s($])curl(?=\s)/gm)) {
    // a command is one line in these scripts
    const rest = commands.slice(start.index + 4).split("\n", 1)[0]!;
    const words = [...rest.matchAll(/(?:[^\s'"\\;|()]+|'[^']*'|"(?:[^"\\]|\\.)*"|\\.)+|[;|()\n]/g)].map((m) => m[0].replace(/'([^']*)'|"((?:[^"\\]|\\.)*)"/g, "$1$2"));
    for (let i = 0; i < words.length && !/^[;|()\n]$/.test(words[i]!); i++) {
      const w = words[i]!;
      if (!w.startsWith("-")) continue;
      // -sS is -s and -S
      for (const o of w.startsWith("--") ? [w] : [...w.slice(1)].map((c) => `-${c}`)) found.add(o);
      if (!CURL_TAKES_VALUE.has(w)) continue;
      i++;
      if (w === "-w") for (const m of (words[i] ?? "").matchAll(/%\{[a-z_]+\}|%header\{/g)) found.add(m[0]);
    }
  }
  return [...found];
}

const versionOrder = (v: string) => v.split(".").reduce((n, part, i) => n + Number(part) * 1000 ** (2 - i), 0);

/** Every transcript the suite printed (--curl) or ran, and where it came from: each checked by assertOldCurl. */
export const scriptsChecked: { where: string; script: string }[] = [];

/** Throws when a script uses a curl feature newer than OLDEST_CURL, or one CURL_ADDED does not list. */
export function assertOldCurl(script: string, where: string): void {
  for (const [feature, added] of Object.entries(CURL_TOO_NEW))
    if (script.includes(feature)) throw new Error(`${where} uses ${feature} (curl ${added}): the scripts run with curl ${OLDEST_CURL}`);
  for (const o of curlOptions(script)) {
    const added = CURL_ADDED[o];
    if (!added) throw new Error(`${where} uses curl ${o}, which CURL_ADDED in test/cli.ts does not list: add it with the curl release that added it`);
    if (versionOrder(added) > versionOrder(OLDEST_CURL)) throw new Error(`${where} uses curl ${o} (curl ${added}): the scripts run with curl ${OLDEST_CURL}`);
  }
  scriptsChecked.push({ where, script });
}

/**
 * The PATH transcripts run with: a folder holding sh and curl alone. The curl is the system's, or
 * REGCTL_TEST_CURL (a curl binary, e.g. one built from curl's tag curl-7_68_0), to run every
 * script of the suite with an old curl.
 */
const scriptPath = (() => {
  // sh and curl alone, as the README promises: a script that calls tr, sed or grep fails here.
  const dir = mkdtempSync(join(tmpdir(), "regctl-shcurl-"));
  const curl = process.env.REGCTL_TEST_CURL ? resolve(process.env.REGCTL_TEST_CURL) : Bun.which("curl");
  const shell = Bun.which("sh");
  if (!curl || !shell) throw new Error("sh and curl must be on PATH to run the transcripts");
  symlinkSync(curl, join(dir, "curl"));
  symlinkSync(shell, join(dir, "sh"));
  return dir;
})();

/** The version of the curl that sh() runs transcripts with. */
export async function scriptCurlVersion(): Promise<string> {
  const { stdout } = await exec(["sh", "-c", "curl --version"], { env: { PATH: scriptPath } });
  return /^curl (\S+)/.exec(stdout)?.[1] ?? "";
}

/** Run a shell script (a --curl transcript) with sh, as a user would; its curl features are checked first. */
export async function sh(script: string, env: Record<string, string> = {}): Promise<RunResult> {
  const r = record("a transcript run by sh", Object.values(env));
  assertOldCurl(script, "a transcript run by sh");
  const { code, stdout, stderr } = await exec(["sh", "-c", script], { env: { PATH: scriptPath, ...env }, timeoutMs: 30_000 });
  scan(r, stdout, `stdout of ${r.what}`);
  scan(r, stderr, `stderr of ${r.what}`);
  return { code, stdout, stderr };
}

/** Tags of a repository, straight from the registry API (no regctl code). */
export async function registryTags(url: string, repo: string): Promise<string[]> {
  const res = await fetch(`${url}/v2/${repo}/tags/list`);
  if (res.status === 404) return [];
  const body = (await res.json()) as { tags: string[] | null };
  return (body.tags ?? []).sort();
}

export const ACCEPT_ALL = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
].join(", ");

/** Status of HEAD /v2/<repo>/manifests/<ref> on the real registry. */
export async function manifestStatus(url: string, repo: string, ref: string): Promise<number> {
  return (await fetch(`${url}/v2/${repo}/manifests/${ref}`, { method: "HEAD", headers: { Accept: ACCEPT_ALL } })).status;
}
