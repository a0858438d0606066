// regctl against hostile servers of the tests' own: answers a real registry does not give — a
// manifest whose bytes do not hash to its Docker-Content-Digest, bodies far too large, pagination
// that never ends, redirects and Links to other hosts, token realms that would take the password,
// HTML where JSON was due, garbage challenges, a registry that dies mid-command. Each must end in
// a clear one-line error and exit 1 (README: "the operation failed"), never a stack trace, never a
// DELETE of a manifest whose bytes were not verified, never a credential sent to another host.
//
// Most servers are Bun.serve; the ones that must control the bytes on the wire (a Content-Length
// with a paced body, a body cut short) are raw node:net servers, since Bun.serve replaces a
// stream's Content-Length with chunked encoding and writes ahead of the reader.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, secret, type RunResult } from "./cli.ts";
import { type CertFiles, makeCA, type Seen, serve as startServer, sha256, type TestServer } from "./fixtures.ts";
import { naturalCompare } from "../regctl.ts";

const enc = new TextEncoder();
const API = { "Docker-Distribution-Api-Version": "registry/2.0" };
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const ZERO = `sha256:${"0".repeat(64)}`;

const USER = "mallory-target";
const PASSWORD = secret("hostile-Pa55word-7f3a");
const BASIC = secret(Buffer.from(`${USER}:${PASSWORD}`).toString("base64"));
const creds = { REGCTL_USERNAME: USER, REGCTL_PASSWORD: PASSWORD };

let home: string; // HOME of regctl: no docker config of the machine's
let certDir: string;
let caCert: string; // the CA's certificate (PEM file): --cacert
let tlsCert: CertFiles; // a server certificate for 127.0.0.1 it signed
const cleanups: (() => void)[] = [];
/** Hostile cases tried, for the report. */
let cases = 0;
const figures: string[] = [];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "regctl-hostile-home-"));
  certDir = mkdtempSync(join(tmpdir(), "regctl-hostile-tls-"));
  // A CA of the tests' own and a server certificate for 127.0.0.1 it signed.
  const ca = await makeCA(certDir, "hostile test CA");
  caCert = ca.cert;
  tlsCert = await ca.server();
}, 30_000);

afterAll(() => {
  for (const c of cleanups) c();
  rmSync(home, { recursive: true, force: true });
  rmSync(certDir, { recursive: true, force: true });
  console.log(`\nhostile: ${cases} cases tried\n  ${figures.join("\n  ")}`);
});

/** A server of the tests' own (test/fixtures.ts) that logs every request, stopped after the file. */
function serve(handler: (req: Request, url: URL, seen: Seen[]) => Response | Promise<Response>, opts: { tls?: boolean } = {}): TestServer {
  const s = startServer(handler, opts.tls ? { tls: { cert: readFileSync(tlsCert.cert, "utf8"), key: readFileSync(tlsCert.key, "utf8") } } : {});
  cleanups.push(() => void s.stop());
  return s;
}

const json = (v: unknown, init: ResponseInit = {}) => Response.json(v, { ...init, headers: { ...API, ...(init.headers as Record<string, string>) } });
const regError = (status: number, code: string) => json({ errors: [{ code, message: code.toLowerCase().replace(/_/g, " ") }] }, { status });

/** regctl with a HOME of its own (and credentials when given). */
const regctl = (args: string[], env: Record<string, string> = {}) => {
  cases++;
  return run(args, { env: { HOME: home, ...env }, timeoutMs: 60_000 });
};

/** Exit 1, one `regctl:` line saying what went wrong, no stack trace, not reported as a bug of regctl. */
function expectClearFailure(r: RunResult, says?: RegExp): void {
  expect(r.stderr).not.toContain("    at ");
  expect(r.stderr).not.toContain("unexpected error");
  expect(r.stderr).not.toContain("second argument to fetch()"); // the runtime's advice to its own caller is not a message for a user
  expect(r.stderr).toMatch(/^regctl: \S/m);
  if (says) expect(r.stderr).toMatch(says);
  expect(r.code).toBe(1);
}

/** An image: config blob and a docker manifest that names it. */
function image(seed: string, created = "2024-01-01T00:00:00Z") {
  const config = enc.encode(JSON.stringify({ architecture: "amd64", os: "linux", created, rootfs: { type: "layers", diff_ids: [] }, seed }));
  const manifest = enc.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: sha256(config), size: config.length },
      layers: [],
    }),
  );
  return { config, configDigest: sha256(config), manifest, digest: sha256(manifest) };
}

const manifestResponse = (req: Request, body: Uint8Array<ArrayBuffer>, digest: string | undefined, type = DOCKER_MANIFEST) =>
  new Response(req.method === "HEAD" ? null : body, {
    headers: { ...API, "Content-Type": type, "Content-Length": String(body.length), ...(digest ? { "Docker-Content-Digest": digest } : {}) },
  });

// ─────────────────────────────────────────────────────────────────────────────

