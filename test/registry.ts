// Start and stop a REAL registry (CNCF distribution 2.8, Debian's `docker-registry`) for
// tests and benchmarks: one temp dir, storage and free port per instance.
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type CertFiles, exec, freePort, makeCA } from "./fixtures.ts";

const BINARY = "/usr/bin/docker-registry";

// Storage goes on tmpfs when there is one: on this machine's ext4 (mounted with `discard`)
// deleting a 300-image storage took 5 s and seeding ran 2.5x slower than on /dev/shm.
// REGISTRY_TMPDIR overrides (e.g. for big-layer benchmarks on a small /dev/shm).
export function tempRoot(): string {
  if (process.env.REGISTRY_TMPDIR) return process.env.REGISTRY_TMPDIR;
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "/dev/shm";
  } catch {
    return tmpdir();
  }
}

export type RegistryOptions = {
  deleteEnabled?: boolean;
  htpasswd?: { user: string; password: string };
  tls?: boolean;
  /** with tls: the registry asks for a client certificate signed by its CA (mutual TLS) */
  clientCerts?: boolean;
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  port?: number;
  /** storage.maintenance.readonly: every push is refused (405) */
  readOnly?: boolean;
};

export type Registry = {
  host: string; // "127.0.0.1:PORT"
  url: string; // "http://127.0.0.1:PORT" or "https://…"
  dir: string; // temp dir holding storage, config, certs
  configPath: string;
  caCertPath?: string;
  /** with tls: a client certificate and key signed by the CA */
  clientCertPath?: string;
  clientKeyPath?: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the registry (2.8 gc is unsafe on a live registry), runs gc, restarts on the same port. */
  garbageCollect(args?: string[]): Promise<string>;
};

// Cleanup in three layers, so a failing or killed test run never leaves registries behind:
// 1. the 'exit' handler below (works in plain `bun script.ts`, but bun test 1.4 never emits
//    'exit' or 'beforeExit');
// 2. `setpriv --pdeathsig KILL`: the kernel kills the registry when its parent bun dies;
// 3. temp dirs carry the owner's pid; startRegistry removes those whose owner is gone.
const live = new Set<Subprocess>();
const dirs = new Set<string>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const PREFIX = "regctl-registry-";
const SETPRIV = existsSync("/usr/bin/setpriv") ? ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"] : [];

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

