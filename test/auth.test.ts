// Auth and TLS against the real registry: htpasswd basic auth behind its own TLS (a CA made here
// with openssl), and `auth: token` with the tests' token server (the registry verifies its JWTs
// for real). Credentials come from flags, env, docker's config.json (auth, identitytoken,
// credHelpers, credsStore) and podman's auth.json. Every output is scanned for the secrets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeLog, RegctlError, Registry as RegistryApi, tagList, Transport } from "../regctl.ts";
import { assertNoSecret, CACHE_HOME, run, runs, secret, secretsWatched, sh } from "./cli.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { pushImage } from "./seed.ts";
import { startTokenRegistry, type TokenRegistry } from "./tokenserver.ts";

// Hostile on purpose: quotes, dollar, space, backslash — the transcript must carry them as variables.
const USER = "alice";
const PASSWORD = secret(`s3cr't "pa$$" w\\rd`);
const BASIC = secret(Buffer.from(`${USER}:${PASSWORD}`).toString("base64"));
const READER = "reader";
const READER_PASSWORD = secret("reader-Secret-42");
const READER_BASIC = secret(Buffer.from(`${READER}:${READER_PASSWORD}`).toString("base64"));
let refreshToken = ""; // docker's identitytoken, issued by the token server in its test
/** Where this file's runs start in test/cli.ts's record (test files share it). */
let firstRun = 0;

let tls: Registry; // htpasswd + TLS
let tok: TokenRegistry; // auth: token, plain http
let tokOnly: TokenRegistry; // answers only "token"
let accessOnly: TokenRegistry; // answers only "access_token"
let home: string;

const env = (extra: Record<string, string> = {}) => ({ HOME: home, DOCKER_CONFIG: join(home, ".docker"), ...extra });
const creds = { REGCTL_USERNAME: USER, REGCTL_PASSWORD: PASSWORD };

/** A token (a JWT) for alice, asked of the token server by the test itself. */
async function issueToken(t: TokenRegistry, scope: string): Promise<string> {
  const res = await fetch(`${t.tokenUrl}?service=${t.service}&scope=${scope}`, { headers: { Authorization: `Basic ${BASIC}` } });
  const body = (await res.json()) as { token?: string; access_token?: string };
  return (body.token ?? body.access_token)!;
}

/** Push through a token registry with a token the test asks for itself. */
async function tokenPush(t: TokenRegistry, repo: string, tags: string[], seed: string) {
  const token = await issueToken(t, `repository:${repo}:pull,push`);
  return pushImage(t.registry.url, repo, tags, { seed, headers: { Authorization: `Bearer ${token}` } });
}

const grants = (user: string | undefined, scope: { name: string; actions: string[] }) =>
  user === USER ? scope.actions : user === READER ? scope.actions.filter((a) => a === "pull") : scope.name.startsWith("public/") ? ["pull"] : [];

beforeAll(async () => {
  firstRun = runs.length;
  home = mkdtempSync(join(tmpdir(), "regctl-home-"));
  [tls, tok, tokOnly, accessOnly] = await Promise.all([
    startRegistry({ tls: true, htpasswd: { user: USER, password: PASSWORD } }),
    startTokenRegistry({ users: { [USER]: PASSWORD, [READER]: READER_PASSWORD }, grants }),
    startTokenRegistry({ users: { [USER]: PASSWORD }, answer: "token" }),
    startTokenRegistry({ users: { [USER]: PASSWORD }, answer: "access_token" }),
  ]);
  const tlsFetch = { tls: { ca: readFileSync(tls.caCertPath!, "utf8") } };
  await pushImage(tls.url, "busybox", ["latest", "1.36"], { seed: "busybox", headers: { Authorization: `Basic ${BASIC}` }, fetchOptions: tlsFetch });
  await pushImage(tls.url, "busybox", ["edge"], { seed: "edge", headers: { Authorization: `Basic ${BASIC}` }, fetchOptions: tlsFetch });
  for (const t of [tok, tokOnly, accessOnly]) {
    await tokenPush(t, "busybox", ["latest", "1.36"], "busybox");
    await tokenPush(t, "busybox", ["edge"], "edge");
  }
  await tokenPush(tok, "public/app", ["1"], "public");
}, 60_000);