describe("(a) a manifest whose bytes do not hash to its Docker-Content-Digest", () => {
  const img = image("mismatch");
  const claimed = sha256(enc.encode(`${new TextDecoder().decode(img.manifest)} `)); // the digest of other bytes
  let srv: TestServer;
  beforeAll(() => {
    srv = serve((req, url) => {
      const p = url.pathname;
      if (p === "/v2/") return json({});
      if (p === "/v2/app/tags/list") return json({ name: "app", tags: ["1"] });
      if (p === `/v2/app/blobs/${img.configDigest}`) return new Response(img.config);
      if (req.method === "DELETE") return p.endsWith(claimed) ? new Response(null, { status: 202 }) : regError(404, "MANIFEST_UNKNOWN");
      if (p === "/v2/app/manifests/1" || p === `/v2/app/manifests/${claimed}`) return manifestResponse(req, img.manifest, claimed);
      return regError(404, "MANIFEST_UNKNOWN");
    });
  });

  const commands: [string, string[]][] = [
    ["manifest", ["manifest", "app:1"]],
    ["manifest --raw by digest", ["manifest", `app@${claimed}`, "--raw"]],
    ["inspect", ["inspect", "app:1"]],
    ["delete --yes by tag", ["delete", "app:1", "--yes"]],
    ["delete --yes by digest", ["delete", `app@${claimed}`, "--yes"]],
    ["untag --yes", ["untag", "app:1", "--yes"]],
    ["prune --keep 0 --yes", ["prune", "app", "--keep", "0", "--yes"]],
  ];
  for (const [name, [cmd, ref, ...rest]] of commands) {
    test(`${name}: refused, and no DELETE reaches the server`, async () => {
      const before = srv.seen.length;
      const r = await regctl([cmd!, `${srv.host}/${ref}`, ...rest, "--plain-http"]);
      expectClearFailure(r, /digest/);
      expect(r.stdout).toBe("");
      // No DELETE at all; untag and prune may first probe with a digest no content has (are deletes enabled?).
      const probe = cmd === "untag" || cmd === "prune";
      expect(srv.seen.slice(before).filter((s) => s.method === "DELETE" && !(probe && s.path.endsWith(ZERO)))).toEqual([]);
    });
  }
});

// ─────────────────────────────────────────────────────────────────────────────

/**
 * A raw HTTP server that answers every request with one status and a large body, paced (64 KiB
 * every 2 ms) so that what it has written is close to what the client has read, with a
 * Content-Length or chunked. Counts the body bytes it wrote before the client hung up.
 */
function bigServer(status: number, total: number, mode: "length" | "chunked" | "truncate", contentType = DOCKER_MANIFEST) {
  const state = { port: 0, host: "", requests: 0, written: [] as number[], closedEarly: 0 };
  const chunk = Buffer.alloc(64 << 10, 0x20);
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let head = "";
    const onData = async (d: Buffer) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n") || head.length > 65536) return;
      sock.off("data", onData);
      state.requests++;
      const idx = state.written.push(0) - 1;
      const isHead = head.startsWith("HEAD ");
      const lines = [`HTTP/1.1 ${status} Hostile`, `Content-Type: ${contentType}`, "Connection: close", "Docker-Distribution-Api-Version: registry/2.0"];
      lines.push(mode === "chunked" ? "Transfer-Encoding: chunked" : `Content-Length: ${total}`);
      sock.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (isHead) return void sock.end();
      if (mode === "truncate") {
        // A body cut short: 20 bytes of JSON out of the promised `total`, then the connection goes.
        sock.write('{"name":"app","tags"');
        state.written[idx] = 20;
        return void setTimeout(() => sock.destroy(), 20);
      }
      const t0 = Date.now();
      let written = 0;
      while (written < total && !sock.destroyed && Date.now() - t0 < 20_000) {
        const n = Math.min(chunk.length, total - written);
        const piece = chunk.subarray(0, n);
        sock.write(mode === "chunked" ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), piece, Buffer.from("\r\n")]) : piece);
        written += n;
        state.written[idx] = written;
        await Bun.sleep(2);
      }
      if (sock.destroyed) state.closedEarly++;
      else sock.end(mode === "chunked" ? "0\r\n\r\n" : "");
    };
    sock.on("data", onData);
  });
  return new Promise<typeof state & { stop(): void }>((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      state.port = typeof a === "object" && a ? a.port : 0;
      state.host = `127.0.0.1:${state.port}`;
      const stop = () => {
        for (const s of sockets) s.destroy();
        server.close();
      };
      cleanups.push(stop);
      resolve(Object.assign(state, { stop }));
    });
  });
}

const MiB = 1 << 20;

