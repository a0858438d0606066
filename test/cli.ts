// Run regctl as a user does: a child process, its exit code, stdout and stderr.
// REGCTL_BIN picks the program (make test sets it to dist/regctl, the compiled binary);
// by default the tests run `bun regctl.ts`.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
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
  return { code, stdout, stderr };
}

/** Run a shell script (a --curl transcript) with sh, as a user would. */
export async function sh(script: string, env: Record<string, string> = {}): Promise<RunResult> {
  const r = record("a transcript run by sh", Object.values(env));
  const { code, stdout, stderr } = await exec(["sh", "-c", script], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, timeoutMs: 30_000 });
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