afterAll(async () => {
  await Promise.all([tls?.stop(), tok?.stop(), tokOnly?.stop(), accessOnly?.stop()]);
});

/** Is the process still running? A zombie (killed, not yet reaped) is not. */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0] !== "Z";
  } catch {
    return false;
  }
}

/** A transcript whose every curl first says "request: URL" on stderr: to see whether it sent anything. */
const traced = (script: string) => `curl() { for a; do u=$a; done; echo "request: $u" >&2; command curl "$@"; }\n${script}`;

const tagsOf = async (r: Registry, repo: string, headers: Record<string, string>, fetchOptions: object = {}) => {
  const res = await fetch(`${r.url}/v2/${repo}/tags/list`, { headers, ...fetchOptions });
  return res.status === 404 ? [] : (((await res.json()) as { tags: string[] | null }).tags ?? []).sort();
};

describe("htpasswd basic auth behind TLS", () => {
  const tlsFetch = () => ({ tls: { ca: readFileSync(tls.caCertPath!, "utf8") } });
  const basicHeaders = () => ({ Authorization: `Basic ${BASIC}` });

  test("an untrusted certificate: exit 1 and the --cacert hint, never a fall back to http", async () => {
    const r = await run(["tags", `${tls.host}/busybox`], { env: env(creds) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--cacert");
    expect(r.stderr).toContain("certificate");
  });

  test("--plain-http to a TLS port: the registry's 400 and the hint to drop it", async () => {
    const r = await run(["tags", `${tls.host}/busybox`, "--plain-http"], { env: env(creds) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("400");
    expect(r.stderr).toContain("drop --plain-http");
  });

  test("no credentials: exit 1 with how to give them", async () => {
    const r = await run(["tags", `${tls.host}/busybox`, "--cacert", tls.caCertPath!], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("401");
    expect(r.stderr).toContain("regctl login");
    expect(r.stderr).toContain("REGCTL_USERNAME");
  });

  test("a wrong password: exit 1, the source named, the password not", async () => {
    const r = await run(["tags", `${tls.host}/busybox`, "--cacert", tls.caCertPath!], { env: env({ REGCTL_USERNAME: USER, REGCTL_PASSWORD: "wrong-password-x" }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("refused the credentials from REGCTL_USERNAME");
    expect(r.stderr).not.toContain("wrong-password-x");
  });

  test("REGCTL_USERNAME/REGCTL_PASSWORD with --cacert; --insecure works and says so", async () => {
    const r = await run(["tags", `${tls.host}/busybox`, "--digests", "--cacert", tls.caCertPath!], { env: env(creds) });
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean).length).toBe(3);
    const k = await run(["digest", `${tls.host}/busybox:edge`, "--insecure"], { env: env(creds) });
    expect(k.code).toBe(0);
    expect(k.stderr).toContain("--insecure");
  });

  test("-u with --password-stdin", async () => {
    const r = await run(["tags", `${tls.host}/busybox`, "-u", USER, "--password-stdin", "--cacert", tls.caCertPath!], { env: env(), stdin: `${PASSWORD}\n` });
    expect(r).toMatchObject({ code: 0, stdout: "1.36\nedge\nlatest\n" });
  });

  test("certs.d: ~/.docker/certs.d/HOST/ca.crt is trusted as docker does", async () => {
    const h = mkdtempSync(join(tmpdir(), "regctl-home-"));
    mkdirSync(join(h, ".docker", "certs.d", tls.host), { recursive: true });
    writeFileSync(join(h, ".docker", "certs.d", tls.host, "ca.crt"), readFileSync(tls.caCertPath!));
    const r = await run(["tags", `${tls.host}/busybox`], { env: { HOME: h, ...creds } });
    expect(r).toMatchObject({ code: 0, stdout: "1.36\nedge\nlatest\n" });
  });

  test("the seed delete, and its --dry-run --curl script run by sh with the variables set", async () => {
    await pushImage(tls.url, "seed/tls", ["latest", "1.36"], { seed: "busybox", headers: basicHeaders(), fetchOptions: tlsFetch() });
    await pushImage(tls.url, "seed/tls", ["keep"], { seed: "keep", headers: basicHeaders(), fetchOptions: tlsFetch() });
    const plan = await run(["delete", `${tls.host}/seed/tls:latest`, "--dry-run", "--curl", "--cacert", tls.caCertPath!], { env: env(creds) });
    expect(plan.code).toBe(0);
    expect(plan.stderr).toContain(`-u "$REGCTL_USERNAME:$REGCTL_PASSWORD"`);
    expect(plan.stderr).toContain(`--cacert ${tls.caCertPath}`);
    expect(await tagsOf(tls, "seed/tls", basicHeaders(), tlsFetch())).toEqual(["1.36", "keep", "latest"]);
    const result = await sh(plan.stderr, creds);
    expect(result.code).toBe(0);
    expect(await tagsOf(tls, "seed/tls", basicHeaders(), tlsFetch())).toEqual(["keep"]);
    const del = await run(["delete", `${tls.host}/busybox:latest`, "--yes", "--cacert", tls.caCertPath!], { env: env(creds) });
    expect(del.code).toBe(0);
    expect(await tagsOf(tls, "busybox", basicHeaders(), tlsFetch())).toEqual(["edge"]);
  });

  test("a script made with credentials, run without them: it stops before any request, naming the variables to set", async () => {
    const plan = await run(["tags", `${tls.host}/busybox`, "--curl", "--cacert", tls.caCertPath!], { env: env(creds) });
    expect(plan.code).toBe(0);
    const set = `set REGCTL_USERNAME and REGCTL_PASSWORD to the credentials for ${tls.host}`;
    expect(plan.stderr).toContain(`: "\${REGCTL_USERNAME:?${set}}"\n: "\${REGCTL_PASSWORD:?${set}}"\n`);
    for (const [given, missing] of [
      [{}, "REGCTL_USERNAME"],
      [{ REGCTL_USERNAME: USER }, "REGCTL_PASSWORD"],
    ] as const) {
      const r = await sh(traced(plan.stderr), given);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`${missing}: ${set}`);
      expect(r.stderr).not.toContain("request:");
    }
    // with them, it runs (and the trace shows its requests)
    const ok = await sh(traced(plan.stderr), creds);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain(`request: https://${tls.host}/v2/busybox/tags/list`);
  });

  test("login checks and stores as docker does (0600), logout removes; a wrong password stores nothing", async () => {
    const h = mkdtempSync(join(tmpdir(), "regctl-home-"));
    const e = { HOME: h, DOCKER_CONFIG: join(h, ".docker") };
    const bad = await run(["login", tls.host, "-u", USER, "--password-stdin", "--cacert", tls.caCertPath!], { env: e, stdin: "nope\n" });
    expect(bad.code).toBe(1);
    expect(() => statSync(join(h, ".docker", "config.json"))).toThrow();
    const ok = await run(["login", tls.host, "-u", USER, "--password-stdin", "--cacert", tls.caCertPath!], { env: e, stdin: PASSWORD });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`logged in to ${tls.host}`);
    const path = join(h, ".docker", "config.json");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(h, ".docker")).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ auths: { [tls.host]: { auth: BASIC } } });
    const use = await run(["tags", `${tls.host}/busybox`, "--cacert", tls.caCertPath!], { env: e });
    expect(use.code).toBe(0);
    const out = await run(["logout", tls.host], { env: e });
    expect(out.code).toBe(0);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ auths: {} });
    const again = await run(["tags", `${tls.host}/busybox`, "--cacert", tls.caCertPath!], { env: e });
    expect(again.code).toBe(1);
  });
});