describe("(b) answers too large to hold", () => {
  const cases_: [string, number, number, "length" | "chunked", string[], number][] = [
    // name, status, size, framing, command, most bytes the server may have written
    ["a 5 MiB manifest with Content-Length", 200, 5 * MiB, "length", ["manifest", "app:big"], 1 * MiB],
    ["a 5 MiB manifest, chunked with no Content-Length", 200, 5 * MiB, "chunked", ["manifest", "app:big"], 5 * MiB - 1],
    ["a 64 MiB manifest, chunked", 200, 64 * MiB, "chunked", ["inspect", "app:big"], 8 * MiB],
    ["a 10 MiB error body with Content-Length", 500, 10 * MiB, "length", ["tags", "app"], 1 * MiB],
    ["a 10 MiB error body, chunked", 500, 10 * MiB, "chunked", ["tags", "app"], 1 * MiB],
    ["a 10 MiB tag list with a 404 status", 404, 10 * MiB, "chunked", ["tags", "app", "--digests"], 1 * MiB],
  ];
  for (const [name, status, size, mode, [cmd, ref], most] of cases_) {
    test(`${name}: refused without reading it all`, async () => {
      const srv = await bigServer(status, size, mode);
      const t0 = performance.now();
      const r = await regctl([cmd!, `${srv.host}/${ref}`, "--plain-http"]);
      const ms = Math.round(performance.now() - t0);
      srv.stop();
      figures.push(
        `(b) ${name}: ${srv.requests} request(s), the server wrote ${srv.written.map((w) => `${(w / MiB).toFixed(2)} MiB`).join(", ")} of ${size / MiB} MiB, ${ms} ms, exit ${r.code}`,
      );
      expectClearFailure(r, /larger than|refused/);
      for (const w of srv.written) expect(w).toBeLessThanOrEqual(most);
      expect(srv.requests).toBeLessThanOrEqual(5);
    });
  }

  test("a body cut short (Content-Length promises more, the connection closes): a clear error after bounded retries", async () => {
    const srv = await bigServer(200, 1000, "truncate", "application/json");
    const r = await regctl(["tags", `${srv.host}/app`, "--plain-http"]);
    srv.stop();
    figures.push(`(b) a body cut short: ${srv.requests} request(s), exit ${r.code}: ${r.stderr.split("\n").find((l) => l.startsWith("regctl:"))}`);
    expectClearFailure(r);
    expect(srv.requests).toBeLessThanOrEqual(6); // a read is tried at most 6 times (about 5 s of backoff)
  }, 30_000);
});

// ─────────────────────────────────────────────────────────────────────────────

describe("(c) pagination that never ends", () => {
  const MAX_PAGES = 1000; // the server's own bound: a list that reaches it has not been stopped
  const pad = (n: number) => String(n).padStart(6, "0");

  const variants: [string, string, (k: number, url: URL) => { names: string[]; next?: string }][] = [
    ["a catalog whose Link repeats itself", "repos", (k) => ({ names: k === 1 ? ["a", "b"] : ["c", "d"], next: "/v2/_catalog?last=b&n=2" })],
    [
      "a catalog whose Link goes back to the first page",
      "repos",
      (k) => ({ names: k === 1 ? ["a", "b"] : ["c", "d"], next: k === 1 ? "/v2/_catalog?last=b&n=2" : "/v2/_catalog" }),
    ],
    ["a catalog that never ends: a new `last` each page, the same names", "repos", (k) => ({ names: ["a", "b"], next: `/v2/_catalog?last=b${k}&n=2` })],
    ["a catalog that never ends: a new `last` each page, new names", "repos", (k) => ({ names: [`r${pad(k)}a`, `r${pad(k)}b`], next: `/v2/_catalog?last=r${pad(k)}b&n=2` })],
    ["a tag list whose Link repeats itself", "tags", (k) => ({ names: k === 1 ? ["1", "2"] : ["3", "4"], next: "/v2/app/tags/list?last=2&n=2" })],
    ["a tag list that never ends: new names each page", "tags", (k) => ({ names: [`t${pad(k)}a`, `t${pad(k)}b`], next: `/v2/app/tags/list?last=t${pad(k)}b&n=2` })],
  ];
  for (const [name, cmd, page] of variants) {
    test(`${name}: detected and stopped`, async () => {
      let pages = 0;
      const srv = serve((_req, url) => {
        if (url.pathname === "/v2/") return json({});
        pages++;
        const { names, next } = page(pages, url);
        const key = cmd === "repos" ? "repositories" : "tags";
        const headers: Record<string, string> = pages < MAX_PAGES && next ? { Link: `<${next}>; rel="next"` } : {};
        return json(cmd === "repos" ? { [key]: names } : { name: "app", [key]: names }, { headers });
      });
      const r = await regctl([cmd, cmd === "repos" ? srv.host : `${srv.host}/app`, "--plain-http"]);
      srv.stop();
      figures.push(`(c) ${name}: stopped after ${pages} requests, exit ${r.code}${r.code ? `: ${r.stderr.split("\n").find((l) => l.startsWith("regctl:"))}` : ""}`);
      expectClearFailure(r, /page|Link|paginat/i);
      expect(pages).toBeLessThan(MAX_PAGES);
    }, 60_000);
  }
});

// ─────────────────────────────────────────────────────────────────────────────