function sweepStaleDirs(root: string): void {
  for (const name of readdirSync(root)) {
    const pid = Number(name.startsWith(PREFIX) ? name.slice(PREFIX.length).split("-")[0] : NaN);
    if (pid > 0 && !isAlive(pid)) rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** A command in the registry's dir; throws on a non-zero exit. Its stdout and stderr. */
async function run(cmd: string[], cwd: string): Promise<string> {
  const r = await exec(cmd, { cwd, check: true });
  return r.stdout + r.stderr;
}

/** A CA of the registry's own, a server cert for 127.0.0.1/localhost and a client cert it signs. */
async function makeCerts(dir: string): Promise<{ ca: string; server: CertFiles; client: CertFiles }> {
  const ca = await makeCA(dir);
  const [server, client] = await Promise.all([ca.server(), ca.client()]);
  return { ca: ca.cert, server, client };
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} not found: run \`apt-get install docker-registry\``);
  }
  const root = tempRoot();
  sweepStaleDirs(root);
  const dir = mkdtempSync(join(root, `${PREFIX}${process.pid}-`));
  dirs.add(dir);
  const configPath = join(dir, "config.yml");
  const id = dir.slice(-6);
  const stderrPath = join(dir, "stderr.log");

  const auth: Record<string, unknown> = {};
  if (opts.htpasswd) {
    const line = await run(["htpasswd", "-Bbn", opts.htpasswd.user, opts.htpasswd.password], dir);
    writeFileSync(join(dir, "htpasswd"), `${line.trim()}\n`);
    auth.htpasswd = { realm: "regctl-test", path: join(dir, "htpasswd") };
  }
  if (opts.token) {
    const t = opts.token;
    auth.token = { realm: t.realm, service: t.service, issuer: t.issuer, rootcertbundle: t.rootCertBundle };
  }
  const certs = opts.tls ? await makeCerts(dir) : undefined;
  const ca = certs ? await Bun.file(certs.ca).text() : undefined;

  // YAML is a superset of JSON, so the config is written as JSON.
  const writeConfig = (port: number) => {
    const config = {
      version: "0.1",
      log: { level: "error", accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: join(dir, "storage") },
        delete: { enabled: opts.deleteEnabled ?? true },
        ...(opts.readOnly ? { maintenance: { readonly: { enabled: true } } } : {}),
      },
      http: {
        addr: `127.0.0.1:${port}`,
        secret: "regctl-test-secret", // avoids a startup warning about a random secret
        // Lets the readiness check tell OUR instance from whatever else won a race for the port.
        headers: { "X-Test-Registry": [id] },
        ...(certs ? { tls: { certificate: certs.server.cert, key: certs.server.key, ...(opts.clientCerts ? { clientcas: [certs.ca] } : {}) } } : {}),
      },
      ...(Object.keys(auth).length ? { auth } : {}),
    };
    writeFileSync(configPath, JSON.stringify(config, null, 2));
  };

  let proc: Subprocess | undefined;
  let port = 0;
  const scheme = certs ? "https" : "http";

  const stderrText = () =>
    Bun.file(stderrPath)
      .text()
      .catch(() => "");

  const kill = async () => {
    const p = proc;
    if (!p) return;
    proc = undefined;
    p.kill("SIGTERM");
    await p.exited;
    live.delete(p);
  };

  // Spawn and wait for /v2/ (200, or 401 with auth); false if the process died (e.g. port taken).
  const launch = async (): Promise<boolean> => {
    writeConfig(port);
    const p = Bun.spawn([...SETPRIV, BINARY, "serve", configPath], {
      cwd: dir,
      stdin: "ignore",
      stdout: Bun.file(join(dir, "stdout.log")),
      stderr: Bun.file(stderrPath),
    });
    proc = p;
    live.add(p);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null || p.signalCode !== null) {
        live.delete(p);
        proc = undefined;
        return false;
      }
      try {
        const res = await fetch(`${scheme}://127.0.0.1:${port}/v2/`, {
          tls: ca ? { ca, ...(certs && opts.clientCerts ? { cert: readFileSync(certs.client.cert, "utf8"), key: readFileSync(certs.client.key, "utf8") } : {}) } : undefined,
          signal: AbortSignal.timeout(1000),
        });
        await res.arrayBuffer();
        const ours = res.headers.get("x-test-registry") === id;
        if (ours && (res.status === 200 || res.status === 401)) return true;
      } catch {
        // not listening yet
      }
      await Bun.sleep(50);
    }
    await kill();
    throw new Error(`registry on port ${port} not ready after 10 s: ${await stderrText()}`);
  };

  const removeDir = () => {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };

  // A fixed port gets one try; a random one is retried since another process may grab it first.
  const attempts = opts.port ? 1 : 5;
  let started = false;
  try {
    for (let i = 0; i < attempts && !started; i++) {
      port = opts.port ?? (await freePort());
      started = await launch();
    }
    if (!started) throw new Error(`docker-registry failed to start (port ${port}): ${await stderrText()}`);
  } catch (e) {
    removeDir();
    throw e;
  }

  const restart = async () => {
    await kill();
    if (!(await launch())) throw new Error(`registry failed to restart on ${port}: ${await stderrText()}`);
  };

  return {
    host: `127.0.0.1:${port}`,
    url: `${scheme}://127.0.0.1:${port}`,
    dir,
    configPath,
    caCertPath: certs?.ca,
    clientCertPath: certs?.client.cert,
    clientKeyPath: certs?.client.key,
    stop: async () => {
      await kill();
      removeDir();
    },
    restart,
    garbageCollect: async (args: string[] = []) => {
      await kill();
      try {
        return await run([...SETPRIV, BINARY, "garbage-collect", configPath, ...args], dir);
      } finally {
        await restart();
      }
    },
  };
}