describe("token auth (the registry verifies the token server's JWTs)", () => {
  test("ping names the scheme and realm without credentials", async () => {
    const r = await run(["ping", tok.registry.host, "--json"], { env: env() });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ auth: "bearer", realm: tok.tokenUrl });
  });

  test("anonymous pull where the token server grants it; none elsewhere", async () => {
    const pub = await run(["tags", `${tok.registry.host}/public/app`], { env: env() });
    expect(pub).toMatchObject({ code: 0, stdout: "1\n" });
    const priv = await run(["tags", `${tok.registry.host}/busybox`], { env: env() });
    expect(priv.code).toBe(1);
    expect(priv.stderr).toContain("regctl login");
  });

  test("the seed delete: --dry-run --curl shows the token dance, and sh runs it with the variables set", async () => {
    for (const t of [tok, tokOnly, accessOnly]) {
      const before = t.requests.length;
      const plan = await run(["delete", `${t.registry.host}/busybox:latest`, "--dry-run", "--curl"], { env: env(creds) });
      expect(plan.code).toBe(0);
      expect(plan.stderr).toContain("WWW-Authenticate: Bearer realm=");
      expect(plan.stderr).toContain(`TOKEN=$(curl -sS -u "$REGCTL_USERNAME:$REGCTL_PASSWORD" -f '${t.tokenUrl}?service=`);
      expect(plan.stderr).toContain(`-H "Authorization: Bearer $TOKEN`);
      expect(plan.stderr).toContain("repository%3Abusybox%3Adelete");
      // one token request per scope: pull, then delete
      expect(t.requests.length - before).toBe(2);
      const result = await sh(plan.stderr, creds);
      expect(result.code).toBe(0);
      const check = await run(["tags", `${t.registry.host}/busybox`], { env: env(creds) });
      expect(check.stdout).toBe("edge\n");
    }
  });

  test("a tags script through the token server, run without the credentials: it stops before any request; with them it runs", async () => {
    const plan = await run(["tags", `${tok.registry.host}/busybox`, "--curl"], { env: env(creds) });
    expect(plan.code).toBe(0);
    expect(plan.stderr).not.toMatch(/%header\{|--fail-with-body|header_json/);
    const r = await sh(traced(plan.stderr));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`REGCTL_USERNAME: set REGCTL_USERNAME and REGCTL_PASSWORD to the credentials for ${tok.registry.host}`);
    expect(r.stderr).not.toContain("request:");
    expect(await sh(plan.stderr, creds)).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });

  test("a token without the scope: insufficient_scope, exit 1, nothing deleted", async () => {
    await tokenPush(tok, "scoped/app", ["1"], "scoped");
    const r = await run(["delete", `${tok.registry.host}/scoped/app:1`, "--yes"], { env: env({ REGCTL_USERNAME: READER, REGCTL_PASSWORD: READER_PASSWORD }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does not grant "repository:scoped/app:delete"');
    const still = await run(["tags", `${tok.registry.host}/scoped/app`], { env: env(creds) });
    expect(still.stdout).toBe("1\n");
  });

  test("a wrong password at the token server", async () => {
    const r = await run(["tags", `${tok.registry.host}/busybox`], { env: env({ REGCTL_USERNAME: USER, REGCTL_PASSWORD: "not-it-123" }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("token server refused the credentials from REGCTL_USERNAME");
  });

  test("docker's identitytoken: the OAuth2 refresh grant, POSTed as docker does", async () => {
    const res = await fetch(tok.tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username: USER, password: PASSWORD, service: tok.service, client_id: "test", access_type: "offline" }),
    });
    const { refresh_token } = (await res.json()) as { refresh_token: string };
    expect(refresh_token.length).toBeGreaterThan(8);
    refreshToken = secret(refresh_token);
    const h = mkdtempSync(join(tmpdir(), "regctl-home-"));
    mkdirSync(join(h, ".docker"));
    writeFileSync(join(h, ".docker", "config.json"), JSON.stringify({ auths: { [tok.registry.host]: { identitytoken: refresh_token } } }));
    const r = await run(["tags", `${tok.registry.host}/busybox`, "--curl"], { env: { HOME: h } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("edge\n");
    expect(r.stderr).toContain(`--data-urlencode "refresh_token=$REGCTL_IDENTITY_TOKEN"`);
    expect(r.stderr).not.toContain(refresh_token);
    // the script asks for the identity token by name, and runs with it
    const without = await sh(traced(r.stderr));
    expect(without.code).not.toBe(0);
    expect(without.stderr).toContain(`REGCTL_IDENTITY_TOKEN: set REGCTL_IDENTITY_TOKEN to the identity token for ${tok.registry.host}`);
    expect(without.stderr).not.toContain("request:");
    expect(await sh(r.stderr, { REGCTL_IDENTITY_TOKEN: refresh_token })).toMatchObject({ code: 0, stderr: "" });
    expect(tok.requests.some((q) => q.method === "POST" && q.body?.includes("grant_type=refresh_token"))).toBe(true);
  });
});

describe("mutual TLS", () => {
  test("a registry that asks for a client certificate: certs.d's client.cert and client.key, as docker reads them", async () => {
    const m = await startRegistry({ tls: true, clientCerts: true });
    try {
      const h = mkdtempSync(join(tmpdir(), "regctl-home-"));
      const dir = join(h, ".docker", "certs.d", m.host);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "ca.crt"), readFileSync(m.caCertPath!));
      const without = await run(["ping", m.host], { env: { HOME: h } });
      expect(without.code).toBe(1);
      writeFileSync(join(dir, "client.cert"), readFileSync(m.clientCertPath!));
      writeFileSync(join(dir, "client.key"), readFileSync(m.clientKeyPath!));
      const ping = await run(["ping", m.host, "--json", "--curl"], { env: { HOME: h } });
      expect(ping.code).toBe(0);
      expect(JSON.parse(ping.stdout)).toMatchObject({ deletes: true, url: `https://${m.host}` });
      expect(ping.stderr).toContain(`--cert ${join(dir, "client.cert")} --key ${join(dir, "client.key")}`);
    } finally {
      await m.stop();
    }
  });
});

describe("credentials from files and helpers", () => {
  const configHome = (config: object) => {
    const h = mkdtempSync(join(tmpdir(), "regctl-home-"));
    mkdirSync(join(h, ".docker"));
    writeFileSync(join(h, ".docker", "config.json"), JSON.stringify(config));
    return h;
  };
  /**
   * A docker-credential-NAME helper on PATH that knows one registry, logging each call. With a
   * delay it sleeps that long before it answers, and logs its pid and its sleep's to DIR/pids.
   */
  const helperDir = (name: string, host: string, delaySeconds = 0) => {
    const dir = mkdtempSync(join(tmpdir(), "regctl-helper-"));
    const script = `#!/bin/sh
read -r server
echo "$1 $server" >> "${dir}/calls"
${delaySeconds ? `echo $$ >> "${dir}/pids"; sleep ${delaySeconds} & echo $! >> "${dir}/pids"; wait` : ""}
case "$1" in
  get) if [ "$server" = "${host}" ]; then printf '%s' '{"ServerURL":"${host}","Username":"${USER}","Secret":${JSON.stringify(PASSWORD).replace(/'/g, `'\\''`)}}'; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store|erase) cat >/dev/null ;;
esac
`;
    writeFileSync(join(dir, `docker-credential-${name}`), script);
    chmodSync(join(dir, `docker-credential-${name}`), 0o755);
    return dir;
  };
  const tagsWith = (h: string, extra: Record<string, string> = {}) => run(["tags", `${tls.host}/busybox`, "--cacert", tls.caCertPath!], { env: { HOME: h, ...extra } });

  test("auths.<host>.auth", async () => {
    const r = await tagsWith(configHome({ auths: { [`https://${tls.host}`]: { auth: BASIC } } }));
    expect(r.code).toBe(0);
  });

  test("credHelpers.<host> runs docker-credential-<name> get", async () => {
    const dir = helperDir("regtest", tls.host);
    const r = await tagsWith(configHome({ credHelpers: { [tls.host]: "regtest" } }), { PATH: `${dir}:${process.env.PATH}` });
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "calls"), "utf8")).toBe(`get ${tls.host}\n`);
  });

  test("credsStore, and login through it", async () => {
    const dir = helperDir("store", tls.host);
    const h = configHome({ credsStore: "store" });
    const path = { PATH: `${dir}:${process.env.PATH}` };
    expect((await tagsWith(h, path)).code).toBe(0);
    const login = await run(["login", tls.host, "-u", USER, "--password-stdin", "--cacert", tls.caCertPath!], { env: { HOME: h, ...path }, stdin: PASSWORD });
    expect(login.code).toBe(0);
    expect(login.stdout).toContain("docker-credential-store");
    expect(readFileSync(join(dir, "calls"), "utf8")).toContain("store ");
    expect(JSON.parse(readFileSync(join(h, ".docker", "config.json"), "utf8"))).toEqual({ credsStore: "store" });
  });

  test("a helper slower than a TAB's budget (2 s): a command waits for its answer", async () => {
    const dir = helperDir("patient", tls.host, 2);
    const t0 = performance.now();
    const r = await tagsWith(configHome({ credsStore: "patient" }), { PATH: `${dir}:${process.env.PATH}` });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(readFileSync(join(dir, "calls"), "utf8")).toBe(`get ${tls.host}\n`);
  });

  test("a helper that never answers: stopped at the limit, one line naming it, nothing of it left running", async () => {
    const dir = helperDir("hang", tls.host, 30);
    // The limit is 10 s; the transport takes a shorter one so the test does not wait that long.
    const transport = new Transport(
      {
        curl: false,
        dryRun: false,
        timeoutMs: 5000,
        insecure: false,
        cacert: [tls.caCertPath!],
        helperTimeoutMs: 500,
        env: { HOME: configHome({ credsStore: "hang" }), PATH: `${dir}:/usr/bin:/bin` },
      },
      makeLog({ curl: false, verbose: false }, () => {}),
    );
    const t0 = performance.now();
    const err = await tagList(new RegistryApi(tls.host, transport, "https"), "busybox").then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(RegctlError);
    expect({ message: (err as RegctlError).message, hint: (err as RegctlError).hint }).toEqual({
      message: "credential helper docker-credential-hang get did not answer within 0.5 s: stopped",
      hint: "run it by hand to see why (is a keychain waiting to be unlocked?)",
    });
    expect(ms).toBeGreaterThanOrEqual(500);
    expect(ms).toBeLessThan(3000);
    const pids = readFileSync(join(dir, "pids"), "utf8").split("\n").filter(Boolean).map(Number);
    expect(pids.length).toBe(2); // the shell and its sleep
    for (let i = 0; i < 20 && pids.some(running); i++) await Bun.sleep(50);
    expect(pids.filter(running)).toEqual([]);
  });

  test("a helper that is missing or fails: the error names it", async () => {
    const r = await tagsWith(configHome({ credHelpers: { [tls.host]: "absent" } }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("docker-credential-absent is not on PATH");
  });

  test("podman's auth.json through REGISTRY_AUTH_FILE", async () => {
    const dir = mkdtempSync(join(tmpdir(), "regctl-podman-"));
    writeFileSync(join(dir, "auth.json"), JSON.stringify({ auths: { [tls.host]: { auth: BASIC } } }));
    const r = await tagsWith(mkdtempSync(join(tmpdir(), "regctl-home-")), { REGISTRY_AUTH_FILE: join(dir, "auth.json") });
    expect(r.code).toBe(0);
  });

  test("a broken config.json: the file and the problem, exit 1", async () => {
    const h = mkdtempSync(join(tmpdir(), "regctl-home-"));
    mkdirSync(join(h, ".docker"));
    writeFileSync(join(h, ".docker", "config.json"), '{"auths": {');
    const r = await tagsWith(h);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(join(h, ".docker", "config.json"));
    expect(r.stderr).toContain("not valid JSON");
    expect(r.stderr).not.toContain("    at ");
  });
});