describe("(d) other hosts: Links, redirects, https → http", () => {
  test("a catalog Link to another host: not followed, the other host sees no credentials", async () => {
    const other = serve(() => json({ repositories: ["stolen"] }));
    const reg = serve((req, url) => {
      if (req.headers.get("authorization") !== `Basic ${BASIC}`) return new Response("{}", { status: 401, headers: { ...API, "WWW-Authenticate": 'Basic realm="hostile"' } });
      if (url.pathname === "/v2/_catalog") return json({ repositories: ["a", "b"] }, { headers: { Link: `<http://${other.host}/v2/_catalog?last=b>; rel="next"` } });
      return json({});
    });
    const r = await regctl(["repos", reg.host, "--plain-http"], creds);
    expectClearFailure(r, /another host/);
    expect(reg.seen.some((s) => s.auth === `Basic ${BASIC}`)).toBe(true); // the credentials were in use
    expect(other.seen.filter((s) => s.auth !== null)).toEqual([]);
    expect(other.seen.length).toBe(0);
  });

  test("a tag-list Link to the same server named `localhost` (another host, to a client): not followed", async () => {
    let port = 0;
    const reg = serve((req, url) => {
      if (req.headers.get("authorization") !== `Basic ${BASIC}`) return new Response("{}", { status: 401, headers: { ...API, "WWW-Authenticate": 'Basic realm="hostile"' } });
      if (url.pathname === "/v2/app/tags/list" && !url.search)
        return json({ name: "app", tags: ["1"] }, { headers: { Link: `<http://localhost:${port}/v2/app/tags/list?last=1>; rel="next"` } });
      return json({ name: "app", tags: ["2"] });
    });
    port = reg.port;
    const r = await regctl(["tags", `${reg.host}/app`, "--plain-http"], creds);
    expectClearFailure(r, /another host/);
    expect(reg.seen.filter((s) => s.host?.startsWith("localhost"))).toEqual([]);
  });

  test("a manifest redirected to another host that asks for Basic credentials: it never gets them", async () => {
    const img = image("redirected");
    const other = serve(() => new Response("{}", { status: 401, headers: { ...API, "WWW-Authenticate": 'Basic realm="give me yours"' } }));
    const reg = serve((req, url) => {
      if (req.headers.get("authorization") !== `Basic ${BASIC}`) return new Response("{}", { status: 401, headers: { ...API, "WWW-Authenticate": 'Basic realm="hostile"' } });
      if (url.pathname.startsWith("/v2/app/manifests/")) return Response.redirect(`http://${other.host}/m/${img.digest}`, 307);
      return json({});
    });
    const r = await regctl(["manifest", `${reg.host}/app:1`, "--plain-http"], creds);
    figures.push(`(d) redirect to a host asking for Basic: ${other.seen.length} request(s) there, exit ${r.code}`);
    expect(other.seen.filter((s) => s.auth !== null)).toEqual([]);
    expectClearFailure(r);
  });

  test("a manifest redirected to another host whose 401 names a token realm of its own: the registry's credentials never go there", async () => {
    const img = image("phished");
    const other = serve((_req, url) => {
      if (url.pathname === "/token") return json({ token: "phished-token" });
      return new Response("{}", { status: 401, headers: { ...API, "WWW-Authenticate": `Bearer realm="http://127.0.0.1:${other.port}/token",service="evil"` } });
    });
    const reg = serve((req, url) => {
      if (req.headers.get("authorization") !== `Basic ${BASIC}`) return new Response("{}", { status: 401, headers: { ...API, "WWW-Authenticate": 'Basic realm="hostile"' } });
      if (url.pathname.startsWith("/v2/app/manifests/")) return Response.redirect(`http://${other.host}/m/${img.digest}`, 307);
      return json({});
    });
    const r = await regctl(["manifest", `${reg.host}/app:1`, "--plain-http"], creds);
    figures.push(
      `(d) redirect to a host with its own token realm: ${other.seen.map((s) => `${s.method} ${s.path.split("?")[0]}${s.auth ? ` [Authorization: ${s.auth.split(" ")[0]}]` : ""}`).join(", ")}; exit ${r.code}`,
    );
    expect(other.seen.filter((s) => s.auth !== null)).toEqual([]);
    expectClearFailure(r);
  });

  test("a config blob redirected to storage on another host (as S3 does): followed, without the credentials", async () => {
    const img = image("storage");
    const storage = serve(() => new Response(img.config));
    const api = serve((req, url) => {
      if (req.headers.get("authorization") !== `Basic ${BASIC}`) return new Response("{}", { status: 401, headers: { ...API, "WWW-Authenticate": 'Basic realm="hostile"' } });
      if (url.pathname === "/v2/app/manifests/1") return manifestResponse(req, img.manifest, img.digest);
      if (url.pathname.startsWith("/v2/app/blobs/")) return Response.redirect(`http://${storage.host}/bucket/blob?X-Amz-Signature=abc`, 307);
      return json({});
    });
    const r = await regctl(["inspect", `${api.host}/app:1`, "--plain-http"], creds);
    expect(r.stderr).not.toContain("    at ");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(img.configDigest);
    expect(api.seen.some((s) => s.auth === `Basic ${BASIC}`)).toBe(true); // the credentials were in use
    // The redirect to another host does not carry the Authorization header.
    expect(storage.seen.length).toBe(1);
    expect(storage.seen[0]!.auth).toBeNull();
  });

  for (const [name, args] of [
    ["manifest (GET)", ["manifest", "app:1"]],
    ["digest (HEAD)", ["digest", "app:1"]],
    ["tags (GET)", ["tags", "app"]],
  ] as const) {
    test(`https → http redirect of ${name}: refused, the http host sees nothing`, async () => {
      const img = image("downgrade");
      const plain = serve(() => manifestResponse(new Request("http://x/"), img.manifest, img.digest));
      const secure = serve(
        (_req, url) => {
          if (url.pathname === "/v2/") return json({});
          return Response.redirect(`http://${plain.host}${url.pathname}`, 302);
        },
        { tls: true },
      );
      const [cmd, ref] = args;
      const r = await regctl([cmd, `${secure.host}/${ref}`, "--cacert", caCert], creds);
      expectClearFailure(r, /https to http|downgrade/);
      expect(plain.seen).toEqual([]);
      expect(secure.seen.length).toBeGreaterThan(0);
    });
  }
});

