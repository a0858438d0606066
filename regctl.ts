#!/usr/bin/env bun
/**
 * regctl.ts — talk to a Docker/OCI registry (HTTP API V2) by hand, correctly, and show the curl
 * commands that do it.
 *
 *   bun regctl.ts delete localhost:5000/busybox:latest --curl
 *   deno run -A regctl.ts tags localhost:5000/busybox --digests
 *   make build && dist/regctl --help          (one standalone binary, bun build --compile)
 *
 * The file reads top to bottom, each layer using only the ones above it:
 *   1. constants and types        media types, the Accept list, error codes, request values
 *   2. errors                     one base class with an exit code; hints by registry error code
 *   3. parsing                    references, digests, Link, WWW-Authenticate, durations
 *   4. local configuration        credentials (flags, env, docker config, helpers), certs.d, cache
 *   5. curl transcript            a request value as a runnable POSIX sh line; the transcript of a run
 *   6. transport                  the only code that touches the network, driving the transcript:
 *                                 authentication (the ON_401 table), one retry policy (retryDecision), TLS,
 *                                 streamed bodies (BodyStream), when to collect garbage (collectGarbage)
 *   7. registry API               one function per endpoint, returning data; Registry knows a dry run
 *   8. operations                 resolve, inspect, delete, untag, prune (decidePrune), du, copy and tag
 *                                 (the Copier: children first, the tag last) … from API calls
 *   9. output and prompts         text and JSON; stdout for results, stderr for the rest; terminal prompts
 *  10. completion                 candidates for a TAB, and the bash, zsh and fish scripts
 *  11. CLI                        options and the command table (cac renders --help from it), main()
 */
import type { cac as Cac } from "cac";
import { Buffer } from "node:buffer";
import {
  chmodSync,
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";

/**
 * Node modules that only some commands need are loaded when first used: loading node:tls,
 * node:crypto and node:child_process up front costs more than the rest of start-up.
 */
const builtin = <T>(name: string) => process.getBuiltinModule(name) as T;
const nodeCrypto = () => builtin<typeof import("node:crypto")>("node:crypto");

/**
 * The compiled binary starts with JavaScriptCore's JIT held back (`--compile-jit-policy` in the
 * Makefile): code that runs once at start-up stays in the interpreter instead of being compiled.
 * A warm TAB in 100,000 tags takes 10 % less time and 4 MiB less memory. Work that repeats
 * (a command's requests, a list loaded for a TAB) gets the normal JIT back first. Under
 * `bun regctl.ts` and deno this does nothing.
 */
function fullSpeed(): void {
  (globalThis as { Bun?: { unsafe?: { setJITPolicy?(scale: number): void } } }).Bun?.unsafe?.setJITPolicy?.(1);
}

/** regctl's version: package.json says the same (a test checks), the file needs nothing beside it. */
export const VERSION = "0.1.0";

/** The build target, set by `make release` (`--define REGCTL_TARGET=…`): linux-x64-baseline, linux-arm64-musl… */
declare const REGCTL_TARGET: string | undefined;
const buildTarget = () => (typeof REGCTL_TARGET === "string" ? REGCTL_TARGET : `${process.platform}-${process.arch}`);

/**
 * The npm packages regctl uses, pinned here as in package.json (a test checks they agree), so the
 * file runs alone: deno takes `npm:name@version`; bun run alone auto-installs `name@version`;
 * in the checkout and in the compiled binary the plain name resolves (the binary bundles it).
 * The pinned specifiers are built at run time, so bun's bundler does not try to resolve them.
 */
export const NPM_PACKAGES = { cac: "7.1.0", ofetch: "1.5.1" } as const;

const npmModules = new Map<string, Promise<unknown>>();

/** A pinned package, loaded once a run (ofetch is asked for by every request). */
function npmModule<T>(name: keyof typeof NPM_PACKAGES, plain: () => Promise<T>): Promise<T> {
  return remember(npmModules, name, () => loadPinned(name, plain)) as Promise<T>;
}

async function loadPinned<T>(name: keyof typeof NPM_PACKAGES, plain: () => Promise<T>): Promise<T> {
  try {
    return await loadNpmModule(name, plain);
  } catch (err) {
    throw new RegctlError(
      `cannot load ${name}@${NPM_PACKAGES[name]}: ${(err as Error)?.message ?? err}`,
      "run alone, regctl.ts fetches it from the npm registry on first use: check the network (behind a TLS proxy, its CA: DENO_CERT for deno)",
    );
  }
}

async function loadNpmModule<T>(name: keyof typeof NPM_PACKAGES, plain: () => Promise<T>): Promise<T> {
  const version = NPM_PACKAGES[name];
  const bun = (globalThis as { Bun?: { resolveSync(spec: string, from: string): string } }).Bun;
  if ((globalThis as { Deno?: unknown }).Deno) return import(`npm:${name}@${version}`);
  // The compiled binary runs from bun's embedded file system and bundles every package.
  if (!bun || (process.argv[1] ?? "").startsWith("/$bunfs/")) return plain();
  try {
    bun.resolveSync(name, dirname(new URL(import.meta.url).pathname));
  } catch {
    return import([name, version].join("@")); // the file alone: bun installs the pinned version
  }
  return plain();
}

/** The value a map holds for a key, made and kept on first use (one lookup or request per key and run). */
function remember<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

// ───────────────────────────── 1. constants and types ─────────────────────────────

/** Media types, as the registry names them in Content-Type and Accept. */
const MediaType = {
  /** Docker image manifest, schema 2 — what `docker push` stores. */
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  /** Docker manifest list: one manifest per platform. */
  DockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  /** OCI image manifest. */
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  /** OCI image index: the OCI manifest list. */
  OciIndex: "application/vnd.oci.image.index.v1+json",
  /** Signed schema 1: what distribution converts to when the Accept header lacks the stored type. */
  DockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  /** The OCI empty descriptor's type: the config of an artifact (and of untag's throwaway), `{}`. */
  OciEmpty: "application/vnd.oci.empty.v1+json",
} as const;

/**
 * Every manifest request sends this one list. Without the stored type in Accept, distribution
 * converts a schema2 image to schema1 on the fly (a digest that is not stored, so DELETE answers
 * MANIFEST_UNKNOWN), answers 404 for OCI types, and picks the linux/amd64 child of a list.
 * Schema 1 comes last, only for images pushed by very old clients.
 */
export const MANIFEST_ACCEPT = [MediaType.DockerManifest, MediaType.DockerList, MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerSchema1Signed].join(", ");

const INDEX_TYPES: readonly string[] = [MediaType.DockerList, MediaType.OciIndex];

/** Error codes of the distribution spec (errors[].code in an error body) that regctl reads. */
const ErrorCode = {
  DIGEST_INVALID: "DIGEST_INVALID",
  MANIFEST_UNKNOWN: "MANIFEST_UNKNOWN",
  NAME_UNKNOWN: "NAME_UNKNOWN",
  DENIED: "DENIED",
  UNSUPPORTED: "UNSUPPORTED",
  TOOMANYREQUESTS: "TOOMANYREQUESTS",
  BLOB_UNKNOWN: "BLOB_UNKNOWN",
  MANIFEST_INVALID: "MANIFEST_INVALID",
  MANIFEST_BLOB_UNKNOWN: "MANIFEST_BLOB_UNKNOWN",
} as const;

/**
 * Process exit codes, documented in README.md. OUTPUT_CLOSED: stdout or stderr lost its reader
 * (`| head`); 128 + SIGPIPE, what a shell reports for coreutils, so `set -o pipefail` reads it alike.
 */
export const Exit = { OK: 0, FAILED: 1, USAGE: 2, INTERRUPTED: 130, OUTPUT_CLOSED: 141 } as const;

/**
 * Docker Hub, named once: the host its API answers on, the names people give it (normalised to
 * the host), the name it goes by when offered back, and its key in docker's config.json.
 */
const DockerHub = {
  host: "registry-1.docker.io",
  aliases: ["docker.io", "index.docker.io"] as readonly string[],
  shown: "docker.io",
  configKey: "https://index.docker.io/v1/",
  /** one-part names live under library/: busybox is library/busybox */
  namespace: "library",
} as const;

/** The tag a reference without one means, as docker decides. */
const DEFAULT_TAG = "latest";
/** Manifests larger than this are refused without reading them (distribution's own limit is 4 MiB). */
const MAX_MANIFEST_BYTES = 4 << 20;
/** Error bodies, and any answer that names no limit of its own, are read up to this size. */
const MAX_ERROR_BYTES = 64 << 10;
/** Tag lists, catalogs and configs are read up to this size. */
const MAX_JSON_BYTES = 32 << 20;
/** A digest that no content can have: DELETE of it tells whether deletes are enabled, deleting nothing. */
const IMPOSSIBLE_DIGEST = `sha256:${"0".repeat(64)}`;

type Method = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";

/** A request that changes the registry (a dry run prints it, never sends it). */
const isWrite = (req: Pick<RegistryRequest, "method">) => req.method !== "GET" && req.method !== "HEAD";

/**
 * One HTTP request as a value: the transport sends it, the transcript prints it. Everything the
 * transport acts on is a field here; what only the curl script needs is under `script`.
 */
export interface RegistryRequest {
  method: Method;
  url: string;
  headers?: Record<string, string>;
  /** a manifest or a chunk of a blob: bytes are sent as they are */
  body?: string | Uint8Array;
  /** Form fields (OAuth2 token requests); a secret is named, with the registry whose it is, never held. */
  form?: [string, string | { secret: "username" | "password" | "identityToken"; host: string }][];
  /**
   * Credentials, by reference: the transport fills in the secret, the transcript a shell variable.
   * basic: the registry's (or `host`'s) username and password; bearer: the token in that variable.
   */
  auth?: { basic: true; host?: string } | { bearer: string };
  /** Send without credentials and take a 401 as the answer (ping: which auth scheme is this?). */
  anonymous?: boolean;
  /** Error statuses that are an answer here, not a failure (a HEAD's 404: not there). */
  expect?: number[];
  /** Read at most this many bytes of the body (default: error-body size). */
  maxBody?: number;
  /** A blob read: a 2xx answer's body is handed over unread, as `stream` (see BodyStream). */
  stream?: boolean;
  /** A write that may be sent again when its outcome is unknown: the same bytes to the same place. */
  idempotent?: boolean;
  /**
   * How to learn whether a write whose answer was lost happened: `request` answers `done` if it
   * did (a HEAD after a DELETE: 404). Without this or `idempotent`, such a write is reported unknown.
   */
  verify?: { request: RegistryRequest; done: number };
  /** What the curl transcript needs beyond the request itself. */
  script?: ScriptHints;
}

/** How a request appears in the curl transcript: read by section 5 alone. */
interface ScriptHints {
  /** Shell comment printed above the curl line: why this step, where it is not obvious. */
  why?: string;
  /** A probe (which scheme does this host speak?): printed as a comment, not as a command. */
  comment?: boolean;
  /**
   * Capture this response header into a shell variable. `check`: the script stops unless the value
   * is the one regctl saw (a digest it planned with).
   */
  capture?: {
    variable: string;
    header: string;
    check?: boolean;
    /** the value is a URL that may be relative: the script makes it absolute against the request's origin */
    resolve?: boolean;
    /** in a dry run, the value the script will capture stands for this one in later commands */
    planned?: string;
  };
  /** A token request: capture "token" or "access_token" of the JSON answer into this shell variable. */
  tokenCapture?: string;
  /**
   * A check: the script stops, saying `message`, unless the answer has this status. With `done`, a
   * write the script says it did; regctl got another answer (a mount refused): a comment, and what
   * regctl did instead follows it.
   */
  stopUnless?: { status: number; message: string; done?: string };
  /** A read whose body the script pipes into the write that names it in `pipedFrom`: no line of its own. */
  feeds?: boolean;
  /** A write whose body is this read's answer: `curl GET … | curl … --data-binary @- …` (a blob copied across registries). */
  pipedFrom?: RegistryRequest;
  /**
   * A tags/list read right before the first write: after it, the script HEADs every tag and stops,
   * as regctl does, if a write of this plan would remove a tag it did not plan.
   */
  recheck?: PlannedWrites;
  /** Done in the script by the loop of an earlier `recheck`: no line of its own. */
  inRecheck?: boolean;
}

/** What a plan is about to change in one repository, as the recheck before the first write sees it. */
interface PlannedWrites {
  repository: string;
  /** each digest to delete, with the tags planned to go with it */
  deletes: Map<string, string[]>;
  /** each tag to untag (prune), with the digest it is planned on */
  untags: Map<string, string>;
  /** lists and indexes the plan read: their children are known */
  lists: Set<string>;
}

/** What regctl and its scripts say when the recheck finds a tag the plan did not foresee. */
const CHANGED_SINCE_PLAN = "the repository changed since the plan";

interface RegistryResponse {
  /** false in a dry run: a write was printed, not sent, and nothing else here is an answer */
  sent: boolean;
  status: number;
  statusText: string;
  headers: Headers;
  body: Uint8Array;
  /** the unread body of a 2xx answer to a `stream` request */
  stream?: BodyStream;
  url: string;
  /** the write's answer was lost, and its `verify` request found it done: this is that answer */
  verified?: boolean;
}

export interface Reference {
  /** host[:port], Docker Hub as registry-1.docker.io */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Options every command takes. */
interface GlobalOptions {
  curl: boolean;
  dryRun: boolean;
  json: boolean;
  yes: boolean;
  concurrency: number;
  plainHttp: boolean;
  insecure: boolean;
  timeoutMs: number;
  /** how many times a request may be sent again (--retries) */
  retries: number;
  verbose: boolean;
  username?: string;
  passwordStdin: boolean;
  cacert: string[];
}

// ───────────────────────────── 2. errors ─────────────────────────────

/** Every error regctl reports: one line of message, an optional hint, an exit code. */
export class RegctlError extends Error {
  constructor(
    message: string,
    public hint?: string,
    public exitCode: number = Exit.FAILED,
  ) {
    super(message);
    this.name = "RegctlError";
  }
}

/** Bad usage or input, refused before any request: exit 2. */
export class UsageError extends RegctlError {
  constructor(message: string, hint?: string) {
    super(message, hint, Exit.USAGE);
    this.name = "UsageError";
  }
}

interface RegistryDiagnostic {
  code: string;
  message?: string;
  detail?: unknown;
}

/** A registry answered with an error status. */
class RegistryError extends RegctlError {
  constructor(
    public method: Method,
    public url: string,
    public status: number,
    public errors: RegistryDiagnostic[],
    hint?: string,
  ) {
    const what = errors.length ? errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join("; ") : method === "HEAD" ? "(HEAD answers carry no error body)" : "";
    super(`${method} ${url}: ${status} ${statusText(status)}${what ? ` ${what}` : ""}`, hint);
    this.name = "RegistryError";
  }
}

/** At most this much of a value an answer or a file gave is quoted in a message: enough to recognise it. */
const QUOTED_CHARS = 80;
/** A value from elsewhere, as a message quotes it. */
const quoted = (v: string) => v.slice(0, QUOTED_CHARS);

/** A local file regctl reads (docker's config.json, podman's auth.json) that it cannot use. */
class BrokenFile extends RegctlError {
  constructor(
    readonly path: string,
    problem: string,
    hint = "fix or remove the file (docker login rewrites it)",
  ) {
    super(`${path}: ${problem}`, hint);
    this.name = "BrokenFile";
  }
}

/** Stopped by Ctrl-C or a signal (exit 130), saying what was left as it was. */
const interrupted = (what: string, hint?: string) => new RegctlError(`interrupted: ${what}`, hint, Exit.INTERRUPTED);

/** What a request was about, as messages name it: the method and a URL or a reference (repo:tag, repo@digest). */
interface Asked {
  method: Method;
  what: string;
}

/**
 * The registry answered, but the answer cannot be used: not JSON, a digest that does not match
 * its bytes, a list that is not one, a name that is not a name. Nothing is done with it.
 */
class BadAnswer extends RegctlError {
  constructor(
    readonly asked: Asked,
    readonly problem: string,
    hint = "the registry's answer is broken or hostile: nothing was done with it",
  ) {
    super(`${asked.method} ${asked.what}: ${problem}`, hint);
    this.name = "BadAnswer";
  }
}

/** An answer's body as JSON: an object or array, else a BadAnswer naming what was due. */
function parseJsonAnswer<T>(body: Uint8Array, asked: Asked, hint?: string): T {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(body));
    if (typeof parsed === "object" && parsed !== null) return parsed as T;
  } catch {
    // the parser's message may quote the answer: say what, not where
  }
  throw new BadAnswer(asked, "the answer is not JSON", hint);
}

/** A 404: what was asked for is not there (deleted meanwhile, or never was). */
const isGone = (err: unknown): boolean => err instanceof RegistryError && err.status === 404;

/** The request never got an answer: refused, reset, timed out, TLS failed. */
class NetworkError extends RegctlError {
  constructor(
    public method: Method,
    public url: string,
    public reason: string,
    public code: string,
    hint?: string,
  ) {
    super(`${method} ${url}: ${reason}`, hint);
    this.name = "NetworkError";
  }
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};
function statusText(status: number): string {
  return STATUS_TEXT[status] ?? "";
}

/** Parse an error body: `{"errors":[{"code","message","detail"}]}`; anything else yields none. */
export function parseErrorBody(body: Uint8Array | string): RegistryDiagnostic[] {
  try {
    const text = typeof body === "string" ? body : new TextDecoder().decode(body);
    const parsed = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(parsed?.errors)) return [];
    return parsed.errors
      .filter((e): e is Record<string, unknown> => typeof e === "object" && e !== null && typeof e.code === "string")
      .map((e) => ({ code: String(e.code), message: typeof e.message === "string" ? e.message : undefined, detail: e.detail }));
  } catch {
    return [];
  }
}

/** Hosted registries whose DELETE answers mean "not through this API", not "disabled in the config". */
const HOSTED = /(^|\.)(docker\.io|ghcr\.io|gcr\.io|pkg\.dev|quay\.io|azurecr\.io|amazonaws\.com|public\.ecr\.aws|gitlab\.com)$/;

/** The hint for a registry error, from its code and the request that got it. */
export function hintFor(method: Method, url: string, status: number, errors: RegistryDiagnostic[]): string | undefined {
  const onManifest = /\/manifests\/[^/]+$/.test(url);
  const byDigest = /\/manifests\/[a-z0-9]+:[a-f0-9]+$/i.test(url);
  const code = errors[0]?.code;
  if (method === "DELETE" && (status === 405 || code === ErrorCode.UNSUPPORTED))
    return HOSTED.test(new URL(url).hostname)
      ? "this hosted registry does not delete through the registry API: use its own web UI or API (GHCR: the GitHub packages API)"
      : "deletes are disabled on this registry: set storage.delete.enabled: true (or REGISTRY_STORAGE_DELETE_ENABLED=true) and restart it";
  if (method === "DELETE" && code === ErrorCode.DIGEST_INVALID && !byDigest)
    return "this registry deletes manifests by digest only: `regctl delete REF` resolves the tag to its digest first";
  if (code === ErrorCode.MANIFEST_UNKNOWN && byDigest)
    return (
      "that digest is not stored in this repository (a GET or DELETE of it answers MANIFEST_UNKNOWN); a digest read without `Accept: " +
      MediaType.DockerManifest +
      "` belongs to a schema1 conversion made on the fly and never exists: get the stored one with `regctl digest REPO:TAG`"
    );
  if (code === ErrorCode.MANIFEST_UNKNOWN && onManifest) return "no such tag: list them with `regctl tags REPO`";
  if (code === ErrorCode.NAME_UNKNOWN || (status === 404 && /\/tags\/list/.test(url))) return "no such repository: list them with `regctl repos REGISTRY`";
  if (code === ErrorCode.BLOB_UNKNOWN && method !== "PUT")
    return "the repository lacks a blob its manifest names: the image is broken there (garbage-collected, or pushed incompletely)";
  if (code === ErrorCode.MANIFEST_INVALID || code === ErrorCode.MANIFEST_BLOB_UNKNOWN || (method === "PUT" && onManifest && status === 400))
    return "the registry refused the manifest: a media type it does not know, or a part of it missing";
  const push = (method === "POST" || method === "PATCH" || method === "PUT") && (onManifest || /\/blobs\/uploads\//.test(url));
  if (status === 405 && push) return "the registry is read-only, or does not accept pushes: nothing can be written there";
  if (status === 401) return "the registry wants credentials";
  if ((status === 403 || code === ErrorCode.DENIED) && push)
    return `these credentials may pull but not push to ${new URL(url).host} (the credentials lack permission for this operation)`;
  if (status === 403 || code === ErrorCode.DENIED) return "the credentials lack permission for this operation";
  if (status === 429 || code === ErrorCode.TOOMANYREQUESTS) return "rate limited: try again later, or lower --concurrency";
  if (status === 404 && /\/_catalog/.test(url)) return "this registry offers no catalog (Docker Hub, for one): name the repository";
  return undefined;
}

// ───────────────────────────── 3. parsing ─────────────────────────────

// Docker's reference grammar, as distribution/reference states it (regexp.go, normalize.go):
//   reference := name [":" tag] ["@" digest]      name := [domain "/"] path
//   domain    := host [":" port]                  host := domain-name | "[" IPv6 "]"
//   domain-name: components of letters (either case), digits and inner '-', joined by '.';
//   IPv6 between brackets in hex digits and ':' only (no IPv4 tail, no zone); port: digits
//   path      := component ("/" component)*, each lowercase alphanumerics joined by '.', '_',
//                '__' or runs of '-'; 255 characters at most, Docker Hub's library/ included
//   tag       := [\w][\w.-]{0,127}                 digest := sha256, sha384 or sha512, lowercase hex
// What docker leaves to later (a port out of range, an IPv6 literal that is no address, a dotted
// name ending in a number, which a URL reads as a bad IPv4 address) is refused here, before any request.
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;
/** 64 lowercase hex digits alone: docker reads them as an image ID and refuses them as a name. */
const IMAGE_ID = /^[a-f0-9]{64}$/;
/** The prefixes regctl takes before a reference, where docker takes none: a scheme, or skopeo's transport. */
const REFERENCE_PREFIX = /^(?:(https?)|docker):\/\//i;

/** A reference or registry as typed, its prefix apart: `http://` and `https://` name the scheme to use, `docker://` none. */
export function splitPrefix(input: string): { scheme?: "http" | "https"; rest: string; prefixed: boolean } {
  const trimmed = input.trim();
  const m = REFERENCE_PREFIX.exec(trimmed);
  return { scheme: m?.[1]?.toLowerCase() as "http" | "https" | undefined, rest: m ? trimmed.slice(m[0].length) : trimmed, prefixed: !!m };
}
/** Longer than any reference whose host a DNS name can be (253 + port + 255 + tag + sha512 digest). */
const MAX_REFERENCE = 1024;
const REFERENCE_HINT = "a reference is [host[:port]/]name[:tag][@digest], e.g. localhost:5000/busybox:latest";
const IPV6_RULE = ": an IPv6 address goes in brackets as hex digits and ':' alone, without an IPv4 part or a zone";
const HOST_HINT = "give a host name or IPv4 address, or an IPv6 address in brackets, and optional port, e.g. localhost:5000, [::1]:5000";

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

/** Normalise a registry host as docker does: docker.io and index.docker.io are Docker Hub's API host. */
function normalizeRegistry(host: string): string {
  const h = host.toLowerCase();
  return DockerHub.aliases.includes(h) ? DockerHub.host : host;
}

/**
 * Why a host that the grammar allows still cannot be named in a URL (undefined when it can): a
 * port out of range is said alone, the same wherever a registry is given; `prefix` leads the rest.
 */
function hostError(host: string, prefix: string): UsageError | undefined {
  const port = /:([0-9]+)$/.exec(host)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    return new UsageError(`${host}: port ${port} is out of range (1 to 65535)`, "the registry's port, e.g. localhost:5000");
  try {
    new URL(`https://${host}/`);
    return undefined;
  } catch {
    const why = host.startsWith("[")
      ? `${host.replace(/:[0-9]+$/, "")} is not an IPv6 address`
      : `"${host}" is not a usable host: a dotted name ending in a number is read as an IPv4 address`;
    return new UsageError(`${prefix}: ${why}`, HOST_HINT);
  }
}

/**
 * Parse `[host[:port]/]name[:tag][@digest]` as docker does (normalize.go): the part before the
 * first '/' is the registry when it is `localhost`, holds '.' or ':', or has an uppercase letter
 * (a path is lowercase, so `Foo/bar` can only name a host, kept as written); otherwise the image
 * is on Docker Hub, where a one-part name lives under `library/`. docker.io and index.docker.io
 * are Docker Hub. 64 lowercase hex digits alone are refused, as docker does (an image ID). Only
 * regctl takes an http://, https:// or docker:// prefix; a bare registry where a repository is due
 * is the command line's to refuse.
 */
export function parseReference(input: string, { requireTagOrDigest = false } = {}): Reference {
  const bad = (why: string, hint = REFERENCE_HINT) => new UsageError(`invalid reference "${input}": ${why}`, hint);
  if (!input || input !== input.trim()) throw bad("empty or surrounded by spaces");
  if (input.length > MAX_REFERENCE) throw bad("too long");
  let { rest } = splitPrefix(input);
  if (IMAGE_ID.test(rest)) throw bad("64 hex digits are an image ID, not a repository name", `name the repository with its registry, e.g. docker.io/${rest}`);
  let registry: string = DockerHub.host;
  const slash = rest.indexOf("/");
  const first = rest.slice(0, Math.max(slash, 0));
  if (slash >= 0 && (first === "localhost" || /[.:]/.test(first) || first !== first.toLowerCase())) {
    if (!DOMAIN.test(first)) throw bad(`"${first}" is not a valid registry host${first.startsWith("[") ? IPV6_RULE : ""}`, HOST_HINT);
    const unusable = hostError(first, `invalid reference "${input}"`);
    if (unusable) throw unusable;
    registry = normalizeRegistry(first);
    rest = rest.slice(slash + 1);
  }
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw bad(`"${digest}" is not a digest (sha256: and 64 lowercase hex digits)`);
  }
  let tag: string | undefined;
  const colon = rest.indexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag (letters, digits, '_', '.', '-'; at most 128)`);
  }
  const parts = rest.split("/");
  if (parts.some((p) => !NAME_COMPONENT.test(p))) {
    const lower = parts.every((p) => NAME_COMPONENT.test(p.toLowerCase()));
    throw bad(lower ? "repository names must be lowercase" : `"${rest}" is not a valid repository name`);
  }
  if (registry === DockerHub.host && parts.length === 1) parts.unshift(DockerHub.namespace);
  const repository = parts.join("/");
  if (repository.length > 255) throw bad("repository name longer than 255 characters");
  if (requireTagOrDigest && !tag && !digest) tag = DEFAULT_TAG;
  const ref = { registry, repository, tag, digest };
  // The limit applies to the full form, so whatever parses also parses again once formatted.
  if (formatReference(ref).length > MAX_REFERENCE) throw bad("too long");
  return ref;
}

/** A registry given alone: `host[:port]`, optionally with an http(s):// scheme and a trailing slash. */
export function parseRegistry(input: string): { registry: string; scheme?: "http" | "https" } {
  const { scheme, rest } = splitPrefix(input);
  const m = /^([^/]+)\/?$/.exec(rest);
  const host = m?.[1] ?? "";
  if (!DOMAIN.test(host)) throw new UsageError(`invalid registry "${input}"${host.startsWith("[") ? IPV6_RULE : ""}`, HOST_HINT);
  const unusable = hostError(host, `invalid registry "${input}"`);
  if (unusable) throw unusable;
  return { registry: normalizeRegistry(host), scheme };
}

/** What a reference points at in a manifest request: its digest, else its tag, else the default tag. */
function tagOrDigest(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** What a manifest request names, written as a reference: repo:tag, or repo@digest. */
function refName(repo: string, ref: string): string {
  return isDigest(ref) ? `${repo}@${ref}` : `${repo}:${ref}`;
}

/**
 * The tag the referrers fallback uses for a digest (OCI distribution spec, "referrers tag schema"):
 * `<alg>-<hex>`, the algorithm cut to 32 characters and the hex to 64.
 */
export function fallbackTag(digest: string): string {
  const [alg = "", hex = ""] = digest.split(":");
  return `${alg.slice(0, 32)}-${hex.slice(0, 64)}`;
}

/**
 * A tag named after a digest: the referrers fallback tag `sha256-<hex>`, or cosign's
 * `sha256-<hex>.sig`, `.att`, `.sbom` (any such suffix). `key` is the fallback tag of the subject.
 */
export function referrerTag(tag: string): { key: string; suffix?: string } | undefined {
  const m = /^((?:sha256|sha384|sha512)-[a-f0-9]{64})(?:\.([a-z0-9]+))?$/.exec(tag);
  return m ? { key: m[1]!, suffix: m[2] } : undefined;
}

export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The next-page URL of a `Link: <url>; rel="next"` header, resolved against the request URL. */
export function parseLinkNext(link: string | null, base: string): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*(.*)$/.exec(part);
    if (!m) continue;
    if (/(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)/i.test(m[2]!)) {
      try {
        return new URL(m[1]!, base).toString();
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse WWW-Authenticate (RFC 7235): several challenges, each `scheme k=v, k="quoted, with commas"`.
 * Unparseable input yields what could be read, never an exception.
 */
export function parseWwwAuthenticate(header: string | null): Challenge[] {
  const out: Challenge[] = [];
  // A real challenge is a few hundred bytes; a huge one is garbage, not worth the parse.
  if (!header || header.length > 16_384) return out;
  const re = /\s*(?:([A-Za-z][\w!#$%&'*+.^`|~-]*)(?=\s+[^\s=,]|\s*$|\s*,)\s*)?(?:([\w!#$%&'*+.^`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?\s*,?/gy;
  let current: Challenge | undefined;
  while (re.lastIndex < header.length) {
    const m = re.exec(header);
    if (!m || m[0].length === 0) break;
    if (m[1]) {
      current = { scheme: m[1].toLowerCase(), params: {} };
      out.push(current);
    }
    if (m[2] && current) {
      const raw = m[3] ?? "";
      const closed = raw.length >= 2 && raw.endsWith('"') && !raw.endsWith('\\"');
      current.params[m[2].toLowerCase()] = raw.startsWith('"') ? raw.slice(1, closed ? -1 : undefined).replace(/\\(.)/g, "$1") : raw;
    }
  }
  return out;
}

/**
 * `1500ms`, `30s`, `2m`, `12h`, `30d`, `2w` → milliseconds. The unit is required: a bare `30` is
 * refused, since seconds to one reader are days to another (`--older-than 30`).
 */
export function parseDuration(input: string, example = "30s"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(input);
  if (!m) {
    const bare = /^\s*\d+(?:\.\d+)?\s*$/.test(input);
    throw new UsageError(bare ? `duration "${input}" has no unit` : `invalid duration "${input}"`, `give a number with a unit (ms, s, m, h, d, w), e.g. ${example}`);
  }
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[m[2] as "s"];
  const ms = Math.round(Number(m[1]) * unit);
  // Beyond a century is a typo, and timers cannot hold it anyway.
  if (!Number.isSafeInteger(ms) || ms > 100 * 365 * 86400e3) throw new UsageError(`duration "${input}" is too long`, "use at most a few years, e.g. 365d");
  return ms;
}

/** Retry-After: delay-seconds or an HTTP date (RFC 9110 §10.2.3), in milliseconds. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${nodeCrypto().createHash("sha256").update(data).digest("hex")}`;
}

function digestOf(algorithm: string, data: Uint8Array): string {
  return `${algorithm}:${nodeCrypto().createHash(algorithm).update(data).digest("hex")}`;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

// ───────────────────────────── 4. local configuration ─────────────────────────────
// Credentials, certificates and the cache: files and helper programs, read lazily, never the network.

/** Credentials for one registry, and where they came from (named in errors, never printed). */
interface Credential {
  username?: string;
  password?: string;
  /** docker's `identitytoken`: an OAuth2 refresh token for the token server */
  identityToken?: string;
  source: string;
}

/**
 * The shell variables a transcript uses in place of secrets: these for the first registry that
 * needs credentials, the same with a suffix naming the host for any other (secretVar).
 */
const SecretVar = { username: "REGCTL_USERNAME", password: "REGCTL_PASSWORD", identityToken: "REGCTL_IDENTITY_TOKEN" } as const;
type SecretKind = keyof typeof SecretVar;

function dockerConfigPath(env = process.env): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), ".docker"), "config.json");
}

/** podman/skopeo's auth.json, where they keep logins. */
function podmanAuthPaths(env = process.env): string[] {
  return [env.REGISTRY_AUTH_FILE, env.XDG_RUNTIME_DIR && join(env.XDG_RUNTIME_DIR, "containers", "auth.json")].filter((p): p is string => !!p);
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [k: string]: unknown;
}

/**
 * Read a docker-style config file: undefined when absent, an error naming the file when broken.
 * With regularFileOnly (a TAB), anything but a regular file counts as absent: opening a FIFO
 * waits for a writer, a device may never end, and a TAB cannot wait.
 */
export function readDockerConfig(path: string, { regularFileOnly = false } = {}): DockerConfig | undefined {
  let text: string;
  try {
    if (regularFileOnly && !statSync(path).isFile()) return undefined;
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw new BrokenFile(path, `cannot read it: ${(err as Error).message}`, "check the file's permissions, or point DOCKER_CONFIG elsewhere");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message may quote the file, secrets and all: say where, not what.
    throw new BrokenFile(path, "not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new BrokenFile(path, "not a JSON object");
  const c = parsed as DockerConfig;
  for (const key of ["auths", "credHelpers"] as const)
    if (c[key] !== undefined && (typeof c[key] !== "object" || c[key] === null || Array.isArray(c[key]))) throw new BrokenFile(path, `"${key}" is not an object`);
  if (c.credsStore !== undefined && typeof c.credsStore !== "string") throw new BrokenFile(path, `"credsStore" is not a string`);
  return c;
}

/** The key a config file uses for a registry: Docker Hub's is its v1 URL; others may carry a scheme or path. */
function configKeyMatches(key: string, registry: string): boolean {
  return normalizeRegistry(hostOfConfigKey(key)) === registry;
}

/** The host of a config key: `https://index.docker.io/v1/` → index.docker.io, `reg:5000` as it is. */
function hostOfConfigKey(key: string): string {
  return key.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
}

function configKey(registry: string): string {
  // Docker Hub's key is the v1 index URL, not the registry host.
  return registry === DockerHub.host ? DockerHub.configKey : registry;
}

/** Decode `auths.<host>.auth`: base64 of user:password. */
function decodeAuth(auth: string, where: string): { username: string; password: string } {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) throw new RegctlError(`${where}: "auth" is not base64 of user:password`, "log in again with regctl login or docker login");
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** How credentials are looked up: how long a helper may take, and whether a config file may block. */
interface CredentialLimits {
  /** stop a credential helper that has not answered after this long (10 s) */
  helperTimeoutMs?: number;
  /** read config files only when they are regular files (a TAB: see readDockerConfig) */
  regularFileOnly?: boolean;
}

/** docker waits for a helper as long as it takes; a keychain waiting to be unlocked must not hang regctl. */
const HELPER_TIMEOUT_MS = 10_000;
/** far more than any credential: a helper that floods its output is stopped */
const HELPER_MAX_OUTPUT = 1024 * 1024;

type ChildProcess = import("node:child_process").ChildProcess;
/** Helpers still running, stopped when regctl exits: a TAB exits at its deadline, ^C exits too. */
const runningHelpers = new Set<ChildProcess>();
let helpersStoppedOnExit = false;

/** Stop a helper and all it started (a script's sleep, pass's gpg): its whole process group. */
function stopHelper(child: ChildProcess): void {
  runningHelpers.delete(child);
  try {
    if (child.pid) process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/**
 * Run `docker-credential-<name> <verb>` with input on stdin, as docker does, for at most
 * timeoutMs. It runs asynchronously, so that a TAB's deadline fires while it works, and in a
 * process group of its own, so that stopping it stops everything it started.
 */
async function credentialHelper(
  name: string,
  verb: "get" | "store" | "erase",
  input: string,
  { timeoutMs = HELPER_TIMEOUT_MS, env = process.env }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  if (!/^[\w.-]+$/.test(name)) throw new RegctlError(`invalid credential helper name "${name}"`, "check credsStore and credHelpers in the docker config");
  const program = `docker-credential-${name}`;
  const { spawn } = builtin<typeof import("node:child_process")>("node:child_process");
  const child = spawn(program, [verb], { env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
  runningHelpers.add(child);
  if (!helpersStoppedOnExit) process.on("exit", () => runningHelpers.forEach(stopHelper));
  helpersStoppedOnExit = true;
  return new Promise<string>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let settled = false;
    const settle = (then: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      then();
    };
    const stop = (what: string, hint: string) =>
      settle(() => {
        stopHelper(child);
        reject(new RegctlError(`credential helper ${program} ${what}`, hint));
      });
    const timer = setTimeout(
      () => stop(`${verb} did not answer within ${timeoutMs / 1000} s: stopped`, "run it by hand to see why (is a keychain waiting to be unlocked?)"),
      timeoutMs,
    );
    const capped = () => {
      if (stdout.length + stderr.length > HELPER_MAX_OUTPUT) stop(`${verb} answered more than ${HELPER_MAX_OUTPUT} bytes: stopped`, "run it by hand to see why");
    };
    child.stdout!.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      capped();
    });
    child.stderr!.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
      capped();
    });
    child.on("error", (err) => {
      const missing = (err as { code?: string }).code === "ENOENT";
      stop(
        missing ? "is not on PATH" : `failed: ${err.message}`,
        missing ? "install it, or remove it from credsStore/credHelpers in the docker config" : "run it by hand to see why",
      );
    });
    child.on("close", (status) =>
      settle(() => {
        runningHelpers.delete(child);
        if (status === 0) return resolve(stdout);
        const said = `${stdout}${stderr}`.trim().split("\n")[0]?.slice(0, 200);
        if (verb === "get" && /credentials not found/i.test(said ?? "")) return resolve("");
        reject(new RegctlError(`credential helper ${program} ${verb} exited ${status}${said ? `: ${said}` : ""}`, "run it by hand to see why"));
      }),
    );
    // A helper that exits without reading its input closes the pipe: its exit status tells.
    child.stdin!.on("error", () => {});
    child.stdin!.end(input);
  });
}

async function fromHelper(name: string, registry: string, path: string, env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<Credential | undefined> {
  const output = await credentialHelper(name, "get", configKey(registry), { timeoutMs, env });
  if (!output.trim()) return undefined;
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(output);
  } catch {
    throw new RegctlError(`credential helper docker-credential-${name} answered something other than JSON`, "run it by hand to see why");
  }
  const source = `docker-credential-${name} (from ${path})`;
  // docker's convention: the user "<token>" means the secret is an identity (refresh) token.
  if (parsed.Username === "<token>") return { identityToken: parsed.Secret, source };
  return { username: parsed.Username, password: parsed.Secret, source };
}

/**
 * Credentials for a registry, first found wins: flags (-u with --password-stdin); REGCTL_USERNAME
 * and REGCTL_PASSWORD; docker's config.json (credHelpers, credsStore, auths); podman's auth.json.
 */
export async function findCredential(
  registry: string,
  /** credentials given to this run, and where they came from (named when refused) */
  flags: { username?: string; password?: string; source?: string } = {},
  env = process.env,
  limits: CredentialLimits = {},
): Promise<Credential | undefined> {
  if (flags.username !== undefined) return { username: flags.username, password: flags.password ?? "", source: flags.source ?? "--username" };
  if (env.REGCTL_USERNAME) {
    // A username alone would shadow the docker config's working credentials with an empty password.
    if (env.REGCTL_PASSWORD === undefined)
      throw new UsageError("REGCTL_USERNAME is set but REGCTL_PASSWORD is not", "set both, or unset REGCTL_USERNAME to use the credentials of docker's config.json");
    return { username: env.REGCTL_USERNAME, password: env.REGCTL_PASSWORD, source: "REGCTL_USERNAME and REGCTL_PASSWORD" };
  }
  const path = dockerConfigPath(env);
  const config = readDockerConfig(path, limits);
  if (config) {
    const helper = helperFor(config, registry, { store: false });
    if (helper) return fromHelper(helper, registry, path, env, limits.helperTimeoutMs);
    if (config.credsStore) {
      const found = await fromHelper(config.credsStore, registry, path, env, limits.helperTimeoutMs);
      if (found) return found;
    }
    const entry = fromAuths(config, registry, path);
    if (entry) return entry;
  }
  for (const p of podmanAuthPaths(env)) {
    const c = readDockerConfig(p, limits);
    const entry = c && fromAuths(c, registry, p);
    if (entry) return entry;
  }
  return undefined;
}

/** The credential helper for a registry: its own in credHelpers, else (unless asked not to) credsStore. */
function helperFor(config: DockerConfig, registry: string, { store = true } = {}): string | undefined {
  return Object.entries(config.credHelpers ?? {}).find(([k]) => configKeyMatches(k, registry))?.[1] ?? (store ? config.credsStore : undefined);
}

function fromAuths(config: DockerConfig, registry: string, path: string): Credential | undefined {
  const [key, entry] = Object.entries(config.auths ?? {}).find(([k]) => configKeyMatches(k, registry)) ?? [];
  if (!entry || typeof entry !== "object") return undefined;
  for (const field of ["auth", "identitytoken", "username", "password"] as const)
    if (entry[field] !== undefined && typeof entry[field] !== "string") throw new BrokenFile(path, `auths["${key}"].${field} is not a string`);
  if (entry.identitytoken) return { identityToken: entry.identitytoken, source: path };
  if (entry.auth) return { ...decodeAuth(entry.auth, `${path} auths["${configKey(registry)}"]`), source: path };
  if (entry.username) return { username: entry.username, password: entry.password ?? "", source: path };
  return undefined;
}

/** Write a file that holds secrets: 0600, in a 0700 directory, replaced atomically. */
function writePrivateFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Store credentials as docker would: through the configured helper, else base64 in config.json. */
async function storeCredential(registry: string, username: string, password: string, env = process.env): Promise<string> {
  const path = dockerConfigPath(env);
  const config = readDockerConfig(path) ?? {};
  const helper = helperFor(config, registry);
  if (helper) {
    await credentialHelper(helper, "store", JSON.stringify({ ServerURL: configKey(registry), Username: username, Secret: password }), { env });
    return `docker-credential-${helper}`;
  }
  config.auths = { ...config.auths, [configKey(registry)]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } };
  writePrivateFile(path, `${JSON.stringify(config, null, "\t")}\n`);
  return path;
}

/** Remove stored credentials; false when there were none. */
async function eraseCredential(registry: string, env = process.env): Promise<{ removed: boolean; where: string }> {
  const path = dockerConfigPath(env);
  const config = readDockerConfig(path);
  if (!config) return { removed: false, where: path };
  const helper = helperFor(config, registry);
  let removed = false;
  if (helper) {
    try {
      await credentialHelper(helper, "erase", configKey(registry), { env });
      removed = true;
    } catch (err) {
      if (!config.auths?.[configKey(registry)]) throw err;
    }
  }
  const keys = Object.keys(config.auths ?? {}).filter((k) => configKeyMatches(k, registry));
  if (keys.length) {
    for (const k of keys) delete config.auths![k];
    writePrivateFile(path, `${JSON.stringify(config, null, "\t")}\n`);
    removed = true;
  }
  return { removed, where: helper ? `docker-credential-${helper}` : path };
}

/** TLS material for one registry: --cacert, and docker's certs.d directories as docker and skopeo read them. */
interface TlsFiles {
  caFiles: string[];
  cert?: string;
  key?: string;
}

function tlsFilesFor(registry: string, cacert: string[] = [], env = process.env): TlsFiles {
  const files: TlsFiles = { caFiles: [...cacert] };
  const dirs = [join(env.HOME || homedir(), ".docker", "certs.d", registry), join("/etc/docker/certs.d", registry)];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      if (n.endsWith(".crt")) files.caFiles.push(join(dir, n));
      else if (n.endsWith(".cert") && !files.cert) {
        files.cert = join(dir, n);
        files.key = join(dir, n.replace(/\.cert$/, ".key"));
      }
    }
  }
  return files;
}

/** Where regctl keeps what it learns between runs (each registry's scheme and auth). */
function cacheDir(env = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache"), "regctl");
}

type Scheme = "http" | "https";

/** The scheme each loopback registry answered on: remembered so commands and TABs skip the probe. */
function readSchemeCache(): Record<string, Scheme> {
  try {
    const parsed = JSON.parse(readFileSync(join(cacheDir(), "schemes.json"), "utf8"));
    return typeof parsed === "object" && parsed ? parsed : {};
  } catch {
    return {};
  }
}

function writeSchemeCache(registry: string, scheme: Scheme | undefined): void {
  const all = readSchemeCache();
  if (scheme) all[registry] = scheme;
  else delete all[registry];
  try {
    writePrivateFile(join(cacheDir(), "schemes.json"), JSON.stringify(all));
  } catch {
    // A cache that cannot be written only costs a probe next time.
  }
}

// ───────────────────────────── 5. curl transcript ─────────────────────────────

/** Quote for POSIX sh: single quotes hold everything but a single quote, which is spliced in. */
export function shQuote(s: string): string {
  if (s !== "" && /^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Quote a string in which the values of shell variables captured earlier should appear as
 * `"$VAR"`, so a script replays against whatever the registry answers then.
 */
export function shQuoteWithVars(s: string, vars: ReadonlyMap<string, string>): string {
  let parts: (string | { variable: string })[] = [s];
  for (const [value, variable] of vars) {
    parts = parts.flatMap((p) => (typeof p !== "string" ? [p] : p.split(value).flatMap((piece, i) => (i === 0 ? [piece] : [{ variable }, piece]))));
  }
  return (
    parts
      .filter((p) => p !== "")
      .map((p) => (typeof p === "string" ? shQuote(p) : `"$${p.variable}"`))
      .join("") || "''"
  );
}

interface CurlOptions {
  insecure?: boolean;
  cacert?: string;
  cert?: string;
  key?: string;
  /** value → shell variable: values captured earlier, shown as "$VAR" */
  vars?: ReadonlyMap<string, string>;
  /** TLS flags for the host of a `pipedFrom` read (another registry's) */
  source?: CurlOptions;
  /** the shell variable holding a host's secret (default: SecretVar's, whatever the host) */
  secretVar?: (kind: SecretKind, host: string) => string;
}

/**
 * The oldest curl the scripts run with. Every option and -w variable they use is older (CURL_ADDED
 * in test/cli.ts holds each with the curl release that added it): no -w '%header{…}' (7.84), no
 * --fail-with-body (7.76), no %{header_json} (7.83). Headers are read from -I or -D - with sh.
 */
export const OLDEST_CURL = "7.68.0";

/**
 * One curl command, on one line: `mode` (how the answer is taken: -f, -o, -w …) after the TLS
 * flags and credentials, then the method, headers, body and URL. Comments show it without a mode.
 */
function curlCommand(req: RegistryRequest, opts: CurlOptions, mode: string[] = []): string {
  const q = (s: string) => shQuoteWithVars(s, opts.vars ?? new Map());
  const secret = (kind: SecretKind, host: string) => opts.secretVar?.(kind, host) ?? SecretVar[kind];
  const args = ["curl", "-sS"];
  if (opts.insecure) args.push("-k");
  if (opts.cacert) args.push("--cacert", shQuote(opts.cacert));
  if (opts.cert) args.push("--cert", shQuote(opts.cert), "--key", shQuote(opts.key ?? ""));
  if (req.auth && "basic" in req.auth) {
    const host = req.auth.host ?? new URL(req.url).host;
    args.push("-u", `"$${secret("username", host)}:$${secret("password", host)}"`);
  }
  if (req.auth && "bearer" in req.auth) args.push("-H", `"Authorization: Bearer $${req.auth.bearer}"`);
  args.push(...mode);
  // -I: a HEAD, whose output is the headers
  if (req.method === "HEAD") args.push("-I");
  else if (req.method !== "GET") args.push("-X", req.method);
  for (const [k, v] of Object.entries(req.headers ?? {})) args.push("-H", q(`${k}: ${v}`));
  // A piped body comes from stdin; bytes are shown as the text they are (manifests are JSON).
  if (req.script?.pipedFrom) args.push("--data-binary", "@-");
  else if (req.body !== undefined) args.push("--data-binary", q(typeof req.body === "string" ? req.body : new TextDecoder().decode(req.body)));
  for (const [k, v] of req.form ?? []) args.push("--data-urlencode", typeof v === "string" ? q(`${k}=${v}`) : `"${k}=$${secret(v.secret, v.host)}"`);
  args.push(q(req.url));
  return args.join(" ");
}

/**
 * The read a write's body comes from, and the pipe into it: `curl -f -L GET … | `. -L follows a
 * redirect to blob storage (curl drops the Authorization header on another host since 7.58).
 */
function pipeFrom(req: RegistryRequest, opts: CurlOptions): string {
  const from = req.script?.pipedFrom;
  if (!from) return "";
  return `${curlCommand(from, { ...(opts.source ?? {}), vars: opts.vars, secretVar: opts.secretVar }, ["-f", "-L"])} | `;
}

/** After a command run with -f: a stop that names the request (curl's own message says only the status). */
const orStop = (req: Pick<RegistryRequest, "method" | "url">, vars: ReadonlyMap<string, string> = new Map()) =>
  ` || { echo ${shQuoteWithVars(`${req.method} ${req.url} failed: stopping`, vars)} >&2; exit 1; }`;

/** What a write did, and what it did not do when the answer is one the step expects: for the script's echo. */
function writeOutcome(req: RegistryRequest): { done: string; notDone: string } {
  const url = new URL(req.url);
  const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
  if (m) {
    const [, path, kind, rest] = m as unknown as [string, string, string, string];
    const repo = `${url.host}/${decodeURIComponent(path)}`;
    const ref = decodeURIComponent(rest);
    const named = refName(repo, ref);
    if (kind === "manifests" && req.method === "DELETE")
      return isDigest(ref) ? { done: `deleted ${named}`, notDone: `not deleted: ${named}` } : { done: `untagged ${named}`, notDone: `not untagged by DELETE: ${named}` };
    if (kind === "manifests" && req.method === "PUT") return { done: `pushed ${named}`, notDone: `not pushed: ${named}` };
    if (kind === "blobs" && req.method === "POST") return { done: `started a blob upload to ${repo}`, notDone: `no blob upload started in ${repo}` };
    const range = req.headers?.["Content-Range"];
    if (kind === "blobs" && req.method === "PATCH" && range) return { done: `uploaded bytes ${range} to ${repo}`, notDone: `bytes ${range} not uploaded to ${repo}` };
    const digest = url.searchParams.get("digest");
    if (kind === "blobs" && req.method === "PUT" && digest) return { done: `uploaded blob ${digest} to ${repo}`, notDone: `blob ${digest} not uploaded to ${repo}` };
  }
  return { done: `${req.method} ${req.url}: done`, notDone: `${req.method} ${req.url}: not done` };
}

/**
 * A request value as the lines of a POSIX sh script that send it and check its answer, with sh and
 * curl alone (curl 7.68 or later): set -eu stops the script at the first failure.
 *   - a read: its body to /dev/null, -f (an error status fails the script), or, when the step
 *     expects an error status as an answer, the status checked with -w '%{http_code}';
 *   - a write: the status checked with -w, the error body shown on failure, an echo of what it did;
 *   - a captured header: the headers of -I (HEAD) or -D - read with grep and sed;
 *   - a token request: the token picked out of the JSON by sh.
 */
export function toCurl(req: RegistryRequest, opts: CurlOptions = {}): string {
  const s = req.script ?? {};
  const q = (text: string) => shQuoteWithVars(text, opts.vars ?? new Map<string, string>());
  const statusOnly = ["-o", "/dev/null", "-w", "'%{http_code}'"];
  if (s.recheck) return recheckScript(req, s.recheck, opts);
  if (s.tokenCapture) {
    // sh alone picks the token out of the JSON: "token" when present, else "access_token".
    const v = s.tokenCapture;
    return [
      `${v}=$(${curlCommand(req, opts, ["-f"])})${orStop(req, opts.vars)}`,
      `case $${v} in *'"token"'*) ${v}=\${${v}#*'"token"'} ;; *) ${v}=\${${v}#*'"access_token"'} ;; esac`,
      `${v}=\${${v}#*'"'}; ${v}=\${${v}%%'"'*}`,
    ].join("\n");
  }
  if (s.capture) {
    // The headers (-I prints a HEAD's; -D - the others', the body to /dev/null), one picked by name, CR stripped.
    const { variable: v, header } = s.capture;
    const lines = [
      `HEADERS=$(${pipeFrom(req, opts)}${curlCommand(req, opts, req.method === "HEAD" ? ["-f"] : ["-f", "-D", "-", "-o", "/dev/null"])})${orStop(req, opts.vars)}`,
      `${v}=$(${headerValue(header)})`,
    ];
    if (s.capture.check === false) lines.push(`[ -n "$${v}" ] || { echo ${shQuote(`the answer has no ${header} header: stopping`)} >&2; exit 1; }`);
    if (isWrite(req)) lines.push(`echo ${q(writeOutcome(req).done)}`);
    return lines.join("\n");
  }
  if (s.stopUnless) {
    const check = `[ "$(${curlCommand(req, opts, statusOnly)})" = ${s.stopUnless.status} ] || { echo ${shQuote(s.stopUnless.message)} >&2; exit 1; }`;
    return s.stopUnless.done ? `${check}\necho ${q(s.stopUnless.done)}` : check;
  }
  if (isWrite(req)) {
    // The body and the status in one answer: the status is its last word.
    const { done, notDone } = writeOutcome(req);
    const expected = (req.expect ?? []).map((status) => `*' '${status}`).join("|");
    return [
      `ANSWER=$(${pipeFrom(req, opts)}${curlCommand(req, opts, ["-w", "' %{http_code}'"])})`,
      `case $ANSWER in *' '2??) echo ${q(done)} ;;${expected ? ` ${expected}) echo ${q(`${notDone} (the registry answered `)}"\${ANSWER##* })" ;;` : ""} *) echo ${q(`${req.method} ${req.url} failed: `)}"$ANSWER" >&2; exit 1 ;; esac`,
    ].join("\n");
  }
  const expected = [...new Set([...(req.expect ?? []), ...(req.anonymous ? [401] : [])])];
  if (expected.length === 0) return curlCommand(req, opts, ["-f", "-o", "/dev/null"]) + orStop(req, opts.vars);
  // curl does not follow redirects here: a 3xx is an answer too.
  return [
    `STATUS=$(${curlCommand(req, opts, statusOnly)})`,
    `case $STATUS in ${["2??", "3??", ...expected].join("|")}) ;; *) echo ${q(`${req.method} ${req.url} answered `)}"$STATUS" >&2; exit 1 ;; esac`,
  ].join("\n");
}

/**
 * The value of one header in "$HEADERS" (what curl -I or -D - printed), by sh alone: the first
 * line whose name matches in either case, the name, the colon, a space and the CR cut off.
 */
function headerValue(header: string): string {
  const name = [...header].map((c) => (/[a-z]/i.test(c) ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c)).join("");
  return `printf '%s\\n' "$HEADERS" | while IFS= read -r L; do case $L in ${name}:*) L=\${L#*:}; L=\${L# }; printf '%s' "\${L%"$(printf '\\r')"}"; break ;; esac; done`;
}

/**
 * The recheck before the first write, as sh: the tags/list answer cut down to its tags with
 * parameter expansion (tags are [A-Za-z0-9_.-]: nothing in them needs quoting), every tag HEADed
 * with the same Accept list and credentials, its status line, digest and type read from the
 * headers by sh, a list the plan did not read fetched, and a stop with regctl's own message if a
 * write of the plan would remove a tag it did not plan.
 */
function recheckScript(req: RegistryRequest, w: PlannedWrites, opts: CurlOptions): string {
  // "{TAG}" and "{D}" stand for the loop's variables, as captured values stand for theirs.
  const vars = new Map([...(opts.vars ?? []), ["{TAG}", "TAG"], ["{D}", "D"]]);
  const manifests = req.url.replace(/\/tags\/list(\?.*)?$/, "/manifests/");
  const manifest = (method: Method, ref: string, mode: string[]) =>
    curlCommand({ method, url: manifests + ref, headers: { Accept: MANIFEST_ACCEPT }, auth: req.auth }, { ...opts, vars }, mode);
  const words = (xs: Iterable<string>) => shQuote(` ${[...xs].join(" ")} `);
  const stop = (message: string) => `{ echo "${message}" >&2; exit 1; }`;
  return [
    `TAGS=$(${curlCommand(req, opts, ["-f"])})${orStop(req, opts.vars)}`,
    `TAGS=\${TAGS#*'"tags"'}; case $TAGS in *'['*) TAGS=\${TAGS#*'['}; TAGS=\${TAGS%%']'*} ;; *) TAGS= ;; esac`,
    `PLAN_DELETES=${words(w.deletes.keys())}`,
    `PLAN_TAGS=${words([...w.deletes].flatMap(([d, tags]) => tags.map((t) => `${t}@${d}`)))}`,
    `PLAN_UNTAGS=${words([...w.untags].map(([t, d]) => `${t}@${d}`))}`,
    `PLAN_LISTS=${words(w.lists)}`,
    "CHANGED=",
    "while :; do",
    `  case $TAGS in *'"'*) ;; *) break ;; esac`,
    `  TAGS=\${TAGS#*'"'}; TAG=\${TAGS%%'"'*}; TAGS=\${TAGS#*'"'}`,
    `  case $TAG in ''|*[!A-Za-z0-9_.-]*) ${stop("the registry listed a tag that is not one: $TAG")} ;; esac`,
    '  # the status, digest and type of the tag, from the headers: HEAD="200 sha256:… application/…"',
    `  HEAD=$(${manifest("HEAD", "{TAG}", [])} | {`,
    "    C= D= T= CR=$(printf '\\r')",
    "    while IFS=: read -r K V; do",
    `      K=\${K%"$CR"}; V=\${V%"$CR"}`,
    `      case $K in HTTP/*) C=\${K#* }; C=\${C%% *} ;; [Dd]ocker-[Cc]ontent-[Dd]igest) D=\${V# } ;; [Cc]ontent-[Tt]ype) T=\${V# } ;; esac`,
    "    done",
    `    echo "$C $D $T"`,
    "  })",
    `  case $HEAD in 404' '*) continue ;; 200' 'sha256:*) ;; *) ${stop("the recheck could not read $TAG: $HEAD")} ;; esac`,
    `  D=\${HEAD#* }; TYPE=\${D#* }; D=\${D%% *}`,
    "  # a tag to untag that moved: untagging it now would remove what was pushed",
    `  case $PLAN_UNTAGS in *" $TAG@"*) case $PLAN_UNTAGS in *" $TAG@$D "*) ;; *) P=\${PLAN_UNTAGS#*" $TAG@"}; CHANGED="$CHANGED, $TAG → $D (planned on \${P%% *})"; continue ;; esac ;; esac`,
    "  # a tag the plan did not foresee on a digest to delete",
    `  case $PLAN_DELETES in *" $D "*) case $PLAN_TAGS in *" $TAG@$D "*) ;; *) CHANGED="$CHANGED, $TAG → $D"; continue ;; esac ;; esac`,
    "  # a list the plan did not read, holding a digest to delete",
    `  case $TYPE in *manifest.list*|*image.index*) case $PLAN_LISTS in *" $D "*) ;; *)`,
    `    LIST=$(${manifest("GET", "{D}", ["-f"])})${orStop({ method: "GET", url: `${manifests}{D}` }, vars)}`,
    `    for X in $PLAN_DELETES; do case $LIST in *"$X"*) CHANGED="$CHANGED, $TAG → $D (a list holding $X)"; break ;; esac; done ;;`,
    "  esac ;; esac",
    "done",
    `[ -z "$CHANGED" ] || ${stop(`${CHANGED_SINCE_PLAN}: \${CHANGED#, }; run it again`)}`,
  ].join("\n");
}

// ── the transcript of a run: what the transport settled, as the script that does it again ──

/** Where stderr lines go; in --curl mode everything that is not a command is a comment. */
interface Log {
  /** a line of the transcript (a command), printed as is */
  script(line: string): void;
  /** a note for the person: a comment in --curl mode */
  note(line: string): void;
  /** shown only with --verbose; a function is called only then */
  debug(line: string | (() => string)): void;
  /** a note in --curl mode (the script's reader should know), else shown only with --verbose */
  explain(line: string): void;
}

export function makeLog(opts: { curl: boolean; verbose: boolean }, write = (s: string) => void process.stderr.write(s)): Log {
  let started = false;
  const start = () => {
    if (started || !opts.curl) return;
    started = true;
    write(`#!/bin/sh\n# curl transcript of regctl: runs with sh and curl ${OLDEST_CURL} or later alone, and stops at the first failure\nset -eu\n`);
  };
  const comment = (line: string) =>
    line
      .split("\n")
      .map((l) => (opts.curl ? `# ${l}` : l))
      .join("\n");
  const note = (line: string) => {
    start();
    write(`${comment(line)}\n`);
  };
  const debug = (text: string | (() => string)) => {
    if (!opts.verbose) return;
    start();
    const line = typeof text === "function" ? text() : text;
    write(
      `${line
        .split("\n")
        .map((l) => `# ${l}`)
        .join("\n")}\n`,
    );
  };
  return {
    script: (line) => {
      start();
      write(`${line}\n`);
    },
    note,
    debug,
    explain: (line) => (opts.curl ? note(line) : debug(line)),
  };
}

/**
 * The curl transcript, driven by the transport alone: each request it settles becomes the
 * command that repeats it (a refused or failed attempt, or a probe, a comment), followed by the
 * answer as a comment; captured values become shell variables that later commands use.
 */
class Transcript {
  /** values captured into shell variables (and the Accept list), shown as "$VAR" in later commands */
  private readonly vars = new Map<string, string>();
  /** secret variables the script checks are set, each once, before the first line that uses it */
  private readonly checked = new Set<string>();
  /** the hosts whose secrets the script names, in the order first named: the first has SecretVar's names */
  private readonly secretHosts: string[] = [];

  constructor(
    private readonly log: Log,
    readonly enabled: boolean,
    /** TLS flags for a request's host: --cacert, --cert, -k */
    private readonly tls: (host: string) => CurlOptions,
  ) {}

  /** A request and its answer; an attempt refused for want of credentials is a comment. */
  answered(req: RegistryRequest, res: RegistryResponse, { refused = false } = {}): void {
    if (!this.enabled || req.script?.inRecheck || req.script?.feeds) return;
    // A write whose check failed here (a mount refused): what regctl did instead comes next.
    const otherwise = req.script?.stopUnless?.done !== undefined && res.status !== req.script.stopUnless.status;
    this.command(req, { comment: refused || otherwise });
    if (res.verified) {
      this.log.note(`← no answer; ${res.url} answered ${res.status} after it: it was done`);
      return;
    }
    const digest = res.headers.get("docker-content-digest");
    const challenge = res.status === 401 ? res.headers.get("www-authenticate") : null;
    this.log.note(`← ${res.status} ${res.statusText}${digest ? `, Docker-Content-Digest: ${digest}` : ""}${challenge ? `\n  WWW-Authenticate: ${challenge}` : ""}`);
    if (req.script?.capture && res.status < 300) this.captured(req, res.headers.get(req.script.capture.header) ?? undefined);
  }

  /** A write a dry run does not send: the command all the same, under a note that says so, and what it will capture. */
  notSent(req: RegistryRequest): void {
    if (!this.enabled) return;
    this.command(req, { notSent: true });
    if (req.script?.capture?.planned) this.captured(req, req.script.capture.planned);
  }

  /** A request that got no answer: a comment, with why. */
  failed(req: RegistryRequest, reason: string): void {
    if (this.enabled) this.log.note(`${curlCommand(req, this.options(req))}\n→ ${reason}`);
  }

  private options(req: RegistryRequest): CurlOptions {
    const from = req.script?.pipedFrom;
    return { ...this.tls(new URL(req.url).host), vars: this.vars, secretVar: this.secretVar, ...(from ? { source: this.tls(new URL(from.url).host) } : {}) };
  }

  /**
   * A host's secret variable: SecretVar's name for the first host, the name and the host for any
   * other (REGCTL_USERNAME_REGISTRY_EXAMPLE_COM_5000), so a copy between two registries that both
   * need a login takes each its own credentials.
   */
  private readonly secretVar = (kind: SecretKind, host: string): string => {
    if (!this.secretHosts.includes(host)) this.secretHosts.push(host);
    return this.secretHosts[0] === host ? SecretVar[kind] : `${SecretVar[kind]}_${host.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
  };

  private command(req: RegistryRequest, { comment = false, notSent = false } = {}): void {
    const s = req.script ?? {};
    if ((req.headers?.Accept === MANIFEST_ACCEPT || s.recheck) && !this.vars.has(MANIFEST_ACCEPT)) {
      this.log.note(
        "every manifest request sends all the types we understand: without the stored type the registry\n" +
          "converts to schema1 (another digest), answers 404 for OCI types, or picks one platform of a list",
      );
      this.log.script(`ACCEPT=${shQuote(MANIFEST_ACCEPT)}`);
      this.vars.set(MANIFEST_ACCEPT, "ACCEPT");
    }
    // A probe, or an attempt that was refused or failed: the bare command, as a comment.
    if (s.comment || comment) {
      this.log.note(curlCommand(req, this.options(req)));
      return;
    }
    const lines = toCurl(req, this.options(req));
    this.secretsChecked(req, lines);
    if (s.why) this.log.note(s.why);
    if (notSent) this.log.note("dry run: regctl did not send the next command; this script will");
    this.log.script(lines);
  }

  /**
   * Before the first line that uses a secret variable: a check that it is set, which stops the
   * script with the variables to set (and whose they are) before any request uses it.
   */
  private secretsChecked(req: RegistryRequest, lines: string): void {
    const form = req.form?.find(([, v]) => typeof v !== "string")?.[1];
    const from = req.script?.pipedFrom;
    const hosts = new Set<string>();
    for (const r of [req, ...(from ? [from] : [])]) if (r.auth && "basic" in r.auth) hosts.add(r.auth.host ?? new URL(r.url).host);
    if (typeof form === "object") hosts.add(form.host);
    for (const host of hosts) {
      const named = (kind: SecretKind) => this.secretVar(kind, host);
      const used = (["username", "password", "identityToken"] as const).filter((k) => new RegExp(`\\$${named(k)}\\b`).test(lines) && !this.checked.has(named(k)));
      if (used.length === 0) continue;
      this.log.note(`the credentials for ${host} come from the environment: this script holds no secret`);
      for (const kind of used) {
        const v = named(kind);
        this.checked.add(v);
        const set = kind === "identityToken" ? `set ${v} to the identity token for ${host}` : `set ${named("username")} and ${named("password")} to the credentials for ${host}`;
        this.log.script(`: "\${${v}:?${set}}"`);
      }
    }
  }

  /** The lines after a captured value: a check that it is still what was planned, or its resolution. */
  private captured(req: RegistryRequest, value: string | undefined): void {
    const c = req.script!.capture!;
    if (!value) return;
    const v = c.variable;
    if (c.resolve) {
      const origin = new URL(req.url).origin;
      this.log.script(`case $${v} in /*) ${v}=${shQuote(origin)}$${v} ;; esac`);
      if (value.startsWith("/")) value = origin + value;
    }
    if (c.check !== false) this.log.script(`[ "$${v}" = ${shQuote(value)} ] || { echo ${shQuote(`${v} is not ${value} as planned: stopping`)} >&2; exit 1; }`);
    this.vars.set(value, v);
  }
}

// ───────────────────────────── 6. transport ─────────────────────────────

interface TransportOptions extends CredentialLimits {
  curl: boolean;
  dryRun: boolean;
  timeoutMs: number;
  insecure: boolean;
  /** CA files given with --cacert, for every registry */
  cacert?: string[];
  /** credentials given on the command line (-u, --password-stdin), and where the password came from */
  username?: string;
  password?: string;
  credentialSource?: string;
  /** the retry policy's limits (a TAB tries once) */
  retry?: RetryLimits;
  env?: Record<string, string | undefined>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Classify a fetch failure into a short reason, a code and a hint. */
function describeNetworkError(err: unknown, url: string): { reason: string; code: string; hint?: string } {
  // The reason is wrapped: ofetch's FetchError → the runtime's TypeError("fetch failed") → under
  // deno, its own error with the words that say what happened. The innermost one says it.
  let cause = err as { cause?: unknown } | undefined;
  for (let depth = 0; depth < 4 && cause?.cause; depth++) cause = cause.cause as { cause?: unknown };
  const e = cause as { name?: string; code?: string; message?: string };
  const code = e?.code ?? e?.name ?? "ERROR";
  const message = String(e?.message ?? err).replace(/^[A-Z_]+: /, "");
  const host = new URL(url).host;
  if (e?.name === "TimeoutError" || code === "TimeoutError" || String(code) === "23")
    return { reason: "timed out", code: "TimeoutError", hint: "the registry did not answer in time: raise --timeout or check the network" };
  if (code === "ECONNREFUSED" || /refused/i.test(message))
    return { reason: "connection refused", code: "ECONNREFUSED", hint: `is the registry running at ${host}? check the host and port` };
  if (code === "ENOTFOUND" || /getaddrinfo|dns error|failed to lookup/i.test(message))
    return { reason: "host not found", code: "ENOTFOUND", hint: `check the registry name "${host}"` };
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|certificate|UnknownIssuer/i.test(`${code} ${message}`))
    return {
      reason: `TLS certificate not trusted${/^[A-Z_]+$/.test(String(code)) ? ` (${code})` : ""}`,
      code: "CERT",
      hint: `trust the registry's CA with --cacert FILE or /etc/docker/certs.d/${host}/ca.crt, or skip verification with --insecure`,
    };
  if (code === "ECONNRESET" || /socket connection was closed|closed unexpectedly/i.test(message))
    return { reason: "the connection closed before the answer was complete", code: "ECONNRESET" };
  if (code === "EPROTO" || /TLS|SSL|handshake|wrong version|corrupt message|InvalidContentType/i.test(message))
    return { reason: "TLS handshake failed: the server does not speak TLS on this port", code: "EPROTO", hint: "this registry speaks plain http: add --plain-http" };
  return { reason: message || String(code), code: String(code) };
}

/** Read a body up to `limit` bytes; beyond it, stop reading and refuse. */
const TOO_BIG = "the registry sent more than any sane answer holds";

async function readCapped(body: ReadableStream<Uint8Array> | null | undefined, limit: number, asked: Asked, declared = NaN): Promise<Uint8Array> {
  if (!body) return new Uint8Array();
  // A declared length within the limit (a blob chunk of 8 MiB): one buffer, filled as the body arrives.
  if (declared >= 0 && declared <= limit) return readDeclared(body, declared, asked);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BadAnswer(asked, `answer larger than ${limit} bytes, refused`, TOO_BIG);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** A body of a declared length, read into one buffer of that size; more or less than declared is a broken answer. */
async function readDeclared(body: ReadableStream<Uint8Array>, length: number, asked: Asked): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let off = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (off + value.byteLength > length) {
      await reader.cancel().catch(() => {});
      throw new BadAnswer(asked, `the answer is longer than its Content-Length (${length})`);
    }
    out.set(value, off);
    off += value.byteLength;
  }
  if (off !== length) throw new BadAnswer(asked, `the answer ended after ${off} of its ${length} bytes`, "the connection closed early: run the same command again");
  return out;
}

/**
 * The body of a blob read, handed over unread (a request with `stream`): a layer passes through
 * piece by piece, never whole in memory. --timeout bounds each wait for the next piece, not the
 * whole body (a big layer takes longer than any one answer should); a failure is a NetworkError,
 * as a request's own would be.
 */
export class BodyStream {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly req: { method: Method; url: string },
    private readonly idleMs: number,
  ) {
    this.reader = body.getReader();
  }

  /** The next piece as it arrived, or undefined at the end. */
  async read(): Promise<Uint8Array | undefined> {
    let clock: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      clock = setTimeout(() => reject(new DOMException("no data within --timeout", "TimeoutError")), this.idleMs);
    });
    try {
      const { done, value } = await Promise.race([this.reader.read(), stalled]);
      return done ? undefined : value;
    } catch (err) {
      this.cancel();
      const f = describeNetworkError(err, this.req.url);
      throw new NetworkError(this.req.method, this.req.url, f.reason, f.code, f.hint);
    } finally {
      clearTimeout(clock);
    }
  }

  cancel(): void {
    this.reader.cancel().catch(() => {});
  }
}

// ── authentication: a 401 names the scheme; basic credentials, or a token per scope ──

/** The scope a request needs on a token server (distribution: GET/HEAD pull, writes pull,push, DELETE delete). */
export function scopeFor(method: Method, url: string): string | undefined {
  const path = new URL(url).pathname;
  if (path === "/v2/_catalog") return "registry:catalog:*";
  const m = /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(path);
  if (!m) return undefined;
  const actions = method === "GET" || method === "HEAD" ? "pull" : method === "DELETE" ? "delete" : "pull,push";
  // A mount reads the repository it mounts from: distribution asks for both scopes in one token.
  const from = new URL(url).searchParams.get("from");
  const mount = method === "POST" && from && new URL(url).searchParams.has("mount") ? ` repository:${from}:pull` : "";
  return `repository:${decodeURIComponent(m[1]!)}:${actions}${mount}`;
}

/** What a 401 leaves to decide: what the registry asked for, what the request carried, what is at hand. */
export interface Refusal {
  /** the challenge's scheme: bearer preferred, else basic; none when no WWW-Authenticate is usable */
  scheme?: "basic" | "bearer";
  /** what the refused request carried */
  carried: "nothing" | "basic" | "bearer";
  /** credentials found for the host (a username, or an identity token) */
  credential: boolean;
  username: boolean;
  /** the challenge's error parameter (insufficient_scope, invalid_token) */
  error?: string;
  /** the refused token was itself fetched after an earlier refusal */
  fresh: boolean;
  /** the scope the challenge names, or the request needs */
  scope: boolean;
}

/** The next step after a 401: send again with basic credentials, a token, a renewed token; or give up, saying why. */
type AuthStep = { send: "basic" | "token" | "renewed token" } | { fail: "no scheme" | "log in" | "credentials refused" | "scope not granted" | "token invalid" | "token refused" };

/**
 * What to do about a 401, first matching row wins: once a registry refused what a request
 * carried, the credentials are wrong (basic) or one fresh token is tried (an expired one); a
 * second refusal is the registry's word. Each failure names its cause (see on401's messages).
 */
const ON_401: [when: (r: Refusal) => boolean, step: AuthStep][] = [
  [(r) => !r.scheme, { fail: "no scheme" }],
  [(r) => r.scheme === "basic" && !r.username, { fail: "log in" }],
  [(r) => r.scheme === "basic" && r.carried !== "nothing", { fail: "credentials refused" }],
  [(r) => r.scheme === "basic", { send: "basic" }],
  [(r) => r.carried === "bearer" && r.error === "insufficient_scope", { fail: "scope not granted" }],
  [(r) => r.carried === "bearer" && !r.fresh, { send: "renewed token" }],
  [(r) => r.carried === "bearer" && r.error === "invalid_token", { fail: "token invalid" }],
  [(r) => r.carried === "bearer", { fail: "token refused" }],
  // No scope (GET /v2/, as login checks): a token for no resource proves the credentials.
  [(r) => !r.scope && !r.credential, { fail: "log in" }],
  [() => true, { send: "token" }],
];

export function on401(r: Refusal): AuthStep {
  return ON_401.find(([when]) => when(r))![1];
}

interface Token {
  variable: string;
  value: string;
}

/** What Auth needs of the world: a way to send (token requests), to tell the person, and to find credentials. */
interface AuthDeps {
  /** send a request with retries, printed in the transcript; no 401 handling */
  send(req: RegistryRequest): Promise<RegistryResponse>;
  note(line: string): void;
  lookup(host: string): Promise<Credential | undefined>;
  /** --insecure: credentials may go to a plain-http token realm on another host */
  insecure: boolean;
}

/**
 * Authentication, as docker does it: a 401 names the scheme. Basic → send the credentials.
 * Bearer → ask the realm for a token of the scope (with the credentials when there are any,
 * anonymously otherwise), keep it for the run, retry once. Once a registry has said what it
 * wants, later requests carry it from the start, so each scope costs one token request.
 */
class Auth {
  /** what each host asked for in its last 401 */
  private readonly challenges = new Map<string, Challenge>();
  /** one token request per scope key (`host scope`), shared by concurrent requests */
  private readonly tokens = new Map<string, Promise<Token>>();
  /** which token variable each scope key holds, once fetched */
  private readonly settled = new Map<string, string>();
  /** tokens fetched after the registry refused an older one: refused again, they are not renewed */
  private readonly fresh = new Set<string>();
  /** one lookup per host and run, shared by concurrent requests (a helper runs once) */
  private readonly credentials = new Map<string, Promise<Credential | undefined>>();
  /** token values by shell variable, for the Authorization header (the transcript shows the variable) */
  readonly values = new Map<string, string>();
  private tokenCount = 0;

  constructor(private readonly deps: AuthDeps) {}

  credential(host: string): Promise<Credential | undefined> {
    return remember(this.credentials, host, () => this.deps.lookup(host));
  }

  /** The credentials a request carries before any challenge, from what the registry said earlier. */
  async attach(req: RegistryRequest): Promise<RegistryRequest> {
    const host = new URL(req.url).host;
    const challenge = this.challenges.get(host);
    if (!challenge || req.auth) return req;
    if (challenge.scheme === "basic") return (await this.credential(host)) ? { ...req, auth: { basic: true } } : req;
    const scope = scopeFor(req.method, req.url);
    if (!scope) return req;
    const token = await this.token(host, challenge, scope);
    return { ...req, auth: { bearer: token.variable } };
  }

  /** After a 401: the request to send again with credentials, or an error that says what is missing. */
  async retryFor(req: RegistryRequest, res: RegistryResponse): Promise<RegistryRequest> {
    const host = new URL(req.url).host;
    const all = parseWwwAuthenticate(res.headers.get("www-authenticate"));
    const challenge = all.find((c) => c.scheme === "bearer") ?? all.find((c) => c.scheme === "basic");
    if (challenge) this.challenges.set(host, challenge);
    const cred = challenge ? await this.credential(host) : undefined;
    const scope = challenge?.params.scope ?? scopeFor(req.method, req.url);
    const carried = req.auth ? ("basic" in req.auth ? "basic" : "bearer") : "nothing";
    const step = on401({
      scheme: challenge?.scheme as Refusal["scheme"],
      carried,
      credential: !!cred,
      username: !!cred?.username,
      error: challenge?.params.error,
      fresh: !!req.auth && "bearer" in req.auth && this.fresh.has(req.auth.bearer),
      scope: !!scope,
    });
    if ("fail" in step) {
      const from = cred ? ` from ${cred.source}` : "";
      const hint = {
        "no scheme": "the registry wants credentials but names no scheme it accepts (no usable WWW-Authenticate)",
        "log in": howToLogIn(host),
        "credentials refused": `${host} refused the credentials${from}: check the username and password (regctl login ${host})`,
        "scope not granted": !cred
          ? `the token does not grant "${scope}" without credentials: ${howToLogIn(host)}`
          : `${/push/.test(scope ?? "") ? `these credentials may pull but not push to ${host} (` : ""}the token does not grant "${scope}" to the account${from}: that account lacks the permission${/push/.test(scope ?? "") ? ")" : ""}`,
        "token invalid": `${host} refused the token from ${challenge?.params.realm} (invalid_token): the registry's auth.token settings (issuer, service, rootcertbundle) do not match the token server`,
        "token refused": cred ? `${host} refused the token issued to the account${from}` : howToLogIn(host),
      }[step.fail];
      throw new RegistryError(req.method, req.url, 401, parseErrorBody(res.body), hint);
    }
    if (step.send === "basic") return { ...req, auth: { basic: true } };
    // A token that expired during a long run: one fresh token, then the registry's word stands.
    if (step.send === "renewed token" && req.auth && "bearer" in req.auth) this.forget(req.auth.bearer);
    const token = await this.token(host, challenge!, scope ?? "");
    if (step.send === "renewed token") this.fresh.add(token.variable);
    return { ...req, auth: { bearer: token.variable } };
  }

  /** One token request per scope and run, shared by concurrent requests. */
  private token(host: string, challenge: Challenge, scope: string): Promise<Token> {
    const key = `${host} ${scope}`;
    return remember(this.tokens, key, () => {
      const t = this.fetchToken(host, challenge, scope);
      t.then(
        (token) => this.settled.set(key, token.variable),
        () => this.tokens.delete(key),
      );
      return t;
    });
  }

  private async fetchToken(host: string, challenge: Challenge, scope: string): Promise<Token> {
    const realm = challenge.params.realm;
    const misconfigured = (what: string) => new RegctlError(`${host} ${what}`, "the registry's auth.token realm is misconfigured");
    if (!realm) throw new RegctlError(`${host} asks for a bearer token but names no realm`, "the registry's auth.token settings are incomplete");
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw misconfigured(`names a token realm that is not a URL: "${quoted(realm)}"`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw misconfigured(`names a token realm that is not http(s): "${quoted(realm)}"`);
    let cred = await this.credential(host);
    // A password goes over plain http only to the registry's own host, or with --insecure.
    if (cred && url.protocol === "http:" && url.hostname !== new URL(`http://${host}`).hostname && !this.deps.insecure) {
      this.deps.note(`warning: the token realm ${url.origin} is plain http on another host: asking for a token without credentials (--insecure sends them)`);
      cred = undefined;
    }
    const variable = this.tokenCount++ === 0 ? "TOKEN" : `TOKEN_${this.tokenCount}`;
    const script = {
      why: `a token for "${scope}" from the registry's token server${cred ? ", with the credentials" : ", anonymously"}; the answer is JSON with "token" or "access_token"`,
      tokenCapture: variable,
    };
    let req: RegistryRequest;
    if (cred?.identityToken) {
      // docker's identitytoken is an OAuth2 refresh token: POST it to the realm.
      req = {
        method: "POST",
        url: url.toString(),
        script,
        form: [
          ["grant_type", "refresh_token"],
          ["service", challenge.params.service ?? ""],
          ["scope", scope],
          ["client_id", "regctl"],
          ["refresh_token", { secret: "identityToken", host }],
        ],
      };
    } else {
      if (challenge.params.service) url.searchParams.append("service", challenge.params.service);
      // Several scopes (a mount's) are several parameters, as docker sends them.
      for (const one of scope.split(" ").filter(Boolean)) url.searchParams.append("scope", one);
      req = { method: "GET", url: url.toString(), script, auth: cred?.username ? { basic: true, host } : undefined };
    }
    const res = await this.deps.send(req);
    if (res.status === 401 || res.status === 403)
      throw new RegistryError(
        req.method,
        req.url,
        res.status,
        parseErrorBody(res.body),
        cred ? `the token server refused the credentials from ${cred.source}: check the username and password (regctl login ${host})` : howToLogIn(host),
      );
    if (res.status >= 300) throw new RegistryError(req.method, req.url, res.status, parseErrorBody(res.body), "the token server failed");
    const answer = { method: req.method, what: `${url.origin}${url.pathname}` };
    const body = parseJsonAnswer<{ token?: unknown; access_token?: unknown }>(res.body, answer, "check the registry's auth.token realm");
    const value = typeof body?.token === "string" && body.token ? body.token : typeof body?.access_token === "string" ? body.access_token : "";
    if (!value || /[\s"]/.test(value)) throw new BadAnswer(answer, `the answer holds no usable "token" or "access_token"`, "check the registry's auth.token realm");
    this.values.set(variable, value);
    return { variable, value };
  }

  private forget(variable: string): void {
    for (const [key, v] of this.settled)
      if (v === variable) {
        this.tokens.delete(key);
        this.settled.delete(key);
      }
  }
}

function howToLogIn(host: string): string {
  return `${host} wants credentials: regctl login ${host}, or -u USER --password-stdin, or REGCTL_USERNAME and REGCTL_PASSWORD, or docker login ${host}`;
}

// ── retries: one policy, decided by a pure function, limits named here ──

/** How often and how long the transport tries again. */
interface RetryLimits {
  /** attempts of one request in all, the first included */
  attempts: number;
  /** attempts of a write that may have happened (its answer lost), or that never reached the registry */
  writeAttempts: number;
  /** a Retry-After longer than this is not waited for: the answer stands */
  maxRetryAfterMs: number;
  /** backoff: from this, doubling each attempt, up to `backoffCapMs`, ±25 % jitter */
  backoffMs: number;
  backoffCapMs: number;
}

/** 0.2, 0.4, 0.8, 1.6, 2 s: about 5 s in all before a read gives up. */
export const RETRY: RetryLimits = { attempts: 6, writeAttempts: 3, maxRetryAfterMs: 30_000, backoffMs: 200, backoffCapMs: 2_000 };

/** Answers that mean "turned away, nothing done": any request may be sent again. */
const TURNED_AWAY = new Set([429, 503]);
/** A gateway's answers: the registry behind it may or may not have acted. */
const GATEWAY = new Set([502, 504]);
/** Failures after which a request may or may not have arrived (refused, DNS and TLS are not among them). */
const CUT_OFF = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "TimeoutError", "UND_ERR_SOCKET", "ConnectionClosed"]);

/** What one attempt came to: an answer, or a network failure's code. */
export type Outcome = { status: number; retryAfterMs?: number } | { network: string };

/**
 * `retry` after waitMs; `verify`: a write that may have happened, to look at (req.verify) before
 * sending it again; `stop`: the answer or error stands (`unknown`: a write that may have happened).
 */
type RetryDecision = { action: "retry"; waitMs: number } | { action: "verify" } | { action: "stop"; unknown?: boolean };

/**
 * The retry policy, for attempt number `attempt` (from 1) of `req`, which ended in `outcome`;
 * `uncertain` earlier attempts of this write may have happened. A read is tried again on any
 * transient failure; a refused connection fails at once (a registry that is down says so fast).
 * A write is tried again when it surely did not happen (429, 503, refused), and when it may have
 * (a cut connection, 502, 504) only if it is idempotent or can be verified first.
 */
export function retryDecision(
  req: Pick<RegistryRequest, "method" | "idempotent" | "verify">,
  outcome: Outcome,
  attempt: number,
  uncertain = 0,
  limits: RetryLimits = RETRY,
  jitter = Math.random,
  /** what is left of the request's deadline (--timeout): a wait that would pass it is a stop */
  leftMs = Number.POSITIVE_INFINITY,
): RetryDecision {
  const stop: RetryDecision = { action: "stop" };
  const givenUp: RetryDecision = { action: "stop", unknown: isWrite(req) && mayHaveHappened(outcome) };
  const retryIn = (waitMs: number): RetryDecision => (waitMs >= leftMs ? givenUp : { action: "retry", waitMs });
  const wait = retryIn(Math.min(limits.backoffCapMs, limits.backoffMs * 2 ** (attempt - 1)) * (0.75 + jitter() * 0.5));
  if (attempt >= limits.attempts) return givenUp;
  if ("status" in outcome && TURNED_AWAY.has(outcome.status)) {
    if (outcome.retryAfterMs === undefined) return wait;
    return outcome.retryAfterMs <= limits.maxRetryAfterMs ? retryIn(outcome.retryAfterMs) : stop;
  }
  if ("network" in outcome && outcome.network === "ECONNREFUSED") return isWrite(req) && attempt < limits.writeAttempts ? wait : stop;
  if (!mayHaveHappened(outcome)) return stop;
  if (!isWrite(req)) return wait;
  if (uncertain + 1 >= limits.writeAttempts || !(req.idempotent || req.verify)) return { action: "stop", unknown: true };
  return req.idempotent ? wait : { action: "verify" };
}

const mayHaveHappened = (o: Outcome) => ("status" in o ? GATEWAY.has(o.status) : CUT_OFF.has(o.network));

// ── the transport: the one place that touches the network ──

/**
 * Ask bun's collector to run. It collects lazily while what a run frees sits in native buffers
 * (answers, the pieces of a streamed body) that it does not weigh: a long run grows by its
 * garbage, not by what it holds. `now` collects at once; otherwise in the background.
 * - Every RELEASE_EVERY answers, now: 100,000 HEADs in pages of 1000 peak at 66 MiB instead of 75
 *   (in one answer 84 instead of 103), no slower: a small heap collects in milliseconds.
 * - After each 8 MiB chunk of a copy, in the background: a 150 MiB layer peaks at 90 MiB instead
 *   of 110, in the same time (at once saves 10 MiB more, for 40 % more time).
 * Deno has no such call.
 */
function collectGarbage(now: boolean): void {
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(now);
}
const RELEASE_EVERY = 4_000;

/**
 * It sends a request value and returns status, headers and a size-capped body. It authenticates
 * (401 → credentials or a token → send again; see ON_401); retries as `retryDecision` says,
 * waiting as Retry-After asks, with a pause shared by every request to the same host; follows
 * redirects by hand (credentials dropped across hosts, never https → http); in --dry-run sends
 * no write and answers `sent: false`. Each request goes to the transcript once its outcome is
 * known: the one that did the work as a command, an attempt refused for want of credentials as
 * a comment.
 *
 * ofetch carries each attempt (request building, FetchError wrapping); its own retry is off
 * because it neither waits for Retry-After nor tells a write from a read.
 */
export class Transport {
  readonly dryRun: boolean;
  private readonly auth: Auth;
  private readonly transcript: Transcript;
  private readonly retry: RetryLimits;
  /** per host: no request starts before this instant (a 429 or 503 pauses every worker) */
  private readonly pausedUntil = new Map<string, number>();
  private answers = 0;
  private readonly tlsCache = new Map<string, Record<string, unknown>>();
  private readonly tlsFileCache = new Map<string, TlsFiles>();

  constructor(
    private readonly opts: TransportOptions,
    private readonly log: Log,
  ) {
    this.dryRun = opts.dryRun;
    this.retry = opts.retry ?? RETRY;
    this.transcript = new Transcript(log, opts.curl, (host) => {
      // curl takes one --cacert (and it replaces the system's): the first CA file stands for them all.
      const files = this.tlsFiles(host);
      return { insecure: opts.insecure, cacert: files.caFiles[0], cert: files.cert, key: files.key };
    });
    this.auth = new Auth({
      send: async (req) => {
        const res = await this.retrying(req);
        this.transcript.answered(req, res);
        return res;
      },
      note: (line) => log.note(line),
      lookup: (host) => findCredential(host, { username: opts.username, password: opts.password, source: opts.credentialSource }, opts.env ?? process.env, opts),
      insecure: opts.insecure,
    });
    if (opts.insecure) log.note("warning: --insecure: TLS certificates are not verified");
    // Deno's fetch cannot skip verification per request: deno's own flag does it for the process.
    if (opts.insecure && (globalThis as { Deno?: unknown }).Deno)
      log.note("under deno, --insecure needs deno's own flag too: deno run -A --unsafely-ignore-certificate-errors=HOST regctl.ts …");
  }

  /** The same transport with other credentials (login checks them before storing them). */
  withCredentials(username: string, password: string, source: string): Transport {
    return new Transport({ ...this.opts, username, password, credentialSource: source }, this.log);
  }

  async hasCredential(host: string): Promise<boolean> {
    return (await this.auth.credential(host)) !== undefined;
  }

  /** A note for the person (a comment in --curl mode); with `quiet`, only in --curl or --verbose. */
  note(line: string, { quiet = false } = {}): void {
    (quiet ? this.log.explain : this.log.note)(line);
  }

  async send(req: RegistryRequest): Promise<RegistryResponse> {
    let authed = req.anonymous ? req : await this.auth.attach(req);
    // The read a piped write's body comes from carries its own registry's credentials in the script
    // (only the script reads it: without --curl, nothing to do).
    const from = req.script?.pipedFrom;
    if (from && this.transcript.enabled) authed = { ...authed, script: { ...authed.script, pipedFrom: await this.auth.attach(from) } };
    if (isWrite(req) && this.dryRun) {
      this.transcript.notSent(authed);
      return { sent: false, status: 0, statusText: "not sent (dry run)", headers: new Headers(), body: new Uint8Array(), url: req.url };
    }
    let res = await this.retrying(authed);
    // A 401: credentials or a token, then at most one fresh token (ON_401); the guard is a backstop.
    for (let round = 1; res.status === 401 && !req.anonymous; round++) {
      // The refused attempt is a comment: the script goes straight to the credentials.
      this.transcript.answered(authed, res, { refused: true });
      if (round > MAX_AUTH_ROUNDS) throw new RegistryError(req.method, req.url, 401, parseErrorBody(res.body), "the registry keeps refusing the credentials");
      authed = await this.auth.retryFor(authed, ownChallenge(req, res));
      res = await this.retrying(authed);
    }
    this.transcript.answered(authed, res);
    return res;
  }

  /**
   * One request, tried as often as `retryDecision` allows, all within --timeout: each attempt gets
   * what is left of it, and a wait that would outlast it is not begun. Not printed (the caller
   * knows when it is settled).
   */
  private async retrying(req: RegistryRequest): Promise<RegistryResponse> {
    const host = new URL(req.url).host;
    const sent = await this.prepare(req, host);
    const deadline = Date.now() + this.opts.timeoutMs;
    let uncertain = 0;
    for (let attempt = 1; ; attempt++) {
      await this.pace(host);
      let res: RegistryResponse | undefined;
      let failure: ReturnType<typeof describeNetworkError> | undefined;
      try {
        res = await this.follow(req, sent, deadline);
      } catch (err) {
        if (err instanceof RegctlError) throw err;
        failure = describeNetworkError(err, req.url);
      }
      const outcome: Outcome = res ? { status: res.status, retryAfterMs: parseRetryAfter(res.headers.get("retry-after")) } : { network: failure!.code };
      const decision = retryDecision(req, outcome, attempt, uncertain, this.retry, Math.random, deadline - Date.now());
      const what = res ? `← ${res.status} ${res.statusText}` : `: ${failure!.reason}`;
      if (decision.action === "retry") {
        this.log.note(
          `regctl: ${req.method} ${req.url}${res ? " " : ""}${what}; retrying in ${(decision.waitMs / 1000).toFixed(1)} s (attempt ${attempt + 1} of at most ${this.retry.attempts})`,
        );
        if (res) this.pausedUntil.set(host, Math.max(this.pausedUntil.get(host) ?? 0, Date.now() + decision.waitMs));
        await sleep(decision.waitMs);
        if (mayHaveHappened(outcome)) uncertain++;
        continue;
      }
      if (decision.action === "verify") {
        uncertain++;
        const check = await this.verify(req);
        if (check) return { ...check, verified: true };
        this.log.note(`regctl: ${req.method} ${req.url}: no answer, and it has not happened; sending it again`);
        continue;
      }
      if (res) return res;
      if (failure!.code === "TimeoutError") failure!.reason = `no answer within --timeout ${this.opts.timeoutMs / 1000} s`;
      this.transcript.failed(req, failure!.reason);
      const tries = attempt > 1 ? ` (${attempt} attempts)` : "";
      throw new NetworkError(req.method, req.url, failure!.reason + tries + (decision.unknown ? "; the outcome is unknown" : ""), failure!.code, failure!.hint);
    }
  }

  /** After a write whose answer was lost: its `verify` answer when it happened, undefined when it did not. */
  private async verify(req: RegistryRequest): Promise<RegistryResponse | undefined> {
    const { request, done } = req.verify!;
    const res = await this.retrying(await this.auth.attach(request)).catch(() => undefined);
    if (res?.status === done) return res;
    if (res && (res.status < 300 || res.status === 404)) return undefined;
    throw new RegctlError(
      `${req.method} ${req.url}: no answer, and the check after it (${request.method} ${request.url}) failed too: the outcome is unknown`,
      "run the same command again: it reads the registry before it writes",
    );
  }

  /** Wait while the host asked every request to hold off (a 429 or 503 seen by any of them). */
  private async pace(host: string): Promise<void> {
    const wait = (this.pausedUntil.get(host) ?? 0) - Date.now();
    if (wait > 0) await sleep(wait);
  }

  /** The headers and body actually sent: the request's own, plus the credentials it names. */
  private async prepare(req: RegistryRequest, host: string): Promise<{ headers: Record<string, string>; body?: string | Uint8Array }> {
    const headers: Record<string, string> = { ...req.headers };
    if (req.auth && "basic" in req.auth) {
      const cred = await this.auth.credential(req.auth.host ?? host);
      if (cred?.username !== undefined) headers.Authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password ?? ""}`).toString("base64")}`;
    } else if (req.auth && "bearer" in req.auth) {
      const value = this.auth.values.get(req.auth.bearer);
      if (value) headers.Authorization = `Bearer ${value}`;
    }
    if (!req.form) return { headers, body: req.body };
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    const params = new URLSearchParams();
    for (const [k, v] of req.form) params.append(k, typeof v === "string" ? v : ((await this.auth.credential(v.host))?.[v.secret] ?? ""));
    return { headers, body: params.toString() };
  }

  /** Send one attempt, following redirects by hand (blob downloads are redirected to storage). */
  private async follow(req: RegistryRequest, sent: { headers: Record<string, string>; body?: string | Uint8Array }, deadline: number): Promise<RegistryResponse> {
    let url = req.url;
    let headers = sent.headers;
    const body = sent.body;
    for (let hop = 0; ; hop++) {
      const res = await this.once(req, url, headers, deadline, body);
      const location = res.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(res.status) || !location || isWrite(req)) return res;
      const asked = { method: req.method, what: req.url };
      if (hop >= MAX_REDIRECTS) throw new BadAnswer(asked, `more than ${MAX_REDIRECTS} redirects`, "the registry redirects in a loop");
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new BadAnswer(asked, "redirect to an invalid URL", "the registry is misconfigured");
      }
      const from = new URL(url);
      if (from.protocol === "https:" && next.protocol !== "https:")
        throw new BadAnswer(asked, `redirect from https to ${next.protocol}// refused`, "a registry must not downgrade to plain http");
      // Credentials stay with the host they were meant for (blob storage signs its own URLs).
      if (next.host !== from.host) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
      this.log.debug(`→ redirected to ${next.origin}${next.pathname}`);
      url = next.toString();
    }
  }

  private async once(req: RegistryRequest, url: string, headers: Record<string, string>, deadline: number, body?: string | Uint8Array): Promise<RegistryResponse> {
    // A timer cleared when the answer is read: AbortSignal.timeout would keep every request's
    // signal alive until its deadline (100,000 HEADs held ~45 MB and ran 2.7× slower).
    const timer = new AbortController();
    const clock = setTimeout(() => timer.abort(new DOMException("the deadline passed", "TimeoutError")), Math.max(1, deadline - Date.now()));
    try {
      return await this.exchange(req, url, headers, timer.signal, body);
    } finally {
      clearTimeout(clock);
    }
  }

  private async exchange(req: RegistryRequest, url: string, headers: Record<string, string>, signal: AbortSignal, body?: string | Uint8Array): Promise<RegistryResponse> {
    this.log.debug(
      () =>
        `→ ${req.method} ${shown(url, req)}${Object.entries(headers)
          .map(([k, v]) => `\n${k}: ${/^authorization$/i.test(k) ? `${v.split(" ")[0]} [redacted]` : v}`)
          .join("")}`,
    );
    // Loaded on the first request, so --help and a cached TAB do not pay for it.
    const { ofetch } = await npmModule("ofetch", () => import("ofetch"));
    const big = body instanceof Uint8Array && body.byteLength > BODY_PIECE_BYTES;
    const raw = await ofetch.raw(url, {
      method: req.method,
      headers: big ? { ...headers, "Content-Length": String(body.byteLength) } : headers,
      body: big ? inPieces(body) : body,
      redirect: "manual",
      retry: 0,
      ignoreResponseError: true,
      responseType: "stream",
      signal,
      ...this.tlsOptions(new URL(url).host),
    });
    const res = raw as unknown as Response & { _data?: ReadableStream<Uint8Array> };
    const limit = res.status >= 400 ? MAX_ERROR_BYTES : (req.maxBody ?? MAX_ERROR_BYTES);
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    const asked = { method: req.method, what: shown(url, req) };
    const stream = res._data ?? res.body;
    if (req.stream && req.method === "GET" && res.status < 300 && stream)
      return {
        sent: true,
        status: res.status,
        statusText: res.statusText || statusText(res.status),
        headers: res.headers,
        body: new Uint8Array(),
        stream: new BodyStream(stream, { method: req.method, url }, this.opts.timeoutMs),
        url,
      };
    if (req.method !== "HEAD" && declared > limit) {
      await stream?.cancel().catch(() => {});
      throw new BadAnswer(asked, `answer of ${declared} bytes is larger than the ${limit} allowed, refused`, TOO_BIG);
    }
    if (++this.answers % RELEASE_EVERY === 0) collectGarbage(true);
    const data =
      req.method === "HEAD" || res.status === 204 || res.status === 304
        ? new Uint8Array()
        : await readCapped(stream, limit, asked, res.headers.get("content-encoding") ? NaN : declared);
    this.log.debug(() => `← ${res.status} ${res.statusText}\n${[...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}`);
    return { sent: true, status: res.status, statusText: res.statusText || statusText(res.status), headers: res.headers, body: data, url };
  }

  /** TLS settings for a host, in the shape the runtime's fetch takes: bun `tls`, deno `client`. */
  private tlsOptions(host: string): Record<string, unknown> {
    let o = this.tlsCache.get(host);
    if (o) return o;
    const files = this.tlsFiles(host);
    const read = (f: string) => {
      try {
        return readFileSync(f, "utf8");
      } catch (err) {
        throw new RegctlError(`cannot read ${f}: ${(err as Error).message}`, "check the path given to --cacert, or the certs.d directory");
      }
    };
    const ca = files.caFiles.map(read);
    const cert = files.cert ? read(files.cert) : undefined;
    const key = files.key ? read(files.key) : undefined;
    const deno = (globalThis as { Deno?: { createHttpClient(o: object): unknown } }).Deno;
    if (deno) {
      o = ca.length || cert ? { client: deno.createHttpClient({ caCerts: ca, ...(cert && key ? { cert, key } : {}) }) } : {};
    } else {
      // Private CAs are added to the system's, so a redirect to public storage still verifies.
      o =
        ca.length || cert || this.opts.insecure
          ? {
              tls: {
                ...(ca.length ? { ca: [...builtin<typeof import("node:tls")>("node:tls").rootCertificates, ...ca] } : {}),
                ...(cert ? { cert, key } : {}),
                ...(this.opts.insecure ? { rejectUnauthorized: false } : {}),
              },
            }
          : {};
    }
    this.tlsCache.set(host, o);
    return o;
  }

  /** The TLS files for a host: --cacert and certs.d, read once per host. */
  private tlsFiles(host: string): TlsFiles {
    return remember(this.tlsFileCache, host, () => tlsFilesFor(host, this.opts.cacert, this.opts.env ?? process.env));
  }
}

/** Blob downloads are redirected once or twice (to storage); more is a loop. */
const MAX_REDIRECTS = 5;

/**
 * A body larger than this (a blob chunk) is sent as a stream of pieces of it, with its length:
 * bun copies a byte body whole into memory of its own for each request, kept until collected.
 * Measured on 19 PATCHes of 8 MiB: 22 MiB more RSS as bytes, 6 MiB as pieces, and twice as fast.
 */
const BODY_PIECE_BYTES = 1 << 20;

/** The bytes as a stream of BODY_PIECE_BYTES views: nothing is copied; each attempt gets a stream of its own. */
function inPieces(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= bytes.byteLength) return c.close();
      const piece = bytes.subarray(sent, sent + BODY_PIECE_BYTES);
      sent += piece.byteLength;
      c.enqueue(piece);
    },
  });
}

/** A backstop: ON_401 gives up by itself after basic once, or a token and one renewal. */
const MAX_AUTH_ROUNDS = 3;

/** A URL as it may be printed: a redirect's target loses its query, which may hold a signature. */
function shown(url: string, req: RegistryRequest): string {
  if (url === req.url) return url;
  const u = new URL(url);
  return `${u.origin}${u.pathname}${u.search ? "?…" : ""}`;
}

/** A 401 from a host a redirect led to is not the registry's challenge: its credentials stay home. */
function ownChallenge(req: RegistryRequest, res: RegistryResponse): RegistryResponse {
  const to = new URL(res.url).host;
  if (to !== new URL(req.url).host)
    throw new RegctlError(`${req.method} ${req.url}: redirected to ${to}, which asks for credentials`, "refused: the registry's credentials are never sent to another host");
  return res;
}

// ───────────────────────────── 7. registry API ─────────────────────────────

/**
 * One registry host, as the API layer sees it: its base URL (the scheme chosen as docker does),
 * the transport that reaches it, and whether this is a dry run.
 */
export class Registry {
  private scheme?: Promise<Scheme>;
  /** writes are printed, not sent: their answers say `sent: false` */
  readonly dryRun: boolean;
  /** the scheme came from the cache: if it fails, the host is probed again once */
  private remembered = false;
  /** is this host a registry's API? asked once, when an answer does not look like one */
  private looksRight?: Promise<void>;

  constructor(
    readonly host: string,
    private readonly transport: Transport,
    private readonly forced?: Scheme,
    /** what forced the scheme (`--plain-http`, `http://`), for hints */
    private readonly forcedBy?: string,
  ) {
    this.dryRun = transport.dryRun;
  }

  /** https first; plain http only for a loopback host whose port does not speak TLS. */
  base(): Promise<string> {
    this.scheme ??= this.chooseScheme();
    return this.scheme.then((s) => `${s}://${this.host}`);
  }

  hasCredential(): Promise<boolean> {
    return this.transport.hasCredential(this.host);
  }

  /** A note for the person (a comment in --curl mode). */
  note(line: string): void {
    this.transport.note(line);
  }

  private async chooseScheme(): Promise<Scheme> {
    if (this.forced) return this.forced;
    if (!isLoopback(this.host)) return "https";
    const cached = readSchemeCache()[this.host];
    if (cached) {
      this.remembered = true;
      return cached;
    }
    try {
      await this.transport.send({ method: "GET", url: `https://${this.host}/v2/`, anonymous: true, script: { comment: true, why: "does this loopback registry speak https?" } });
      writeSchemeCache(this.host, "https");
      return "https";
    } catch (err) {
      // Plain http only when TLS itself failed, never to get around an untrusted certificate.
      if (!(err instanceof NetworkError) || err.code !== "EPROTO") throw err;
      this.transport.note(`https://${this.host} does not speak TLS: using plain http for this loopback registry`, { quiet: true });
      writeSchemeCache(this.host, "http");
      return "http";
    }
  }

  /**
   * Send a request to a path under the base URL. An answer is returned when it is a success, one
   * of `expect`, not sent (dry run) or verified; any other status becomes a RegistryError.
   */
  async request(req: Omit<RegistryRequest, "url"> & { path: string; url?: string }): Promise<RegistryResponse> {
    const { path, ...rest } = req;
    const url = req.url ?? (await this.base()) + path;
    let res: RegistryResponse;
    try {
      res = await this.transport.send({ ...rest, url });
    } catch (err) {
      // A port remembered as https that speaks plain http now (a TLS error), or remembered as plain
      // http that speaks TLS now (the server closes a connection that does not start TLS): probe it
      // again, once.
      const remembered = this.remembered && !req.url && err instanceof NetworkError ? await this.scheme : undefined;
      if ((remembered === "https" && (err as NetworkError).code === "EPROTO") || (remembered === "http" && (err as NetworkError).code === "ECONNRESET")) return this.reprobe(req);
      // https:// was written, not --plain-http forgotten: the hint names what was given.
      if (err instanceof NetworkError && err.code === "EPROTO" && this.forcedBy === "https://") err.hint = "the registry speaks plain http: write http:// (or no scheme)";
      throw err;
    }
    if (!res.sent || res.verified || res.status < 300 || req.expect?.includes(res.status)) return res;
    const text = () => new TextDecoder().decode(res.body);
    if (speaksHttpsInstead(req.method, res)) {
      // Remembered as plain http, it speaks https now: probe again; forced by the user, say what forced it.
      if (this.remembered && !req.url) return this.reprobe(req);
      throw new RegistryError(req.method, url, 400, [], `the registry speaks https: ${this.forcedBy === "http://" ? "write https:// (or no scheme)" : "drop --plain-http"}`);
    }
    const errors = parseErrorBody(res.body);
    // An answer that is no registry's (no API version header, no JSON error): is this host a registry at all?
    if (res.status === 404 && !errors.length && !res.headers.get("docker-distribution-api-version")) {
      // This answer is /v2/'s own (ping, login): it is the check; else /v2/ is asked once.
      if (path === "/v2/") throw notARegistry(url, res);
      await this.checkIsRegistry();
    }
    if (!errors.length && res.status === 400) {
      const said = text().trim().slice(0, 200);
      if (said) errors.push({ code: "HTTP_400", message: said });
    }
    // A HEAD answer has no body, so no error code: a 404 on a manifest is an unknown tag or an unknown repository.
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (res.status === 404 && manifest && !errors.length) return this.unknownManifest(req.method, url, manifest[1]!, manifest[2]!);
    throw new RegistryError(req.method, url, res.status, errors, hintFor(req.method, url, res.status, errors));
  }

  private async reprobe(req: Omit<RegistryRequest, "url"> & { path: string }): Promise<RegistryResponse> {
    writeSchemeCache(this.host, undefined);
    this.remembered = false;
    this.scheme = undefined;
    this.transport.note(`${this.host}: the scheme remembered for it failed; asking it again`, { quiet: true });
    return this.request(req);
  }

  /** GET /v2/ once: 200 or 401 with the registry's marks, or an error saying this is not a registry's API. */
  private checkIsRegistry(): Promise<void> {
    this.looksRight ??= (async () => {
      const url = `${await this.base()}/v2/`;
      const res = await this.transport.send({ method: "GET", url, anonymous: true, script: { comment: true, why: "is this a registry at all? its /v2/ answers 200 or 401" } });
      const api = res.headers.get("docker-distribution-api-version");
      const json = /json/i.test(res.headers.get("content-type") ?? "");
      if ((res.status === 200 || res.status === 401) && (api || json || res.headers.get("www-authenticate"))) return;
      throw notARegistry(url, res);
    })();
    return this.looksRight;
  }

  /** A 404 on a manifest with no error code: the repository's tag list tells an unknown tag from an unknown repository. */
  private async unknownManifest(method: Method, url: string, name: string, ref: string): Promise<never> {
    const list = await this.transport.send({
      method: "GET",
      url: `${await this.base()}/v2/${name}/tags/list?n=1`,
      script: { comment: true, why: "a 404 without an error code: does the repository exist?" },
    });
    const repo = decodeURIComponent(name);
    const noRepo = list.status === 404;
    const errors = [{ code: noRepo ? ErrorCode.NAME_UNKNOWN : ErrorCode.MANIFEST_UNKNOWN, message: noRepo ? `no repository ${repo}` : `no ${refName(repo, ref)}` }];
    // The hint says which; the error codes stay the registry's own (a HEAD answer carries none).
    throw new RegistryError(method, url, 404, [], hintFor(method, url, 404, errors));
  }
}

const encodePath = (repo: string) => repo.split("/").map(encodeURIComponent).join("/");

/**
 * Plain http sent to a TLS port: Go's server answers a bare 400 ("Client sent an HTTP request to an
 * HTTPS server.") with no headers at all. A HEAD answer has no body to read, so for a HEAD the bare
 * 400 is the sign: a registry's own 400 carries its API version header and a JSON error.
 */
function speaksHttpsInstead(method: string, res: RegistryResponse): boolean {
  if (res.status !== 400) return false;
  if (/HTTP request to an HTTPS server/i.test(new TextDecoder().decode(res.body))) return true;
  return method === "HEAD" && ["docker-distribution-api-version", "content-type", "date"].every((h) => !res.headers.get(h));
}

/** The host answers, but not as a registry's API does: the wrong port, a web server, a proxy. */
function notARegistry(url: string, res: RegistryResponse): RegctlError {
  const type = (res.headers.get("content-type") ?? "").split(";")[0];
  return new RegctlError(
    `${url} does not answer as a registry: ${res.status} ${res.statusText}${type ? ` (${type})` : ""}, no Docker-Distribution-Api-Version`,
    "is this the registry's port? a web server or a proxy in front of it may be answering instead",
  );
}

interface ManifestDescriptor {
  digest: string;
  mediaType: string;
  size: number;
}

export interface Manifest extends ManifestDescriptor {
  bytes: Uint8Array;
  json: ManifestJson;
}

/** A list or an index: its children are manifests. */
const isList = (m: Manifest) => INDEX_TYPES.includes(m.mediaType) || Array.isArray(m.json.manifests);

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
  /** an artifact's type (an SBOM, a signature), as a referrers index lists it */
  artifactType?: string;
}

interface ManifestJson {
  schemaVersion?: number;
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  fsLayers?: { blobSum: string }[];
  /** OCI 1.1: the manifest this one refers to (a signature's image, an SBOM's) */
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

// ── endpoints: one function each, returning data ──

/** GET /v2/ — is this a v2 registry, and what does it answer without credentials? */
async function apiVersionCheck(reg: Registry, { authenticate = false } = {}): Promise<{ status: number; apiVersion?: string; challenges: Challenge[] }> {
  const res = await reg.request({
    method: "GET",
    path: "/v2/",
    anonymous: !authenticate,
    expect: authenticate ? undefined : [401],
    script: { why: authenticate ? "do the credentials open the registry? 200 means yes" : "is this a v2 registry? 200, or 401 with the auth scheme in WWW-Authenticate" },
  });
  return {
    status: res.status,
    apiVersion: res.headers.get("docker-distribution-api-version") ?? undefined,
    challenges: parseWwwAuthenticate(res.headers.get("www-authenticate")),
  };
}

const manifestPath = (repo: string, ref: string) => `/v2/${encodePath(repo)}/manifests/${ref}`;
const blobPath = (repo: string, digest: string) => `/v2/${encodePath(repo)}/blobs/${digest}`;

/** A digest header must be a digest, and the one asked for when a digest was asked for. */
function checkDigestHeader(asked: Asked, ref: string, header: string | undefined): void {
  if (header === undefined) return;
  if (!isDigest(header)) throw new BadAnswer(asked, `the registry answered a malformed digest "${quoted(header)}"`);
  if (isDigest(ref) && header !== ref)
    throw new BadAnswer(asked, `the registry answered digest ${header}`, "the registry is not answering for the digest asked: refusing to go on");
}

/** HEAD /v2/<name>/manifests/<ref> — the stored digest, media type and size, reading no body. */
async function manifestHead(reg: Registry, repo: string, ref: string, { capture, inRecheck = false }: { capture?: string; inRecheck?: boolean } = {}): Promise<ManifestDescriptor> {
  const res = await reg.request({
    method: "HEAD",
    path: manifestPath(repo, ref),
    headers: { Accept: MANIFEST_ACCEPT },
    script: {
      why: capture ? `capture the digest the registry stores for ${refName(repo, ref)} (the one DELETE accepts)` : undefined,
      capture: capture ? { variable: capture, header: "docker-content-digest" } : undefined,
      inRecheck,
    },
  });
  const digest = res.headers.get("docker-content-digest") ?? undefined;
  if (!digest) return manifestGet(reg, repo, ref, { inRecheck });
  checkDigestHeader({ method: "HEAD", what: refName(repo, ref) }, ref, digest);
  return { digest, mediaType: baseType(res.headers.get("content-type")), size: Number(res.headers.get("content-length") ?? 0) };
}

/**
 * HEAD /v2/<name>/manifests/<ref> — the digest there, or undefined when there is none (404 is an
 * answer here: a copy asks before it writes, and its script goes on).
 */
async function manifestDigestIfAny(reg: Registry, repo: string, ref: string): Promise<string | undefined> {
  const res = await reg.request({ method: "HEAD", path: manifestPath(repo, ref), headers: { Accept: MANIFEST_ACCEPT }, expect: [404] });
  if (!res.sent || res.status === 404) return undefined;
  const digest = res.headers.get("docker-content-digest") ?? (await manifestGet(reg, repo, ref)).digest;
  checkDigestHeader({ method: "HEAD", what: refName(repo, ref) }, ref, digest);
  return digest;
}

/** GET /v2/<name>/manifests/<ref> — the exact bytes, checked against their digest. */
async function manifestGet(reg: Registry, repo: string, ref: string, { inRecheck = false } = {}): Promise<Manifest> {
  const res = await reg.request({
    method: "GET",
    path: manifestPath(repo, ref),
    headers: { Accept: MANIFEST_ACCEPT },
    maxBody: MAX_MANIFEST_BYTES,
    script: { inRecheck },
  });
  const asked = { method: "GET" as const, what: refName(repo, ref) };
  const bytes = res.body;
  const header = res.headers.get("docker-content-digest") ?? undefined;
  checkDigestHeader(asked, ref, header);
  const expected = isDigest(ref) ? ref : header;
  const actual = digestOf(expected?.split(":")[0] ?? "sha256", bytes);
  if (expected && actual !== expected)
    throw new BadAnswer(
      asked,
      // Without Docker-Content-Digest the registry said nothing: the digest is the one asked for.
      header ? `the manifest's digest is ${actual}, but the registry says ${expected}` : `the manifest read has digest ${actual}, not the ${expected} asked for`,
      "the answer was altered or the registry is broken: nothing was changed",
    );
  const json = parseJsonAnswer<unknown>(bytes, asked, "the registry sent something else where a manifest was due");
  checkManifest(json, asked);
  const mediaType = json.mediaType ?? baseType(res.headers.get("content-type"));
  return { digest: actual, mediaType, size: bytes.byteLength, bytes, json };
}

/** The parts of a manifest regctl follows must be what the spec says: descriptors with digests. */
function checkManifest(json: unknown, asked: Asked): asserts json is ManifestJson {
  const bad = (why: string) => new BadAnswer(asked, `the manifest ${why}`);
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw bad("is not a JSON object");
  const m = json as Record<string, unknown>;
  if (m.mediaType !== undefined && typeof m.mediaType !== "string") throw bad("has a mediaType that is not a string");
  const descriptor = (d: unknown, what: string) => {
    const o = d as Record<string, unknown> | null;
    if (typeof o !== "object" || o === null || typeof o.digest !== "string" || !isDigest(o.digest) || (o.size !== undefined && typeof o.size !== "number"))
      throw bad(`lists an invalid ${what} descriptor`);
  };
  if (m.config !== undefined) descriptor(m.config, "config");
  for (const key of ["layers", "manifests"] as const) {
    if (m[key] === undefined) continue;
    if (!Array.isArray(m[key])) throw bad(`has "${key}" that is not a list`);
    for (const d of m[key] as unknown[]) descriptor(d, key === "layers" ? "layer" : "child");
  }
}

/**
 * DELETE /v2/<name>/manifests/<digest> — 202 Accepted means the manifest and every tag on it are
 * gone. An answer lost on the way is checked with a HEAD (404: it happened) before it is sent again.
 */
async function manifestDelete(reg: Registry, repo: string, digest: string, why?: string): Promise<{ sent: boolean }> {
  const path = manifestPath(repo, digest);
  const res = await reg.request({
    method: "DELETE",
    path,
    verify: { request: { method: "HEAD", url: (await reg.base()) + path, headers: { Accept: MANIFEST_ACCEPT } }, done: 404 },
    script: { why: why ?? "DELETE by digest removes the manifest and every tag that points at it; 202 Accepted means done, the disk is freed only by garbage-collect" },
  });
  return { sent: res.sent };
}

/**
 * DELETE /v2/<name>/manifests/<tag> — OCI 1.1 deletes just the tag; distribution 2.8 answers
 * 400 DIGEST_INVALID. The status tells which: 202 done, anything else refused (nothing changed).
 * Sent again when its answer is lost: a tag already deleted answers 404.
 */
async function tagDelete(reg: Registry, repo: string, tag: string): Promise<{ sent: boolean; status: number }> {
  const res = await reg.request({
    method: "DELETE",
    path: manifestPath(repo, tag),
    expect: [400, 404, 405],
    idempotent: true,
    script: { why: "OCI 1.1 registries delete a tag alone by name; older ones refuse (distribution 2.8: 400 DIGEST_INVALID)" },
  });
  return { sent: res.sent, status: res.status };
}

/** HEAD /v2/<name>/blobs/<digest> — is the blob in this repository? */
async function blobExists(reg: Registry, repo: string, digest: string): Promise<boolean> {
  const res = await reg.request({ method: "HEAD", path: blobPath(repo, digest), expect: [404] });
  return res.status === 200;
}

/**
 * POST then PUT /v2/<name>/blobs/uploads/ — a small blob in one piece (2.8 has no single-POST
 * upload). A POST sent twice only opens a session the registry purges; a PUT whose answer is
 * lost is checked with a HEAD of the blob.
 */
async function blobUpload(reg: Registry, repo: string, bytes: string, digest: string): Promise<void> {
  const base = await reg.base();
  // In a dry run the script's own POST captures the real Location; this stands for it until then.
  const planned = `${base}/v2/${repo}/blobs/uploads/UPLOAD?_state=STATE`;
  const start = await reg.request({
    method: "POST",
    path: `/v2/${encodePath(repo)}/blobs/uploads/`,
    idempotent: true,
    script: {
      why: "start a blob upload; the Location header names where its bytes go",
      capture: { variable: "LOCATION", header: "location", check: false, resolve: true, planned },
    },
  });
  // Location may be relative, and already carries a query (_state): add the digest to it as it is.
  const location = start.sent ? start.headers.get("location") : planned;
  if (!location) throw new BadAnswer({ method: "POST", what: `${repo} blob upload` }, "the registry named no Location", "the registry does not follow the distribution API");
  const absolute = location.startsWith("/") ? base + location : location;
  await reg.request({
    method: "PUT",
    path: "",
    url: `${absolute}${absolute.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`,
    headers: { "Content-Type": "application/octet-stream" },
    body: bytes,
    verify: { request: { method: "HEAD", url: base + blobPath(repo, digest) }, done: 200 },
    script: { why: "the bytes, and their digest: 201 Created" },
  });
}

/** PUT /v2/<name>/manifests/<ref> — store a manifest under a tag; answers its digest. */
async function manifestPut(reg: Registry, repo: string, ref: string, bytes: string | Uint8Array, mediaType: string, why?: string): Promise<string | undefined> {
  // The same bytes to the same tag: sending it again is harmless.
  const res = await reg.request({ method: "PUT", path: manifestPath(repo, ref), headers: { "Content-Type": mediaType }, body: bytes, idempotent: true, script: { why } });
  return res.headers.get("docker-content-digest") ?? undefined;
}

/** PUT a manifest's stored bytes with their own media type: the registry must answer their digest (copy, tag). */
async function manifestPutAsStored(reg: Registry, repo: string, ref: string, m: Manifest, why?: string): Promise<void> {
  const stored = await manifestPut(reg, repo, ref, m.bytes, m.mediaType, why);
  if (stored && stored !== m.digest)
    throw new BadAnswer(
      { method: "PUT", what: refName(repo, ref) },
      `the registry stored ${stored}, not ${m.digest}`,
      "the registry changed the manifest: its digest is not the one read",
    );
}

/** An upload session at the destination: where its next request goes, and the least a chunk may be. */
interface UploadSession {
  /** absolute; it changes with every PATCH (distribution keeps the upload's state in it) */
  location: string;
  /** OCI-Chunk-Min-Length: the registry wants no smaller chunk but the last */
  minChunk?: number;
}

/** A blob upload's Location, absolute: 2.8 answers a path, and it already carries a query (_state). */
function uploadLocation(res: RegistryResponse, base: string, planned: string, asked: Asked): string {
  if (!res.sent) return planned;
  const location = res.headers.get("location");
  if (!location) throw new BadAnswer(asked, "the registry named no Location", "the registry does not follow the distribution API");
  return location.startsWith("/") ? base + location : location;
}

/**
 * POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo> — within one registry a blob is
 * mounted, no byte moves: 201 Created when mounted; 202 Accepted is a refusal (an upload session
 * instead), and the blob is uploaded.
 */
async function blobMount(reg: Registry, repo: string, digest: string, from: string): Promise<{ sent: boolean; mounted: boolean }> {
  const res = await reg.request({
    method: "POST",
    path: `/v2/${encodePath(repo)}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
    idempotent: true,
    script: {
      why: `mount ${digest} from ${from}: within a registry no byte moves; 201 Created means mounted, 202 Accepted that the registry refused`,
      stopUnless: {
        status: 201,
        message: `the registry refused to mount ${digest} from ${from}: run the same regctl copy without --dry-run, it uploads the blob instead`,
        done: `mounted blob ${digest} from ${from} into ${reg.host}/${repo}`,
      },
    },
  });
  return { sent: res.sent, mounted: res.status === 201 };
}

/** POST /v2/<name>/blobs/uploads/ — open an upload session; the script captures its Location into `variable`. */
async function blobUploadStart(reg: Registry, repo: string, variable: string): Promise<UploadSession> {
  const base = await reg.base();
  // In a dry run the script's own POST captures the real Location; this stands for it until then.
  const planned = `${base}/v2/${repo}/blobs/uploads/${variable}?_state=STATE`;
  const res = await reg.request({
    method: "POST",
    path: `/v2/${encodePath(repo)}/blobs/uploads/`,
    idempotent: true,
    script: {
      why: `start a blob upload; the Location header names where its bytes go (${variable})`,
      capture: { variable, header: "location", check: false, resolve: true, planned },
    },
  });
  const min = Number(res.headers.get("oci-chunk-min-length") ?? NaN);
  return { location: uploadLocation(res, base, planned, { method: "POST", what: `${repo} blob upload` }), minChunk: min > 0 ? min : undefined };
}

/**
 * PATCH <location> with Content-Range — one chunk of a blob, at the offset the registry has; its
 * answer's Location is where the next chunk goes. Not sent again blindly: a chunk whose answer
 * was lost is resumed from the upload's Range (blobUploadStatus).
 */
async function blobChunk(
  reg: Registry,
  session: UploadSession,
  chunk: { bytes?: Uint8Array; start: number; end: number },
  variable: string,
  pipedFrom: RegistryRequest,
): Promise<UploadSession> {
  const base = await reg.base();
  const res = await reg.request({
    method: "PATCH",
    path: "",
    url: session.location,
    headers: { "Content-Type": "application/octet-stream", "Content-Range": `${chunk.start}-${chunk.end}` },
    body: chunk.bytes,
    script: { capture: { variable, header: "location", check: false, resolve: true, planned: session.location }, pipedFrom },
  });
  return { ...session, location: uploadLocation(res, base, session.location, { method: "PATCH", what: session.location }) };
}

/**
 * GET <location> — how much of an upload the registry holds: 204 with `Range: 0-<last byte>`.
 * undefined when the session is gone (404 BLOB_UPLOAD_UNKNOWN; distribution 2.8 cancels a
 * session asked about with a stale state, 400 BLOB_UPLOAD_INVALID): it must start again.
 */
async function blobUploadStatus(reg: Registry, session: UploadSession): Promise<{ next: number; session: UploadSession } | undefined> {
  const base = await reg.base();
  const res = await reg.request({
    method: "GET",
    path: "",
    url: session.location,
    expect: [400, 404],
    script: { why: "the upload's Range: where to resume" },
  });
  if (res.status >= 300) return undefined;
  const m = /^(?:bytes=)?0-(\d+)$/.exec(res.headers.get("range") ?? "");
  // "0-0" is what distribution says of an empty upload too: a chunk is never one byte, so it means none.
  const last = m ? Number(m[1]) : -1;
  return { next: last > 0 ? last + 1 : 0, session: { ...session, location: uploadLocation(res, base, session.location, { method: "GET", what: session.location }) } };
}

/**
 * PUT <location>&digest=<digest> — close an upload: with the whole blob (one request) or after
 * its chunks (no body). 201 Created: the registry checked the digest. A PUT whose answer is lost
 * is checked with a HEAD of the blob.
 */
async function blobUploadClose(reg: Registry, repo: string, session: UploadSession, digest: string, body?: { bytes?: Uint8Array; pipedFrom: RegistryRequest }): Promise<void> {
  const base = await reg.base();
  const url = session.location;
  await reg.request({
    method: "PUT",
    path: "",
    url: `${url}${url.includes("?") ? "&" : "?"}digest=${encodeURIComponent(digest)}`,
    headers: { "Content-Type": "application/octet-stream" },
    body: body ? (body.bytes ?? new Uint8Array()) : undefined,
    verify: { request: { method: "HEAD", url: base + blobPath(repo, digest) }, done: 200 },
    script: { why: body ? "the whole blob in one PUT, and its digest: 201 Created" : "close the upload with the blob's digest: 201 Created", pipedFrom: body?.pipedFrom },
  });
}

/**
 * GET /v2/<name>/blobs/<digest> (a byte range of it) — as a request value: sent to read a chunk,
 * and piped by the script into the write it feeds.
 */
async function blobReadRequest(reg: Registry, repo: string, digest: string, range?: [number, number]): Promise<RegistryRequest> {
  return {
    method: "GET",
    url: (await reg.base()) + blobPath(repo, digest),
    ...(range ? { headers: { Range: `bytes=${range[0]}-${range[1]}` } } : {}),
    maxBody: range ? range[1] - range[0] + 1 : MAX_JSON_BYTES,
    script: { feeds: true },
  };
}

/**
 * GET /v2/<name>/blobs/<digest> from byte `from` on, its body unread: a big blob's bytes pass
 * through as they arrive. Past byte 0 (a read resumed after a drop) the answer must be 206.
 */
async function blobStream(reg: Registry, repo: string, digest: string, from = 0): Promise<BodyStream> {
  const req = await blobReadRequest(reg, repo, digest);
  const res = await reg.request({ ...req, ...(from > 0 ? { headers: { Range: `bytes=${from}-` } } : {}), path: "", expect: [], stream: true });
  const asked = { method: "GET" as const, what: `${repo} blob ${digest}` };
  if (from > 0 && res.status !== 206) {
    res.stream?.cancel();
    throw new BadAnswer(asked, `the registry answered ${res.status} to a Range request`, "the registry does not serve byte ranges of blobs");
  }
  if (!res.stream) throw new BadAnswer(asked, `the registry answered ${res.status} with no body`);
  return res.stream;
}

/**
 * Does this registry delete? DELETE of a digest that cannot exist: 404 when yes, 405 UNSUPPORTED
 * when no. Never sent in a dry run; with `required`, printed all the same, as the script's check.
 */
async function deletesEnabled(reg: Registry, repo: string, { required = false } = {}): Promise<boolean | undefined> {
  if (reg.dryRun && !required) return undefined;
  const res = await reg.request({
    method: "DELETE",
    path: manifestPath(repo, IMPOSSIBLE_DIGEST),
    expect: [404, 405],
    script: {
      why: "are deletes enabled? this digest cannot exist, so nothing is deleted: 404 means enabled, 405 UNSUPPORTED disabled",
      ...(required ? { stopUnless: { status: 404, message: "deletes are disabled on this registry (or the check failed): nothing was changed" } } : {}),
    },
  });
  return res.sent ? res.status !== 405 : undefined;
}

// ── lists: Link pages, tags, the catalog, referrers ──

/**
 * A list ends when the registry stops naming a next page, or at these bounds: more than
 * MAX_LIST_NAMES names (a million tags is more than any registry holds on purpose), or more than
 * MAX_PAGES pages that bring fewer than MIN_PAGE_AVERAGE names each on average (a registry that
 * pages two names at a time forever). 100,000 tags in pages of 100 are 1,000 pages, and fine.
 */
const MAX_LIST_NAMES = 1_000_000;
const MAX_PAGES = 500;
const MIN_PAGE_AVERAGE = 10;

/**
 * Follow `Link: <…>; rel="next"` pages, bounded: a Link that repeats, a page with nothing new, a
 * next page on another host, or too many pages stop it. `take` reads a page and says how many new
 * entries it brought. With `absentIf404`, a 404 on the first page answers false.
 */
async function followPages(
  reg: Registry,
  firstPath: string,
  first: Pick<RegistryRequest, "headers" | "script">,
  take: (res: RegistryResponse, asked: Asked) => number | Promise<number>,
  { absentIf404 = false } = {},
): Promise<boolean> {
  const seen = new Set<string>();
  const base = await reg.base();
  const asked = (url: string) => ({ method: "GET" as const, what: url });
  let url: string | undefined = base + firstPath;
  let names = 0;
  for (let page = 0; url; page++) {
    if (seen.has(url)) throw new BadAnswer(asked(url), "the registry's Link repeats a page", "the registry paginates in a loop");
    if (page >= MAX_PAGES && names < page * MIN_PAGE_AVERAGE)
      throw new BadAnswer(
        asked(firstPath),
        `more than ${page} pages of ${Math.round(names / page)} names on average`,
        "the registry's pagination does not end (or ask for bigger pages with --page-size)",
      );
    seen.add(url);
    if (!url.startsWith(`${base}/`))
      throw new BadAnswer(asked(firstPath), `the next page is on another host (${new URL(url).host})`, "refused: credentials stay with the registry");
    const res = await reg.request({
      method: "GET",
      path: url.slice(base.length),
      maxBody: MAX_JSON_BYTES,
      headers: first.headers,
      expect: page === 0 && absentIf404 ? [404] : undefined,
      script: page === 0 ? first.script : { recheck: first.script?.recheck },
    });
    if (res.sent && res.status === 404) return false;
    const fresh = await take(res, asked(url));
    names += fresh;
    url = parseLinkNext(res.headers.get("link"), url);
    // A page with nothing new and yet another page to come: the list goes round in circles.
    if (url && fresh === 0) throw new BadAnswer(asked(firstPath), `page ${page + 1} brought nothing new but names a next page`, "the registry's pagination does not end");
  }
  return true;
}

/**
 * The names of a paginated list (tags, repositories), each checked, handed to `take` a page at a
 * time as the pages arrive, each page in byte order: the list is never held here. A name is
 * dropped when its page, or the page before, already had it (registries page in order, so a
 * repeat is next to its first).
 */
async function listPages(
  reg: Registry,
  firstPath: string,
  key: "tags" | "repositories",
  why: string,
  valid: (s: string) => boolean,
  take: (names: string[]) => void | Promise<void>,
  recheck?: PlannedWrites,
): Promise<void> {
  const what = key === "tags" ? "tag" : "repository name";
  let previous: string[] = [];
  let total = 0;
  await followPages(reg, firstPath, { script: { why, recheck } }, async (res, asked) => {
    const items = parseJsonAnswer<Record<string, unknown>>(res.body, asked, "the registry sent something else where a list was due")[key];
    if (items !== null && items !== undefined && !Array.isArray(items)) throw new BadAnswer(asked, `"${key}" is not a list`);
    const list = (items as unknown[] | null) ?? [];
    const bad = list.find((x) => typeof x !== "string" || !valid(x));
    if (bad !== undefined) throw new BadAnswer(asked, `the registry listed an invalid ${what}: ${quoted(JSON.stringify(bad) ?? "")}`);
    // Registries list in order already: sorting then costs only the check (a sort of 100,000 names takes 7 MiB).
    const page = inOrder(list as string[]) ? (list as string[]) : (list as string[]).sort(byteOrder);
    const repeated = (x: string, i: number) => x === page[i - 1] || (previous.length > 0 && sortedHas(previous, x));
    const fresh = page.some(repeated) ? page.filter((x, i) => !repeated(x, i)) : page; // a copy only when something repeats
    total += fresh.length;
    if (total > MAX_LIST_NAMES)
      throw new BadAnswer(asked, `more than ${MAX_LIST_NAMES.toLocaleString("en-US")} ${key}`, `regctl reads at most ${MAX_LIST_NAMES.toLocaleString("en-US")} ${key} of one list`);
    previous = page;
    if (fresh.length) await take(fresh);
    return fresh.length;
  });
}

/** Is this list sorted in byte order already? */
function inOrder(list: readonly string[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i - 1]! > list[i]!) return false;
  return true;
}

/** Is `x` in this list sorted in byte order? (a binary search) */
function sortedHas(sorted: readonly string[], x: string): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return sorted[lo] === x;
}

/** Every name of a paginated list, for the callers that need it whole (a plan, completion). */
async function paginate(reg: Registry, firstPath: string, key: "tags" | "repositories", why: string, valid: (s: string) => boolean, recheck?: PlannedWrites): Promise<string[]> {
  const out: string[] = [];
  await listPages(
    reg,
    firstPath,
    key,
    why,
    valid,
    (names) => {
      for (const n of names) out.push(n);
    },
    recheck,
  );
  return out;
}

/**
 * GET /v2/<name>/referrers/<digest> (OCI 1.1) — the manifests whose `subject` is this digest, every
 * page; undefined when the registry has no referrers API (404: distribution 2.8 and 3.0). With
 * `artifactType`, the registry may filter (it says so in OCI-Filters-Applied); regctl filters too.
 */
export async function referrersList(reg: Registry, repo: string, digest: string, artifactType?: string): Promise<Descriptor[] | undefined> {
  const out: Descriptor[] = [];
  const known = new Set<string>();
  const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : "";
  const why = `the referrers of ${digest} (signatures, SBOMs, attestations): an OCI 1.1 registry lists them here; 404 means it has no referrers API, and the fallback tag ${fallbackTag(digest)} indexes them`;
  const found = await followPages(
    reg,
    `/v2/${encodePath(repo)}/referrers/${digest}${query}`,
    { headers: { Accept: MediaType.OciIndex }, script: { why } },
    (res, asked) => {
      const index = parseJsonAnswer<ManifestJson>(res.body, asked, "the registry sent something else where an index of referrers was due");
      checkManifest(index, asked);
      const fresh = (index.manifests ?? []).filter((d) => !known.has(d.digest));
      for (const d of fresh) known.add(d.digest);
      out.push(...fresh);
      return fresh.length;
    },
    { absentIf404: true },
  );
  if (!found) return undefined;
  return artifactType ? out.filter((d) => d.artifactType === artifactType) : out;
}

const pageQuery = (pageSize?: number) => (pageSize ? `?n=${pageSize}` : "");

const CATALOG_WHY = "the catalog, page by page: each answer's Link header names the next page";
const validRepository = (name: string) => name.length <= 255 && name.split("/").every((p) => NAME_COMPONENT.test(p));
const tagsWhy = (repo: string, recheck?: PlannedWrites) =>
  recheck
    ? `the tags of ${repo} again, right before the first write: a tag pushed since the plan onto a digest it deletes (or a tag it untags, moved) stops it`
    : `the tags of ${repo}`;
const tagsPath = (repo: string, pageSize?: number) => `/v2/${encodePath(repo)}/tags/list${pageQuery(pageSize)}`;
const validTag = (t: string) => TAG.test(t);

/** GET /v2/_catalog — every repository, following Link pages (the registry's page size unless asked). */
export function catalog(reg: Registry, pageSize?: number): Promise<string[]> {
  return paginate(reg, `/v2/_catalog${pageQuery(pageSize)}`, "repositories", CATALOG_WHY, validRepository);
}

/** The catalog a page at a time, as it arrives. */
function catalogPages(reg: Registry, take: (names: string[]) => void | Promise<void>, pageSize?: number): Promise<void> {
  return listPages(reg, `/v2/_catalog${pageQuery(pageSize)}`, "repositories", CATALOG_WHY, validRepository, take);
}

/**
 * GET /v2/<name>/tags/list — every tag, following Link where the registry paginates. With
 * `recheck`, each page also carries the script's recheck of its tags before the first write.
 */
export function tagList(reg: Registry, repo: string, pageSize?: number, recheck?: PlannedWrites): Promise<string[]> {
  return paginate(reg, tagsPath(repo, pageSize), "tags", tagsWhy(repo, recheck), validTag, recheck);
}

/** The tags a page at a time, as they arrive. */
function tagPages(reg: Registry, repo: string, take: (names: string[]) => void | Promise<void>, pageSize?: number): Promise<void> {
  return listPages(reg, tagsPath(repo, pageSize), "tags", tagsWhy(repo), validTag, take);
}

/** GET /v2/<name>/blobs/<digest> — a small blob (a config), checked against its digest. */
async function blobGet(reg: Registry, repo: string, digest: string, maxBytes = MAX_JSON_BYTES): Promise<Uint8Array> {
  const asked = { method: "GET" as const, what: `${repo} blob ${quoted(digest)}` };
  if (!isDigest(digest)) throw new BadAnswer(asked, "a manifest names an invalid blob digest");
  const res = await reg.request({ method: "GET", path: blobPath(repo, digest), maxBody: maxBytes });
  const actual = digestOf(digest.split(":")[0]!, res.body);
  if (actual !== digest) throw new BadAnswer(asked, `content has digest ${actual}`, "the answer was altered or the registry is broken");
  return res.body;
}

/** What an image's config says of it; a config that is not JSON (an artifact's) says nothing. */
interface ConfigFacts {
  created?: string;
  architecture?: string;
  os?: string;
  variant?: string;
}

/** GET the config blob of an image: its creation time (when valid) and platform. */
async function configFacts(reg: Registry, repo: string, digest: string): Promise<ConfigFacts> {
  const bytes = await blobGet(reg, repo, digest);
  let c: Record<string, unknown>;
  try {
    c = parseJsonAnswer(bytes, { method: "GET", what: digest });
  } catch {
    return {};
  }
  const text = (v: unknown) => (typeof v === "string" ? v : undefined);
  const created = text(c.created);
  return { created: created && !Number.isNaN(Date.parse(created)) ? created : undefined, architecture: text(c.architecture), os: text(c.os), variant: text(c.variant) };
}

function baseType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]!.trim();
}

// ───────────────────────────── 8. operations ─────────────────────────────

/** Run `fn` over `items` with at most `limit` in flight; results keep the input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Run `fn` over `items` with at most `limit` in flight and hand each result to `emit` in input
 * order, as soon as every earlier one is done: at most `window` results wait, so memory stays
 * flat however long the list (the earliest unfinished item is always among those in flight).
 */
export async function mapOrdered<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>, emit: (result: R) => void, window = limit * 4): Promise<void> {
  const waiting = new Map<number, R>();
  const blocked: (() => void)[] = [];
  let next = 0;
  let emitted = 0;
  const worker = async () => {
    for (;;) {
      while (next < items.length && next - emitted >= Math.max(window, limit)) await new Promise<void>((wake) => blocked.push(wake));
      if (next >= items.length) return;
      const i = next++;
      waiting.set(i, await fn(items[i]!));
      for (; waiting.has(emitted); emitted++) {
        emit(waiting.get(emitted)!);
        waiting.delete(emitted);
      }
      for (const wake of blocked.splice(0)) wake();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Byte order, as the spec lists tags; stable whatever order the registry answered in. */
const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

interface PingResult {
  registry: string;
  url: string;
  apiVersion?: string;
  auth: string;
  realm?: string;
  deletes: boolean | undefined;
  /** why it is unknown, when it is */
  deletesUnknown?: string;
}

export async function ping(reg: Registry): Promise<PingResult> {
  const v = await apiVersionCheck(reg);
  const challenge = v.challenges[0];
  let deletes: boolean | undefined;
  let deletesUnknown: string | undefined;
  if (reg.dryRun) deletesUnknown = "a dry run sends no DELETE, and only a DELETE tells";
  else if (v.status === 200) deletes = await deletesEnabled(reg, "regctl/ping");
  else if (await reg.hasCredential()) {
    // With credentials the same probe works through the auth dance; a token without delete rights says nothing.
    deletes = await deletesEnabled(reg, "regctl/ping").catch((err: unknown) => {
      deletesUnknown = `the probe was refused (${err instanceof RegistryError ? err.status : "no answer"}): the account may lack the delete permission`;
      return undefined;
    });
  } else deletesUnknown = `only a DELETE tells, and ${reg.host} wants credentials for it: regctl login ${reg.host}`;
  return {
    deletesUnknown,
    registry: reg.host,
    url: await reg.base(),
    apiVersion: v.apiVersion,
    auth: challenge ? challenge.scheme : "none",
    realm: challenge?.params.realm,
    deletes,
  };
}

/** The digest the registry stores for a reference (the one DELETE accepts). */
async function resolveDigest(reg: Registry, ref: Reference, capture?: string): Promise<ManifestDescriptor> {
  return manifestHead(reg, ref.repository, tagOrDigest(ref), { capture });
}

/** Every tag with the digest it points at, resolved concurrently, in tag order. */
async function tagDigests(reg: Registry, repo: string, concurrency: number, pageSize?: number): Promise<{ tag: string; digest?: string; mediaType?: string }[]> {
  const tags = (await tagList(reg, repo, pageSize)).sort(byteOrder);
  return mapLimit(tags, concurrency, async (tag) => ({ tag, ...(await tagDigest(reg, repo, tag)) }));
}

/** The digest a tag points at; nothing when the tag was deleted since the list was read. */
async function tagDigest(reg: Registry, repo: string, tag: string): Promise<{ digest?: string; mediaType?: string }> {
  try {
    const d = await manifestHead(reg, repo, tag);
    return { digest: d.digest, mediaType: d.mediaType };
  } catch (err) {
    if (isGone(err)) return {};
    throw err;
  }
}

interface ImageSummary {
  digest: string;
  mediaType: string;
  size: number;
  platform?: string;
  config?: { digest: string; created?: string; architecture?: string; os?: string };
  layers?: { digest: string; size: number; mediaType: string }[];
  layersSize?: number;
  manifests?: { digest: string; mediaType: string; size: number; platform?: string }[];
}

const platformString = (p?: { os?: string; architecture?: string; variant?: string }) =>
  p?.os || p?.architecture ? [p.os, p.architecture, p.variant].filter(Boolean).join("/") : undefined;

/** What a reference is: a list/index with its platforms, or an image with config and layers. */
export async function inspect(reg: Registry, ref: Reference): Promise<ImageSummary> {
  const m = await manifestGet(reg, ref.repository, tagOrDigest(ref));
  const summary: ImageSummary = { digest: m.digest, mediaType: m.mediaType, size: m.size };
  if (isList(m)) {
    summary.manifests = (m.json.manifests ?? []).map((d) => ({ digest: d.digest, mediaType: d.mediaType, size: d.size, platform: platformString(d.platform) }));
    return summary;
  }
  if (m.json.config) {
    const cfg = await configFacts(reg, ref.repository, m.json.config.digest);
    summary.config = { digest: m.json.config.digest, created: cfg.created, architecture: cfg.architecture, os: cfg.os };
    summary.platform = platformString(cfg);
  }
  summary.layers = (m.json.layers ?? []).map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }));
  summary.layersSize = summary.layers.reduce((n, l) => n + (l.size ?? 0), 0);
  return summary;
}

// ── referrers: the signatures, SBOMs and attestations of an image, found three ways ──

/** How a referrer was found. */
type FoundBy = "referrers API" | "fallback tag" | "fallback index" | "cosign tag";

/** A manifest that refers to another: an artifact with `subject`, a cosign signature, a fallback index. */
export interface Referrer {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** the referrers API or the fallback index listed it; the fallback index itself or cosign's tag named it */
  found: FoundBy;
  /** the tag it is found by: `sha256-<hex>` (the fallback index) or `sha256-<hex>.sig` (cosign) */
  tag?: string;
  /** what refers to it in turn (a signature of an SBOM) */
  referrers: Referrer[];
}

/** A signature of a signature of an SBOM is deep enough; deeper is a loop or an attack. */
const MAX_REFERRER_DEPTH = 4;

/**
 * The referrers of the digests of one repository. The registry's referrers API is asked once; on
 * a 404 (no such API) each digest's fallback tag is read instead, when the repository has it.
 * cosign's tags (`sha256-<hex>.sig`) are found by name. Each digest is looked up once per run.
 */
export class ReferrerIndex {
  /** does the registry have the referrers API? learned from the first answer */
  private api?: boolean;
  private apiKnown?: Promise<void>;
  private readonly found = new Map<string, Promise<Referrer[]>>();
  /** tags named after a digest, by the fallback tag of that digest */
  private readonly named = new Map<string, string[]>();

  constructor(
    private readonly reg: Registry,
    private readonly repo: string,
    tags: readonly string[],
    /** the digest each tag points at, when the caller read it already */
    private readonly tagDigest: ReadonlyMap<string, string> = new Map(),
  ) {
    for (const t of tags) {
      const r = referrerTag(t);
      if (r) remember(this.named, r.key, () => []).push(t);
    }
  }

  /** Is this tag named after a digest (a fallback index, a cosign signature)? */
  static isReferrerTag(tag: string): boolean {
    return referrerTag(tag) !== undefined;
  }

  /** What refers to `digest`, recursively. */
  of(digest: string, depth = 0): Promise<Referrer[]> {
    return remember(this.found, digest, () => this.lookUp(digest, depth));
  }

  private async lookUp(digest: string, depth: number): Promise<Referrer[]> {
    if (depth >= MAX_REFERRER_DEPTH) throw new BadAnswer({ method: "GET", what: refName(this.repo, digest) }, `referrers nested more than ${MAX_REFERRER_DEPTH} deep`);
    const out = new Map<string, Referrer>();
    const add = (d: Descriptor, found: FoundBy, tag?: string) => {
      if (out.has(d.digest) || d.digest === digest) return;
      out.set(d.digest, { digest: d.digest, mediaType: d.mediaType, size: d.size ?? 0, artifactType: d.artifactType, annotations: d.annotations, found, tag, referrers: [] });
    };
    // The first lookup asks the API alone; the others wait for its answer, then ask it or not.
    let listed: Descriptor[] | undefined;
    if (!this.apiKnown) {
      const first = referrersList(this.reg, this.repo, digest);
      this.apiKnown = first.then(
        (l) => {
          this.api = l !== undefined;
        },
        () => {},
      );
      listed = await first;
    } else {
      await this.apiKnown;
      if (this.api !== false) listed = await referrersList(this.reg, this.repo, digest);
    }
    for (const d of listed ?? []) add(d, "referrers API");
    const key = fallbackTag(digest);
    for (const tag of this.named.get(key) ?? []) {
      const m = await this.read(tag);
      if (!m) continue;
      if (tag === key) {
        add({ digest: m.digest, mediaType: m.mediaType, size: m.size }, "fallback tag", tag);
        for (const d of m.json.manifests ?? []) add(d, "fallback index");
      } else add({ digest: m.digest, mediaType: m.mediaType, size: m.size, artifactType: m.json.artifactType }, "cosign tag", tag);
    }
    const list = [...out.values()];
    // The fallback index lists referrers; it is not one of anything else's.
    for (const r of list) if (r.found !== "fallback tag") r.referrers = await this.of(r.digest, depth + 1);
    return list;
  }

  /** A tag's manifest, or undefined when it is gone (deleted meanwhile). */
  private async read(tag: string): Promise<Manifest | undefined> {
    const known = this.tagDigest.get(tag);
    return manifestGet(this.reg, this.repo, known ?? tag).catch((err) => {
      if (isGone(err)) return undefined;
      throw err;
    });
  }
}

/** Every referrer under these, depth first: what goes with an image. */
export function allReferrers(list: readonly Referrer[]): Referrer[] {
  return list.flatMap((r) => [r, ...allReferrers(r.referrers)]);
}

/** The referrers of an image and, for a list, of each of its platform images. */
interface ReferrerTree {
  digest: string;
  mediaType: string;
  referrers: Referrer[];
  children: { digest: string; platform?: string; referrers: Referrer[] }[];
}

/** What refers to REF (and to the children of a list), optionally only one artifactType at the top. */
async function referrersOf(
  reg: Registry,
  ref: Reference,
  concurrency: number,
  { artifactType, known }: { artifactType?: string; known?: { digest: string; mediaType: string; children: Descriptor[] } } = {},
): Promise<ReferrerTree> {
  const target = known ?? (await resolveDigest(reg, ref));
  const index = new ReferrerIndex(reg, ref.repository, await tagList(reg, ref.repository));
  const only = (list: Referrer[]) => (artifactType ? list.filter((r) => r.artifactType === artifactType) : list);
  const children = known?.children ?? (INDEX_TYPES.includes(target.mediaType) ? ((await manifestGet(reg, ref.repository, target.digest)).json.manifests ?? []) : []);
  return {
    digest: target.digest,
    mediaType: target.mediaType,
    referrers: only(await index.of(target.digest)),
    children: await mapLimit(children, concurrency, async (c) => ({ digest: c.digest, platform: platformString(c.platform), referrers: only(await index.of(c.digest)) })),
  };
}

/** What a referrer is, in a word: its artifactType, cosign's kind, or the fallback index. */
export function referrerKind(r: Referrer): string {
  if (r.found === "fallback tag") return "referrers index (fallback tag)";
  const suffix = r.tag ? referrerTag(r.tag)?.suffix : undefined;
  if (suffix) return { sig: "signature (cosign)", att: "attestation (cosign)", sbom: "SBOM (cosign)" }[suffix] ?? `${suffix} (cosign)`;
  return r.artifactType ?? r.mediaType;
}

// ── delete: a digest with every tag on it, and what refers to it ──

interface DeletePlan {
  reference: string;
  registry: string;
  repository: string;
  digest: string;
  mediaType: string;
  /** every tag of the repository on that digest: they all go with it */
  tags: string[];
  /** tagged lists/indexes in the repository that refer to this digest as a child */
  referencedBy: { tag: string; digest: string }[];
  /** what refers to it (and to its children, for a list): deleted after it, unless --keep-referrers */
  referrers: { digest: string; kind: string; tags: string[] }[];
  /** it is itself a referrer listed in its image's fallback index: the index is rewritten without it */
  fallback?: { tag: string; index: string; remaining: number };
}

/** Resolve REF to its stored digest, find every tag that points at it and what refers to it. Reads only. */
async function planDelete(reg: Registry, ref: Reference, concurrency: number, { keepReferrers = false } = {}): Promise<DeletePlan & { writes: PlannedWrites; index?: Manifest }> {
  const target = await resolveDigest(reg, ref, "DIGEST");
  // Read the bytes too: a digest the content does not hash to is refused, never deleted.
  const manifest = await manifestGet(reg, ref.repository, target.digest);
  const all = await tagDigests(reg, ref.repository, concurrency);
  const tags = all.filter((t) => t.digest === target.digest).map((t) => t.tag);
  // A child of a tagged list must not be deleted: the list would point at nothing. A fallback
  // index is not such a list: it is rewritten without the referrer deleted.
  const lists = all.filter((t) => t.digest && t.digest !== target.digest && INDEX_TYPES.includes(t.mediaType ?? "") && !ReferrerIndex.isReferrerTag(t.tag));
  const uniqueLists = [...new Map(lists.map((l) => [l.digest!, l])).values()];
  const referencedBy: { tag: string; digest: string }[] = [];
  await mapLimit(uniqueLists, concurrency, async (l) => {
    const m = await manifestGet(reg, ref.repository, l.digest!);
    if ((m.json.manifests ?? []).some((c) => c.digest === target.digest))
      for (const t of lists.filter((x) => x.digest === l.digest)) referencedBy.push({ tag: t.tag, digest: l.digest! });
  });
  const tagged = all.filter((t): t is { tag: string; digest: string } => t.digest !== undefined);
  const index = new ReferrerIndex(
    reg,
    ref.repository,
    tagged.map((t) => t.tag),
    new Map(tagged.map((t) => [t.tag, t.digest])),
  );
  const found = keepReferrers
    ? []
    : allReferrers([...(await index.of(target.digest)), ...(await Promise.all((manifest.json.manifests ?? []).map((c) => index.of(c.digest)))).flat()]);
  // Never a referrer that an image tag points at: it is an image of its own.
  const imageTagged = new Set(tagged.filter((t) => !ReferrerIndex.isReferrerTag(t.tag)).map((t) => t.digest));
  const referrers = [...new Map(found.filter((r) => !imageTagged.has(r.digest)).map((r) => [r.digest, r])).values()].map((r) => ({
    digest: r.digest,
    kind: referrerKind(r),
    tags: tagged.filter((t) => t.digest === r.digest).map((t) => t.tag),
  }));
  // A referrer deleted by itself leaves its image's fallback index: that index is rewritten without it.
  let fallback: DeletePlan["fallback"];
  let indexManifest: Manifest | undefined;
  const subject = manifest.json.subject?.digest;
  const fallbackName = subject && isDigest(subject) ? fallbackTag(subject) : undefined;
  const indexDigest = tagged.find((t) => t.tag === fallbackName)?.digest;
  if (fallbackName && indexDigest) {
    indexManifest = await manifestGet(reg, ref.repository, indexDigest);
    const listed = indexManifest.json.manifests ?? [];
    if (listed.some((d) => d.digest === target.digest)) fallback = { tag: fallbackName, index: indexDigest, remaining: listed.length - 1 };
  }
  // The lists read here (and the target, if it is one): the recheck need not read them again.
  const read = new Set(uniqueLists.map((l) => l.digest!));
  if (INDEX_TYPES.includes(target.mediaType)) read.add(target.digest);
  for (const t of tagged) if (ReferrerIndex.isReferrerTag(t.tag) && INDEX_TYPES.includes(all.find((a) => a.tag === t.tag)?.mediaType ?? "")) read.add(t.digest);
  return {
    reference: formatReference(ref),
    registry: reg.host,
    repository: ref.repository,
    digest: target.digest,
    mediaType: target.mediaType,
    tags,
    referencedBy: referencedBy.sort((a, b) => byteOrder(a.tag, b.tag)),
    referrers,
    fallback,
    index: fallback ? indexManifest : undefined,
    writes: {
      repository: ref.repository,
      deletes: new Map([[target.digest, tags], ...referrers.map((r) => [r.digest, r.tags] as [string, string[]])]),
      untags: new Map(),
      lists: read,
    },
  };
}

/**
 * Carry out a delete: the fallback index first rewritten without the target when it is a referrer
 * (the index is never deleted while others remain in it), then the target, then its referrers —
 * the image first, so a failure leaves garbage, never an image without its signature.
 */
async function executeDelete(reg: Registry, plan: DeletePlan & { index?: Manifest }): Promise<{ sent: boolean; referrers: string[]; failed: { what: string; error: string }[] }> {
  if (plan.fallback && plan.index) await dropFromFallbackIndex(reg, plan.repository, plan.index, plan.fallback.tag, plan.digest);
  const { sent } = await manifestDelete(reg, plan.repository, plan.digest);
  const done: string[] = [];
  const failed: { what: string; error: string }[] = [];
  for (const r of plan.referrers) {
    try {
      await manifestDelete(
        reg,
        plan.repository,
        r.digest,
        `delete ${r.digest} (${r.kind}${r.tags.length ? `, ${r.tags.join(", ")}` : ""}): a referrer of ${plan.digest}, after it`,
      );
      done.push(r.digest);
    } catch (err) {
      if (isGone(err)) continue; // deleted meanwhile, or with an index that held it
      failed.push({ what: `${plan.repository}@${r.digest}`, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return { sent, referrers: done, failed };
}

/**
 * Take a referrer out of its image's fallback index, as the spec says a client should: the index
 * without it is put under the fallback tag and the old one deleted; when it was the last one,
 * the index is deleted with its tag.
 */
async function dropFromFallbackIndex(reg: Registry, repo: string, index: Manifest, tag: string, referrer: string): Promise<void> {
  const remaining = (index.json.manifests ?? []).filter((d) => d.digest !== referrer);
  if (!remaining.length) {
    await manifestDelete(reg, repo, index.digest, `the fallback index ${tag} listed only ${referrer}: it goes too`);
    return;
  }
  const bytes = JSON.stringify({ ...index.json, manifests: remaining });
  await manifestPut(
    reg,
    repo,
    tag,
    bytes,
    index.mediaType || MediaType.OciIndex,
    `the fallback index ${tag} without ${referrer}: ${remaining.length === 1 ? "1 referrer stays" : `${remaining.length} referrers stay`} listed`,
  );
  await manifestDelete(reg, repo, index.digest, `the old fallback index, untagged now`);
}

// ── untag: remove one tag, keep the manifest and its other tags ──

/** The OCI empty blob `{}`: the config of the throwaway manifest that `untag` puts on a tag. */
const EMPTY_BLOB = "{}";
const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/** A manifest no other can equal (the tag and a nonce are in it), so deleting it deletes nothing else. */
function throwawayManifest(repo: string, tag: string, nonce: string): { bytes: string; digest: string } {
  const bytes = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciEmpty, digest: EMPTY_DIGEST, size: 2 },
    layers: [],
    annotations: { "io.regctl.untag": `${repo}:${tag}`, "io.regctl.nonce": nonce },
  });
  return { bytes, digest: sha256(bytes) };
}

interface UntagResult {
  tag: string;
  digest: string;
  /** how the tag went: the registry deleted it by name, or a throwaway replaced it */
  method: "tag-delete" | "throwaway" | "planned";
  /** the tags still on the digest; none means the manifest stays, untagged */
  otherTags: string[];
}

/** Check once per repository that deletes are enabled, so no step is taken that cannot finish. */
async function requireDeletes(reg: Registry, repo: string): Promise<void> {
  if ((await deletesEnabled(reg, repo, { required: true })) === false)
    throw new RegctlError(`deletes are disabled on ${reg.host} (405 UNSUPPORTED): nothing was changed`, hintFor("DELETE", `${await reg.base()}/v2/`, 405, []));
}

/**
 * Removes tags of one repository and nothing else. Where the registry deletes tags by name
 * (OCI 1.1) that is one request; where it refuses (distribution 2.8: 400 DIGEST_INVALID), a
 * throwaway manifest is pushed to the tag and deleted by digest, so the original manifest and its
 * other tags stay. If a step fails halfway, the tag is put back on the original manifest.
 */
class Untagger {
  private prepared?: Promise<void>;
  /** learned from the first answer: does this registry delete tags by name? */
  private tagDeleteWorks?: boolean;
  constructor(
    private reg: Registry,
    private repo: string,
  ) {}

  /** The empty config blob, uploaded once before any throwaway needs it. */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      if (!(await blobExists(this.reg, this.repo, EMPTY_DIGEST))) await blobUpload(this.reg, this.repo, EMPTY_BLOB, EMPTY_DIGEST);
    })();
    return this.prepared;
  }

  /**
   * Remove `tag`. `siblings` are the other tags on the same digest: after a delete by name they
   * are checked, and put back, since some registries take that for a delete of the manifest.
   */
  async untag(tag: string, original: Manifest, siblings: string[]): Promise<UntagResult["method"]> {
    const { reg, repo } = this;
    if (this.tagDeleteWorks !== false) {
      const { sent, status } = await tagDelete(reg, repo, tag);
      if (sent) {
        this.tagDeleteWorks = status >= 200 && status < 300;
        if (this.tagDeleteWorks) {
          await this.restore(siblings, original);
          return "tag-delete";
        }
      }
    }
    await this.prepare();
    const t = throwawayManifest(repo, tag, nodeCrypto().randomUUID());
    await manifestPut(reg, repo, tag, t.bytes, MediaType.OciManifest, `move ${tag} onto a throwaway manifest of its own (${t.digest})`);
    try {
      await manifestDelete(reg, repo, t.digest, `delete the throwaway by digest: ${tag} goes with it, the original manifest stays`);
    } catch (err) {
      // The tag points at the throwaway now: put it back where it was, then report.
      const back = await manifestPut(reg, repo, tag, new TextDecoder().decode(original.bytes), original.mediaType, `put ${tag} back on ${original.digest}`).then(
        () => true,
        () => false,
      );
      if (back) throw err;
      throw new RegctlError(
        `${repo}:${tag} is left on the throwaway manifest ${t.digest} (it was ${original.digest}): ${err instanceof Error ? err.message : err}`,
        `run the same untag again, then remove the throwaway: regctl delete ${reg.host}/${repo}@${t.digest}`,
      );
    }
    return reg.dryRun ? "planned" : "throwaway";
  }

  /** Put back any of `tags` that no longer points at the original manifest. */
  private async restore(tags: string[], original: Manifest): Promise<void> {
    for (const other of tags) {
      const now = await manifestHead(this.reg, this.repo, other).catch(() => undefined);
      if (now?.digest !== original.digest)
        await manifestPut(this.reg, this.repo, other, new TextDecoder().decode(original.bytes), original.mediaType, `restore ${other}: the registry deleted more than the tag`);
    }
  }
}

export async function untag(reg: Registry, ref: Reference, concurrency: number): Promise<UntagResult> {
  const repo = ref.repository;
  const tag = ref.tag!;
  await requireDeletes(reg, repo);
  // Capture the digest, so a script made with --dry-run --curl stops if the tag moved meanwhile.
  const target = await resolveDigest(reg, ref, "DIGEST");
  const original = await manifestGet(reg, repo, target.digest);
  const otherTags = (await tagDigests(reg, repo, concurrency)).filter((t) => t.digest === original.digest && t.tag !== tag).map((t) => t.tag);
  const method = await new Untagger(reg, repo).untag(tag, original, otherTags);
  return { tag, digest: original.digest, method, otherTags };
}

// ── images: what each digest is, when it was made, which blobs it holds ──

interface ImageFacts {
  digest: string;
  mediaType: string;
  /** the config's `created`; for a list or index, the newest of its images */
  created?: string;
  /** blobs (configs and layers, of every child for a list) with their sizes */
  blobs: Map<string, number>;
  /** children of a list or index */
  children: string[];
  /** the manifest's own size in bytes (the manifest itself is not kept) */
  size: number;
}

/** Lists of lists are legal; deeper than this is a loop or an attack. */
const MAX_NESTING = 4;

/**
 * Every tag's manifest and the facts of every digest, reading each manifest once, and each config
 * once when creation times are wanted (a config read costs the registry more than a manifest).
 */
async function describeTags(
  reg: Registry,
  repo: string,
  concurrency: number,
  { created: wantCreated = true } = {},
): Promise<{ tags: { tag: string; digest: string }[]; images: Map<string, ImageFacts> }> {
  // A config that is not JSON, or holds no valid date, gives no creation time (such an image is
  // kept by any policy that needs one); a config that cannot be read fails the whole plan.
  const configs = new Map<string, Promise<string | undefined>>();
  const createdOf = (digest: string) => remember(configs, digest, () => configFacts(reg, repo, digest).then((f) => f.created));
  // Each digest is described once, however many tags and lists name it; nesting is bounded.
  const described = new Map<string, Promise<ImageFacts | undefined>>();
  const facts = (m: Manifest, depth = 0): Promise<ImageFacts> => {
    const known = described.get(m.digest);
    if (known) return known as Promise<ImageFacts>;
    const f = describe(m, depth);
    described.set(m.digest, f);
    return f;
  };
  const child = (digest: string, depth: number): Promise<ImageFacts | undefined> => {
    let f = described.get(digest);
    if (!f) {
      if (depth > MAX_NESTING) throw new BadAnswer({ method: "GET", what: refName(repo, digest) }, `lists nested more than ${MAX_NESTING} deep`);
      f = manifestGet(reg, repo, digest).then(
        (m) => describe(m, depth),
        (err) => {
          // A child the registry no longer has (garbage-collected) has no blobs to count.
          if (isGone(err)) return undefined;
          throw err;
        },
      );
      described.set(digest, f);
    }
    return f;
  };
  const describe = async (m: Manifest, depth: number): Promise<ImageFacts> => {
    const blobs = new Map<string, number>();
    const children: string[] = [];
    let created: string | undefined;
    if (isList(m)) {
      for (const d of m.json.manifests ?? []) {
        children.push(d.digest);
        const f = await child(d.digest, depth + 1);
        if (!f) continue;
        for (const [b, size] of f.blobs) blobs.set(b, size);
        blobs.set(f.digest, f.size);
        if (f.created && (!created || Date.parse(f.created) > Date.parse(created))) created = f.created;
      }
    } else {
      if (m.json.config) {
        blobs.set(m.json.config.digest, m.json.config.size ?? 0);
        if (wantCreated) created = await createdOf(m.json.config.digest);
      }
      for (const l of m.json.layers ?? []) blobs.set(l.digest, l.size ?? 0);
    }
    return { digest: m.digest, mediaType: m.mediaType, created, blobs, children, size: m.size };
  };
  const names = (await tagList(reg, repo)).sort(byteOrder);
  // Each manifest is described as it arrives and then dropped: only its facts are kept.
  const rows = (
    await mapLimit(names, concurrency, async (tag) => {
      let m: Manifest;
      try {
        m = await manifestGet(reg, repo, tag);
      } catch (err) {
        if (isGone(err)) return undefined; // deleted meanwhile
        throw err;
      }
      await facts(m);
      return { tag, digest: m.digest };
    })
  ).filter((r): r is { tag: string; digest: string } => r !== undefined);
  const images = new Map<string, ImageFacts>();
  for (const { digest } of rows) if (!images.has(digest)) images.set(digest, (await described.get(digest))!);
  return { tags: rows, images };
}

const sum = (blobs: Iterable<number>) => [...blobs].reduce((a, b) => a + b, 0);

/** Tags in natural version order: v1.10 after v1.9, numbers compared as numbers. */
export function naturalCompare(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    if (i % 2 === 1) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    }
    return byteOrder(x, y);
  }
  return pa.length - pb.length;
}

// ── prune: a retention policy, planned first, then carried out ──

interface PrunePolicy {
  keep?: number;
  /** any of them matches */
  match?: RegExp[];
  /** any of them excludes */
  exclude?: RegExp[];
  /** remove only images created before this instant (ms since epoch) */
  olderThan?: number;
  /** remove referrer tags whose image is gone already (dangling signatures) */
  dangling?: boolean;
}

interface PruneRow {
  /** empty for a referrer found without a tag (listed by the referrers API or a fallback index) */
  tag: string;
  digest: string;
  created?: string;
  size: number;
  action: "keep" | "delete" | "untag";
  reason: string;
  /** a referrer: the digest of the image it refers to, and what it is */
  referrer?: { of: string; kind: string };
}

/** What prune decides: each tag's action and why, what goes by digest, what goes alone, what is freed. */
interface PruneDecision {
  /** images in natural tag order, each followed by its referrers; dangling referrers last */
  rows: PruneRow[];
  /** digests to delete by digest: none of their tags is kept */
  deletes: string[];
  /** referrers to delete after their image: each only once its image is gone */
  referrerDeletes: { digest: string; of: string }[];
  /** tags to remove alone, because their digest stays (a kept tag or a kept list needs it) */
  untags: string[];
  /** bytes garbage-collect frees after the deletes (blobs no kept image of the repository uses) */
  frees: number;
  /** --older-than as an instant: images created before it are old */
  cutoff?: string;
  /** --keep's last place went to one of several images created at the same instant: the tie was broken by tag */
  ties?: KeepTie;
}

/** Images that share a creation time across --keep's boundary (reproducible builds date every image 1970). */
interface KeepTie {
  /** the creation time they share */
  created: string;
  /** tags with that time, ranked by `order`, and the images (digests) they are on */
  tags: number;
  images: number;
  /** of those tags, how many --keep kept */
  kept: number;
  order: string;
}

interface PrunePlan extends PruneDecision {
  registry: string;
  repository: string;
}

/** What the decision reads of an image: when it was made, its children (a list's), its blobs and sizes. */
export type PruneFacts = Pick<ImageFacts, "created" | "children" | "blobs">;

/** What the decision knows of referrers: each image's (recursively), and which referrer tags have lost their image. */
export interface PruneReferrers {
  of: ReadonlyMap<string, readonly Referrer[]>;
  /** referrer tags whose image is not in the repository any more */
  dangling: ReadonlySet<string>;
}

/**
 * Prune's decision, a pure function of the tags, the facts of their images, their referrers and
 * the policy. Only images count: tags named after a digest (signatures, fallback indexes) are
 * never ranked. Matched image tags are ranked newest first by creation time (ties: natural version
 * order, highest first); an image whose age is unknown is never removed by a policy about age. A
 * digest stays while a kept tag points at it or a kept list holds it: its other tags are then
 * untagged alone. Referrers follow their image: kept with a kept one, deleted after a deleted one;
 * a dangling referrer tag goes only with `dangling`.
 */
export function decidePrune(
  allTags: readonly { tag: string; digest: string }[],
  images: ReadonlyMap<string, PruneFacts>,
  policy: PrunePolicy,
  referrers: PruneReferrers = { of: new Map(), dangling: new Set() },
): PruneDecision {
  const tags = allTags.filter((t) => !ReferrerIndex.isReferrerTag(t.tag));
  const created = (t: { digest: string }) => images.get(t.digest)?.created;
  const time = (t: { digest: string }) => Date.parse(created(t) ?? "");
  const size = (digest: string) => sum(images.get(digest)?.blobs.values() ?? []);
  // --dangling alone removes no image.
  const aboutImages = policy.keep !== undefined || policy.olderThan !== undefined || policy.match !== undefined;
  const matched = tags.filter((t) => aboutImages && (!policy.match || policy.match.some((r) => r.test(t.tag))) && !policy.exclude?.some((r) => r.test(t.tag)));
  const reasons = new Map<string, { remove: boolean; reason: string }>();
  const byTime = policy.keep !== undefined || policy.olderThan !== undefined;
  const cutoff = policy.olderThan === undefined ? undefined : new Date(policy.olderThan).toISOString().replace(/\.\d+Z$/, "Z");
  for (const t of matched) if (byTime && Number.isNaN(time(t))) reasons.set(t.tag, { remove: false, reason: "no creation time: its age is unknown" });
  const newest = matched.filter((t) => !reasons.has(t.tag)).sort((a, b) => time(b) - time(a) || naturalCompare(b.tag, a.tag));
  const when = cutoff === undefined ? "" : instant(cutoff);
  for (const [i, t] of newest.entries()) {
    if (policy.keep !== undefined && i < policy.keep) {
      reasons.set(t.tag, { remove: false, reason: policy.keep === 1 ? "the newest" : `one of the ${policy.keep} newest` });
      continue;
    }
    if (policy.olderThan !== undefined && time(t) >= policy.olderThan) {
      reasons.set(t.tag, { remove: false, reason: `created after ${when}` });
      continue;
    }
    const why = [
      policy.match ? "matched by --match" : "",
      policy.olderThan !== undefined ? `created before ${when}` : "",
      policy.keep === 0 ? "--keep 0 keeps none" : policy.keep === 1 ? "not the newest" : policy.keep !== undefined ? `not one of the ${policy.keep} newest` : "",
    ].filter(Boolean);
    reasons.set(t.tag, { remove: true, reason: why.join(", ") });
  }
  // --keep's boundary between two images created at the same instant: the tag order decided.
  let ties: KeepTie | undefined;
  const last = policy.keep ? newest[policy.keep - 1] : undefined;
  const next = policy.keep ? newest[policy.keep] : undefined;
  if (last && next && time(last) === time(next)) {
    const tied = newest.filter((t) => time(t) === time(last));
    ties = {
      created: created(last)!,
      tags: tied.length,
      images: new Set(tied.map((t) => t.digest)).size,
      kept: tied.filter((t) => newest.indexOf(t) < policy.keep!).length,
      order: "tag, natural version order, highest first",
    };
  }
  // A digest stays while a kept tag points at it, or a kept list holds it; so do their referrers.
  const needed = new Set<string>();
  const keep = (digest: string) => {
    if (needed.has(digest)) return;
    needed.add(digest);
    for (const c of images.get(digest)?.children ?? []) keep(c);
    for (const r of referrers.of.get(digest) ?? []) keep(r.digest);
  };
  const kept = tags.filter((t) => !reasons.get(t.tag)?.remove);
  for (const t of kept) keep(t.digest);
  /** Why a digest stays though one of its tags goes: a kept tag on it, or a kept list that holds it. */
  const staysFor = (digest: string) => {
    const same = kept.filter((k) => k.digest === digest).map((k) => k.tag);
    if (same.length) return `its image stays, tagged ${same.sort(naturalCompare).join(", ")}`;
    const list = kept.find((k) => images.get(k.digest)?.children.includes(digest));
    return list ? `its image stays in the kept list ${list.tag}` : "its image stays for a kept one";
  };
  const unmatched = (tag: string) =>
    policy.exclude?.some((r) => r.test(tag)) ? "excluded by --exclude" : policy.match ? "not matched by --match" : "not a referrer: --dangling leaves images";
  // In natural version order, and so are the deletes and untags: a prune works through v1.9 before v1.10.
  const rows: PruneRow[] = [...tags]
    .sort((a, b) => naturalCompare(a.tag, b.tag))
    .map((t) => {
      const r = reasons.get(t.tag);
      const base = { tag: t.tag, digest: t.digest, created: created(t), size: size(t.digest) };
      if (!r) return { ...base, action: "keep", reason: unmatched(t.tag) };
      if (!r.remove) return { ...base, action: "keep", reason: r.reason };
      if (needed.has(t.digest)) return { ...base, action: "untag", reason: `${r.reason}; ${staysFor(t.digest)}` };
      return { ...base, action: "delete", reason: r.reason };
    });
  const deletes = [...new Set(rows.filter((r) => r.action === "delete").map((r) => r.digest))];
  const untags = rows.filter((r) => r.action === "untag").map((r) => r.tag);
  // Referrers of a deleted image go after it (each once, and never one a kept image needs).
  const referrerDeletes: { digest: string; of: string }[] = [];
  const going = new Set(deletes);
  const follow = (image: string, list: readonly Referrer[]) => {
    for (const r of allReferrers(list))
      if (!needed.has(r.digest) && !going.has(r.digest)) {
        going.add(r.digest);
        referrerDeletes.push({ digest: r.digest, of: image });
      }
  };
  for (const d of deletes) follow(d, [...(referrers.of.get(d) ?? []), ...(images.get(d)?.children ?? []).flatMap((c) => referrers.of.get(c) ?? [])]);
  // Tags named after a digest: with their image, or, when their image is gone, dangling.
  const tagsOn = new Map<string, string[]>();
  for (const t of allTags) remember(tagsOn, t.digest, () => []).push(t.tag);
  const referrerRows = new Map<string, PruneRow[]>();
  const dangling: PruneRow[] = [];
  const imageOf = new Map<string, string>();
  const walk = (image: string, list: readonly Referrer[]) => {
    for (const r of list) {
      if (!imageOf.has(r.digest)) imageOf.set(r.digest, image);
      walk(image, r.referrers);
    }
  };
  for (const [image, list] of referrers.of) walk(image, list);
  const kindOf = new Map(allReferrersOf(referrers.of).map((r) => [r.digest, referrerKind(r)]));
  for (const [digest, image] of imageOf) {
    const tagged = (tagsOn.get(digest) ?? []).filter((t) => ReferrerIndex.isReferrerTag(t));
    const action = going.has(digest) ? "delete" : "keep";
    const shown = tagged.length ? tagged : going.has(digest) ? [""] : [];
    const subjectTags = (tagsOn.get(image) ?? []).filter((t) => !ReferrerIndex.isReferrerTag(t));
    const whose = subjectTags.length ? subjectTags.sort(naturalCompare).join(", ") : abbrevDigest(image);
    const kind = kindOf.get(digest) ?? "referrer";
    for (const tag of shown)
      remember(referrerRows, image, () => []).push({
        tag,
        digest,
        size: size(digest),
        action,
        reason: `${kind} of ${whose}: ${action === "delete" ? "deleted after it" : "kept with it"}`,
        referrer: { of: image, kind },
      });
  }
  for (const t of allTags)
    if (ReferrerIndex.isReferrerTag(t.tag) && !imageOf.has(t.digest)) {
      const gone = referrers.dangling.has(t.tag);
      const remove = gone && policy.dangling === true && !needed.has(t.digest);
      if (remove && !going.has(t.digest)) {
        going.add(t.digest);
        referrerDeletes.push({ digest: t.digest, of: "" });
      }
      dangling.push({
        tag: t.tag,
        digest: t.digest,
        size: size(t.digest),
        action: remove ? "delete" : "keep",
        reason: gone ? (remove ? "dangling: its image is gone" : "dangling: its image is gone (--dangling removes it)") : "names a digest that is not an image here",
        referrer: { of: "", kind: "referrer tag" },
      });
    }
  const keptBlobs = new Set([...needed].flatMap((d) => [...(images.get(d)?.blobs.keys() ?? [])]));
  const freed = new Map<string, number>();
  for (const d of going) for (const [b, n] of images.get(d)?.blobs ?? []) if (!keptBlobs.has(b)) freed.set(b, n);
  const placed = new Set<string>();
  const withReferrers = rows.flatMap((r) => {
    if (placed.has(r.digest)) return [r];
    placed.add(r.digest);
    return [r, ...(referrerRows.get(r.digest) ?? [])];
  });
  return { rows: [...withReferrers, ...dangling], deletes, referrerDeletes, untags, frees: sum(freed.values()), cutoff, ...(ties ? { ties } : {}) };
}

/** Every referrer of every image, once. */
function allReferrersOf(of: ReadonlyMap<string, readonly Referrer[]>): Referrer[] {
  return [...of.values()].flatMap((list) => allReferrers(list));
}

/** Read the repository and decide: the plan, the facts it was made from, and the writes it implies. */
async function planPrune(reg: Registry, repo: string, policy: PrunePolicy, concurrency: number): Promise<PrunePlan & { images: Map<string, ImageFacts>; writes: PlannedWrites }> {
  // Creation times matter to --keep and --older-than; --match alone needs no config.
  const { tags, images } = await describeTags(reg, repo, concurrency, { created: policy.keep !== undefined || policy.olderThan !== undefined });
  const referrers = await findImageReferrers(reg, repo, tags, images, concurrency);
  const decision = decidePrune(tags, images, policy, referrers);
  const digestOfTag = new Map(tags.map((t) => [t.tag, t.digest]));
  const tagsOn = (d: string) => tags.filter((t) => t.digest === d).map((t) => t.tag);
  return {
    registry: reg.host,
    repository: repo,
    ...decision,
    images,
    writes: {
      repository: repo,
      deletes: new Map([...decision.deletes, ...decision.referrerDeletes.map((r) => r.digest)].map((d) => [d, tagsOn(d)])),
      untags: new Map(decision.untags.map((t) => [t, digestOfTag.get(t)!])),
      lists: new Set([...images.values()].filter((f) => INDEX_TYPES.includes(f.mediaType) || f.children.length).map((f) => f.digest)),
    },
  };
}

/**
 * The referrers of every image of a repository (tagged images and the children of lists), and the
 * referrer tags whose image is gone: a tag named after a digest that matches no image here is
 * checked with a HEAD of that digest (404: dangling; there: an untagged image, its referrers looked up).
 */
async function findImageReferrers(
  reg: Registry,
  repo: string,
  tags: { tag: string; digest: string }[],
  images: ReadonlyMap<string, ImageFacts>,
  concurrency: number,
): Promise<PruneReferrers> {
  const index = new ReferrerIndex(
    reg,
    repo,
    tags.map((t) => t.tag),
    new Map(tags.map((t) => [t.tag, t.digest])),
  );
  const subjects = new Set(tags.filter((t) => !ReferrerIndex.isReferrerTag(t.tag)).flatMap((t) => [t.digest, ...(images.get(t.digest)?.children ?? [])]));
  const of = new Map<string, Referrer[]>();
  await mapLimit([...subjects], concurrency, async (d) => void of.set(d, await index.of(d)));
  const reached = new Set(allReferrersOf(of).map((r) => r.digest));
  const dangling = new Set<string>();
  const strays = tags.filter((t) => ReferrerIndex.isReferrerTag(t.tag) && !reached.has(t.digest));
  await mapLimit(strays, concurrency, async (t) => {
    const subject = referrerTag(t.tag)!.key.replace("-", ":");
    // A fallback tag of a longer digest is cut to 64 hex digits: its image cannot be named, nor called gone.
    if (!isDigest(subject) || of.has(subject)) return;
    const there = await manifestHead(reg, repo, subject).then(
      () => true,
      (err) => {
        if (isGone(err)) return false;
        throw err;
      },
    );
    if (there) of.set(subject, await index.of(subject));
    else dangling.add(t.tag);
  });
  return { of, dangling };
}

/** One write of a prune: `repo@digest` or `repo:tag`, with the tags it removes. */
interface PruneJob {
  what: string;
  tags: string[];
}

interface PruneOutcome {
  /** digests */
  deleted: string[];
  untagged: string[];
  failed: (PruneJob & { error: string })[];
  /** not started: an interrupt, or the output closed */
  notStarted: PruneJob[];
}

/**
 * Carry out a plan: deletes and untags concurrently; stops starting new work when `stop()` says so.
 * The caller has checked first, with `recheckBeforeWrites`, that deletes are enabled and that the
 * repository still holds what the plan was made from.
 */
async function executePrune(
  reg: Registry,
  plan: PrunePlan & { images: Map<string, ImageFacts> },
  concurrency: number,
  progress: (done: number, total: number) => void = () => {},
  stop: () => boolean = () => false,
): Promise<PruneOutcome> {
  const outcome: PruneOutcome = { deleted: [], untagged: [], failed: [], notStarted: [] };
  if (!plan.deletes.length && !plan.untags.length && !plan.referrerDeletes.length) return outcome;
  const untagger = new Untagger(reg, plan.repository);
  // The plan keeps an image's facts, not its bytes: an untag reads the manifest again, once a digest.
  const manifests = new Map<string, Promise<Manifest>>();
  const tagsOn = (digest: string) => plan.rows.filter((r) => r.digest === digest && r.tag).map((r) => r.tag);
  const jobs: (PruneJob & { run: () => Promise<void> })[] = [
    ...plan.untags.map((tag) => ({
      what: `${plan.repository}:${tag}`,
      tags: [tag],
      run: async () => {
        const digest = plan.rows.find((r) => r.tag === tag)!.digest;
        const siblings = plan.rows.filter((r) => r.digest === digest && r.tag !== tag && r.action === "keep").map((r) => r.tag);
        await untagger.untag(tag, await remember(manifests, digest, () => manifestGet(reg, plan.repository, digest)), siblings);
        outcome.untagged.push(tag);
      },
    })),
    ...plan.deletes.map((digest) => ({
      what: `${plan.repository}@${digest}`,
      tags: tagsOn(digest),
      run: async () => {
        await manifestDelete(
          reg,
          plan.repository,
          digest,
          `delete ${digest}: ${plan.rows
            .filter((r) => r.digest === digest)
            .map((r) => r.tag)
            .join(", ")}`,
        );
        outcome.deleted.push(digest);
      },
    })),
  ];
  // Referrers go after their image, and only once it is gone: a failure leaves garbage, never an image without its signature.
  const gone = new Set<string>();
  const after = plan.referrerDeletes.map((r) => ({
    what: `${plan.repository}@${r.digest}`,
    tags: tagsOn(r.digest),
    run: async () => {
      if (r.of && !gone.has(r.of)) throw new RegctlError(`not deleted: its image ${r.of} is still there`);
      await manifestDelete(reg, plan.repository, r.digest, `delete ${r.digest}: ${r.of ? `a referrer of ${r.of}, after it` : "a dangling referrer"}`);
      outcome.deleted.push(r.digest);
    },
  }));
  let done = 0;
  const total = jobs.length + after.length;
  const run = async ({ what, tags, run }: PruneJob & { run: () => Promise<void> }) => {
    if (stop()) return void outcome.notStarted.push({ what, tags });
    try {
      await run();
    } catch (err) {
      outcome.failed.push({ what, tags, error: err instanceof Error ? err.message : String(err) });
    }
    progress(++done, total);
  };
  await mapLimit(jobs, concurrency, run);
  for (const d of outcome.deleted) gone.add(d);
  await mapLimit(after, concurrency, run);
  return outcome;
}

// ── the recheck: the repository again, right before the first write ──

/** A tag that a write of the plan would remove, though the plan did not foresee it. */
interface PlanConflict {
  repository: string;
  tag: string;
  /** where the tag points now */
  digest: string;
  /** a tag to untag that moved: the digest it was planned on */
  planned?: string;
  /** a list the plan did not read: the digest to delete that it holds */
  holds?: string;
}

/**
 * Right before the first write of any of these plans (after the confirmation, or at once with
 * --yes): one probe a repository that deletes are enabled, then every repository read again.
 * Nothing is written; what a write would lose that the plan did not foresee is returned.
 */
async function recheckBeforeWrites(reg: Registry, writes: PlannedWrites[], concurrency: number): Promise<PlanConflict[]> {
  const busy = writes.filter((w) => w.deletes.size || w.untags.size);
  for (const w of busy) await requireDeletes(reg, w.repository);
  const conflicts: PlanConflict[] = [];
  for (const w of busy) conflicts.push(...(await recheck(reg, w, concurrency)));
  return conflicts;
}

/**
 * Every tag of the repository resolved again, against the plan: a tag it did not plan that now
 * points at a digest to delete (a kept tag moved there counts), a tag to untag that moved (untagging
 * it would remove the new push), and a list the plan did not read that holds a digest to delete.
 * The registry has no conditional DELETE (no If-Match on manifests): a push after this read is
 * not seen. In a dry run only the script rechecks: the tags/list carrying its loop is read, and
 * the tags are left to the script.
 */
export async function recheck(reg: Registry, w: PlannedWrites, concurrency: number): Promise<PlanConflict[]> {
  const tags = (await tagList(reg, w.repository, undefined, w)).sort(byteOrder);
  if (reg.dryRun) return [];
  const gone = (err: unknown) => {
    // A tag or list deleted since the list was read: nothing of it to lose.
    if (isGone(err)) return undefined;
    throw err;
  };
  const found = await mapLimit(tags, concurrency, async (tag): Promise<PlanConflict | undefined> => {
    const now = await manifestHead(reg, w.repository, tag, { inRecheck: true }).catch(gone);
    if (!now) return undefined;
    const here = { repository: w.repository, tag, digest: now.digest };
    const planned = w.untags.get(tag);
    if (planned !== undefined && planned !== now.digest) return { ...here, planned };
    const going = w.deletes.get(now.digest);
    if (going && !going.includes(tag)) return here;
    if (!INDEX_TYPES.includes(now.mediaType) || w.lists.has(now.digest)) return undefined;
    const list = await manifestGet(reg, w.repository, now.digest, { inRecheck: true }).catch(gone);
    const holds = list?.json.manifests?.find((m) => w.deletes.has(m.digest))?.digest;
    return holds ? { ...here, holds } : undefined;
  });
  return found.filter((c): c is PlanConflict => c !== undefined);
}

/** Conflicts named in the one-line message; the rest are counted. */
const CONFLICTS_SHOWN = 3;

/** What changed, in a line: `prod → sha256:…`, the repository named when the plan spans several. */
function describeConflicts(conflicts: PlanConflict[], { repository = false } = {}): string {
  const shown = conflicts
    .slice(0, CONFLICTS_SHOWN)
    .map((c) => `${repository ? `${c.repository}:` : ""}${c.tag} → ${c.digest}${c.planned ? ` (planned on ${c.planned})` : c.holds ? ` (a list holding ${c.holds})` : ""}`);
  return shown.join(", ") + (conflicts.length > shown.length ? `, and ${conflicts.length - shown.length} more` : "");
}

/** The error that stops a delete or prune whose repository changed since the plan: nothing was written. */
function changedSincePlan(conflicts: PlanConflict[], { repository = false } = {}): RegctlError {
  return new RegctlError(
    `${CHANGED_SINCE_PLAN}: ${describeConflicts(conflicts, { repository })}; run it again`,
    "a tag was pushed after the plan was made, and carrying the plan out would have removed it: nothing was changed. The same command plans again from what the registry holds now",
  );
}

// ── du: storage by repository and tag ──

interface TagUsage {
  tag: string;
  digest: string;
  /** the image's blobs, its referrers' included */
  size: number;
  /** bytes no other image of the repository uses: what deleting the digest frees after garbage-collect */
  frees: number;
  /** the other tags on the same digest (a delete takes them too) */
  otherTags: string[];
  /** signatures, SBOMs and attestations of it, counted in its size */
  referrers: number;
}

interface RepoUsage {
  repository: string;
  /** in natural version order */
  tags: TagUsage[];
  /** every blob of the repository once */
  stored: number;
  /** the part of `stored` in blobs that two or more images of the repository use */
  shared: number;
  /** registry view: bytes no other repository read uses, what deleting the whole repository frees */
  frees?: number;
  blobs: Map<string, number>;
}

/** The registry view: each repository, and what the repositories left out by --repo hide. */
interface RegistryUsage {
  repositories: RepoUsage[];
  /** every blob of the repositories read, once */
  stored: number;
  /** repositories in the catalog that --repo left out: blobs shared with them are not seen */
  notRead: number;
}

async function repoUsage(reg: Registry, repo: string, concurrency: number): Promise<RepoUsage> {
  const { tags, images } = await describeTags(reg, repo, concurrency, { created: false });
  // A referrer's blobs (a signature's, an SBOM's) count with the image it refers to; its tag is no row of its own.
  const referrers = await findImageReferrers(reg, repo, tags, images, concurrency);
  const withReferrers = new Map<string, Map<string, number>>();
  await mapLimit([...images.keys()], concurrency, async (digest) => {
    const own = new Map(images.get(digest)!.blobs);
    const lists = [digest, ...images.get(digest)!.children].map((d) => referrers.of.get(d) ?? []);
    for (const r of allReferrers(lists.flat())) {
      const facts = images.get(r.digest);
      const blobs = facts ? facts.blobs : await referrerBlobs(reg, repo, r.digest);
      for (const [b, n] of blobs) own.set(b, n);
      own.set(r.digest, r.size);
    }
    withReferrers.set(digest, own);
  });
  const isReferrer = new Set(allReferrersOf(referrers.of).map((r) => r.digest));
  const counted = [...withReferrers].filter(([d]) => !isReferrer.has(d));
  const users = new Map<string, number>();
  for (const [, b] of counted) for (const k of b.keys()) users.set(k, (users.get(k) ?? 0) + 1);
  const blobs = new Map<string, number>();
  for (const f of withReferrers.values()) for (const [b, size] of f) blobs.set(b, size);
  const rows = tags
    .filter((t) => !ReferrerIndex.isReferrerTag(t.tag) || referrers.dangling.has(t.tag))
    .map((t) => {
      const f = withReferrers.get(t.digest)!;
      return {
        tag: t.tag,
        digest: t.digest,
        size: sum(f.values()),
        frees: sum([...f].filter(([b]) => users.get(b) === 1).map(([, size]) => size)),
        otherTags: tags
          .filter((o) => o.digest === t.digest && o.tag !== t.tag)
          .map((o) => o.tag)
          .sort(naturalCompare),
        referrers: allReferrers(referrers.of.get(t.digest) ?? []).length,
      };
    })
    .sort((a, b) => naturalCompare(a.tag, b.tag));
  return {
    repository: repo,
    tags: rows,
    stored: sum(blobs.values()),
    shared: sum([...blobs].filter(([b]) => (users.get(b) ?? 0) > 1).map(([, size]) => size)),
    blobs,
  };
}

/** The config and layers of a referrer no tag names (listed by the referrers API): read once. */
async function referrerBlobs(reg: Registry, repo: string, digest: string): Promise<Map<string, number>> {
  const m = await manifestGet(reg, repo, digest).catch((err) => {
    if (isGone(err)) return undefined;
    throw err;
  });
  const blobs = new Map<string, number>();
  if (m?.json.config) blobs.set(m.json.config.digest, m.json.config.size ?? 0);
  for (const l of m?.json.layers ?? []) blobs.set(l.digest, l.size ?? 0);
  return blobs;
}

/** Every repository (or those matching a pattern), with what deleting each would free. */
async function registryUsage(reg: Registry, pattern: ((repo: string) => boolean) | undefined, concurrency: number): Promise<RegistryUsage> {
  const all = await catalog(reg);
  const repos = all.filter((r) => !pattern || pattern(r)).sort(naturalCompare);
  const usages: RepoUsage[] = [];
  for (const r of repos) usages.push(await repoUsage(reg, r, concurrency));
  const repoCount = new Map<string, number>();
  const blobs = new Map<string, number>();
  for (const u of usages)
    for (const [b, size] of u.blobs) {
      repoCount.set(b, (repoCount.get(b) ?? 0) + 1);
      blobs.set(b, size);
    }
  for (const u of usages) u.frees = sum([...u.blobs].filter(([b]) => repoCount.get(b) === 1).map(([, size]) => size));
  return { repositories: usages, stored: sum(blobs.values()), notRead: all.length - repos.length };
}

// ── copy and tag: manifests as stored, children first, the tag last ──

/** `tag`: the stored bytes of REF under another tag of the same repository, with their own media type. */
export async function tagImage(reg: Registry, ref: Reference, tag: string): Promise<{ digest: string; mediaType: string; sent: boolean; already: boolean; replaced?: string }> {
  const m = await manifestGet(reg, ref.repository, tagOrDigest(ref));
  // The tag may be on this image already (nothing to send), or on another: the PUT moves it, and the caller says so.
  const before = await manifestDigestIfAny(reg, ref.repository, tag);
  if (before === m.digest) return { digest: m.digest, mediaType: m.mediaType, sent: false, already: true };
  await manifestPutAsStored(reg, ref.repository, tag, m, `the same bytes under ${tag}, with their own Content-Type: the digest stays ${m.digest}`);
  return { digest: m.digest, mediaType: m.mediaType, sent: !reg.dryRun, already: false, ...(before ? { replaced: before } : {}) };
}

/** One side of a copy: a registry and a repository in it. */
interface CopySide {
  reg: Registry;
  repo: string;
}

interface CopyOptions {
  concurrency: number;
  /** os/arch[/variant]: of a list or index, copy this platform's image alone */
  platform?: string;
  /** copy what refers to each image too (signatures, SBOMs), as `referrers` finds them */
  referrers?: boolean;
  /** bytes known and moved so far: for a progress bar */
  progress?: (done: number, total: number) => void;
  note?: (line: string) => void;
  /** true once the run is interrupted: no write starts after it, an upload under way stops at its next chunk */
  stopped?: () => boolean;
}

/** What a copy did, in counts. */
export interface CopyStats {
  /** manifests written (images, platform manifests, lists, referrers, tags) */
  manifests: number;
  /** manifests the destination had already */
  present: number;
  blobsMounted: number;
  blobsUploaded: number;
  blobsPresent: number;
  /** bytes sent to the destination */
  bytes: number;
}

/** One reference copied: what it is, and whether the destination had it already. */
export interface CopiedImage {
  source: string;
  destination: string;
  digest: string;
  mediaType: string;
  /** false when the destination tag was on that digest already */
  copied: boolean;
  /** the digest the destination tag pointed at before, when it was another: the tag moved */
  replaced?: string;
  referrers: number;
}

/** At most `limit` of these at once, across every caller (blob transfers are leaves: they wait on nothing else). */
function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    while (active >= limit) await new Promise<void>((wake) => waiting.push(wake));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** arm64 with no variant is arm64/v8, as docker and containerd read it; other variants stand as written. */
const armVariant = (arch?: string, variant?: string) => (arch === "arm64" && (variant === undefined || variant === "v8") ? "v8" : variant);

/** The image of a list for os/arch[/variant], if it has one. */
const platformChild = (list: Manifest, wanted: string) => (list.json.manifests ?? []).find((d) => platformMatches(wanted, d.platform));

/** Does a descriptor's platform match os/arch[/variant]? */
const platformMatches = (wanted: string, p?: Descriptor["platform"]) => {
  const [os, arch, variant] = wanted.split("/");
  return !!p && p.os === os && p.architecture === arch && (variant === undefined || armVariant(arch, p.variant) === armVariant(arch, variant));
};

/**
 * Copies images, lists and indexes from one repository to another, in the same registry or
 * across two. Manifests go as stored (their digests stay); every blob before its manifest, every
 * platform manifest before its list, the destination tag last: an interrupted copy leaves no tag
 * on anything incomplete, and a rerun HEADs first and skips what is there. Within a registry
 * blobs are mounted; across registries they stream from one GET into chunked PATCHes. Each blob
 * and manifest is handled once per run, however many images share it.
 */
export class Copier {
  readonly stats: CopyStats = { manifests: 0, present: 0, blobsMounted: 0, blobsUploaded: 0, blobsPresent: 0, bytes: 0 };
  private readonly blobs = new Map<string, Promise<void>>();
  private readonly manifests = new Map<string, Promise<void>>();
  private readonly copies = new Map<string, Promise<CopiedImage>>();
  private readonly slot: <T>(fn: () => Promise<T>) => Promise<T>;
  /** destination tags written so far (an error says what it left) */
  readonly tagged: string[] = [];
  /** blobs whose upload was left unfinished by an interrupt (the registry purges such a session) */
  readonly abandoned: string[] = [];
  private uploads = 0;
  private known = 0;
  private done = 0;

  constructor(
    private readonly src: CopySide,
    private readonly dst: CopySide,
    private readonly opts: CopyOptions,
  ) {
    this.slot = limiter(opts.concurrency);
  }

  private get dryRun(): boolean {
    return this.dst.reg.dryRun;
  }

  /** Before each step that leads to a write: once interrupted, none starts. */
  private beforeWrite(): void {
    if (this.opts.stopped?.()) throw new CopyStopped();
  }

  /** Every blob and manifest of this run settled, the interrupted ones too: what was copied is then known. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.blobs.values(), ...this.manifests.values()]);
  }

  /** Copy what `srcRef` names to `dstRef` (a tag, or the digest itself): children first, then that one manifest. */
  copy(srcRef: string, dstRef?: string, planned?: CopyTagPlan): Promise<CopiedImage> {
    // A tagged referrer is both a tag of the repository and a referrer of an image: copied once.
    return remember(this.copies, `${srcRef} ${dstRef ?? ""}`, () => this.copyOnce(srcRef, dstRef, planned));
  }

  private async copyOnce(srcRef: string, dstRef?: string, planned?: CopyTagPlan): Promise<CopiedImage> {
    const { src, dst } = this;
    let m = await manifestGet(src.reg, src.repo, srcRef);
    // --platform picks an image of a list; a signature or a referrer index is copied as it is.
    const platform = ReferrerIndex.isReferrerTag(srcRef) ? undefined : this.opts.platform;
    if (platform && !isList(m)) {
      // One small GET says which platform it is; a config that is not an image's says nothing.
      const facts = m.json.config ? await configFacts(src.reg, src.repo, m.json.config.digest).catch(() => ({})) : {};
      const is = platformString(facts);
      throw new RegctlError(
        `${refName(src.repo, srcRef)} is not a list or index${is ? ` (it is ${is})` : ""}: --platform picks an image of a list`,
        "drop --platform to copy this image as it is",
      );
    }
    if (platform && isList(m)) {
      const child = platformChild(m, platform);
      if (!child) {
        const offered = (m.json.manifests ?? []).map((d) => platformString(d.platform) ?? "unknown").join(", ");
        throw new RegctlError(`${refName(src.repo, srcRef)} has no ${platform} image`, `its platforms: ${offered || "none"}`);
      }
      m = await manifestGet(src.reg, src.repo, child.digest);
    }
    const to = dstRef ?? m.digest;
    const result: CopiedImage = {
      source: `${src.reg.host}/${refName(src.repo, srcRef)}`,
      destination: `${dst.reg.host}/${refName(dst.repo, to)}`,
      digest: m.digest,
      mediaType: m.mediaType,
      copied: false,
      referrers: 0,
    };
    // The --all-tags plan HEADed the destination a moment ago: asked again only if the source moved since.
    const there = planned?.digest === m.digest ? planned.there : await this.dstDigest(to);
    if (there && there !== m.digest && !isDigest(to)) result.replaced = there;
    if (there !== m.digest) {
      await this.children(m);
      await this.put(m, to, isDigest(to) ? undefined : `the tag last: ${to} appears once everything it needs is there`);
      if (!isDigest(to)) this.tagged.push(to);
      result.copied = true;
    } else this.stats.present++;
    if (this.opts.referrers) result.referrers = await this.referrers(m);
    return result;
  }

  /** The digest a reference has at the destination, or undefined when it is not there. */
  private dstDigest(ref: string): Promise<string | undefined> {
    return manifestDigestIfAny(this.dst.reg, this.dst.repo, ref);
  }

  /** Everything a manifest needs at the destination before it: its platform manifests, or its config and layers. */
  private async children(m: Manifest): Promise<void> {
    if (isList(m)) {
      await mapLimit(m.json.manifests ?? [], this.opts.concurrency, (d) => this.byDigest(d.digest));
      return;
    }
    const blobs = [...(m.json.config ? [m.json.config] : []), ...(m.json.layers ?? [])];
    await Promise.all(blobs.map((d) => this.blob(d)));
  }

  /** A manifest by digest (a platform image, a referrer), once a run, unless the destination has it. */
  private byDigest(digest: string): Promise<void> {
    return remember(this.manifests, digest, async () => {
      if ((await this.dstDigest(digest)) === digest) {
        this.stats.present++;
        return;
      }
      const m = await manifestGet(this.src.reg, this.src.repo, digest);
      await this.children(m);
      await this.put(m, digest);
    });
  }

  /** PUT the stored bytes with their own media type; the registry must answer their digest. */
  private async put(m: Manifest, ref: string, why?: string): Promise<void> {
    this.beforeWrite();
    await manifestPutAsStored(this.dst.reg, this.dst.repo, ref, m, why);
    this.stats.manifests++;
  }

  /** What refers to an image (and to the images of a list), copied after it: tags as tags, the rest by digest. */
  private async referrers(m: Manifest): Promise<number> {
    const ref = { registry: this.src.reg.host, repository: this.src.repo, digest: m.digest };
    const children = isList(m) ? (m.json.manifests ?? []) : [];
    const tree = await referrersOf(this.src.reg, ref, this.opts.concurrency, { known: { digest: m.digest, mediaType: m.mediaType, children } });
    const all = allReferrers([...tree.referrers, ...tree.children.flatMap((c) => c.referrers)]);
    for (const r of all) {
      if (r.tag) await this.copy(r.tag, r.tag);
      else await this.byDigest(r.digest);
    }
    return all.length;
  }

  /** A blob, once a run: there already, mounted (same registry), or uploaded. */
  private blob(d: Descriptor): Promise<void> {
    return remember(this.blobs, d.digest, () => {
      this.known += d.size ?? 0;
      this.tick(0);
      return this.slot(async () => {
        this.beforeWrite();
        if (await blobExists(this.dst.reg, this.dst.repo, d.digest)) {
          this.stats.blobsPresent++;
          return this.tick(d.size ?? 0);
        }
        this.beforeWrite();
        if (this.src.reg === this.dst.reg && this.src.repo !== this.dst.repo) {
          const { sent, mounted } = await blobMount(this.dst.reg, this.dst.repo, d.digest, this.src.repo);
          if (mounted || !sent) {
            this.stats.blobsMounted++;
            return this.tick(d.size ?? 0);
          }
          this.opts.note?.(`the registry refused to mount ${abbrevDigest(d.digest)} from ${this.src.repo}: uploading it`);
        }
        await this.upload(d);
        this.stats.blobsUploaded++;
      });
    });
  }

  private tick(bytes: number): void {
    this.done += bytes;
    this.opts.progress?.(this.done, this.known);
  }

  /** Upload a blob from the source, starting again when the registry loses the session. */
  private async upload(d: Descriptor): Promise<void> {
    const variable = `UPLOAD_${++this.uploads}`;
    for (let restart = 0; ; restart++) {
      const before = this.done;
      try {
        return await this.uploadOnce(d, variable);
      } catch (err) {
        if (!(err instanceof UploadLost) || restart >= MAX_RESTARTS) throw err;
        this.done = before;
        this.opts.note?.(`regctl: ${err.message}: starting the upload of ${abbrevDigest(d.digest)} again`);
      }
    }
  }

  private async uploadOnce(d: Descriptor, variable: string): Promise<void> {
    const { src, dst } = this;
    const size = d.size ?? 0;
    let session = await blobUploadStart(dst.reg, dst.repo, variable);
    const chunkSize = Math.max(CHUNK_BYTES, session.minChunk ?? 0);
    if (size <= chunkSize) {
      // One GET, checked against its digest, into one PUT.
      const read = await blobReadRequest(src.reg, src.repo, d.digest);
      const bytes = this.dryRun ? undefined : await blobGet(src.reg, src.repo, d.digest, Math.max(size, 1));
      await blobUploadClose(dst.reg, dst.repo, session, d.digest, { bytes, pipedFrom: read });
      this.stats.bytes += bytes?.byteLength ?? 0;
      return this.tick(size);
    }
    const hash = nodeCrypto().createHash(d.digest.split(":")[0]!);
    // One GET for the whole blob, cut into chunks as it arrives; two buffers, reused: the next
    // chunk is read into one while the other is sent, as a pipe would.
    const source = this.dryRun ? undefined : new BlobSource(src, d.digest, size, this.opts.note);
    const buffers = source ? [new Uint8Array(chunkSize), new Uint8Array(chunkSize)] : [];
    const fill = async (start: number, i: number) => {
      const end = Math.min(size, start + chunkSize) - 1;
      const bytes = buffers[i % 2]?.subarray(0, end - start + 1);
      if (bytes) {
        await source!.fill(bytes);
        hash.update(bytes);
      }
      return { start, end, bytes };
    };
    try {
      let i = 0;
      let next: ReturnType<typeof fill> | undefined = fill(0, i);
      while (next) {
        const c: Awaited<ReturnType<typeof fill>> = await next;
        // Filled only once the chunk sent from that buffer has its answer (the loop waits on it below).
        next = c.end + 1 < size ? fill(c.end + 1, ++i) : undefined;
        // A failure below leaves the read ahead unawaited: it must not surface as an unhandled rejection.
        next?.catch(() => {});
        // Interrupted: the session is left unfinished; it references nothing and the registry purges it.
        if (c.start > 0 && this.opts.stopped?.()) {
          this.abandoned.push(d.digest);
          throw new CopyStopped();
        }
        session = await this.chunk(session, c, variable, d.digest);
        this.stats.bytes += c.end - c.start + 1;
        this.tick(c.end - c.start + 1);
        collectGarbage(false);
      }
    } finally {
      source?.close();
    }
    const digest = `${d.digest.split(":")[0]}:${hash.digest("hex")}`;
    if (!this.dryRun && digest !== d.digest)
      throw new BadAnswer(
        { method: "GET", what: `${src.repo} blob ${d.digest}` },
        `the bytes read have digest ${digest}`,
        "the source's blob is corrupt, or was altered on the way: nothing was tagged",
      );
    await blobUploadClose(dst.reg, dst.repo, session, d.digest);
  }

  /**
   * One chunk, resumed after a dropped connection: the upload's Range says how much arrived, and
   * the rest of the chunk goes from there (the chunk is still in memory). A session the registry
   * lost is an UploadLost: the upload starts again.
   */
  private async chunk(session: UploadSession, c: { bytes?: Uint8Array; start: number; end: number }, variable: string, digest: string): Promise<UploadSession> {
    const { src, dst } = this;
    let from = c.start;
    for (let resume = 0; ; resume++) {
      const read = await blobReadRequest(src.reg, src.repo, digest, [from, c.end]);
      try {
        return await blobChunk(dst.reg, session, { bytes: c.bytes?.subarray(from - c.start), start: from, end: c.end }, variable, read);
      } catch (err) {
        if (!(err instanceof NetworkError) || resume >= MAX_RESUMES) throw err;
        const status = await blobUploadStatus(dst.reg, session);
        if (!status || status.next < c.start || status.next > c.end + 1) throw new UploadLost(`the registry lost the upload of ${abbrevDigest(digest)} (${err.reason})`);
        this.opts.note?.(`regctl: ${err.reason}: resuming the upload of ${abbrevDigest(digest)} at byte ${status.next} of ${c.end + 1}`);
        session = status.session;
        from = status.next;
        if (from > c.end) return session;
      }
    }
  }
}

/** One tag of a --all-tags copy, planned: the digest it copies, and what it finds at the destination. */
export interface CopyTagPlan {
  tag: string;
  /** the source's digest (of the --platform image, for a list); none when the tag went meanwhile */
  digest?: string;
  /** the digest the destination tag has now, if any */
  there?: string;
}

/** What each tag of a --all-tags copy would do: read only, a HEAD on each side (a GET for a list with --platform). */
async function planCopyTags(src: CopySide, dst: CopySide, tags: readonly string[], { concurrency, platform }: { concurrency: number; platform?: string }): Promise<CopyTagPlan[]> {
  return mapLimit(tags, concurrency, async (tag) => {
    let { digest, mediaType } = await tagDigest(src.reg, src.repo, tag);
    if (digest && platform && INDEX_TYPES.includes(mediaType ?? "") && !ReferrerIndex.isReferrerTag(tag)) {
      const child = platformChild(await manifestGet(src.reg, src.repo, digest), platform);
      if (child) digest = child.digest;
    }
    return { tag, digest, there: await manifestDigestIfAny(dst.reg, dst.repo, tag) };
  });
}

/** What a planned tag does: copied, there already, or moved from the image it is on. */
export const copyTagAction = (p: CopyTagPlan) => (p.there === undefined ? "copy" : p.there === p.digest ? "there already" : `moves from ${abbrevDigest(p.there)}`);

// ── copy: a blob read once from its source, sent in chunks, resumed where a connection dropped ──

/**
 * Blobs up to this size go in one PUT; larger ones in PATCHes of this size (or the registry's
 * OCI-Chunk-Min-Length, if larger), cut from one streamed GET of the source: memory holds two
 * chunks per blob in flight, never a whole layer.
 */
const CHUNK_BYTES = 8 << 20;
/**
 * A chunk whose connection dropped is resumed where the registry says it got to, this many times a
 * chunk; a read of the source that dropped goes on from the byte it reached (a ranged GET), this
 * many times a blob.
 */
const MAX_RESUMES = 5;
/** An upload the registry lost (distribution 2.8 cancels one resumed with a stale state) starts again, this many times. */
const MAX_RESTARTS = 2;

/** The registry lost an upload session: it must start again. */
class UploadLost extends RegctlError {}

/** Ctrl-C or SIGTERM during a copy: the write about to start was not started. */
class CopyStopped extends RegctlError {
  constructor() {
    super("the copy was interrupted", undefined, Exit.INTERRUPTED);
  }
}

/**
 * A blob of the source read once, start to end, as it arrives, into buffers the caller owns. A
 * read that fails or ends early goes on from the byte it reached with a ranged GET.
 */
class BlobSource {
  private body?: BodyStream;
  /** bytes handed over so far */
  private offset = 0;
  /** what is left of the last piece read */
  private rest: Uint8Array = new Uint8Array();
  private resumes = 0;

  constructor(
    private readonly side: CopySide,
    private readonly digest: string,
    private readonly size: number,
    private readonly note?: (line: string) => void,
  ) {}

  /** Fill `buf` with the next bytes of the blob. */
  async fill(buf: Uint8Array): Promise<void> {
    for (let off = 0; off < buf.byteLength; ) {
      if (this.rest.byteLength === 0) this.rest = await this.next();
      const n = Math.min(this.rest.byteLength, buf.byteLength - off);
      buf.set(this.rest.subarray(0, n), off);
      this.rest = this.rest.subarray(n);
      off += n;
      this.offset += n;
    }
  }

  close(): void {
    this.body?.cancel();
  }

  /** The next piece of the body, the read opened (or resumed) as needed. */
  private async next(): Promise<Uint8Array> {
    const { reg, repo } = this.side;
    for (;;) {
      try {
        this.body ??= await blobStream(reg, repo, this.digest, this.offset);
        const piece = await this.body.read();
        if (piece) return piece;
        throw new NetworkError("GET", (await reg.base()) + blobPath(repo, this.digest), `the blob ended after ${this.offset} of its ${this.size} bytes`, "ECONNRESET");
      } catch (err) {
        if (!(err instanceof NetworkError) || this.resumes++ >= MAX_RESUMES) throw err;
        this.close();
        this.body = undefined;
        this.note?.(`regctl: ${err.reason}: reading ${abbrevDigest(this.digest)} again from byte ${this.offset}`);
      }
    }
  }
}

// ───────────────────────────── 9. output and prompts ─────────────────────────────

const out = (s: string) => void process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
const jsonText = (v: unknown) => JSON.stringify(v, null, 2);
const printJson = (v: unknown) => out(jsonText(v));

/**
 * Write all of `text` to stdout at once, without process.stdout: in bun, touching process.stdout
 * or process.stderr sets up node's streams, 14 ms of a 36 ms start. A TAB's answer, --help and the
 * version go this way; a command's output, long and written as it comes, goes through `out`. A
 * reader that is gone (EPIPE) ends the run with 141, as `watchOutput` does for the streams; any
 * other failure is an error.
 */
function writeNow(text: string): void {
  const bytes = Buffer.from(text);
  for (let at = 0, waits = 0; at < bytes.length; ) {
    try {
      at += writeSync(1, bytes, at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EPIPE") process.exit(Exit.OUTPUT_CLOSED);
      // A descriptor left non-blocking by whoever started us: wait for the reader, a moment at a time.
      if (code !== "EAGAIN" || ++waits > 2_000) throw new RegctlError(`cannot write the output: ${(err as Error).message}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/**
 * A list printed as it grows: a line an item, or with --json an array written item by item, the
 * same text printJson gives the whole array. Written in blocks of about 64 KiB.
 */
class StreamedList<T> {
  private block: string[] = [];
  private size = 0;
  private count = 0;
  constructor(
    private readonly json: boolean,
    private readonly line: (item: T) => string,
  ) {}

  /** how many items were added */
  get added(): number {
    return this.count;
  }

  add(items: Iterable<T>): void {
    for (const item of items) {
      const text = this.json ? `${this.count ? ",\n" : "[\n"}${JSON.stringify(item, null, 2).replace(/^/gm, "  ")}` : this.line(item);
      this.count++;
      this.block.push(text);
      this.size += text.length + 1;
      if (this.size >= 1 << 16) this.flush();
    }
  }

  /** Close the array (or print [] for none). */
  end(): void {
    this.flush();
    if (this.json) process.stdout.write(this.count ? "\n]\n" : "[]\n");
  }

  private flush(): void {
    if (this.block.length) process.stdout.write(this.json ? this.block.join("") : `${this.block.join("\n")}\n`);
    this.block = [];
    this.size = 0;
  }
}

/** `1 tag`, `2 tags`. */
const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

/** Names shown before the rest are counted. */
const FEW = 5;

/** The first few of a list, then how many more: `a, b, c, d, e …and 140 more`. */
function few(items: readonly string[], n = FEW): string {
  if (items.length <= n + 1) return items.join(", ");
  return `${items.slice(0, n).join(", ")} …and ${items.length - n} more`;
}

/** `a`, `a and b`, `a, b and c`. */
const andList = (items: readonly string[]) => (items.length < 2 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`);

const SGR = { red: 31, green: 32, yellow: 33 } as const;
type Colour = keyof typeof SGR;

/**
 * `text` in a colour when `stream` is a terminal; plain when it is not, when NO_COLOR is set to
 * anything (no-color.org), or when TERM is dumb.
 */
export function paint(stream: { isTTY?: boolean }, colour: Colour, text: string): string {
  const on = stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  return on ? `\x1b[${SGR[colour]}m${text}\x1b[39m` : text;
}

/** What a row's action looks like on a terminal. */
const ACTION_COLOUR: Record<PruneRow["action"], Colour> = { keep: "green", delete: "red", untag: "yellow" };

/** The `regctl:` that starts an error, red on a terminal. */
const errorPrefix = () => paint(process.stderr, "red", "regctl:");

/** Width on the screen: colour codes take none. */
const visibleLength = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "").length;

function humanSize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

function table(rows: [string, string | undefined][]): string {
  const present = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const width = Math.max(...present.map(([k]) => k.length));
  return present.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

const shortDigest = (d: string) => d.replace(/^sha256:/, "").slice(0, 12);
const shortDate = (d?: string) =>
  d
    ? d
        .replace("T", " ")
        .replace(/(:\d\d)(\.\d+)?Z$/, "$1Z")
        .slice(0, 20)
    : "-";

/** A digest in a sentence: `sha256:4f2a9c1b7e3d…`. */
const abbrevDigest = (d: string) => (/^[a-z0-9]+:[a-f0-9]{13,}$/.test(d) ? `${d.slice(0, d.indexOf(":") + 13)}…` : d);

/** An instant in a sentence: the date alone at midnight UTC, else to the second. */
function instant(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(iso);
  if (!m) return iso;
  return m[2] === "00:00:00" ? m[1]! : `${m[1]} ${m[2]} UTC`;
}

/** What a manifest's media type means, in words; nothing for a type without a common name. */
function mediaTypeName(t: string): string | undefined {
  const names: Record<string, string> = {
    [MediaType.DockerManifest]: "Docker image",
    [MediaType.DockerList]: "Docker manifest list",
    [MediaType.OciManifest]: "OCI image",
    [MediaType.OciIndex]: "OCI index",
    [MediaType.DockerSchema1Signed]: "schema 1 image",
  };
  return names[t];
}

/** Columns padded to their widest cell (colour codes take no width). */
function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => visibleLength(r[i] ?? ""))));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - visibleLength(c))))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function bar(value: number, max: number, width = 24): string {
  const n = max > 0 ? Math.round((value / max) * width) : 0;
  return "█".repeat(n) + (value > 0 && n === 0 ? "▏" : "");
}

/** A tag named after a digest, shortened as digests are: sha256-fe0e59dad27f….sig */
const shortReferrerTag = (tag: string) => tag.replace(/^([a-z0-9]+-[a-f0-9]{12})[a-f0-9]{52}/, "$1…");

function printPrunePlan(plan: PrunePlan): void {
  out(`${plan.registry}/${plan.repository}`);
  out(
    columns([
      ["TAG", "DIGEST", "CREATED", "SIZE", "ACTION", "REASON"],
      ...plan.rows.map((r) => [
        r.referrer ? `  ↳ ${shortReferrerTag(r.tag) || "(untagged)"}` : r.tag,
        shortDigest(r.digest),
        shortDate(r.created),
        humanSize(r.size),
        paint(process.stdout, ACTION_COLOUR[r.action], r.action),
        r.reason,
      ]),
    ]),
  );
  const count = (a: string) => plan.rows.filter((r) => r.action === a && !r.referrer).length;
  const referrers = plan.rows.filter((r) => r.referrer);
  if (plan.ties) for (const line of tieLines(plan.ties)) out(line);
  out(
    `plan: keep ${plural(count("keep"), "tag")}, delete ${plural(plan.deletes.length, "manifest")} (${plural(count("delete"), "tag")}), untag ${plural(count("untag"), "tag")}` +
      `${referrers.length ? `; referrers: delete ${plan.referrerDeletes.length}, keep ${referrers.filter((r) => r.action === "keep").length}` : ""}; frees up to ${humanSize(plan.frees)} after garbage-collect${plan.frees > 0 ? ", less where other repositories share its blobs" : ""}`,
  );
}

/** --keep's last place decided by tag between images created at the same instant. */
function tieLines(t: KeepTie): string[] {
  const who = t.images === t.tags ? plural(t.images, "image") : t.images === 1 ? `the ${t.tags} tags of one image` : `${plural(t.images, "image")} (${plural(t.tags, "tag")})`;
  return [
    `tie: ${who} share the creation time ${instant(t.created)}, so --keep ranked them`,
    `  by ${t.order}: ${t.kept} of the ${t.tags} tags ${t.kept === 1 ? "is" : "are"} kept`,
  ];
}

/** What a prune left undone: failures grouped by their error, then what was not started, the first few named. */
function unfinishedLines(plan: PrunePlan, r: PruneOutcome): string[] {
  const name = (j: PruneJob) => {
    if (j.tags.length) return j.tags.map(shortReferrerTag).join("+");
    const digest = j.what.slice(j.what.indexOf("@") + 1);
    const row = plan.rows.find((x) => x.digest === digest && x.referrer);
    if (!row?.referrer) return abbrevDigest(digest);
    const image = plan.rows.filter((x) => x.digest === row.referrer!.of && !x.referrer).map((x) => x.tag);
    return `${row.referrer.kind} of ${image.length ? image.join("+") : abbrevDigest(row.referrer.of)}`;
  };
  return [
    ...failureLines(r.failed.map((f) => ({ name: name(f), error: f.error }))),
    ...(r.notStarted.length ? [`not started (${r.notStarted.length}): ${few(r.notStarted.map(name))}`] : []),
  ];
}

/** Failures grouped by their error (the URL left out: the names say which), the first few named: `failed (3): a, b, c — 503 …`. */
function failureLines(failed: { name: string; error: string }[]): string[] {
  const groups = new Map<string, string[]>();
  for (const f of failed) remember(groups, f.error.replace(/^([A-Z]+) \S+: /, "$1: "), () => []).push(f.name);
  return [...groups].map(([error, names]) => `failed (${names.length}): ${few(names.sort(naturalCompare))} — ${error}`);
}

/** A dry run sends no DELETE, so it cannot know whether the registry takes one. */
const deletesUnknown = (registry: string) => `dry run: whether ${registry} accepts DELETE is unknown until one is sent (regctl ping ${registry} tells)`;

function printUsage(u: RepoUsage): void {
  const max = Math.max(0, ...u.tags.map((t) => t.size));
  out(
    columns([
      ["TAG", "DIGEST", "SIZE", "FREES", "REFERRERS", "", "SAME IMAGE AS"],
      ...u.tags.map((t) => [t.tag, shortDigest(t.digest), humanSize(t.size), humanSize(t.frees), t.referrers ? String(t.referrers) : "", bar(t.size, max), t.otherTags.join(", ")]),
    ]),
  );
  const images = new Set(u.tags.map((t) => t.digest)).size;
  out(
    `total: ${plural(u.tags.length, "tag")} on ${plural(images, "image")}, ${humanSize(u.stored)} stored (each blob once), ${humanSize(u.shared)} of it shared by two or more images`,
  );
  if (u.tags.some((t) => t.referrers)) out("SIZE counts the image's referrers too: its signatures, SBOMs, attestations (REFERRERS)");
  out("FREES: what deleting the image (and every tag on it) frees after garbage-collect; a blob");
  out("  that another repository uses too is not freed, and is not looked for");
}

function printRegistryUsage(r: RegistryUsage): void {
  const usages = r.repositories;
  const max = Math.max(0, ...usages.map((u) => u.stored));
  out(
    columns([
      ["REPOSITORY", "TAGS", "STORED", "SHARED", "FREES", ""],
      ...usages.map((u) => [u.repository, String(u.tags.length), humanSize(u.stored), humanSize(u.shared), humanSize(u.frees ?? 0), bar(u.stored, max)]),
    ]),
  );
  const tags = usages.reduce((n, u) => n + u.tags.length, 0);
  out(`total: ${plural(usages.length, "repository", "repositories")}, ${plural(tags, "tag")}, ${humanSize(r.stored)} stored (each blob once)`);
  out("STORED: each blob of the repository once; SHARED: the part of it two or more of its images use");
  out("FREES: what deleting the whole repository frees after garbage-collect");
  if (r.notRead) out(`  --repo left out ${plural(r.notRead, "repository", "repositories")}: blobs shared with them are not seen, so a delete may free less`);
}

/** The progress line on stderr while one is drawn: cleared before anything else is said. */
let progressShown = false;

/** Erase the progress line, if one is drawn (a Ctrl-C, a note): the next line starts clean. */
function clearProgress(): void {
  if (!progressShown) return;
  process.stderr.write("\r\x1b[K");
  progressShown = false;
}

/** A progress bar on a terminal (stderr), nothing elsewhere; once `stopped`, it is erased and drawn no more. */
function progressBar(enabled: boolean, label: string, stopped: () => boolean = () => false): (done: number, total: number) => void {
  if (!enabled) return () => {};
  return (done, total) => {
    if (stopped()) return clearProgress();
    process.stderr.write(`\r${label} [${bar(done, total, 30).padEnd(30, "·")}] ${done}/${total}${done === total ? "\n" : ""}`);
    progressShown = done !== total;
  };
}

/**
 * Bytes moved, on a terminal (stderr), nothing elsewhere: `copying [████····] 12.0 MiB of 150.0 MiB`,
 * drawn at most ten times a second; `end` erases it. Bytes become known as images are read, so
 * the total grows.
 */
function byteProgress(enabled: boolean, label: string, stopped: () => boolean = () => false): { update(done: number, total: number): void; end(): void } {
  let last = 0;
  if (!enabled) return { update: () => {}, end: () => {} };
  return {
    update(done, total) {
      if (stopped()) return clearProgress();
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      process.stderr.write(`\r\x1b[K${fitProgress(label, done, total, process.stderr.columns)}`);
      progressShown = true;
    },
    end: clearProgress,
  };
}

/**
 * The byte progress line within `columns` (one less: a line that fills the last column wraps on
 * some terminals): the bar shrinks to 10 cells, then goes with the label; the sizes stay.
 */
export function fitProgress(label: string, done: number, total: number, columns = 80): string {
  const sizes = `${humanSize(done)} of ${humanSize(total)}`;
  const room = Math.max(1, columns - 1);
  const cells = Math.min(30, room - label.length - sizes.length - 4);
  if (cells >= 10) return `${label} [${bar(done, total, cells).padEnd(cells, "·")}] ${sizes}`;
  if (label.length + 1 + sizes.length <= room) return `${label} ${sizes}`;
  return sizes.slice(0, room);
}

/** After a delete, once a run: the disk comes back only in garbage-collect. */
function garbageCollectNote(): string[] {
  return ["disk space comes back only with garbage-collect, run on the registry host:", "regctl help gc says how (and why not --delete-untagged on distribution 2.8)"];
}

/** `regctl help gc`: how a registry gives the disk space back. */
export function garbageCollectHelp(): string {
  return `Deleting (regctl delete, regctl prune) removes manifests and their tags. The
layers stay on disk until garbage-collect, run on the registry's host, removes
every blob that no manifest uses. Stop the registry first, or make it read-only
(storage: maintenance: readonly: enabled: true in config.yml): a push during
garbage-collect can lose blobs.

The Debian package:
  docker-registry garbage-collect /etc/docker/registry/config.yml
The registry image, in a container named REGISTRY:
  docker exec REGISTRY registry garbage-collect /etc/docker/registry/config.yml

Add --dry-run first: it lists what it would remove and removes nothing.

Do not add --delete-untagged on distribution 2.8: it also deletes the platform
manifests of manifest lists that are still tagged (distribution issue 3178),
and those images no longer pull.

What regctl says a delete frees (FREES in du, "frees up to" in a prune plan)
counts the blobs no other image of the repository uses; a blob that another
repository uses too stays.
`;
}

function printPing(p: PingResult): void {
  out(
    table([
      ["registry", `${p.registry} (${p.url})`],
      ["api", p.apiVersion ?? "(no Docker-Distribution-Api-Version header)"],
      ["auth", p.realm ? `${p.auth} (realm ${p.realm})` : p.auth],
      ["deletes", p.deletes === undefined ? `unknown: ${p.deletesUnknown ?? "the registry did not say"}` : p.deletes ? "enabled" : "disabled (405 UNSUPPORTED)"],
    ]),
  );
}

function printInspect(ref: string, s: ImageSummary): void {
  const rows: [string, string | undefined][] = [
    ["reference", ref],
    ["digest", s.digest],
    ["media type", s.mediaType],
    ["size", `${s.size} B`],
  ];
  if (s.manifests) {
    rows.push(["manifests", String(s.manifests.length)]);
    out(table(rows));
    for (const m of s.manifests) out(`  ${(m.platform ?? "unknown").padEnd(16)} ${m.digest}  ${m.mediaType}`);
    return;
  }
  rows.push(["platform", s.platform], ["config", s.config?.digest], ["created", s.config?.created], ["layers", `${s.layers?.length ?? 0} (${humanSize(s.layersSize ?? 0)})`]);
  out(table(rows));
  for (const l of s.layers ?? []) out(`  ${l.digest}  ${humanSize(l.size)}`);
}

/** Referrers as a tree under their image: digest, what it is, how it was found. */
function referrerLines(list: readonly Referrer[], indent = ""): string[] {
  return list.flatMap((r, i) => {
    const last = i === list.length - 1;
    const how = r.tag ? `${r.found}: ${r.tag}` : r.found;
    return [`${indent}${last ? "└─" : "├─"} ${r.digest}  ${referrerKind(r)}  (${how})`, ...referrerLines(r.referrers, `${indent}${last ? "   " : "│  "}`)];
  });
}

function printReferrers(ref: string, tree: ReferrerTree, { header = true } = {}): void {
  if (header) out(`${ref}  ${tree.digest}`);
  const lines = referrerLines(tree.referrers);
  if (lines.length) out(lines.join("\n"));
  for (const c of tree.children) {
    if (!c.referrers.length) continue;
    out(`${c.platform ?? "unknown"}  ${c.digest}`);
    out(referrerLines(c.referrers).join("\n"));
  }
  const count = allReferrers([...tree.referrers, ...tree.children.flatMap((c) => c.referrers)]).length;
  if (!count) out("no referrers (no signature, SBOM or attestation refers to it)");
}

// ── prompts: a line typed on the terminal, Ctrl-C and Ctrl-D honoured ──

/**
 * One line typed on the terminal (the prompt and the echo on stderr), or null at the end of input
 * (Ctrl-D on an empty line); Ctrl-C throws "interrupted" (exit 130). The keys are read in raw mode,
 * so Ctrl-C arrives as a byte rather than a signal and every runtime behaves alike: readline under
 * bun ended the process with status 0 on either key. Enter ends the line, Backspace and Ctrl-U
 * erase; a secret is not echoed.
 */
async function readTerminalLine(prompt: string, { secret = false } = {}): Promise<string | null> {
  const stdin = process.stdin;
  const echo = (s: string) => void (secret || process.stderr.write(s));
  let detach = () => {};
  let typedAhead = "";
  // main()'s signal handler exits without reaching the finally below: the terminal must not stay raw.
  const restore = () => stdin.setRawMode(false);
  process.once("exit", restore);
  try {
    stdin.setRawMode(true); // before the prompt shows: a Ctrl-C typed at it must arrive as a byte
    process.stderr.write(prompt);
    return await new Promise<string | null>((resolve, reject) => {
      const endLine = <T>(settle: (v: T) => void, value: T) => {
        process.stderr.write("\n");
        settle(value);
      };
      const stopped = () => endLine(reject, interrupted("nothing changed"));
      const endOfInput = () => endLine(resolve, null);
      const decoder = new TextDecoder();
      let line = "";
      const onData = (chunk: Buffer) => {
        // Escape sequences (arrows, function keys) edit nothing here: they are dropped whole.
        const keys = [...decoder.decode(chunk, { stream: true }).replace(/\x1b(\[[0-9;?]*[ -/]*[@-~]|O.)?/g, "")];
        for (const [i, key] of keys.entries()) {
          if (key === "\r" || key === "\n") {
            typedAhead = keys.slice(i + 1).join("");
            return endLine(resolve, line);
          }
          if (key === "\x03") return stopped();
          if (key === "\x04" && !line) return endOfInput();
          if (key === "\x7f" || key === "\b") {
            if (line) echo("\b \b");
            line = [...line].slice(0, -1).join("");
          } else if (key === "\x15") {
            echo("\b \b".repeat([...line].length));
            line = "";
          } else if (key >= " ") {
            line += key;
            echo(key);
          }
        }
      };
      stdin.on("data", onData).on("end", endOfInput).on("error", reject);
      // A signal from elsewhere (kill -INT) ends the line too; main()'s handler, once set, comes next.
      process.prependListener("SIGINT", stopped).prependListener("SIGTERM", stopped);
      detach = () => {
        stdin.off("data", onData).off("end", endOfInput).off("error", reject);
        process.off("SIGINT", stopped).off("SIGTERM", stopped);
      };
      stdin.ref();
      stdin.resume();
    });
  } finally {
    detach();
    stdin.setRawMode(false);
    stdin.pause();
    // What was typed ahead (a pasted password after the username) is left for the next question.
    if (typedAhead) stdin.unshift(Buffer.from(typedAhead));
    stdin.unref(); // a paused terminal must not keep the process from exiting
    process.off("exit", restore);
  }
}

/** Ask a question on the terminal (stderr), without echo for a password; end of input is an error. */
async function ask(question: string, { secret = false } = {}): Promise<string> {
  const answer = await readTerminalLine(question, { secret });
  if (answer === null) throw new RegctlError(`no ${question.replace(/:\s*$/, "").toLowerCase()} given (end of input): nothing changed`);
  return answer;
}

// ───────────────────────────── 10. completion ─────────────────────────────
// The shell scripts call the binary back with the line up to the cursor (COMP_LINE, COMP_POINT,
// as tabtab does): `regctl __complete bash|zsh|fish` answers candidates one a line, with a tab and
// a description for zsh and fish. A candidate ending in / : @ gets no space after it. A TAB never
// hangs and never prints an error: answers are cached briefly, the network and credential helpers
// are bounded to about a second, config files that could block are not read, and any failure
// yields nothing.

// ── candidates: the line up to the cursor → what may come next ──

const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

interface Candidate {
  value: string;
  description?: string;
}

/** Words of a command line as a shell splits them, quotes honoured; the last is the one being completed. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let quote: string | undefined;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) words.push(word);
      word = "";
      started = false;
    } else {
      word += c;
      started = true;
    }
  }
  words.push(word);
  return words;
}

const COMPLETION_TTL_MS = 60_000;
const COMPLETION_BUDGET_MS = 1000;
/** A TAB after repo@ resolves every tag's digest: as many at once as a command does by default. */
const COMPLETION_CONCURRENCY = 8;
/** Registries remembered for completion, most recent first. */
const RECENT_REGISTRIES = 20;

function completionCachePath(key: string, env = process.env): string {
  return join(cacheDir(env), "completion", encodeURIComponent(key));
}

/**
 * The completion cache: a file per list, a header line (`regctl completion cache 1 <ms>`), then
 * the list a line each in byte order. A TAB reads the lines that start with what was typed, which
 * sit together: it never parses the whole list (100,000 tags are about a megabyte of text).
 */
const CACHE_HEADER = "regctl completion cache 1";

/** The bytes read at a time while searching or scanning a cached list. */
const CACHE_BLOCK = 16 * 1024;

/**
 * The cached lines starting with `prefix`; undefined when not cached, past its time, or broken.
 * The list is sorted, so a big one is searched as look(1) does: a binary search over byte
 * offsets for the first line not before `prefix`, then the lines from there that start with it.
 * A TAB in 100,000 tags reads about a dozen small blocks, not the whole file.
 */
export function readCachedLines(path: string, prefix: string): string[] | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const read = (from: number, length: number) => {
      const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - from)));
      return buf.subarray(0, readSync(fd, buf, 0, buf.length, from));
    };
    const first = read(0, CACHE_BLOCK);
    const head = first.indexOf(10);
    const header = first.subarray(0, Math.max(0, head)).toString("utf8");
    const at = Number(header.slice(CACHE_HEADER.length + 1));
    if (head < 0 || !header.startsWith(`${CACHE_HEADER} `) || !(Date.now() - at < COMPLETION_TTL_MS)) return undefined;
    // The first line starting at or after `from`: its text and where the next one starts.
    const lineAt = (from: number): { start: number; text: string; next: number } | undefined => {
      let start = from;
      if (from > head + 1) {
        for (let probe = from - 1; ; probe += CACHE_BLOCK) {
          if (probe >= size) return undefined;
          const nl = read(probe, CACHE_BLOCK).indexOf(10);
          if (nl >= 0) {
            start = probe + nl + 1;
            break;
          }
        }
      }
      for (let len = 256; start < size; len *= 4) {
        const bytes = read(start, len);
        const nl = bytes.indexOf(10);
        if (nl >= 0 || start + bytes.length >= size) {
          const text = bytes.subarray(0, nl < 0 ? bytes.length : nl).toString("utf8");
          return { start, text, next: start + (nl < 0 ? bytes.length : nl + 1) };
        }
      }
      return undefined;
    };
    // Invariant: the first line not before `prefix` starts at or after lo, and at or before the first line start at or after hi.
    let lo = head + 1;
    let hi = size;
    while (hi - lo > CACHE_BLOCK) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const line = lineAt(mid);
      if (!line || line.start >= hi) hi = mid;
      else if (byteOrder(line.text, prefix) < 0) lo = line.next;
      else hi = mid;
    }
    // From lo on, block by block: lines before `prefix` skipped, those starting with it taken, the first after it the end.
    const lines: string[] = [];
    let rest = Buffer.alloc(0);
    for (let pos = lo; pos < size || rest.length; ) {
      const block = pos < size ? read(pos, 4 * CACHE_BLOCK) : Buffer.from("\n");
      if (!block.length) break; // the file shrank under us
      pos += pos < size ? block.length : 1;
      const chunk = rest.length ? Buffer.concat([rest, block]) : block;
      let from = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
        const text = chunk.subarray(from, nl).toString("utf8");
        from = nl + 1;
        if (text.startsWith(prefix)) lines.push(text);
        else if (byteOrder(text, prefix) > 0) return lines;
      }
      rest = chunk.subarray(from);
    }
    return lines;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The lines of a list starting with `prefix`: from the cache, or from `load`, which hands the list
 * over a page at a time. A list read whole is cached; at `until` (the TAB's budget), or when a
 * later page fails, what arrived so far is offered, and nothing is cached. Undefined when the
 * load failed before anything arrived.
 */
async function cachedList(key: string, prefix: string, load: (take: (lines: string[]) => void) => Promise<void>, until: number, env = process.env): Promise<string[] | undefined> {
  const path = completionCachePath(key, env);
  const cached = readCachedLines(path, prefix);
  if (cached) return cached;
  fullSpeed();
  const arrived: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), Math.max(0, until - Date.now()))));
  let whole = false;
  try {
    const loaded = load((lines) => {
      for (const l of lines) arrived.push(l);
    });
    whole = (await Promise.race([loaded, late])) !== "late";
  } catch {
    if (!arrived.length) return undefined;
  } finally {
    clearTimeout(timer);
  }
  if (!inOrder(arrived)) arrived.sort(byteOrder);
  try {
    if (whole) writePrivateFile(path, `${CACHE_HEADER} ${Date.now()}\n${arrived.join("\n")}\n`);
  } catch {
    // a cache that cannot be written only costs the next TAB a request
  }
  return arrived.filter((l) => l.startsWith(prefix));
}

/** Forget what completion knows of a repository that regctl has just changed. */
function forgetCompletions(registry: string, repository: string, env = process.env): void {
  for (const kind of ["tags", "digests"]) rmSync(completionCachePath(`${kind} ${registry}/${repository}`, env), { force: true });
  rmSync(completionCachePath(`repos ${registry}`, env), { force: true });
}

/** Registries this user works with: docker's and podman's config keys, and those regctl used lately. */
function knownRegistries(env = process.env): string[] {
  const found = new Set<string>();
  const add = (key: string) => {
    const host = hostOfConfigKey(key);
    if (DOMAIN.test(host)) found.add(normalizeRegistry(host) === DockerHub.host ? DockerHub.shown : host);
  };
  for (const path of [dockerConfigPath(env), ...podmanAuthPaths(env)]) {
    try {
      const c = readDockerConfig(path, { regularFileOnly: true });
      for (const k of [...Object.keys(c?.auths ?? {}), ...Object.keys(c?.credHelpers ?? {})]) add(k);
    } catch {
      // a broken config gives no candidates
    }
  }
  for (const h of readRecent(env)) add(h);
  return [...found].sort(byteOrder);
}

function readRecent(env = process.env): string[] {
  try {
    const r = JSON.parse(readFileSync(join(cacheDir(env), "recent.json"), "utf8"));
    return Array.isArray(r) ? r.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

/** Remember a registry for completion (most recent first, at most RECENT_REGISTRIES). */
function rememberRegistry(registry: string, env = process.env): void {
  const list = [registry, ...readRecent(env).filter((r) => r !== registry)].slice(0, RECENT_REGISTRIES);
  try {
    writePrivateFile(join(cacheDir(env), "recent.json"), JSON.stringify(list));
  } catch {
    // only completion loses
  }
}

interface CompletionOption {
  names: string[];
  description: string;
  takesValue: boolean;
  kind?: string;
  choices?: readonly string[];
}

interface CompletionSpec {
  /** arg: what the command's argument names (registry, repo, ref, target, shell) */
  commands: { name: string; description: string; arg?: string; argChoices?: readonly string[]; arg2?: string; options: CompletionOption[] }[];
  global: CompletionOption[];
}

/** What the candidates are, for the words typed so far. Network lookups are bounded and silent. */
export async function completeLine(line: string, spec: CompletionSpec, env = process.env): Promise<Candidate[]> {
  const words = splitWords(line);
  if (words.length < 2) return [];
  const args = words.slice(1);
  const cur = args[args.length - 1]!;
  const prev = args.length > 1 ? args[args.length - 2] : undefined;
  const match = (cands: Candidate[]) => cands.filter((c) => c.value.startsWith(cur));
  const spelled = (o: CompletionSpec["global"][number], word: string | undefined) => o.names.some((n) => (n.length === 1 ? `-${n}` : `--${n}`) === word);
  // The command is the first word that is neither an option nor an option's value: the CLI takes
  // global options before it too (regctl --json tags REPO).
  let at = 0;
  while (at < args.length - 1 && args[at]!.startsWith("-")) at += spec.global.find((o) => spelled(o, args[at]))?.takesValue ? 2 : 1;
  if (at === args.length - 1 && !cur.startsWith("-")) return match(spec.commands.map((c) => ({ value: c.name, description: c.description })));
  const command = at < args.length - 1 ? spec.commands.find((c) => c.name === args[at]) : undefined;
  const options = command ? command.options : spec.global;
  const optionFor = (word: string | undefined) => options.find((o) => spelled(o, word));
  if (cur.startsWith("-")) return match(options.flatMap((o) => o.names.filter((n) => n.length > 1).map((n) => ({ value: `--${n}`, description: o.description }))));
  const pending = optionFor(prev);
  if (pending?.takesValue) return completeOptionValue(pending, cur);
  if (!command) return [];
  // Positional arguments: the words after the command that are neither options nor their values.
  const positional: string[] = [];
  for (let i = at + 1; i < args.length - 1; i++) {
    if (args[i]!.startsWith("-")) {
      if (optionFor(args[i])?.takesValue) i++;
    } else positional.push(args[i]!);
  }
  if (command.argChoices) return positional.length === 0 ? match(command.argChoices.map((value) => ({ value }))) : [];
  // The second argument (copy's destination) completes as a reference too; a new tag name, not.
  const completing = positional.length === 0 ? command.arg : positional.length === 1 ? command.arg2 : undefined;
  if (!completing || !["registry", "repo", "ref", "target"].includes(completing)) return [];
  const flags = {
    plainHttp: args.includes("--plain-http"),
    insecure: args.includes("--insecure"),
    cacert: args.flatMap((a, i) => (a === "--cacert" && args[i + 1] ? [args[i + 1]!] : [])),
  };
  const kind = completing === "registry" ? "registry" : completing === "ref" ? "ref" : "repo";
  return completeTarget(cur, kind, flags, env);
}

function completeOptionValue(option: CompletionOption, cur: string): Candidate[] {
  if (option.choices) return option.choices.filter((s) => s.startsWith(cur)).map((value) => ({ value }));
  if (option.kind === "file") return completeFiles(cur);
  return [];
}

/** Files and directories for a path typed so far (directories end in / for the next TAB). */
function completeFiles(cur: string): Candidate[] {
  const slash = cur.lastIndexOf("/");
  const dir = slash >= 0 ? cur.slice(0, slash + 1) : "";
  const base = cur.slice(slash + 1);
  try {
    return readdirSync(dir || ".", { withFileTypes: true })
      .filter((e) => e.name.startsWith(base) && (base.startsWith(".") || !e.name.startsWith(".")))
      .map((e) => ({ value: `${dir}${e.name}${e.isDirectory() ? "/" : ""}` }))
      .sort((a, b) => byteOrder(a.value, b.value));
  } catch {
    return [];
  }
}

/** Registries, then repositories after `host/`, tags after `repo:`, digests after `repo@`. */
async function completeTarget(
  cur: string,
  kind: "registry" | "repo" | "ref",
  flags: { plainHttp: boolean; insecure: boolean; cacert: string[] },
  env: NodeJS.ProcessEnv,
): Promise<Candidate[]> {
  const slash = cur.indexOf("/");
  if (slash < 0) {
    return knownRegistries(env)
      .filter((h) => h.startsWith(cur))
      .map((h) => ({ value: kind === "registry" ? h : `${h}/`, description: "registry" }));
  }
  const host = cur.slice(0, slash);
  if (!DOMAIN.test(host)) return [];
  const registry = normalizeRegistry(host);
  const rest = cur.slice(slash + 1);
  // Made on a cache miss only: a warm TAB reads the cache and needs no transport.
  let made: Registry | undefined;
  const reg = () =>
    (made ??= new Registry(
      registry,
      new Transport(
        {
          curl: false,
          dryRun: true,
          timeoutMs: COMPLETION_BUDGET_MS,
          insecure: flags.insecure,
          cacert: flags.cacert,
          retry: { ...RETRY, attempts: 1 },
          env,
          helperTimeoutMs: COMPLETION_BUDGET_MS,
          regularFileOnly: true,
        },
        makeLog({ curl: false, verbose: false }, () => {}),
      ),
      flags.plainHttp ? "http" : undefined,
    ));
  const until = Date.now() + COMPLETION_BUDGET_MS; // then offer what arrived
  const at = rest.indexOf("@");
  const colon = rest.indexOf(":");
  if (kind === "ref" && (at >= 0 || colon >= 0)) {
    const repo = rest.slice(0, at >= 0 ? at : colon);
    const prefix = `${host}/${repo}`;
    const typed = rest.slice((at >= 0 ? at : colon) + 1);
    if (at >= 0) {
      // DIGEST<TAB>TAG lines in byte order: a digest's tags sit together.
      const rows = await cachedList(
        `digests ${registry}/${repo}`,
        typed,
        (take) =>
          tagPages(reg(), repo, (page) =>
            mapOrdered(
              page.filter((t) => !ReferrerIndex.isReferrerTag(t)),
              COMPLETION_CONCURRENCY,
              async (tag) => ({ tag, ...(await tagDigest(reg(), repo, tag)) }),
              (r) => r.digest && take([`${r.digest}\t${r.tag}`]),
            ),
          ),
        until,
        env,
      );
      const byDigest = new Map<string, string[]>();
      for (const row of rows ?? []) {
        const [d, t] = row.split("\t") as [string, string];
        byDigest.set(d, [...(byDigest.get(d) ?? []), t]);
      }
      return [...byDigest].map(([d, tags]) => ({ value: `${prefix}@${d}`, description: tags.join(", ") }));
    }
    const tags = await cachedList(
      `tags ${registry}/${repo}`,
      typed,
      (take) => tagPages(reg(), repo, (page) => take(page.filter((t) => !ReferrerIndex.isReferrerTag(t)))),
      until,
      env,
    );
    return (tags ?? []).map((t) => ({ value: `${prefix}:${t}` }));
  }
  const repos = await cachedList(`repos ${registry}`, rest, (take) => catalogPages(reg(), take), until, env);
  return (repos ?? []).map((r) => ({ value: `${host}/${r}${kind === "ref" ? ":" : ""}`, description: "repository" }));
}

/** Answer one TAB: candidates on stdout, one a line; nothing at all on any failure. */
async function answerCompletion(shell: string, spec: CompletionSpec, env = process.env): Promise<string> {
  const line = env.COMP_LINE ?? "";
  const point = Number(env.COMP_POINT ?? line.length);
  const upToCursor = line.slice(0, Number.isInteger(point) && point >= 0 ? point : line.length);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<Candidate[]>((resolve) => (timer = setTimeout(() => resolve([]), COMPLETION_BUDGET_MS + 200)));
  const found = await Promise.race([completeLine(upToCursor, spec, env).catch(() => []), deadline]);
  clearTimeout(timer);
  const clean = (s: string) => s.replace(/[\t\n\r]/g, " ");
  return found.map((c) => (shell !== "bash" && c.description ? `${clean(c.value)}\t${clean(c.description)}` : clean(c.value))).join("\n");
}

// ── the scripts, and installing them ──

// The scripts. BIN is the command that answers: empty means the word the user typed (regctl, or
// the path they called it by); `completion install` fills in the program it was run as.
const BASH_SCRIPT = `# bash completion for regctl — generated by \`regctl completion bash\`
_regctl_cmd=(__BIN__)
_regctl() {
  local line=\${COMP_LINE:0:COMP_POINT}
  local word=\${line##*[[:space:]]}
  local -a cmd=("\${_regctl_cmd[@]}")
  [ \${#cmd[@]} -gt 0 ] || cmd=("\${COMP_WORDS[0]/#\\~/$HOME}")
  local IFS=$'\\n' cut="" c
  local -a found=($(COMP_LINE="$line" COMP_POINT=\${#line} "\${cmd[@]}" __complete bash 2>/dev/null </dev/null))
  # readline replaces only the end of the word, from its last COMP_WORDBREAKS character: after a
  # ':', or from an '@' on (plain bash lists '@'; bash-completion takes it out). Answer that part.
  local brk="" tail=$word
  case $COMP_WORDBREAKS in *:*) brk=":" ;; esac
  case $COMP_WORDBREAKS in *@*) brk="$brk@" ;; esac
  if [ -n "$brk" ]; then case $word in *["$brk"]*) tail=\${word##*["$brk"]} ;; esac; fi
  cut=\${word%"$tail"}
  cut=\${cut%@}
  COMPREPLY=()
  for c in "\${found[@]}"; do COMPREPLY+=("\${c#"$cut"}"); done
  if [ \${#COMPREPLY[@]} -eq 1 ]; then case \${COMPREPLY[0]} in */|*:|*@) compopt -o nospace 2>/dev/null ;; esac; fi
  return 0
}
complete -F _regctl regctl
`;

const ZSH_SCRIPT = `#compdef regctl
# zsh completion for regctl — generated by \`regctl completion zsh\`
_regctl_cmd=(__BIN__)
_regctl() {
  local line="\${(j: :)words[1,CURRENT-1]} \${PREFIX}" l v d
  local -a cmd spaced nospace found
  cmd=("\${_regctl_cmd[@]}")
  (( \${#cmd} )) || cmd=("\${~words[1]}")
  found=("\${(@f)$(COMP_LINE=$line COMP_POINT=\${#line} "\${cmd[@]}" __complete zsh 2>/dev/null </dev/null)}")
  for l in "\${found[@]}"; do
    [[ -n $l ]] || continue
    v=\${l%%$'\\t'*}; d=""
    [[ $l == *$'\\t'* ]] && d=\${l#*$'\\t'}
    v=\${v//:/\\\\:}
    [[ -n $d ]] && v+=":$d"
    if [[ $l == *[/:@]($'\\t'*|) ]]; then nospace+=("$v"); else spaced+=("$v"); fi
  done
  (( \${#spaced} )) && _describe -t values regctl spaced
  (( \${#nospace} )) && _describe -t values regctl nospace -S ''
  return 0
}
if [[ \${funcstack[1]} == _regctl ]]; then _regctl "$@"; else compdef _regctl regctl; fi
`;

const FISH_SCRIPT = `# fish completion for regctl — generated by \`regctl completion fish\`
set -g _regctl_cmd __BIN__
function __regctl_complete
    set -l line (commandline -cp)
    set -l cmd $_regctl_cmd
    test (count $cmd) -gt 0; or set cmd (commandline -opc)[1]
    COMP_LINE=$line COMP_POINT=(string length -- "$line") $cmd __complete fish 2>/dev/null </dev/null
end
complete -c regctl -f -a '(__regctl_complete)'
`;

const SCRIPTS: Record<Shell, string> = { bash: BASH_SCRIPT, zsh: ZSH_SCRIPT, fish: FISH_SCRIPT };

/** A completion script; `command` (argv words) is the program it calls back, else the word typed. */
function completionScript(shell: Shell, command: string[] = []): string {
  return SCRIPTS[shell].replace("__BIN__", command.map(shQuote).join(" "));
}

/**
 * Where `completion install` puts each shell's script, and the block it adds to the shell's rc file
 * when the shell would not find the script alone. bash: bash-completion loads the user dir on a
 * TAB, but only where bash-completion is loaded at all, so ~/.bashrc sources the script too (the
 * script only defines _regctl and registers it: bash-completion finds regctl registered already
 * and loads nothing more). zsh: ~/.zfunc on fpath; compinit when .zshrc has not run it already,
 * else just compdef, so no second compinit.
 */
function completionTarget(shell: Shell, env = process.env): { file: string; rc?: { path: string; block: string; says: string } } {
  const home = env.HOME || homedir();
  if (shell === "bash") {
    const dir = env.BASH_COMPLETION_USER_DIR || join(env.XDG_DATA_HOME || join(home, ".local", "share"), "bash-completion");
    const file = join(dir, "completions", "regctl");
    return {
      file,
      rc: {
        path: join(home, ".bashrc"),
        block: `${RC_BEGIN}\nif [[ $- == *i* && -r ${shQuote(file)} ]]; then . ${shQuote(file)}; fi\n${RC_END}\n`,
        says: "sources it in an interactive bash, with or without bash-completion",
      },
    };
  }
  if (shell === "fish") return { file: join(env.XDG_CONFIG_HOME || join(home, ".config"), "fish", "completions", "regctl.fish") };
  const dir = join(home, ".zfunc");
  return {
    file: join(dir, "_regctl"),
    rc: {
      path: join(env.ZDOTDIR || home, ".zshrc"),
      block: `${RC_BEGIN}\nfpath=(${shQuote(dir)} $fpath)\nif (( $+functions[compdef] )); then autoload -Uz _regctl && compdef _regctl regctl; else autoload -Uz compinit && compinit -i; fi\n${RC_END}\n`,
      says: `puts ${dir} on fpath and runs compinit, or only compdef when compinit ran before it`,
    },
  };
}

/** What install and uninstall touch, said in a line: the script, and the rc file's block. */
function completionFiles(shell: Shell, env = process.env): string {
  const { file, rc } = completionTarget(shell, env);
  return rc ? `${file} and the regctl block in ${rc.path}` : file;
}

const RC_BEGIN = "# >>> regctl completion (regctl completion uninstall removes this block) >>>";
const RC_END = "# <<< regctl completion <<<";
/** Follows RC_BEGIN when install had to end the rc file's last line first: uninstall takes that newline back. */
const RC_JOINED = " (after a newline it added)";
/** Follows RC_BEGIN when install made the rc file: uninstall removes the file if nothing else was added. */
const RC_CREATED = " (in a file it created)";

/**
 * The program to call back: `regctl` when PATH's regctl is this very program; else the path it was
 * run by, symlinks kept (a versioned install behind a symlink keeps working after an upgrade);
 * a script under bun or deno is called back through its runtime.
 */
function selfCommand(env = process.env): string[] {
  const deno = (globalThis as { Deno?: unknown }).Deno;
  const script = process.argv[1] ?? "";
  if (deno) return [process.execPath, "run", "-A", resolve(script)];
  if (!script.startsWith("/$bunfs/")) return [process.execPath, resolve(script)];
  const onPath = (name: string) =>
    (env.PATH ?? "")
      .split(":")
      .filter(Boolean)
      .map((d) => join(d, name))
      .find((p) => {
        try {
          return statSync(p).isFile();
        } catch {
          return false;
        }
      });
  const invoked = process.argv0.includes("/") ? resolve(process.argv0) : (onPath(process.argv0) ?? process.execPath);
  const same = (a?: string, b?: string) => {
    try {
      return !!a && !!b && realpathSync(a) === realpathSync(b);
    } catch {
      return false;
    }
  };
  return same(onPath("regctl"), process.execPath) ? ["regctl"] : [invoked];
}

function installCompletion(shell: Shell, env = process.env): string[] {
  const { file, rc } = completionTarget(shell, env);
  const done = [`wrote ${file}`];
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, completionScript(shell, selfCommand(env)));
  if (rc) {
    let text: string | undefined;
    try {
      text = readFileSync(rc.path, "utf8");
    } catch {
      // no rc file yet
    }
    if (text?.includes(RC_BEGIN)) done.push(`${rc.path} has the regctl block already`);
    else if (text === undefined) {
      writeFileSync(rc.path, rc.block.replace(RC_BEGIN, RC_BEGIN + RC_CREATED));
      done.push(`created ${rc.path} with a block that ${rc.says}`);
    } else {
      const joined = text !== "" && !text.endsWith("\n");
      writeFileSync(rc.path, joined ? `${text}\n${rc.block.replace(RC_BEGIN, RC_BEGIN + RC_JOINED)}` : `${text}${rc.block}`);
      done.push(`added a block to ${rc.path} that ${rc.says}`);
    }
  }
  done.push(`open a new ${shell} to use it`);
  return done;
}

function uninstallCompletion(shell: Shell, env = process.env): string[] {
  const { file, rc } = completionTarget(shell, env);
  const done: string[] = [];
  try {
    rmSync(file);
    done.push(`removed ${file}`);
  } catch {
    done.push(`${file} was not there`);
  }
  if (rc) {
    let text = "";
    try {
      text = readFileSync(rc.path, "utf8");
    } catch {
      // no rc file
    }
    const start = text.indexOf(RC_BEGIN);
    const end = text.indexOf(RC_END, start);
    if (start >= 0 && end > start) {
      const joined = text.startsWith(RC_BEGIN + RC_JOINED, start) && text[start - 1] === "\n";
      const created = text.startsWith(RC_BEGIN + RC_CREATED, start);
      const stop = end + RC_END.length + (text[end + RC_END.length] === "\n" ? 1 : 0);
      const rest = text.slice(0, joined ? start - 1 : start) + text.slice(stop);
      if (created && rest === "") {
        rmSync(rc.path);
        done.push(`removed ${rc.path}: install had created it for the regctl block alone`);
      } else {
        writeFileSync(rc.path, rest);
        done.push(`removed the regctl block from ${rc.path}`);
      }
    }
  }
  return done;
}

// ───────────────────────────── 11. CLI ─────────────────────────────

// ── options: each declared once with its shape, parsed and checked before any request ──

/**
 * What an option takes. A flag is present or not; `value` is one string; `count` a whole number
 * within [min, max]; `duration` a number with a unit; `choice` one of `choices`. `regex` and
 * `file` may be repeated: several regexes mean "any of them", several files are all read.
 * Any other option given twice is refused, as is a value that does not fit its shape.
 */
type OptionKind = "flag" | "value" | "count" | "duration" | "regex" | "file" | "choice";

export interface OptionSpec {
  /** the long name, as typed after `--` */
  name: string;
  short?: string;
  kind: OptionKind;
  /** the value's name in --help: --keep <n> */
  placeholder?: string;
  description: string;
  /** a good value, shown in the hint when a value is refused */
  example?: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  default?: string;
}

const isRepeatable = (o: OptionSpec) => o.kind === "regex" || o.kind === "file";

/** Parsed options by camelCased name: flags are booleans, counts numbers, durations milliseconds, regexes and files lists. */
interface RawOptions {
  [k: string]: unknown;
}

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const spelled = (o: OptionSpec) => `--${o.name}`;

/** One option value, checked against its shape. */
function optionValue(o: OptionSpec, raw: string): unknown {
  const bad = (why: string, hint: string) => new UsageError(`invalid ${spelled(o)} "${raw}": ${why}`, hint);
  switch (o.kind) {
    case "count": {
      const n = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
      const min = o.min ?? 0;
      const max = o.max ?? 1e9;
      if (!(n >= min && n <= max))
        throw bad(o.max === undefined ? `not a whole number (${min} or more)` : `not a whole number from ${min} to ${max}`, `e.g. ${spelled(o)} ${o.example ?? min}`);
      return n;
    }
    case "duration": {
      const ms = parseDuration(raw, `${spelled(o)} ${o.example ?? "30s"}`);
      if (o.min !== undefined && ms < o.min) throw bad("too short", `e.g. ${spelled(o)} ${o.example ?? "30s"}`);
      return ms;
    }
    case "regex":
      try {
        return new RegExp(raw);
      } catch (err) {
        throw bad((err as Error).message.replace(/^Invalid regular expression: /, ""), "give a JavaScript regular expression, e.g. '^v1\\.' or '-rc'");
      }
    case "choice":
      if (!o.choices!.includes(raw)) throw bad(`not one of ${o.choices!.join(", ")}`, `e.g. ${spelled(o)} ${o.choices![0]}`);
      return raw;
    default:
      if (raw === "") throw bad("empty", `e.g. ${spelled(o)} ${o.example ?? o.placeholder ?? "VALUE"}`);
      return raw;
  }
}

interface ParsedLine {
  command?: CommandSpec;
  args: string[];
  options: RawOptions;
  help: boolean;
  version: boolean;
}

/**
 * Parse the words after the program name against the command table: `--name value`,
 * `--name=value`, `-y`, `-u USER`; options before or after the command; `--` ends them. Every
 * option is checked for its command, its shape and repetition here, before any request.
 */
function parseCommandLine(words: string[], table: readonly CommandSpec[] = COMMANDS): ParsedLine {
  const all = [...GLOBAL_OPTIONS, ...table.flatMap((c) => c.options ?? [])];
  const byName = (name: string) => all.find((o) => o.name === name);
  const byShort = (short: string) => all.find((o) => o.short === short);
  const given: { spec: OptionSpec; value?: string }[] = [];
  const positional: string[] = [];
  let help = false;
  let version = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "--") {
      positional.push(...words.slice(i + 1));
      break;
    }
    if (w === "--help" || w === "-h") {
      help = true;
      continue;
    }
    if (w === "--version") {
      version = true;
      continue;
    }
    if (!w.startsWith("-") || w === "-") {
      positional.push(w);
      continue;
    }
    const eq = w.indexOf("=");
    const long = w.startsWith("--");
    const name = long ? w.slice(2, eq > 0 ? eq : undefined) : w.slice(1, 2);
    const spec = long ? byName(name) : w.length === 2 || eq === 2 ? byShort(name) : undefined;
    if (!spec) {
      const near = long
        ? suggest(
            name,
            all.map((o) => o.name),
          )
        : undefined;
      throw new UsageError(
        `unknown option "${long ? `--${name}` : w}"`,
        near ? `did you mean --${near}? (regctl COMMAND --help lists them)` : "regctl COMMAND --help lists the options of a command",
      );
    }
    const inline = eq > 0 ? w.slice(eq + 1) : undefined;
    if (spec.kind === "flag") {
      if (inline !== undefined) throw new UsageError(`${spelled(spec)} takes no value`, `give ${spelled(spec)} alone`);
      given.push({ spec });
      continue;
    }
    // The next word is the value, unless it is an option itself (a negative number is a value, refused by its shape).
    const next = words[i + 1];
    const isOption = (x?: string) => x !== undefined && (x.startsWith("--") || (x.length === 2 && x[0] === "-" && !!byShort(x[1]!)));
    if (inline === undefined && (next === undefined || isOption(next)))
      throw new UsageError(`${spelled(spec)} needs a value`, `e.g. ${spelled(spec)} ${spec.example ?? spec.placeholder ?? "VALUE"}`);
    given.push({ spec, value: inline ?? words[++i] });
  }
  let command: CommandSpec | undefined;
  if (positional.length) {
    const name = positional.shift()!;
    command = table.find((c) => c.name === name);
    if (!command)
      throw unknownCommand(
        name,
        table.map((c) => c.name),
      );
  }
  const options: RawOptions = {};
  if (help || version) return { command, args: positional, options, help, version };
  const allowed = command ? optionsOf(command) : GLOBAL_OPTIONS;
  for (const { spec: named, value } of given) {
    // The command's own declaration: another command may declare the same name with another text.
    const spec = allowed.find((o) => o.name === named.name);
    if (!spec)
      throw command
        ? new UsageError(`${command.name} takes no ${spelled(named)}`, `regctl ${command.name} --help lists its options`)
        : new UsageError(`${spelled(named)} belongs to a command`, "regctl --help lists the commands");
    const key = camel(spec.name);
    if (key in options && !isRepeatable(spec)) {
      const shown = (v: unknown) => (v === true ? "" : ` ${JSON.stringify(value)}`);
      throw new UsageError(
        `${spelled(spec)} given twice${spec.kind === "flag" ? "" : ` (${JSON.stringify(given.find((g) => g.spec.name === spec.name)!.value)} and${shown(value)})`}`,
        `give it once; only ${GLOBAL_OPTIONS.concat(table.flatMap((c) => c.options ?? []))
          .filter(isRepeatable)
          .map(spelled)
          .filter((n, i, a) => a.indexOf(n) === i)
          .join(", ")} may be repeated`,
      );
    }
    const v = spec.kind === "flag" ? true : optionValue(spec, value!);
    options[key] = isRepeatable(spec) ? [...((options[key] as unknown[]) ?? []), v] : v;
  }
  for (const spec of allowed) if (spec.default !== undefined && !(camel(spec.name) in options)) options[camel(spec.name)] = optionValue(spec, spec.default);
  if (command) {
    const usage = `usage: regctl ${command.name}${argUsage(command)}`;
    if (!command.arg && positional.length) throw new UsageError(`${command.name} takes no argument; given: ${positional.join(" ")}`, usage);
    if (command.arg && !positional.length && !command.arg.optional)
      throw new UsageError(`${command.name} needs ${command.arg.name === "ref" ? "a reference" : `a ${command.arg.name}`}`, usage);
    if (command.arg2 && positional.length === 1) throw new UsageError(`${command.name} needs a ${command.arg2.name} after the ${command.arg!.name}`, usage);
    const most = command.arg2 ? 2 : 1;
    if (command.arg && positional.length > most)
      throw new UsageError(
        `${command.name} takes ${command.arg2 ? `a ${command.arg.name} and a ${command.arg2.name}` : `one ${command.arg.name}`}; also given: ${positional.slice(most).join(" ")}`,
        usage,
      );
  }
  return { command, args: positional, options, help, version };
}

/** What the peers (crane, skopeo, regclient, oras) call a command of ours: `crane cp` is our copy. */
const PEER_VERBS: Record<string, string> = {
  cp: "copy",
  sync: "copy",
  mirror: "copy",
  ls: "tags",
  "list-tags": "tags",
  catalog: "repos",
  rm: "delete",
  retag: "tag",
  get: "manifest",
};

/** An unknown command: the usage error names ours for a peer's verb, or the nearest name. */
function unknownCommand(name: string, names: string[]): UsageError {
  const peer = PEER_VERBS[name];
  const near = peer && names.includes(peer) ? peer : suggest(name, names);
  return new UsageError(`unknown command "${name}"`, near ? `did you mean ${near}? (regctl help lists the commands)` : "regctl help lists the commands");
}

/** The closest name within two edits, for a "did you mean". */
function suggest(word: string, names: string[]): string | undefined {
  const distance = (a: string, b: string) => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const row = [i];
      for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row;
    }
    return prev[b.length]!;
  };
  const best = names.map((n) => ({ n, d: distance(word, n) })).sort((a, b) => a.d - b.d)[0];
  return best && best.d <= Math.min(2, Math.floor(word.length / 2)) ? best.n : undefined;
}

// ── a run: its options, credentials, confirmation, signals and a closed output ──

function globalOptions(o: RawOptions): GlobalOptions {
  return {
    curl: Boolean(o.curl) || process.env.REGCTL_CURL === "1",
    dryRun: Boolean(o.dryRun),
    json: Boolean(o.json),
    yes: Boolean(o.yes),
    concurrency: o.concurrency as number,
    plainHttp: Boolean(o.plainHttp),
    insecure: Boolean(o.insecure),
    timeoutMs: o.timeout as number,
    retries: (o.retries as number | undefined) ?? RETRY.attempts - 1,
    verbose: Boolean(o.verbose),
    username: o.username as string | undefined,
    passwordStdin: Boolean(o.passwordStdin),
    cacert: (o.cacert as string[] | undefined) ?? [],
  };
}

/** --password-stdin: the whole of stdin, less one trailing newline (as docker login reads it). */
function readPasswordStdin(): string {
  if (process.stdin.isTTY) throw new UsageError("--password-stdin reads the password from a pipe, and stdin is a terminal", 'echo "$PASSWORD" | regctl … -u USER --password-stdin');
  const text = readFileSync(0, "utf8").replace(/\r?\n$/, "");
  if (!text) throw new UsageError("--password-stdin: stdin was empty", "pipe the password in: regctl … -u USER --password-stdin < file");
  return text;
}

interface Context {
  opts: GlobalOptions;
  log: Log;
  transport: Transport;
  password?: string;
  /** registries this command talked to, remembered for completion when it succeeds */
  used: Set<string>;
}

async function context(raw: RawOptions, command: string): Promise<Context> {
  const opts = globalOptions(raw);
  const log = makeLog(opts);
  if (opts.passwordStdin && opts.username === undefined) throw new UsageError("--password-stdin needs --username", "regctl … -u USER --password-stdin");
  let password = opts.passwordStdin ? readPasswordStdin() : undefined;
  let source = "-u and --password-stdin";
  // -u alone: the password from REGCTL_PASSWORD, or asked on a terminal (login asks for itself).
  if (opts.username !== undefined && password === undefined && command !== "login") {
    password = process.env.REGCTL_PASSWORD;
    source = "-u and REGCTL_PASSWORD";
    if (password === undefined) {
      if (!process.stdin.isTTY || !process.stderr.isTTY)
        throw new UsageError("-u needs a password: --password-stdin, or REGCTL_PASSWORD", 'echo "$PASSWORD" | regctl … -u USER --password-stdin');
      password = await ask("Password: ", { secret: true });
      source = "-u and the password typed at the prompt";
    }
  }
  // --cacert files are read now: a missing file or one that holds no certificate is bad input.
  for (const f of opts.cacert) {
    let pem: string;
    try {
      pem = readFileSync(f, "utf8");
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new UsageError(
        `--cacert ${f}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "not readable" : code === "EISDIR" ? "a directory" : "cannot be read"}`,
        "give the registry's CA certificate, a PEM file",
      );
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----"))
      throw new UsageError(`--cacert ${f} is not a PEM certificate (no BEGIN CERTIFICATE line)`, "give the registry's CA certificate, a PEM file");
  }
  const transport = new Transport(
    {
      curl: opts.curl,
      dryRun: opts.dryRun,
      timeoutMs: opts.timeoutMs,
      retry: { ...RETRY, attempts: opts.retries + 1, writeAttempts: Math.min(RETRY.writeAttempts, opts.retries + 1) },
      insecure: opts.insecure,
      cacert: opts.cacert,
      username: opts.username,
      password,
      credentialSource: source,
    },
    log,
  );
  return { opts, log, transport, password, used: new Set() };
}

function registryFor(ctx: Context, host: string, scheme?: Scheme): Registry {
  ctx.used.add(host);
  const forced = scheme ?? (ctx.opts.plainHttp ? "http" : undefined);
  return new Registry(host, ctx.transport, forced, scheme ? `${scheme}://` : ctx.opts.plainHttp ? "--plain-http" : undefined);
}

/** Ask on a TTY; without one, refuse unless --yes. End of input is a no; Ctrl-C is "interrupted". */
async function confirm(ctx: Context, question: string, refusing = "refusing to delete without confirmation"): Promise<boolean> {
  if (ctx.opts.yes) return true;
  if (!process.stdin.isTTY || !process.stderr.isTTY) throw new UsageError(`${refusing}: no terminal to ask on`, "add --yes (-y) to confirm, or --dry-run to see the plan");
  const answer = await readTerminalLine(`${ctx.opts.curl ? "# " : ""}${question} [y/N] `);
  return answer !== null && /^y(es)?$/i.test(answer.trim());
}

/** A progress bar is drawn for writes sent, on a terminal: not for a dry run, --curl or --json. */
const showsProgress = (ctx: Context) => !ctx.opts.dryRun && !ctx.opts.curl && !ctx.opts.json && !!process.stderr.isTTY;

/**
 * SIGINT/SIGTERM while writes run: start no new ones, let those in flight finish, then report.
 * A closed output stops them the same way, then ends the run: there is no one to report to.
 */
async function interruptible<T>(
  ctx: Context,
  work: (stopped: () => boolean) => Promise<T>,
  said = "interrupted: starting nothing new, finishing what is in flight…",
): Promise<{ result: T; stopped: boolean }> {
  let stopped = false;
  writesUnderWay = true;
  const onSignal = () => {
    if (stopped) return;
    stopped = true;
    clearProgress();
    ctx.log.note(said);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return { result: await work(() => stopped || outputLost !== undefined), stopped };
  } finally {
    writesUnderWay = false;
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (outputLost !== undefined) process.exit(outputLost);
  }
}

/** While a prune's writes run, its own handler takes the signal; before that, Ctrl-C just stops. */
let writesUnderWay = false;
/** How the run ends once stdout or stderr takes no more: its reader left, or the disk is full. */
let outputLost: number | undefined;

/**
 * `regctl du HOST | head -1`: once the reader is gone every write fails with EPIPE (bun and deno
 * ignore SIGPIPE). Both report it as an 'error' event of process.stdout or process.stderr, never
 * as a throw from write(), and print it with a stack trace when no one listens. A closed output
 * ends the run quietly, as SIGPIPE ends coreutils; another write error, with one line. At once,
 * or, while writes run, as Ctrl-C does.
 */
function watchOutput(log: () => Log): void {
  const lost = (err: NodeJS.ErrnoException) => {
    if (outputLost !== undefined) return;
    outputLost = err.code === "EPIPE" ? Exit.OUTPUT_CLOSED : Exit.FAILED;
    if (outputLost === Exit.FAILED) log().note(`regctl: cannot write the output: ${err.message}`);
    if (!writesUnderWay) process.exit(outputLost);
  };
  process.stdout.on("error", lost);
  process.stderr.on("error", lost);
}

// ── the commands: each reads its argument, calls an operation, prints the result ──

const pageSize = (o: RawOptions) => o.pageSize as number | undefined;

/** A reference as a command takes it: an `http://` or `https://` prefix is the scheme to use, and no other. */
type Target = Reference & { scheme?: Scheme };

/**
 * A host alone where a repository is due — `localhost:5000`, `127.0.0.1:5000`, `[::1]:5000`,
 * `registry.example.com` — which docker would read as a Docker Hub image (library/localhost,
 * tag 5000). A name with no dot and a tag that is not a port (`busybox:1.36`) is an image.
 */
function looksLikeRegistry(input: string): boolean {
  const { scheme, rest } = splitPrefix(input);
  const bare = rest.replace(/\/$/, "");
  if (!bare || bare.includes("/") || bare.includes("@")) return false;
  if (scheme) return true; // http://host is a registry, whatever its name
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::(.*))?$/.exec(bare);
  if (!m || (m[2] !== undefined && !/^\d{1,5}$/.test(m[2]))) return false;
  const host = m[1]!;
  return host === "localhost" || host.startsWith("[") || host.includes(".");
}

/** A reference where a repository (`repository`) or an image (`image`) is due; never a bare registry. */
function targetArg(input: string, due: "repository" | "image", { orRepoFlag = false } = {}): Target {
  if (looksLikeRegistry(input)) {
    const host = splitPrefix(input).rest.replace(/\/$/, "");
    throw new UsageError(
      `${host} is a registry; name a repository: ${host}/REPO${due === "image" ? ":TAG" : ""}${orRepoFlag ? ", or repositories with --repo REGEX" : ""}`,
      `regctl repos ${host} lists its repositories`,
    );
  }
  return { ...parseReference(input, { requireTagOrDigest: due === "image" }), scheme: splitPrefix(input).scheme };
}

function repoOnly(input: string, { orRepoFlag = false } = {}): Target {
  const ref = targetArg(input, "repository", { orRepoFlag });
  if (ref.tag || ref.digest)
    throw new UsageError(`"${input}" names a tag or digest; this command takes a repository`, `drop the ${ref.digest ? "@digest" : ":tag"}: ${ref.registry}/${ref.repository}`);
  return ref;
}

const commands = {
  async ping(ctx: Context, target: string) {
    const { registry, scheme } = parseRegistry(target);
    const result = await ping(registryFor(ctx, registry, scheme));
    ctx.opts.json ? printJson(result) : printPing(result);
  },

  async repos(ctx: Context, target: string, o: RawOptions) {
    const { registry, scheme } = parseRegistry(target);
    const list = new StreamedList<string>(ctx.opts.json, (r) => r);
    await catalogPages(registryFor(ctx, registry, scheme), (names) => list.add(names), pageSize(o));
    list.end();
  },

  async tags(ctx: Context, target: string, o: RawOptions) {
    const ref = repoOnly(target);
    const reg = registryFor(ctx, ref.registry, ref.scheme);
    // Printed a page at a time, each page in byte order (registries page in that order). Tags named
    // after a digest (signatures, referrer indexes) come last with --all, else not at all.
    type Row = { tag: string; digest?: string; mediaType?: string };
    const list = o.digests ? new StreamedList<Row>(ctx.opts.json, (r) => `${r.tag}\t${r.digest}`) : new StreamedList<string>(ctx.opts.json, (t) => t);
    const print = async (tags: string[]) => {
      if (!o.digests) return (list as StreamedList<string>).add(tags);
      // Each line is printed as soon as every earlier tag is resolved: a bounded window, in order.
      await mapOrdered(
        tags,
        ctx.opts.concurrency,
        async (tag) => ({ tag, ...(await tagDigest(reg, ref.repository, tag)) }),
        (row) => row.digest && (list as StreamedList<Row>).add([row]), // no digest: deleted since the list was read
      );
    };
    const named: string[] = []; // held for --all, else only counted
    let notShown = 0;
    await tagPages(
      reg,
      ref.repository,
      async (page) => {
        const images: string[] = [];
        for (const t of page)
          if (!ReferrerIndex.isReferrerTag(t)) images.push(t);
          else if (o.all) named.push(t);
          else notShown++;
        await print(images);
      },
      pageSize(o),
    );
    if (o.all) await print(named.sort(byteOrder));
    list.end();
    if (notShown && !ctx.opts.json) ctx.log.note(`${plural(notShown, "tag")} named after a digest (signatures, SBOMs, referrer indexes) not shown: --all lists them, last`);
    // An empty answer says so on stderr: stdout stays empty for a script.
    else if (!list.added && !ctx.opts.json) ctx.log.note(`${ref.registry}/${ref.repository} has no tags`);
  },

  async digest(ctx: Context, target: string) {
    const ref = targetArg(target, "image");
    const d = await resolveDigest(registryFor(ctx, ref.registry, ref.scheme), ref);
    ctx.opts.json ? printJson({ reference: formatReference(ref), ...d }) : out(d.digest);
  },

  async manifest(ctx: Context, target: string, o: RawOptions) {
    const ref = targetArg(target, "image");
    const m = await manifestGet(registryFor(ctx, ref.registry, ref.scheme), ref.repository, tagOrDigest(ref));
    if (o.raw) return void process.stdout.write(m.bytes);
    out(JSON.stringify(m.json, null, 2));
  },

  async inspect(ctx: Context, target: string) {
    const ref = targetArg(target, "image");
    const reg = registryFor(ctx, ref.registry, ref.scheme);
    const s = await inspect(reg, ref);
    // The referrers are more to show, not the point: a registry that will not list them still gets its inspect.
    const children = (s.manifests ?? []).map((m) => ({ digest: m.digest, mediaType: m.mediaType, size: m.size }));
    const tree = await referrersOf(reg, ref, ctx.opts.concurrency, { known: { digest: s.digest, mediaType: s.mediaType, children } }).catch((err: unknown) => {
      ctx.log.note(`regctl: the referrers of ${s.digest} could not be read: ${err instanceof Error ? err.message : String(err)}`);
      return { digest: s.digest, mediaType: s.mediaType, referrers: [], children: [] } as ReferrerTree;
    });
    for (const c of tree.children) c.platform = s.manifests?.find((m) => m.digest === c.digest)?.platform;
    const referrers = { referrers: tree.referrers, ...(tree.children.some((c) => c.referrers.length) ? { childReferrers: tree.children.filter((c) => c.referrers.length) } : {}) };
    if (ctx.opts.json) return printJson({ reference: formatReference(ref), ...s, ...referrers });
    printInspect(formatReference(ref), s);
    if (tree.referrers.length || tree.children.some((c) => c.referrers.length)) {
      out("referrers");
      printReferrers(formatReference(ref), tree, { header: false });
    }
  },

  async referrers(ctx: Context, target: string, o: RawOptions) {
    const ref = targetArg(target, "image");
    const tree = await referrersOf(registryFor(ctx, ref.registry, ref.scheme), ref, ctx.opts.concurrency, { artifactType: o.artifactType as string | undefined });
    if (ctx.opts.json) return printJson({ reference: formatReference(ref), ...tree });
    printReferrers(formatReference(ref), tree);
  },

  async delete(ctx: Context, target: string, o: RawOptions) {
    const ref = targetArg(target, "repository");
    if (!ref.tag && !ref.digest) throw new UsageError(`"${target}" names no tag or digest`, `say which image: ${formatReference(ref)}:TAG or @sha256:…`);
    const reg = registryFor(ctx, ref.registry, ref.scheme);
    const plan = await planDelete(reg, ref, ctx.opts.concurrency, { keepReferrers: o.keepReferrers === true });
    const name = `${plan.registry}/${plan.repository}`;
    if (plan.referencedBy.length)
      throw new RegctlError(
        `${plan.digest} is a platform manifest of ${plan.referencedBy.map((r) => `${name}:${r.tag}`).join(", ")}`,
        "deleting it would leave that list pointing at nothing: delete the list instead",
      );
    const tags = [...plan.tags].sort(naturalCompare);
    // What goes, in words short enough that the question stays within two lines of 80 columns.
    const kind = mediaTypeName(plan.mediaType);
    const going = andList([
      kind ? `this ${kind}` : "it",
      ...(tags.length ? [`its ${plural(tags.length, "tag")} (${few(tags, 3)})`] : []),
      ...(plan.referrers.length ? [`its ${plural(plan.referrers.length, "referrer")}`] : []),
    ]);
    if (!ctx.opts.json || ctx.opts.dryRun) {
      const abbrev = abbrevDigest(plan.digest);
      ctx.log.note(ref.tag ? `${name}:${ref.tag} is ${abbrev}` : `${name}@${abbrev}${kind ? "" : ` (${plan.mediaType})`}`);
      if (plan.fallback)
        ctx.log.note(
          `it is a referrer listed in the fallback index ${shortReferrerTag(plan.fallback.tag)}: ${plan.fallback.remaining ? `the index is rewritten without it (${plan.fallback.remaining} stay)` : "it was the last, the index goes too"}`,
        );
    }
    if (!ctx.opts.dryRun && !(await confirm(ctx, `Delete ${going}?`))) {
      throw new RegctlError("nothing deleted: not confirmed");
    }
    // The probe first, so a registry that deletes nothing says so before the tags are read again.
    const changed = await recheckBeforeWrites(reg, [plan.writes], ctx.opts.concurrency);
    if (changed.length) throw changedSincePlan(changed);
    const { result, stopped } = await interruptible(ctx, () => executeDelete(reg, plan));
    const deleted = result.sent;
    if (deleted) forgetCompletions(plan.registry, plan.repository);
    const { writes: _w, index: _i, ...shown } = plan;
    // A dry run's JSON is the plan; the outcome comes only with a run that sent the DELETE.
    if (ctx.opts.json) printJson(ctx.opts.dryRun ? { ...shown, dryRun: true } : { ...shown, deleted, referrersDeleted: result.referrers, failed: result.failed, dryRun: false });
    else if (deleted) {
      out(`deleted ${name}@${plan.digest}`);
      for (const t of tags) out(`untagged ${name}:${t}`);
      for (const d of result.referrers) out(`deleted ${name}@${d} (${plan.referrers.find((r) => r.digest === d)?.kind}, a referrer of it)`);
      for (const line of garbageCollectNote()) ctx.log.note(line);
    } else {
      // The result on stdout, as untag's, prune's, tag's and copy's dry runs give theirs.
      out(`dry run: would delete ${going}${plan.referrers.length ? ":" : ""}`);
      for (const r of plan.referrers) out(`  ${r.digest}  ${r.kind}${r.tags.length ? `  ${r.tags.map(shortReferrerTag).join(", ")}` : ""}`);
      ctx.log.note(deletesUnknown(plan.registry));
    }
    const named = (what: string) => plan.referrers.find((r) => what.endsWith(`@${r.digest}`));
    for (const line of failureLines(result.failed.map((f) => ({ name: named(f.what)?.kind ?? f.what, error: f.error })))) ctx.log.note(line);
    if (stopped) throw interrupted("the delete under way was finished first");
    if (result.failed.length)
      throw new RegctlError(
        `${plural(result.failed.length, "referrer")} of ${abbrevDigest(plan.digest)} ${result.failed.length === 1 ? "was" : "were"} not deleted`,
        "the image is gone; run regctl prune REPO --dangling to remove what is left",
      );
  },
};

// ── the commands that log in, and that clean up (untag, prune, du) ──

const accountCommands = {
  async login(ctx: Context, target: string) {
    const { registry, scheme } = parseRegistry(target);
    const tty = process.stdin.isTTY && process.stderr.isTTY;
    let username = ctx.opts.username;
    let password = ctx.password;
    if (username === undefined || password === undefined) {
      if (!tty)
        throw new UsageError(
          "login needs -u USER and --password-stdin when there is no terminal to ask on",
          `echo "$PASSWORD" | regctl login ${registry} -u USER --password-stdin`,
        );
      username ??= (await ask("Username: ")).trim();
      password ??= await ask("Password: ", { secret: true });
    }
    if (!username) throw new UsageError("login needs a username", `regctl login ${registry} -u USER --password-stdin`);
    const typed =
      ctx.opts.username === undefined
        ? "the username and password typed at the prompt"
        : ctx.password === undefined
          ? "-u and the password typed at the prompt"
          : "-u and --password-stdin";
    // A registry that answers without a challenge needs no login: nothing to check, nothing to store.
    const open = await apiVersionCheck(registryFor(ctx, registry, scheme));
    if (open.status === 200) {
      ctx.log.note(`${registry} needs no login: it answers without credentials; nothing stored`);
      if (ctx.opts.json) printJson({ registry, username, storedIn: null, needsLogin: false });
      return;
    }
    // Check the credentials against the registry before storing them anywhere.
    const reg = new Registry(registry, ctx.transport.withCredentials(username, password, typed), scheme ?? (ctx.opts.plainHttp ? "http" : undefined));
    await apiVersionCheck(reg, { authenticate: true });
    if (ctx.opts.dryRun) return ctx.log.note(`dry run: credentials for ${registry} work; not stored`);
    const where = await storeCredential(registry, username, password);
    ctx.opts.json ? printJson({ registry, username, storedIn: where }) : out(`logged in to ${registry} as ${username} (stored in ${where})`);
  },

  async logout(ctx: Context, target: string) {
    const { registry } = parseRegistry(target);
    if (ctx.opts.dryRun) return ctx.log.note(`dry run: would remove the credentials for ${registry}`);
    const { removed, where } = await eraseCredential(registry);
    if (ctx.opts.json) return printJson({ registry, removed, from: where });
    out(removed ? `removed the credentials for ${registry} from ${where}` : `no credentials stored for ${registry} in ${where}`);
  },
};

/** Several regexes given for one option: a name matches when any of them does. */
const anyOf = (list: unknown): ((s: string) => boolean) | undefined => (Array.isArray(list) && list.length ? (s) => (list as RegExp[]).some((r) => r.test(s)) : undefined);

function prunePolicy(o: RawOptions): PrunePolicy {
  const policy: PrunePolicy = {
    keep: o.keep as number | undefined,
    match: o.match as RegExp[] | undefined,
    exclude: o.exclude as RegExp[] | undefined,
    olderThan: o.olderThan === undefined ? undefined : Date.now() - (o.olderThan as number),
    dangling: o.dangling === true,
  };
  if (policy.keep === undefined && policy.olderThan === undefined && !policy.match && !policy.dangling)
    throw new UsageError("prune needs a policy: --keep N, --older-than DURATION, --match REGEX or --dangling", "e.g. regctl prune HOST/REPO --keep 10 --dry-run");
  return policy;
}

/** A prune asked on a terminal plans again when the repository changed meanwhile, this many times in all. */
const MAX_PLAN_ROUNDS = 3;

const cleanupCommands = {
  async untag(ctx: Context, target: string) {
    const ref = targetArg(target, "repository");
    if (!ref.tag || ref.digest)
      throw new UsageError(
        ref.digest ? `"${target}" names a digest; untag takes a tag alone` : `"${target}" names no tag`,
        "untag takes REPO:TAG; to delete a digest with every tag on it, use regctl delete",
      );
    const reg = registryFor(ctx, ref.registry, ref.scheme);
    if (!ctx.opts.dryRun && !(await confirm(ctx, `Remove the tag ${formatReference(ref)} (the image stays)?`))) throw new RegctlError("nothing changed: not confirmed");
    // Ctrl-C waits for the step under way: a tag is never left on a throwaway manifest.
    const { result: r, stopped } = await interruptible(ctx, () => untag(reg, ref, ctx.opts.concurrency));
    forgetCompletions(ref.registry, ref.repository);
    const name = `${ref.registry}/${ref.repository}`;
    if (ctx.opts.json) printJson({ reference: formatReference(ref), ...r, dryRun: ctx.opts.dryRun });
    else {
      out(ctx.opts.dryRun ? `dry run: would untag ${name}:${r.tag} (on ${r.digest})` : `untagged ${name}:${r.tag} (was ${r.digest})`);
      const others = [...r.otherTags].sort(naturalCompare);
      if (others.length) ctx.log.note(`the image keeps its other ${others.length === 1 ? "tag" : "tags"}: ${few(others)}`);
      else ctx.log.note(`${ctx.opts.dryRun ? "it is" : "that was"} its last tag: the image stays, untagged; to remove it:\n  regctl delete ${name}@${r.digest}`);
      if (ctx.opts.dryRun) ctx.log.note(deletesUnknown(ref.registry));
    }
    if (stopped) throw interrupted("the untag under way was finished first");
  },

  async prune(ctx: Context, target: string, o: RawOptions) {
    const policy = prunePolicy(o);
    const pattern = anyOf(o.repo);
    let registry: string;
    let repos: string[];
    let reg: Registry;
    if (pattern) {
      const parsed = parseRegistry(target);
      registry = parsed.registry;
      reg = registryFor(ctx, registry, parsed.scheme);
      repos = (await catalog(reg)).filter(pattern);
    } else {
      const ref = repoOnly(target, { orRepoFlag: true });
      registry = ref.registry;
      reg = registryFor(ctx, registry, ref.scheme);
      repos = [ref.repository];
    }
    let plans: Awaited<ReturnType<typeof planPrune>>[] = [];
    // Every repository is read again before the first write of any. Asked on a terminal, a
    // repository that changed meanwhile is planned and asked again (MAX_PLAN_ROUNDS in all); with --yes it stops.
    for (let round = 1; ; round++) {
      plans = [];
      for (const repo of repos) plans.push(await planPrune(reg, repo, policy, ctx.opts.concurrency));
      if (!ctx.opts.json) for (const p of plans) printPrunePlan(p);
      const work = plans.reduce((n, p) => n + p.deletes.length + p.untags.length + p.referrerDeletes.length, 0);
      if (work === 0) return ctx.opts.json ? printJson(plans.map(({ images: _i, writes: _w, ...p }) => ({ ...p, dryRun: ctx.opts.dryRun }))) : out("nothing to prune");
      if (!ctx.opts.dryRun && !(await confirm(ctx, `Carry out this plan (${plural(work, "change")})?`))) throw new RegctlError("nothing changed: not confirmed");
      const changed = await recheckBeforeWrites(
        reg,
        plans.map((p) => p.writes),
        ctx.opts.concurrency,
      );
      if (!changed.length) break;
      const named = { repository: repos.length > 1 };
      if (ctx.opts.yes || round === MAX_PLAN_ROUNDS) throw changedSincePlan(changed, named);
      ctx.log.note(`${CHANGED_SINCE_PLAN}: ${describeConflicts(changed, named)}; planning again`);
    }
    const { result: outcomes, stopped } = await interruptible(ctx, async (stopped) => {
      const results: PruneOutcome[] = [];
      for (const p of plans) {
        results.push(await executePrune(reg, p, ctx.opts.concurrency, progressBar(showsProgress(ctx), p.repository, stopped), stopped));
        forgetCompletions(registry, p.repository);
      }
      return results;
    });
    // A dry run's JSON is the plan; an outcome comes only with the writes sent.
    if (ctx.opts.json) printJson(plans.map(({ images: _i, writes: _w, ...p }, i) => (ctx.opts.dryRun ? { ...p, dryRun: true } : { ...p, outcome: outcomes[i], dryRun: false })));
    else
      for (const [i, p] of plans.entries()) {
        const r = outcomes[i]!;
        if (ctx.opts.dryRun)
          out(`${registry}/${p.repository}: dry run: would delete ${plural(p.deletes.length + p.referrerDeletes.length, "manifest")}, untag ${plural(p.untags.length, "tag")}`);
        else
          out(
            `${registry}/${p.repository}: deleted ${plural(r.deleted.length, "manifest")}, untagged ${plural(r.untagged.length, "tag")}` +
              `${r.failed.length ? `, ${r.failed.length} failed` : ""}${r.notStarted.length ? `, ${r.notStarted.length} not started` : ""}`,
          );
        for (const line of unfinishedLines(p, r)) ctx.log.note(line);
      }
    if (ctx.opts.dryRun && !ctx.opts.json) ctx.log.note(deletesUnknown(registry));
    if (!ctx.opts.dryRun && !ctx.opts.json && outcomes.some((r) => r.deleted.length)) for (const line of garbageCollectNote()) ctx.log.note(line);
    const again = `run the same prune again to finish: regctl ${process.argv.slice(2).map(shQuote).join(" ")}`;
    const done = outcomes.reduce((n, r) => n + r.deleted.length + r.untagged.length, 0);
    const notStarted = outcomes.reduce((n, r) => n + r.notStarted.length, 0);
    if (stopped) throw interrupted(`the prune stopped before the end: ${done} done, ${notStarted} not started`, again);
    if (outcomes.some((r) => r.failed.length || r.notStarted.length)) throw new RegctlError("the prune did not finish", again);
  },

  async du(ctx: Context, target: string, o: RawOptions) {
    const pattern = anyOf(o.repo);
    // A registry is a host: a name with a dot or a port, localhost, or a URL; `du busybox` is a repository.
    if (looksLikeRegistry(target) || pattern) {
      const { registry, scheme } = parseRegistry(target);
      const usage = await registryUsage(registryFor(ctx, registry, scheme), pattern, ctx.opts.concurrency);
      return ctx.opts.json ? printJson(usage.repositories.map(({ blobs: _b, ...u }) => u)) : printRegistryUsage(usage);
    }
    const ref = repoOnly(target);
    const usage = await repoUsage(registryFor(ctx, ref.registry, ref.scheme), ref.repository, ctx.opts.concurrency);
    const { blobs: _b, ...rest } = usage;
    ctx.opts.json ? printJson(rest) : printUsage(usage);
  },
};

// ── the commands that write: tag and copy, and completion ──

/** The destination of a copy: a repository (REPO or REPO:TAG), or a registry alone (the source's repository name). */
function copyDestination(input: string, src: Target): Target {
  if (looksLikeRegistry(input)) {
    const { registry, scheme } = parseRegistry(input);
    return { registry, repository: src.repository, scheme };
  }
  const dst = targetArg(input, "repository");
  if (dst.digest) throw new UsageError(`"${input}" names a digest; a copy keeps the source's digest`, "give the destination as REPO or REPO:TAG");
  return dst;
}

/** Can running the same copy again get past this failure? The network, or a registry's 5xx or 429, yes. */
const rerunHelps = (err: unknown) => err instanceof NetworkError || (err instanceof RegistryError && (err.status >= 500 || err.status === 429));

/** An error of a copy, saying what it left: the tags it wrote, or none. */
function copyFailed(err: unknown, copier: Copier, destination: string): unknown {
  if (err instanceof RegctlError && !(err instanceof UsageError)) {
    const left = copier.tagged.length ? `tagged at the destination so far: ${few(copier.tagged)}` : `nothing was tagged at ${destination}`;
    err.hint = err.hint ? `${err.hint}; ${left}` : left;
  }
  return err;
}

/** What Ctrl-C does to a copy: a blob upload under way is given up at its next chunk. */
const COPY_INTERRUPTED =
  "interrupted: starting nothing new, no tag written from now on; a blob upload under way stops at its next chunk, unfinished (the registry purges such an upload)…";

/** The uploads an interrupt left unfinished, a line each. */
const abandonedLines = (copier: Copier) => copier.abandoned.map((d) => `the upload of ${abbrevDigest(d)} was left unfinished: it references nothing, and the registry purges it`);

/** A copy that was interrupted: what it left, in one line, and how to finish it. */
function copyInterrupted(ctx: Context, copier: Copier, destination: string): RegctlError {
  for (const line of abandonedLines(copier)) ctx.log.note(line);
  const tagged = copier.tagged.length ? `tagged at the destination: ${few(copier.tagged)}` : `nothing was tagged at ${destination}`;
  return interrupted(`the copy stopped before the end: ${tagged}; ${copyStatsLine(copier.stats)}`, copyAgain());
}

/** The hint after a copy that a rerun can finish. */
const copyAgain = () => `run the same copy again: it skips what is there already (regctl ${process.argv.slice(2).map(shQuote).join(" ")})`;

/** A tag written over another image's: the tag moved, that image stays. */
const movedFrom = (replaced: string | undefined, dryRun: boolean) =>
  replaced ? `; the tag ${dryRun ? "would move" : "moved"} from ${replaced} (that image keeps its other tags, if any)` : "";

/** What a copy moved, in one line. */
function copyStatsLine(s: CopyStats, dryRun = false): string {
  if (dryRun)
    return (
      `dry run: would write ${plural(s.manifests, "manifest")}, ${plural(s.present, "manifest")} already there; ` +
      `blobs: would upload ${s.blobsUploaded}, would mount ${s.blobsMounted}, ${s.blobsPresent} already there`
    );
  return (
    `${plural(s.manifests, "manifest")} written, ${plural(s.present, "manifest")} already there; blobs: ${s.blobsUploaded} uploaded (${humanSize(s.bytes)}), ` +
    `${s.blobsMounted} mounted, ${s.blobsPresent} already there`
  );
}

/**
 * tag's NEWTAG given as a whole reference (HOST/REPO:TAG): its tag, when it is REF's repository;
 * another repository is copy's work.
 */
function sameRepositoryTag(ref: Target, given: string): string {
  const notATag = () =>
    new UsageError(
      `"${given}" is not a tag`,
      given.includes("/") || given.includes(":")
        ? `tag names a tag of ${ref.registry}/${ref.repository}: NEWTAG or ${ref.registry}/${ref.repository}:NEWTAG`
        : "a tag is up to 128 letters, digits, _ . and -, not starting with . or -",
    );
  let named: Target;
  try {
    named = targetArg(given, "image");
  } catch {
    throw notATag();
  }
  if (named.digest || !named.tag) throw notATag();
  if (named.registry !== ref.registry || named.repository !== ref.repository)
    throw new UsageError(
      `${named.registry}/${named.repository} is another repository than ${ref.registry}/${ref.repository}`,
      `tag adds a tag within REF's repository; to another repository: regctl copy ${formatReference(ref)} ${given}`,
    );
  return named.tag;
}

const copyCommands = {
  async tag(ctx: Context, target: string, _o: RawOptions, given: string) {
    const ref = targetArg(target, "image");
    const newTag = TAG.test(given) ? given : sameRepositoryTag(ref, given);
    const reg = registryFor(ctx, ref.registry, ref.scheme);
    const r = await tagImage(reg, ref, newTag);
    if (r.sent) forgetCompletions(ref.registry, ref.repository);
    const tagged = `${ref.registry}/${ref.repository}:${newTag}`;
    if (ctx.opts.json)
      return printJson({
        reference: formatReference(ref),
        tag: tagged,
        digest: r.digest,
        mediaType: r.mediaType,
        replaced: r.replaced,
        already: r.already,
        dryRun: ctx.opts.dryRun,
      });
    if (r.already) return out(`${tagged} is ${r.digest} already: nothing to tag`);
    out(`${ctx.opts.dryRun ? "dry run: would tag" : "tagged"} ${tagged} (${r.digest}, as ${formatReference(ref)})${movedFrom(r.replaced, ctx.opts.dryRun)}`);
  },

  async copy(ctx: Context, source: string, o: RawOptions, destination: string) {
    const allTags = o.allTags === true;
    const platform = o.platform as string | undefined;
    if (platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(platform))
      throw new UsageError(`invalid --platform "${platform}": not os/arch or os/arch/variant`, "e.g. --platform linux/arm64 or linux/arm/v7");
    const src = allTags ? repoOnly(source) : targetArg(source, "image");
    const dst = copyDestination(destination, src);
    if (allTags && dst.tag)
      throw new UsageError(`--all-tags copies every tag under its own name; "${destination}" names a tag`, `give a repository: ${dst.registry}/${dst.repository}`);
    // One registry when the hosts are equal and the schemes do not differ (a scheme written on one side holds for both).
    const same = dst.registry === src.registry && (dst.scheme === src.scheme || !dst.scheme || !src.scheme);
    const srcReg = registryFor(ctx, src.registry, src.scheme ?? (same ? dst.scheme : undefined));
    const dstReg = same ? srcReg : registryFor(ctx, dst.registry, dst.scheme);
    const dstTag = dst.tag ?? src.tag;
    // The same reference whatever prefix names it (http://, https://, docker://): nothing to copy.
    if (dst.registry === src.registry && dst.repository === src.repository && (allTags || dstTag === src.tag))
      throw new UsageError("the source and the destination are the same", "name another repository, tag or registry as the destination; regctl tag REF NEWTAG adds a tag");
    // Set once the writes start: a signal from then on stops the copy at its next write.
    let stopped = () => false;
    const progress = byteProgress(showsProgress(ctx), "copying", () => stopped());
    const copier = new Copier(
      { reg: srcReg, repo: src.repository },
      { reg: dstReg, repo: dst.repository },
      {
        concurrency: ctx.opts.concurrency,
        platform,
        referrers: o.referrers === true,
        progress: progress.update,
        note: (line) => {
          clearProgress();
          ctx.log.note(line);
        },
        stopped: () => stopped(),
      },
    );
    const to = `${dst.registry}/${dst.repository}`;
    if (!allTags) {
      const { result, stopped: wasStopped } = await interruptible(
        ctx,
        async (halted) => {
          stopped = halted;
          try {
            return await copier.copy(tagOrDigest(src), dstTag);
          } catch (err) {
            if (!halted()) throw copyFailed(err, copier, to);
            // What was in flight ends first, so the summary says what is there.
            await copier.settled();
            if (!(err instanceof CopyStopped) && err instanceof Error) ctx.log.note(`regctl: ${err.message}`);
            return undefined;
          }
        },
        COPY_INTERRUPTED,
      );
      progress.end();
      forgetCompletions(dst.registry, dst.repository);
      if (!result) throw copyInterrupted(ctx, copier, to);
      if (ctx.opts.json) return printJson({ ...result, ...copier.stats, dryRun: ctx.opts.dryRun });
      const verb = ctx.opts.dryRun ? "dry run: would copy" : "copied";
      out(
        result.copied
          ? `${verb} ${result.source} to ${result.destination} (${result.digest})${movedFrom(result.replaced, ctx.opts.dryRun)}`
          : `${result.destination} is ${result.digest} already: nothing to copy`,
      );
      if (result.referrers) ctx.log.note(`and ${plural(result.referrers, "referrer")} (signatures, SBOMs, attestations)`);
      if (!dstTag)
        ctx.log.note(
          `no tag ${ctx.opts.dryRun ? "would point" : "points"} at it in ${to}: untagged, it is not in \`regctl tags\`, and garbage-collect --delete-untagged removes it; ` +
            `to tag it, give DST as ${to}:TAG`,
        );
      ctx.log.note(copyStatsLine(copier.stats, ctx.opts.dryRun));
      if (wasStopped) throw interrupted("the copy under way was finished first");
      return;
    }
    // Every tag: images first, then the tags named after a digest (signatures, referrer indexes).
    const listed = (await tagList(srcReg, src.repository)).sort(naturalCompare);
    const tags = [...listed.filter((t) => !ReferrerIndex.isReferrerTag(t)), ...listed.filter((t) => ReferrerIndex.isReferrerTag(t))];
    if (!tags.length) return ctx.opts.json ? printJson([]) : out(`${src.registry}/${src.repository} has no tags: nothing to copy`);
    const plan = await planCopyTags({ reg: srcReg, repo: src.repository }, { reg: dstReg, repo: dst.repository }, tags, { concurrency: ctx.opts.concurrency, platform });
    const planned = new Map(plan.map((p) => [p.tag, p]));
    const toCopy = plan.filter((p) => p.there !== p.digest).length;
    const moving = plan.filter((p) => p.there !== undefined && p.there !== p.digest).length;
    const moves = moving ? ` (${moving} moving from another image)` : "";
    if (!ctx.opts.json) {
      out(columns([["TAG", "DIGEST", "ACTION"], ...plan.map((p) => [p.tag, p.digest ? shortDigest(p.digest) : "(gone)", copyTagAction(p)])]));
      out(`plan: copy ${plural(tags.length, "tag")} of ${src.registry}/${src.repository} to ${to}: ${toCopy} to copy${moves}, ${plan.length - toCopy} there already`);
    }
    if (!ctx.opts.dryRun && toCopy && !(await confirm(ctx, `Copy ${plural(toCopy, "tag")} to ${to}${moves}?`, "refusing to copy every tag without confirmation")))
      throw new RegctlError("nothing copied: not confirmed");
    type Row = { tag: string; result?: CopiedImage; error?: string; hint?: string; rerun?: boolean };
    const { result: rows, stopped: wasStopped } = await interruptible(
      ctx,
      async (halted) => {
        stopped = halted;
        const rows = await mapLimit(tags, ctx.opts.concurrency, async (tag): Promise<Row> => {
          if (halted()) return { tag };
          try {
            return { tag, result: await copier.copy(tag, tag, planned.get(tag)) };
          } catch (err) {
            if (err instanceof CopyStopped) return { tag };
            if (!(err instanceof RegctlError)) throw err;
            return { tag, error: err.message, hint: err.hint, rerun: rerunHelps(err) };
          }
        });
        await copier.settled();
        return rows;
      },
      COPY_INTERRUPTED,
    );
    progress.end();
    forgetCompletions(dst.registry, dst.repository);
    const copied = rows.filter((r) => r.result?.copied).length;
    const present = rows.filter((r) => r.result && !r.result.copied).length;
    const failed = rows.filter((r) => r.error) as { tag: string; error: string; hint?: string; rerun?: boolean }[];
    const notStarted = rows.filter((r) => !r.result && !r.error).map((r) => r.tag);
    if (ctx.opts.json) printJson(rows.map((r) => ({ tag: r.tag, ...(r.result ?? {}), ...(r.error ? { error: r.error } : {}), dryRun: ctx.opts.dryRun })));
    else out(`${to}: ${ctx.opts.dryRun ? "dry run: would copy" : "copied"} ${plural(copied, "tag")}, ${present} already there${failed.length ? `, ${failed.length} failed` : ""}`);
    const moved = rows.filter((r) => r.result?.replaced);
    if (moved.length)
      ctx.log.note(
        `${ctx.opts.dryRun ? "would move" : "moved"} from another image (${moved.length}; those images keep their other tags, if any): ${few(moved.map((r) => `${r.tag} from ${abbrevDigest(r.result!.replaced!)}`))}`,
      );
    for (const line of failureLines(failed.map((f) => ({ name: f.tag, error: f.error })))) ctx.log.note(line);
    if (notStarted.length) ctx.log.note(`not copied (${notStarted.length}): ${few(notStarted)}`);
    for (const line of abandonedLines(copier)) ctx.log.note(line);
    ctx.log.note(copyStatsLine(copier.stats, ctx.opts.dryRun));
    const again = copyAgain();
    if (wasStopped) throw interrupted(`the copy stopped before the end: ${copied} copied, ${notStarted.length} not copied`, again);
    // The rerun hint only where a rerun can get past the failure; else the failure's own hint.
    if (failed.length) throw new RegctlError(`${plural(failed.length, "tag")} not copied`, failed.some((f) => f.rerun) ? again : failed.find((f) => f.hint)?.hint);
  },
};

const completionCommand = {
  async completion(ctx: Context, action: string, o: RawOptions) {
    const pick = (name: unknown): Shell => {
      const shell = String(name ?? basename(process.env.SHELL ?? ""));
      if (!SHELLS.includes(shell as Shell)) throw new UsageError(`no completion for shell "${shell || "(unknown)"}"`, "name one with --shell bash, zsh or fish");
      return shell as Shell;
    };
    if (action === "install" || action === "uninstall") {
      const shell = pick(o.shell);
      if (ctx.opts.dryRun) return ctx.log.note(`dry run: would ${action} ${completionFiles(shell)}`);
      const done = action === "install" ? installCompletion(shell) : uninstallCompletion(shell);
      return out(done.join("\n"));
    }
    if (!action) throw new UsageError("completion needs a shell or an action", "regctl completion bash|zsh|fish, or regctl completion install [--shell S]");
    process.stdout.write(completionScript(pick(action)));
  },
};

// ── the command table: cac's --help, the parser, dispatch and completion all read it ──

/** What a command's argument names, and so what a TAB offers for it. */
type ArgKind = "registry" | "repo" | "ref" | "target" | "choice";

interface CommandSpec {
  name: string;
  /** a `choice` argument is one of `choices`; none for a command that takes no argument */
  arg?: { name: string; kind: ArgKind; optional?: boolean; choices?: readonly string[] };
  /** a second argument, always required (copy SRC DST, tag REF NEWTAG) */
  arg2?: { name: string; kind: ArgKind };
  description: string;
  /** the options every command may take that this one uses (GLOBAL_OPTIONS' names) */
  globals: readonly string[];
  /** its own options */
  options?: OptionSpec[];
  examples: string[];
  run: (ctx: Context, arg: string, o: RawOptions, arg2: string) => Promise<void>;
}

export const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: "curl", kind: "flag", description: "Print each request as a curl command on stderr (stderr becomes a sh script)" },
  { name: "dry-run", kind: "flag", description: "Perform the reads, print the plan; send no write" },
  { name: "json", kind: "flag", description: "Print results as JSON" },
  { name: "yes", short: "y", kind: "flag", description: "Confirm deletes without asking (required without a terminal)" },
  { name: "concurrency", kind: "count", placeholder: "n", min: 1, max: 64, default: "8", example: "8", description: "Requests in flight at once, 1 to 64" },
  { name: "plain-http", kind: "flag", description: "Use http:// (the default is https://, and plain http only for a loopback registry without TLS)" },
  { name: "insecure", kind: "flag", description: "Skip TLS certificate verification (says so on stderr)" },
  {
    name: "cacert",
    kind: "file",
    placeholder: "file",
    example: "ca.crt",
    description: "Trust this CA certificate (PEM) too; may be repeated. /etc/docker/certs.d/HOST/ and ~/.docker/certs.d/HOST/ are read as docker does",
  },
  {
    name: "username",
    short: "u",
    kind: "value",
    placeholder: "user",
    example: "alice",
    description: "Username for the registry (else REGCTL_USERNAME, docker's config.json and helpers, podman's auth.json)",
  },
  { name: "password-stdin", kind: "flag", description: "Read the password (or a token) from stdin, with --username" },
  {
    name: "retries",
    kind: "count",
    placeholder: "n",
    min: 0,
    max: 20,
    default: "5",
    example: "0",
    description: "Send a request again up to N times when the registry is busy or the connection drops, all within --timeout",
  },
  {
    name: "timeout",
    kind: "duration",
    placeholder: "duration",
    min: 1,
    default: "30s",
    example: "10s",
    description: "How long one request may take, its retries included (a blob copied: each wait for its next bytes), with a unit: 10s, 2m",
  },
  { name: "verbose", short: "v", kind: "flag", description: "Print every request and response header on stderr (credentials redacted)" },
];

/** The options of every command that talks to a registry: how to reach it, and what to show. */
const NET = ["curl", "verbose", "timeout", "retries", "plain-http", "insecure", "cacert", "username", "password-stdin"];
const WRITES = [...NET, "json", "dry-run", "yes", "concurrency"];

/** ` <ref>`, ` [action]`, or nothing: a command's argument as usage lines show it. */
const argUsage = (c: CommandSpec) => (!c.arg ? "" : c.arg.optional ? ` [${c.arg.name}]` : ` <${c.arg.name}>`) + (c.arg2 ? ` <${c.arg2.name}>` : "");

/** The options a command takes: its own, and the shared ones it uses. */
export function optionsOf(c: CommandSpec): OptionSpec[] {
  return [...(c.options ?? []), ...GLOBAL_OPTIONS.filter((o) => c.globals.includes(o.name))];
}

const PAGE_SIZE: OptionSpec = {
  name: "page-size",
  kind: "count",
  placeholder: "n",
  min: 1,
  max: 10000,
  example: "1000",
  description: "Ask for N entries a page (the registry's default otherwise; distribution allows up to 1000)",
};
const REPO_PATTERN = (what: string): OptionSpec => ({ name: "repo", kind: "regex", placeholder: "regex", example: "'^ci/'", description: `${what}; may be repeated: any of them` });

export const COMMANDS: CommandSpec[] = [
  {
    name: "ping",
    arg: { name: "registry", kind: "registry" },
    globals: [...NET, "json"],
    description: "Is it a v2 registry, which auth scheme, are deletes enabled",
    examples: ["regctl ping localhost:5000"],
    run: commands.ping,
  },
  {
    name: "repos",
    arg: { name: "registry", kind: "registry" },
    globals: [...NET, "json"],
    description: "List every repository (the whole catalog, following Link pages)",
    options: [PAGE_SIZE],
    examples: ["regctl repos localhost:5000"],
    run: commands.repos,
  },
  {
    name: "tags",
    arg: { name: "repo", kind: "repo" },
    globals: [...NET, "json", "concurrency"],
    description: "List every tag of a repository",
    options: [
      { name: "digests", kind: "flag", description: "Print TAG<TAB>DIGEST, resolving digests concurrently" },
      { name: "all", kind: "flag", description: "Also the tags named after a digest (cosign signatures, referrer indexes), listed last" },
      PAGE_SIZE,
    ],
    examples: ["regctl tags localhost:5000/busybox --digests"],
    run: commands.tags,
  },
  {
    name: "digest",
    arg: { name: "ref", kind: "ref" },
    globals: [...NET, "json"],
    description: "Print the digest the registry stores for REF (the one DELETE accepts)",
    examples: ["regctl digest localhost:5000/busybox:latest"],
    run: commands.digest,
  },
  {
    name: "manifest",
    arg: { name: "ref", kind: "ref" },
    globals: NET,
    description: "Print the manifest (pretty JSON, or the exact bytes with --raw)",
    options: [{ name: "raw", kind: "flag", description: "Print the exact bytes the registry stores" }],
    examples: ["regctl manifest localhost:5000/busybox:latest --raw | sha256sum"],
    run: commands.manifest,
  },
  {
    name: "inspect",
    arg: { name: "ref", kind: "ref" },
    globals: [...NET, "json", "concurrency"],
    description: "Media type, digest, size; platforms of a list; config, created and layers of an image; its referrers",
    examples: ["regctl inspect localhost:5000/busybox:latest"],
    run: commands.inspect,
  },
  {
    name: "referrers",
    arg: { name: "ref", kind: "ref" },
    globals: [...NET, "json", "concurrency"],
    description: "What refers to an image: signatures, SBOMs, attestations (the referrers API, else the fallback tag; cosign's tags)",
    options: [{ name: "artifact-type", kind: "value", placeholder: "type", example: "application/spdx+json", description: "Only referrers of this artifactType" }],
    examples: ["regctl referrers localhost:5000/app:v1", "regctl referrers localhost:5000/app:v1 --artifact-type application/spdx+json"],
    run: commands.referrers,
  },
  {
    name: "delete",
    arg: { name: "ref", kind: "ref" },
    globals: WRITES,
    options: [{ name: "keep-referrers", kind: "flag", description: "Leave its signatures, SBOMs and attestations (by default they go, after the image)" }],
    description: "Delete an image by tag or digest: every tag on that digest goes with it",
    examples: ["regctl delete localhost:5000/app:v1 --dry-run --curl 2>plan.sh && sh plan.sh"],
    run: commands.delete,
  },
  {
    name: "login",
    arg: { name: "registry", kind: "registry" },
    globals: [...NET, "json", "dry-run"],
    description: "Check credentials against the registry, then store them as docker does (helper, else config.json 0600)",
    examples: ['echo "$PASSWORD" | regctl login reg.example.com -u alice --password-stdin'],
    run: accountCommands.login,
  },
  {
    name: "logout",
    arg: { name: "registry", kind: "registry" },
    globals: ["json", "dry-run"],
    description: "Remove the stored credentials for a registry",
    examples: ["regctl logout registry.example.com"],
    run: accountCommands.logout,
  },
  {
    name: "untag",
    arg: { name: "ref", kind: "ref" },
    globals: WRITES,
    description: "Remove one tag; the image and its other tags stay",
    examples: ["regctl untag localhost:5000/busybox:latest"],
    run: cleanupCommands.untag,
  },
  {
    name: "prune",
    arg: { name: "target", kind: "target" },
    globals: WRITES,
    description: "Delete tags by a retention policy: plan first (a table), then carry it out",
    options: [
      { name: "keep", kind: "count", placeholder: "n", example: "10", description: "Keep the N newest matching tags, by image creation time" },
      { name: "match", kind: "regex", placeholder: "regex", example: "'^pr-'", description: "Only tags matching this; may be repeated: any of them" },
      { name: "exclude", kind: "regex", placeholder: "regex", example: "'^v[0-9]'", description: "Never tags matching this; may be repeated: any of them" },
      { name: "older-than", kind: "duration", placeholder: "duration", example: "30d", description: "Only images created longer ago than this, with a unit: 30d, 12h, 2w" },
      { name: "dangling", kind: "flag", description: "Also delete referrer tags (signatures, fallback indexes) whose image is gone already" },
      REPO_PATTERN("TARGET is a registry: prune every repository matching this"),
    ],
    examples: ["regctl prune localhost:5000/app --keep 10 --dry-run", "regctl prune localhost:5000 --repo '^ci/' --older-than 30d --yes"],
    run: cleanupCommands.prune,
  },
  {
    name: "du",
    arg: { name: "target", kind: "target" },
    globals: [...NET, "json", "concurrency"],
    description: "Storage by repository (REGISTRY) or by tag (REPO): sizes, what is shared, what a delete frees",
    options: [REPO_PATTERN("With a registry: only repositories matching this")],
    examples: ["regctl du localhost:5000", "regctl du localhost:5000/busybox"],
    run: cleanupCommands.du,
  },
  {
    name: "tag",
    arg: { name: "ref", kind: "ref" },
    arg2: { name: "newtag", kind: "choice" },
    globals: [...NET, "json", "dry-run"],
    description: "Put another tag on the same manifest: its stored bytes PUT under NEWTAG with their own media type, so the digest never changes",
    examples: ["regctl tag localhost:5000/app:v1.2.3 stable", "regctl tag localhost:5000/app:v1.2.3 stable --dry-run --curl"],
    run: copyCommands.tag,
  },
  {
    name: "copy",
    arg: { name: "src", kind: "ref" },
    arg2: { name: "dst", kind: "ref" },
    globals: WRITES,
    description:
      "Copy an image, a manifest list or an OCI index to another repository or registry, digests kept: blobs first (mounted within a registry, " +
      "uploaded in chunks across), then platform manifests, the tag last; a rerun skips what is there. DST is REPO, REPO:TAG or a registry alone",
    options: [
      { name: "all-tags", kind: "flag", description: "Copy every tag of the SRC repository (prints the plan and asks, as prune does)" },
      {
        name: "platform",
        kind: "value",
        placeholder: "os/arch",
        example: "linux/arm64",
        description: "Of a list or index, copy this platform's image alone (the tag points at it)",
      },
      { name: "referrers", kind: "flag", description: "Also copy what refers to each image: signatures, SBOMs, attestations" },
    ],
    examples: [
      "regctl copy localhost:5000/app:v1 registry.example.com/mirror/app:v1",
      "regctl copy localhost:5000/app localhost:5001 --all-tags --yes",
      "regctl copy localhost:5000/app:v1 localhost:5001 --dry-run --curl 2>copy.sh",
    ],
    run: copyCommands.copy,
  },
  {
    name: "completion",
    arg: { name: "action", kind: "choice", optional: true, choices: [...SHELLS, "install", "uninstall"] },
    globals: ["dry-run"],
    description: "Print the bash, zsh or fish completion script, or install/uninstall it for your shell",
    options: [{ name: "shell", kind: "choice", placeholder: "shell", choices: SHELLS, description: "bash, zsh or fish (default: from $SHELL)" }],
    examples: ["regctl completion install        # then open a new shell", "source <(regctl completion bash)"],
    run: completionCommand.completion,
  },
  {
    name: "help",
    arg: { name: "command", kind: "choice", optional: true },
    globals: [],
    description: "Show the help of regctl, of a command, or of gc (how the disk comes back)",
    examples: ["regctl help prune"],
    // Topics beside the commands: gc, how the disk comes back.
    run: async (_ctx, name) => (name === "gc" ? out(garbageCollectHelp()) : printHelp(name ? commandNamed(name) : undefined)),
  },
  {
    name: "version",
    globals: ["json"],
    description: "Print the version of regctl and of the runtime it runs on",
    examples: ["regctl version"],
    run: async (ctx) => printVersion(ctx.opts.json),
  },
];

// `regctl help <TAB>` offers the commands.
for (const c of COMMANDS) if (c.name === "help" && c.arg) c.arg = { ...c.arg, choices: [...COMMANDS.map((x) => x.name), "gc"] };

/** What completion needs of the table: names, descriptions, which options take a value, argument kinds. */
export function completionSpec(): CompletionSpec {
  const options = (list: OptionSpec[]) =>
    list.map((o) => ({
      names: [o.name, ...(o.short ? [o.short] : [])],
      description: o.description,
      takesValue: o.kind !== "flag",
      kind: o.kind,
      choices: o.choices,
    }));
  return {
    commands: COMMANDS.map((c) => ({ name: c.name, description: c.description, arg: c.arg?.kind, argChoices: c.arg?.choices, arg2: c.arg2?.kind, options: options(optionsOf(c)) })),
    global: options(GLOBAL_OPTIONS),
  };
}

// ── help, version and main ──

const GLOBAL_HELP = `Exit codes: 0 success, 1 the operation failed, 2 bad usage or input (nothing was changed), 130 interrupted, 141 the output was closed (| head): writes under way were finished first.
Environment: REGCTL_CURL=1 prints the curl transcript for every command.
With --curl, stderr is itself a script:
  regctl delete REF --dry-run --curl 2>plan.sh && sh plan.sh`;

/** Help is read in a terminal of 80 columns. */
const HELP_WIDTH = 80;

/**
 * Lines within `width`: a row of a table (`  --name <x>   what it does`) wraps under its
 * description, other text under its own indent; no trailing blanks.
 */
export function wrapHelp(text: string, width = HELP_WIDTH): string {
  const wrap = (words: string[], first: string, indent: string) => {
    const lines: string[] = [];
    let line = first;
    let fresh = true; // nothing of `words` on this line yet
    for (const w of words) {
      if (!fresh && line.length + 1 + w.length > width) {
        lines.push(line.trimEnd());
        line = indent + w;
      } else line += fresh ? w : ` ${w}`;
      fresh = false;
    }
    lines.push(line.trimEnd());
    return lines.join("\n");
  };
  return text
    .split("\n")
    .map((raw) => {
      const line = raw.trimEnd();
      if (line.length <= width) return line;
      const row = /^(\s+\S.*?\s{2,})(\S.*)$/.exec(line);
      if (row && row[1]!.length < width / 2) return wrap(row[2]!.split(" "), row[1]!, " ".repeat(row[1]!.length));
      const indent = /^\s*/.exec(line)![0];
      return wrap(line.trim().split(" "), indent, indent);
    })
    .join("\n");
}

/**
 * cac renders --help from the table: for regctl, the commands and the shared options; for a
 * command, the options it takes and nothing else.
 */
async function buildCli(only?: CommandSpec): Promise<ReturnType<typeof Cac>> {
  const { cac } = await npmModule("cac", () => import("cac"));
  const cli = cac("regctl");
  const usage = (o: OptionSpec) => `${o.short ? `-${o.short}, ` : ""}--${o.name}${o.placeholder ? ` <${o.placeholder}>` : ""}`;
  const option = (add: (raw: string, description: string, config?: { default?: unknown }) => unknown, o: OptionSpec) =>
    add(usage(o), o.description, o.default === undefined ? undefined : { default: o.default });
  if (!only) {
    for (const o of GLOBAL_OPTIONS) option(cli.option.bind(cli), o);
    cli.option("--version", "Print the version");
  }
  for (const c of only ? [only] : COMMANDS) {
    const command = cli.command(`${c.name}${argUsage(c)}`, c.description);
    // A command's help describes its own options; the shared ones are named in one line.
    for (const o of only ? (c.options ?? []) : optionsOf(c)) option(command.option.bind(command), o);
    for (const e of c.examples) command.example(`  $ ${e}`);
  }
  cli.help((sections) => {
    // cac's list of "run any command with --help" repeats every command: one line says it.
    const kept = sections.filter((x) => !x.title?.startsWith("For more info"));
    if (only) {
      // cac prints a command's usage but not its description: put it under the usage line.
      kept.splice(2, 0, { body: only.description });
      const shared = GLOBAL_OPTIONS.filter((o) => only.globals.includes(o.name)).map((o) => (o.short ? `-${o.short}/--${o.name}` : `--${o.name}`));
      if (shared.length) kept.push({ title: "Shared options (regctl --help describes them)", body: `  ${shared.join(", ")}` });
    } else kept.push({ body: "regctl help COMMAND (or regctl COMMAND --help) shows a command's options and examples." });
    kept.push({ body: GLOBAL_HELP });
    return kept.map((x) => ({ ...x, body: wrapHelp(x.body) }));
  });
  cli.globalCommand.versionNumber = VERSION;
  return cli;
}

/** --help of a command, or of regctl. */
async function printHelp(command?: CommandSpec): Promise<void> {
  const cli = await buildCli(command);
  // cac prints its help with console.info, which drops a write error: the text is taken from it
  // and written here, so a full disk fails and a closed pipe is 141.
  let text = "";
  const info = console.info;
  console.info = (...parts: unknown[]) => {
    text += `${parts.join(" ")}\n`;
  };
  try {
    (command ? cli.commands[0]! : cli.globalCommand).outputHelp();
  } finally {
    console.info = info;
  }
  writeNow(text);
}

function printVersion(json = false): void {
  // The runtime itself, not the Node version it claims.
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  const runtime = deno ? `deno ${deno.version.deno}` : `bun ${process.versions.bun}`;
  const text = json ? jsonText({ version: VERSION, runtime, platform: buildTarget() }) : `regctl ${VERSION} (${runtime}, ${buildTarget()})`;
  writeNow(`${text}\n`);
}

/** The command of that name, or a usage error with the nearest one. */
function commandNamed(name: string): CommandSpec {
  const found = COMMANDS.find((c) => c.name === name);
  if (found) return found;
  throw unknownCommand(
    name,
    COMMANDS.map((c) => c.name),
  );
}

export async function main(argv: string[] = process.argv): Promise<number> {
  let log: Log = makeLog({ curl: false, verbose: false });
  if (argv[2] === "__complete") {
    // A TAB: candidates only, never an error; stdout is all the shell reads.
    const answer = await answerCompletion(argv[3] ?? "bash", completionSpec()).catch(() => "");
    try {
      writeNow(answer ? `${answer}\n` : "");
    } catch {
      process.exit(Exit.OUTPUT_CLOSED);
    }
    // Requests still under way past the deadline must not keep the shell waiting; exiting also
    // stops any credential helper still running (see credentialHelper).
    process.exit(Exit.OK);
  }
  try {
    const line = parseCommandLine(argv.slice(2));
    // --help and --version answer and do nothing else, whatever else the line says.
    if (line.help) {
      await printHelp(line.command);
      return Exit.OK;
    }
    if (line.version) {
      printVersion();
      return Exit.OK;
    }
    watchOutput(() => log);
    const command = line.command;
    if (!command) {
      await printHelp();
      return Exit.USAGE;
    }
    fullSpeed();
    const ctx = await context(line.options, command.name);
    log = ctx.log;
    const stop = () => {
      if (writesUnderWay) return;
      ctx.log.note(`regctl: interrupted${command.name === "prune" && !ctx.opts.dryRun ? " while planning: nothing was changed" : ""}`);
      process.exit(Exit.INTERRUPTED);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    await command.run(ctx, line.args[0] ?? "", line.options, line.args[1] ?? "");
    for (const host of ctx.used) rememberRegistry(host);
    return Exit.OK;
  } catch (err) {
    return report(err, log);
  }
}

/** One line of error, a hint, an exit code; never a stack trace. */
function report(err: unknown, log: Log): number {
  if (err instanceof RegctlError) {
    log.note(`${errorPrefix()} ${err.message}`);
    if (err.hint) log.note(`hint: ${err.hint}`);
    return err.exitCode;
  }
  log.note(`${errorPrefix()} unexpected error: ${(err as Error)?.message ?? String(err)}`);
  log.note("hint: this is a bug in regctl; run again with --verbose and report it");
  return Exit.FAILED;
}

// No top-level await: `bun build --compile --bytecode` refuses it, and bytecode halves start-up.
if (import.meta.main) void main().then((code) => (process.exitCode = code));