test("every output was scanned for this file's secrets and for tokens (test/cli.ts fails a run that shows one), and the cache is private", async () => {
  // The scan is armed with exactly the secrets this file uses, and a JWT fails it too.
  const mine = [PASSWORD, BASIC, READER_PASSWORD, READER_BASIC, refreshToken];
  expect(refreshToken).not.toBe("");
  expect(secretsWatched()).toEqual(expect.arrayContaining(mine));
  for (const s of mine) expect(() => assertNoSecret(`before ${s} after`, "a probe")).toThrow("a test secret appeared in a probe");
  const jwt = await issueToken(tok, "repository:busybox:pull");
  expect(() => assertNoSecret(`Authorization: Bearer ${jwt}`, "a probe")).toThrow("a token (JWT) appeared in a probe");
  // And it ran over both outputs of every run this file made, those handed a secret among them
  // (on stdin, in the environment of a transcript run by sh).
  const ran = runs.slice(firstRun);
  const handed = ran.filter((r) => r.handedSecret).map((r) => r.what);
  expect(handed).toContain(`regctl tags ${tls.host}/busybox -u ${USER} --password-stdin --cacert ${tls.caCertPath}`);
  expect(handed).toContain("a transcript run by sh");
  expect(ran.filter((r) => r.scanned !== 2).map((r) => r.what)).toEqual([]);

  const dir = join(CACHE_HOME, "regctl");
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    const st = statSync(join(dir, f));
    expect(st.mode & 0o777).toBe(st.isDirectory() ? 0o700 : 0o600);
  }
});