// ─────────────────────────────────────────────────────────────────────────────

describe("(e) a token realm on another host over plain http", () => {
  test("realm http://localhost:PORT for a registry at 127.0.0.1: a warning, and the password is not sent there", async () => {
    const tokenServer = serve(() => json({ token: "anonymous-token-1234" }));
    const reg = serve((req, url) => {
      if (req.headers.get("authorization") !== "Bearer anonymous-token-1234")
        return new Response("{}", { status: 401, headers: { ...API, "WWW-Authenticate": `Bearer realm="http://localhost:${tokenServer.port}/token",service="hostile"` } });
      if (url.pathname === "/v2/app/tags/list") return json({ name: "app", tags: ["1"] });
      return json({});
    });
    const r = await regctl(["tags", `${reg.host}/app`, "--plain-http"], creds);
    figures.push(
      `(e) realm on localhost: token server saw ${tokenServer.seen.map((s) => (s.auth ? `Authorization: ${s.auth.split(" ")[0]}` : "no credentials")).join(", ")}; exit ${r.code}`,
    );
    expect(tokenServer.seen.length).toBeGreaterThan(0);
    expect(tokenServer.seen.filter((s) => s.auth !== null)).toEqual([]);
    expect(r.stderr).toMatch(/warning: .*plain http/);
    expect(r.stderr).not.toContain("    at ");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("1");
  });
});

// ─────────────────────────────────────────────────────────────────────────────

describe("(f) HTML where JSON was due, truncated JSON", () => {
  const HTML = "<!doctype html><html><head><title>Sign in</title></head><body><form>Sign in to continue</form></body></html>";
  const html = (digest?: string) => new Response(HTML, { headers: { "Content-Type": "text/html; charset=utf-8", ...(digest ? { "Docker-Content-Digest": digest } : {}) } });
  const TRUNCATED_MANIFEST = '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"appl';

  const variants: [string, string[], (req: Request, url: URL) => Response][] = [
    ["tags list as HTML", ["tags", "app"], () => html()],
    ["tags --digests, list as HTML", ["tags", "app", "--digests"], () => html()],
    ["catalog as HTML", ["repos", "HOST"], () => html()],
    ["manifest as HTML (no digest header)", ["manifest", "app:1"], () => html()],
    ["manifest as HTML whose digest header matches the HTML", ["inspect", "app:1"], () => html(sha256(HTML))],
    [
      "delete --yes of a manifest served as HTML",
      ["delete", "app:1", "--yes"],
      (req, url) => (url.pathname.endsWith("/tags/list") ? json({ name: "app", tags: ["1"] }) : req.method === "DELETE" ? new Response(null, { status: 202 }) : html(sha256(HTML))),
    ],
    ["tags list truncated", ["tags", "app"], () => new Response('{"name":"app","tags":["1","2"', { headers: { "Content-Type": "application/json" } })],
    ["catalog truncated", ["repos", "HOST"], () => new Response('{"repositories":["a",', { headers: { "Content-Type": "application/json" } })],
    ["manifest truncated (digest header matches the bytes)", ["manifest", "app:1"], (req) => manifestResponse(req, enc.encode(TRUNCATED_MANIFEST), sha256(TRUNCATED_MANIFEST))],
    ["tags is not a list", ["tags", "app"], () => json({ name: "app", tags: "1,2,3" })],
    ["catalog of numbers and nulls", ["repos", "HOST"], () => json({ repositories: [1, null, { a: 1 }] })],
  ];
  for (const [name, args, answer] of variants) {
    test(`${name}: a clear error, exit 1`, async () => {
      const srv = serve((req, url) => (url.pathname === "/v2/" ? json({}) : answer(req, url)));
      const [cmd, ref, ...rest] = args;
      const r = await regctl([cmd!, ref === "HOST" ? srv.host : `${srv.host}/${ref}`, ...rest, "--plain-http"]);
      srv.stop();
      figures.push(
        `(f) ${name}: exit ${r.code}: ${r.stderr
          .split("\n")
          .find((l) => l.startsWith("regctl:"))
          ?.slice(0, 140)}`,
      );
      expectClearFailure(r);
      expect(srv.seen.filter((s) => s.method === "DELETE" && !s.path.endsWith(ZERO))).toEqual([]);
    });
  }

  test("tag names that are not tags (a path, spaces, 300 characters, a number): never requested as they are", async () => {
    const img = image("tagnames");
    const hostileTags = ["1", "../../victim/manifests/latest", "a b", "x".repeat(300), "%2e%2e%2fvictim", 5];
    for (const args of [
      ["tags", "app", "--digests"],
      ["prune", "app", "--keep", "1", "--dry-run"],
      ["du", "app"],
    ]) {
      const srv = serve((req, url) => {
        if (url.pathname === "/v2/") return json({});
        if (url.pathname === "/v2/app/tags/list") return json({ name: "app", tags: hostileTags });
        if (url.pathname === `/v2/app/blobs/${img.configDigest}`) return new Response(img.config);
        if (url.pathname.includes("/manifests/")) return manifestResponse(req, img.manifest, img.digest);
        return regError(404, "NAME_UNKNOWN");
      });
      const [cmd, ref, ...rest] = args;
      const r = await regctl([cmd!, `${srv.host}/${ref}`, ...rest, "--plain-http"]);
      srv.stop();
      const outside = srv.seen.filter(
        (s) => !/^\/v2\/(app\/(tags\/list|manifests\/[\w][\w.-]{0,127}|manifests\/sha256:[a-f0-9]{64}|blobs\/sha256:[a-f0-9]{64})(\?.*)?)?$/.test(s.path),
      );
      figures.push(
        `(f) hostile tag names, ${args.join(" ")}: exit ${r.code}; requests outside the repository or for a non-tag: ${outside.map((s) => `${s.method} ${s.path.slice(0, 60)}`).join(", ") || "none"}`,
      );
      expect(outside).toEqual([]);
      expectClearFailure(r, /tag/);
    }
  });
});

