// What the test files (and the bench) share, one of each: the subprocess runner, the sha256
// digest, a CA of the tests' own and the certificates it signs (openssl), and small HTTP servers
// on 127.0.0.1. Modules with a concept of their own stay where they are and build on these:
// test/cli.ts runs regctl (and scans its outputs for secrets), test/registry.ts the real
// registry, test/tokenserver.ts its token server, test/terminal.ts tmux, test/seed.ts pushes images.
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";

// ───────────── subprocesses ─────────────

export type Env = Record<string, string>;

export interface ExecOptions {
  /** Working directory; default the test process's. */
  cwd?: string;
  /** The child's whole environment; default the test process's. */
  env?: Env;
  /** Bytes for its standard input; default none. */
  stdin?: string | Uint8Array;
  /** SIGKILL after this long; default no limit. */
  timeoutMs?: number;
  /** Throw on a non-zero exit, with the command, its status, stderr and stdout. */
  check?: boolean;
}

export interface ExecResult {
  code: number;
  /** The signal that ended it (SIGKILL at timeoutMs), when one did. */
  signal?: string;
  stdout: string;
  stderr: string;
  /** Wall time from the spawn to the end of both outputs. */
  ms: number;
}

const stdinOf = (s: string | Uint8Array | undefined) => (s === undefined ? "ignore" : typeof s === "string" ? new TextEncoder().encode(s) : s);

function finish(cmd: string[], opts: ExecOptions, r: ExecResult): ExecResult {
  if (opts.check && r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.signal ?? r.code}: ${r.stderr}${r.stdout}`);
  return r;
}

/** Run a command to its end: its status, both outputs as text, and how long it took. */
export async function exec(cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: stdinOf(opts.stdin), stdout: "pipe", stderr: "pipe" });
  const timer = opts.timeoutMs ? setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs) : undefined;
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return finish(cmd, opts, { code, ...(p.signalCode ? { signal: String(p.signalCode) } : {}), stdout, stderr, ms: performance.now() - t0 });
  } finally {
    clearTimeout(timer);
  }
}

/** The same, blocking (for tmux calls made inside synchronous polls). */
export function execSync(cmd: string[], opts: ExecOptions = {}): ExecResult {
  const t0 = performance.now();
  const p = Bun.spawnSync(cmd, {
    cwd: opts.cwd,
    env: opts.env,
    stdin: stdinOf(opts.stdin),
    stdout: "pipe",
    stderr: "pipe",
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: "SIGKILL" } : {}),
  });
  return finish(cmd, opts, {
    code: p.exitCode ?? 128,
    ...(p.signalCode ? { signal: String(p.signalCode) } : {}),
    stdout: p.stdout.toString(),
    stderr: p.stderr.toString(),
    ms: performance.now() - t0,
  });
}

// ───────────── digests ─────────────

/** The digest of some bytes (a string as its UTF-8), as registries write it: `sha256:HEX`. */
export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

// ───────────── a CA of the tests' own ─────────────

/** A certificate and its key: paths of PEM files. */
export type CertFiles = { cert: string; key: string };

export type TestCA = CertFiles & {
  dir: string;
  /** A certificate the CA signs, in DIR/NAME.crt and DIR/NAME.key: a subject and -addext values. */
  sign(name: string, subject: string, extensions?: string[]): Promise<CertFiles>;
  /** A server certificate for 127.0.0.1 and localhost. */
  server(name?: string): Promise<CertFiles>;
  /** A client certificate, for a server that asks for one (mutual TLS). */
  client(name?: string): Promise<CertFiles>;
};

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"];
const openssl = (args: string[], dir: string) => exec(["openssl", ...args], { cwd: dir, timeoutMs: 30_000, check: true });

/** A self-signed CA in `dir` (ca.crt, ca.key); EC P-256 keys are fast to make. */
export async function makeCA(dir: string, name = "regctl test CA"): Promise<TestCA> {
  await openssl(
    [
      "req",
      "-x509",
      ...EC,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  const sign = async (leaf: string, subject: string, extensions: string[] = []): Promise<CertFiles> => {
    // OpenSSL 3 `req -x509 -CA` signs the new cert with our CA in one step.
    await openssl(
      [
        "req",
        "-x509",
        ...EC,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-keyout",
        `${leaf}.key`,
        "-out",
        `${leaf}.crt`,
        "-subj",
        subject,
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        ...extensions.flatMap((e) => ["-addext", e]),
      ],
      dir,
    );
    return { cert: join(dir, `${leaf}.crt`), key: join(dir, `${leaf}.key`) };
  };
  return {
    dir,
    cert: join(dir, "ca.crt"),
    key: join(dir, "ca.key"),
    sign,
    server: (leaf = "server") => sign(leaf, "/CN=localhost", ["subjectAltName=IP:127.0.0.1,DNS:localhost", "extendedKeyUsage=serverAuth"]),
    client: (leaf = "client") => sign(leaf, "/CN=regctl test client", ["extendedKeyUsage=clientAuth"]),
  };
}

// ───────────── small servers ─────────────

/** A port that was free a moment ago (a server started on it later may lose a race for it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A request as a server of the tests' own saw it. */
export type Seen = { method: string; path: string; host: string | null; auth: string | null };

export type TestServer = {
  port: number;
  host: string; // "127.0.0.1:PORT"
  url: string; // "http://127.0.0.1:PORT", https with tls
  /** Every request, in order: method, path and query, Host, Authorization. */
  seen: Seen[];
  stop(): Promise<void>;
};

/** Bun.serve on 127.0.0.1 and a free port, logging every request; `tls` holds PEM text. */
export function serve(handler: (req: Request, url: URL, seen: Seen[]) => Response | Promise<Response>, opts: { tls?: { cert: string; key: string } } = {}): TestServer {
  const seen: Seen[] = [];
  const s = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...(opts.tls ? { tls: opts.tls } : {}),
    fetch(req) {
      const url = new URL(req.url);
      seen.push({ method: req.method, path: url.pathname + url.search, host: req.headers.get("host"), auth: req.headers.get("authorization") });
      return handler(req, url, seen);
    },
  });
  const port = s.port!;
  return { port, host: `127.0.0.1:${port}`, url: `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`, seen, stop: async () => void (await s.stop(true)) };
}