// ─────────────────────────────────────────────────────────────────────────────

describe("(g) garbage WWW-Authenticate on a 401", () => {
  const challenges: [string, string | null][] = [
    ["no header at all", null],
    ["a word", "garbage"],
    ["punctuation", ',,,;;;==="" ,=,'],
    ["Bearer with no parameters", "Bearer"],
    ["Bearer with an empty realm", 'Bearer realm=""'],
    ["Bearer with a realm that is not a URL", 'Bearer realm="not a url",service="x"'],
    ["Bearer with an unterminated quote", 'Bearer realm="http://127.0.0.1:1/token'],
    ["Bearer with an ftp realm", 'Bearer realm="ftp://127.0.0.1/token"'],
    ["Bearer with a realm nobody listens on", 'Bearer realm="http://127.0.0.1:1/token",service="x"'],
    ["Bearer with a realm on the registry that answers HTML", 'Bearer realm="SELF/token",service="x"'],
    ["Bearer with a realm on the registry whose token has spaces", 'Bearer realm="SELF/badtoken",service="x"'],
    ["an unknown scheme", "Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACjggSYYYIElDCCBJCgAwIBBaEQGw5BVEhFTkEuTUlULkVEVaIcMBqgAwIBA="],
    ["Basic that never accepts", 'Basic realm="never"'],
    ["8 KiB of parameters", `Bearer ${'a="b",'.repeat(1400)}realm="SELF/token"`],
  ];
  for (const [name, header] of challenges) {
    test(`${name}: a clear error, exit 1`, async () => {
      const srv = serve((_req, url) => {
        if (url.pathname === "/token") return new Response("<html>no</html>", { headers: { "Content-Type": "text/html" } });
        if (url.pathname === "/badtoken") return json({ token: 'has "quotes" and spaces' });
        const h = header?.replace(/SELF/g, `http://127.0.0.1:${srv.port}`);
        return new Response(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }), {
          status: 401,
          headers: { ...API, "Content-Type": "application/json", ...(h !== undefined ? { "WWW-Authenticate": h } : {}) },
        });
      });
      const r = await regctl(["tags", `${srv.host}/app`, "--plain-http"], creds);
      srv.stop();
      figures.push(
        `(g) ${name}: ${srv.seen.length} requests, exit ${r.code}: ${r.stderr
          .split("\n")
          .find((l) => l.startsWith("regctl:"))
          ?.slice(0, 120)}`,
      );
      expectClearFailure(r);
      expect(srv.seen.length).toBeLessThanOrEqual(6);
    });
  }
});

// ─────────────────────────────────────────────────────────────────────────────

describe("a registry that dies mid-command", () => {
  /** A small registry of N images that stops (closing every connection) after `stopAfter` requests. */
  function mortal(n: number, stopAfter: number) {
    const images = Array.from({ length: n }, (_, i) => ({ tag: `t${String(i).padStart(3, "0")}`, ...image(`mortal-${i}`, new Date(Date.UTC(2024, 0, 1 + i)).toISOString()) }));
    const byRef = new Map<string, (typeof images)[number]>();
    for (const im of images) byRef.set(im.tag, im).set(im.digest, im);
    const deleted = new Set<string>();
    let count = 0;
    const srv = serve((req, url) => {
      if (++count === stopAfter) setTimeout(() => srv.stop(), 0);
      const p = url.pathname;
      if (p === "/v2/") return json({});
      if (p === "/v2/app/tags/list") return json({ name: "app", tags: images.filter((i) => !deleted.has(i.digest)).map((i) => i.tag) });
      const blob = images.find((i) => p === `/v2/app/blobs/${i.configDigest}`);
      if (blob) return new Response(blob.config);
      const m = /^\/v2\/app\/manifests\/(.+)$/.exec(p);
      const im = m ? byRef.get(decodeURIComponent(m[1]!)) : undefined;
      if (req.method === "DELETE") {
        if (!im || deleted.has(im.digest)) return regError(404, "MANIFEST_UNKNOWN");
        deleted.add(im.digest);
        return new Response(null, { status: 202 });
      }
      if (!im || deleted.has(im.digest)) return regError(404, "MANIFEST_UNKNOWN");
      return manifestResponse(req, im.manifest, im.digest);
    });
    return { srv, images, deleted, requests: () => count };
  }

  test("tags --digests: the registry stops after 10 of ~60 requests", async () => {
    const m = mortal(60, 10);
    const r = await regctl(["tags", `${m.srv.host}/app`, "--digests", "--plain-http"]);
    figures.push(`dies mid tags --digests: ${m.requests()} requests answered or cut, exit ${r.code}: ${r.stderr.split("\n").find((l) => l.startsWith("regctl:"))}`);
    expectClearFailure(r, /refused|closed|reset/);
  }, 60_000);

  test("prune: the registry stops in the middle of the deletes; what it reports is what happened, and it says to run it again", async () => {
    // tag list, 40 manifests, 40 configs, the deletes probe, the recheck (tag list, 40 HEADs), then 10 deletes
    const m = mortal(40, 1 + 40 + 40 + 1 + 1 + 40 + 10);
    const r = await regctl(["prune", `${m.srv.host}/app`, "--keep", "5", "--yes", "--json", "--plain-http"]);
    const outcome = (JSON.parse(r.stdout || "[{}]")[0]?.outcome ?? {}) as { deleted?: string[]; failed?: { what: string; error: string }[]; notStarted?: { what: string }[] };
    const deleted = outcome.deleted ?? [];
    const failed = (outcome.failed ?? []).map((f) => ({ digest: /@(sha256:[a-f0-9]{64})/.exec(f.what)?.[1] ?? f.what, error: f.error }));
    figures.push(
      `dies mid prune: ${m.deleted.size} deleted before it died; reported ${deleted.length} deleted, ${failed.length} failed, ${outcome.notStarted?.length ?? 0} not started; exit ${r.code}`,
    );
    expectClearFailure(r, /did not finish/);
    expect(r.stderr).toContain("run the same prune again");
    // Every planned delete is accounted for, once.
    const notStarted = (outcome.notStarted ?? []).map((s) => /@(sha256:[a-f0-9]{64})/.exec(s.what)?.[1] ?? s.what);
    expect(new Set([...deleted, ...failed.map((f) => f.digest), ...notStarted]).size).toBe(35);
    // Reported deleted: the registry did delete it.
    for (const d of deleted) expect(m.deleted.has(d)).toBe(true);
    // Deleted by the registry but not reported so (its answer was cut): only as of unknown outcome.
    for (const f of failed) if (m.deleted.has(f.digest)) expect(f.error).toMatch(/unknown/);
  }, 60_000);

  test("prune, in words: the failures grouped by their error, the first few named by tag, the rest counted; the command that finishes it", async () => {
    const m = mortal(40, 1 + 40 + 40 + 1 + 1 + 40 + 10);
    const r = await regctl(["prune", `${m.srv.host}/app`, "--keep", "5", "--yes", "--plain-http"]);
    expectClearFailure(r, /did not finish/);
    const summary = new RegExp(`^${m.srv.host}/app: deleted (\\d+) manifests?, untagged 0 tags, (\\d+) failed$`, "m").exec(r.stdout);
    expect(summary).not.toBeNull();
    const [deleted, failed] = [Number(summary![1]), Number(summary![2])];
    expect(deleted + failed).toBe(35);
    const groups = [...r.stderr.matchAll(/^failed \((\d+)\): (.*?)(?: …and (\d+) more)? — (.*)$/gm)].map((g) => ({
      count: Number(g[1]),
      names: g[2]!.split(", "),
      more: Number(g[3] ?? 0),
      error: g[4]!,
    }));
    figures.push(`dies mid prune, in words: ${groups.map((g) => `${g.count} × ${g.error}`).join("; ")}`);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("failed")).length).toBe(groups.length);
    expect(groups.reduce((n, g) => n + g.count, 0)).toBe(failed);
    // Each group names at most five (six when that is all of them), by tag, and counts the rest.
    for (const g of groups) {
      expect(g.names.length + g.more).toBe(g.count);
      expect(g.names.length).toBeLessThanOrEqual(g.more ? 5 : 6);
      for (const n of g.names) expect(n).toMatch(/^t0\d\d$/);
    }
    expect(new Set(groups.map((g) => g.error)).size).toBe(groups.length);
    for (const g of groups) expect(g.names).toEqual([...g.names].sort(naturalCompare));
    // Its own lines name tags, never a digest (the retries before them are the transport's).
    const own = r.stderr.split("\n").filter((l) => /^(failed|not started|regctl:|hint:)/.test(l) && !/; retrying in /.test(l));
    expect(own.join("\n")).not.toMatch(/sha256:[a-f0-9]{64}/);
    expect(r.stderr).toContain(`hint: run the same prune again to finish: regctl prune ${m.srv.host}/app --keep 5 --yes --plain-http\n`);
  }, 60_000);
});

describe("(h) creation times the registry cannot give", () => {
  // Three images, the newest first; the newest one's config is refused (500) or has no date.
  const newest = image("newest", "2025-03-01T00:00:00Z");
  const middle = image("middle", "2025-02-01T00:00:00Z");
  const oldest = image("oldest", "2025-01-01T00:00:00Z");
  const byTag: Record<string, ReturnType<typeof image>> = { newest, middle, oldest };
  const server = (configOf: (img: ReturnType<typeof image>) => Response | undefined) =>
    serve((req, url) => {
      const p = url.pathname;
      if (p === "/v2/") return json({});
      if (p === "/v2/app/tags/list") return json({ name: "app", tags: Object.keys(byTag) });
      for (const img of Object.values(byTag)) {
        if (p === `/v2/app/blobs/${img.configDigest}`) return configOf(img) ?? new Response(img.config);
        if (p === `/v2/app/manifests/${img.digest}`) return req.method === "DELETE" ? new Response(null, { status: 202 }) : manifestResponse(req, img.manifest, img.digest);
      }
      const tag = p.replace("/v2/app/manifests/", "");
      if (byTag[tag]) return manifestResponse(req, byTag[tag]!.manifest, byTag[tag]!.digest);
      return regError(404, "MANIFEST_UNKNOWN");
    });

  test("a config that cannot be read fails the plan: nothing is deleted", async () => {
    const srv = server((img) => (img === newest ? regError(500, "UNKNOWN") : undefined));
    const r = await regctl(["prune", `${srv.host}/app`, "--keep", "1", "--yes", "--plain-http"]);
    expectClearFailure(r, /500/);
    expect(srv.seen.filter((s) => s.method === "DELETE" && !s.path.includes(ZERO))).toEqual([]);
  });

  test("a config without a date, or with a bad one: that image is kept, never ranked as the oldest", async () => {
    for (const created of [undefined, "not a date"]) {
      const config = enc.encode(JSON.stringify({ architecture: "amd64", os: "linux", ...(created ? { created } : {}) }));
      const undated = { ...newest, config, configDigest: sha256(config) };
      undated.manifest = enc.encode(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: DOCKER_MANIFEST,
          config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: undated.configDigest, size: config.length },
          layers: [],
        }),
      );
      undated.digest = sha256(undated.manifest);
      byTag.newest = undated;
      const srv = server(() => undefined);
      const r = await regctl(["prune", `${srv.host}/app`, "--keep", "1", "--dry-run", "--json", "--plain-http"]);
      byTag.newest = newest;
      expect(r.code).toBe(0);
      const rows = Object.fromEntries(JSON.parse(r.stdout)[0].rows.map((x: { tag: string; action: string; reason: string }) => [x.tag, `${x.action}: ${x.reason}`]));
      expect(rows).toEqual({ newest: "keep: no creation time: its age is unknown", middle: "keep: the newest", oldest: "delete: not the newest" });
    }
  });
});

describe("(i) a token that expires during the run", () => {
  test("refused with invalid_token, it is renewed once; refused again, regctl stops", async () => {
    for (const [accepted, code] of [
      ["token-2", 0],
      ["never", 1],
    ] as const) {
      let issued = 0;
      const srv = serve((req, url) => {
        if (url.pathname === "/token") return json({ token: `token-${++issued}` });
        const auth = req.headers.get("authorization");
        const challenge = `Bearer realm="http://127.0.0.1:${srv.port}/token",service="s",scope="repository:app:pull"`;
        if (auth !== `Bearer ${accepted}`)
          return json({ errors: [{ code: "UNAUTHORIZED" }] }, { status: 401, headers: { "WWW-Authenticate": auth ? `${challenge},error="invalid_token"` : challenge } });
        return json({ name: "app", tags: ["1"] });
      });
      const r = await regctl(["tags", `${srv.host}/app`, "--plain-http"]);
      expect(r.code).toBe(code);
      expect(issued).toBe(2);
      if (code === 0) expect(r.stdout).toBe("1\n");
      else expect(r.stderr).toContain("invalid_token");
    }
  });
});

describe("(j) a registry that takes DELETE of a tag for a DELETE of its manifest", () => {
  test("untag puts the other tags back; nothing else is lost", async () => {
    const img = image("shared-by-tags");
    const tags = new Map<string, string>([
      ["a", img.digest],
      ["b", img.digest],
      ["c", img.digest],
    ]);
    const blobs = new Map<string, Uint8Array<ArrayBuffer>>([[img.digest, img.manifest]]);
    const srv = serve(async (req, url) => {
      const p = url.pathname;
      if (p === "/v2/") return json({});
      if (p === "/v2/app/tags/list") return json({ name: "app", tags: [...tags.keys()] });
      const ref = p.replace("/v2/app/manifests/", "");
      if (req.method === "DELETE") {
        if (ref === ZERO) return regError(404, "MANIFEST_UNKNOWN");
        // Deletes the manifest the tag points at, and with it every tag: what some registries do.
        const digest = tags.get(ref) ?? ref;
        for (const [t, d] of tags) if (d === digest) tags.delete(t);
        return new Response(null, { status: 202 });
      }
      if (req.method === "PUT") {
        const body = new Uint8Array(await req.arrayBuffer());
        blobs.set(sha256(body), body);
        tags.set(ref, sha256(body));
        return new Response(null, { status: 201, headers: { "Docker-Content-Digest": sha256(body) } });
      }
      const digest = tags.get(ref) ?? (blobs.has(ref) ? ref : undefined);
      return digest ? manifestResponse(req, blobs.get(digest)!, digest) : regError(404, "MANIFEST_UNKNOWN");
    });
    const r = await regctl(["untag", `${srv.host}/app:a`, "--yes", "--plain-http"]);
    expect(r.code).toBe(0);
    expect(Object.fromEntries(tags)).toEqual({ b: img.digest, c: img.digest });
  });
});
