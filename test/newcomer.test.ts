// What a newcomer meets first (issue 12): a registry typed where a repository is due, a web server
// that is not a registry, an unknown repository told from an unknown tag, schemes that mean what
// they say. Against the real registry; "not a registry" is a small web server of the tests' own.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./cli.ts";
import { makeCA, serve } from "./fixtures.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { pushImage } from "./seed.ts";

let reg: Registry;
beforeAll(async () => {
  reg = await startRegistry({ deleteEnabled: true });
  await pushImage(reg.url, "busybox", ["latest"], { seed: "newcomer" });
}, 30_000);
afterAll(async () => {
  await reg?.stop();
});

/** A registry of the tests' own that wants Basic credentials for everything. */
const lockedRegistry = () =>
  serve(
    () =>
      new Response('{"errors":[{"code":"UNAUTHORIZED"}]}', {
        status: 401,
        headers: { "WWW-Authenticate": 'Basic realm="x"', "Docker-Distribution-Api-Version": "registry/2.0" },
      }),
  );

const oneLine = (stderr: string) =>
  stderr
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("hint:"));

describe("a registry where a repository is due", () => {
  const cases: [string[], string][] = [
    [["tags", "HOST"], "HOST is a registry; name a repository: HOST/REPO"],
    [["digest", "HOST"], "HOST is a registry; name a repository: HOST/REPO:TAG"],
    [["inspect", "HOST"], "HOST is a registry; name a repository: HOST/REPO:TAG"],
    [["delete", "HOST", "--yes"], "HOST is a registry; name a repository: HOST/REPO"],
    [["prune", "HOST", "--keep", "1"], "HOST is a registry; name a repository: HOST/REPO, or repositories with --repo REGEX"],
    [["tags", "localhost:5000"], "localhost:5000 is a registry; name a repository: localhost:5000/REPO"],
    [["tags", "registry.example.com"], "registry.example.com is a registry; name a repository: registry.example.com/REPO"],
  ];
  for (const [args, message] of cases)
    test(`${args.join(" ")}: exit 2, one line, nothing sent to Docker Hub or anywhere`, async () => {
      const r = await run(
        args.map((a) => a.replace("HOST", reg.host)),
        { env: { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" } },
      );
      expect({ code: r.code, lines: oneLine(r.stderr) }).toEqual({ code: 2, lines: [`regctl: ${message.replaceAll("HOST", reg.host)}`] });
      expect(r.stderr).toContain(`hint: regctl repos ${args[1] === "HOST" ? reg.host : args[1]} lists its repositories`);
    });

  test("an image with a tag that is not a port stays a Docker Hub image (busybox:1.36)", async () => {
    const r = await run(["tags", "busybox:1.36"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("names a tag or digest");
  });
});

describe("not a registry", () => {
  test("a web server on the port: ping and delete say it does not answer as a registry, with the URL; no invented error code", async () => {
    const web = serve(() => new Response("<html><body>It works!</body></html>", { status: 404, headers: { "Content-Type": "text/html" } }));
    try {
      for (const args of [
        ["ping", web.host],
        ["delete", `${web.host}/app:latest`, "--yes"],
        ["tags", `${web.host}/app`],
      ]) {
        const r = await run([...args, "--plain-http"]);
        expect({ args, code: r.code }).toEqual({ args, code: 1 });
        expect(r.stderr).toContain(`regctl: http://${web.host}/v2/ does not answer as a registry: 404 Not Found (text/html)`);
        expect(r.stderr).toContain("hint: is this the registry's port?");
        expect(r.stderr).not.toContain("MANIFEST_UNKNOWN");
        expect(r.stderr).not.toContain("    at ");
      }
    } finally {
      web.stop();
    }
  });

  test("an unknown repository is told from an unknown tag", async () => {
    const repo = await run(["digest", `${reg.host}/busybx:latest`]);
    expect(repo.code).toBe(1);
    expect(repo.stderr).toContain("hint: no such repository");
    expect(repo.stderr).not.toContain("MANIFEST_UNKNOWN");
    const tag = await run(["digest", `${reg.host}/busybox:nope`]);
    expect(tag.code).toBe(1);
    expect(tag.stderr).toContain("hint: no such tag");
  });
});

describe("ping says why it does not know", () => {
  test("deletes: enabled, or unknown with the reason", async () => {
    const on = await run(["ping", reg.host]);
    expect(on.stdout).toMatch(/^deletes +enabled$/m);
    const locked = lockedRegistry();
    try {
      const r = await run(["ping", locked.host, "--plain-http"], { env: { HOME: mkdtempSync(join(tmpdir(), "regctl-home-")) } });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`deletes   unknown: only a DELETE tells, and ${locked.host} wants credentials for it: regctl login ${locked.host}`);
    } finally {
      locked.stop();
    }
  });
});

describe("schemes mean what they say", () => {
  test("https:// to a plain-http registry is refused (no silent downgrade); http:// talks http", async () => {
    const https = await run(["tags", `https://${reg.host}/busybox`]);
    expect(https.code).toBe(1);
    expect(https.stderr).toMatch(/TLS/);
    expect(https.stderr).toContain("hint: the registry speaks plain http: write http:// (or no scheme)");
    const http = await run(["tags", `http://${reg.host}/busybox`]);
    expect({ code: http.code, stdout: http.stdout }).toEqual({ code: 0, stdout: "latest\n" });
    for (const cmd of ["ping", "repos"]) {
      const r = await run([cmd, `http://${reg.host}`]);
      expect({ cmd, code: r.code }).toEqual({ cmd, code: 0 });
    }
  });

  test("a scheme remembered wrongly is probed again once, and no hint names a flag that was not given", async () => {
    const cache = mkdtempSync(join(tmpdir(), "regctl-cache-"));
    // The cache says this plain-http registry speaks https (as if a TLS registry had been on the port before).
    mkdirSync(join(cache, "regctl"));
    writeFileSync(join(cache, "regctl", "schemes.json"), JSON.stringify({ [reg.host]: "https" }));
    const r = await run(["tags", `${reg.host}/busybox`, "--verbose"], { env: { XDG_CACHE_HOME: cache } });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: "latest\n" });
    expect(r.stderr).toContain("the scheme remembered for it failed; asking it again");
    expect(r.stderr).not.toContain("--plain-http");
    expect(JSON.parse(readFileSync(join(cache, "regctl", "schemes.json"), "utf8"))).toEqual({ [reg.host]: "http" });
  });

  test("a port remembered as plain http that speaks TLS now: probed again, not failed for ever", async () => {
    // distribution answers plain http on its TLS port with a 400 regctl has long read; a server
    // that just closes the connection (this one, of the tests' own) is the case that failed.
    const ca = await makeCA(mkdtempSync(join(tmpdir(), "regctl-tls-")), "newcomer test CA");
    const cert = await ca.server();
    const secure = serve(
      (_req, url) =>
        url.pathname === "/v2/busybox/tags/list"
          ? Response.json({ name: "busybox", tags: ["latest"] }, { headers: { "Docker-Distribution-Api-Version": "registry/2.0" } })
          : Response.json({}, { headers: { "Docker-Distribution-Api-Version": "registry/2.0" } }),
      { tls: { cert: readFileSync(cert.cert, "utf8"), key: readFileSync(cert.key, "utf8") } },
    );
    try {
      const cache = mkdtempSync(join(tmpdir(), "regctl-cache-"));
      mkdirSync(join(cache, "regctl"));
      writeFileSync(join(cache, "regctl", "schemes.json"), JSON.stringify({ [secure.host]: "http" }));
      const r = await run(["tags", `${secure.host}/busybox`, "--cacert", ca.cert, "--verbose", "--retries", "1"], { env: { XDG_CACHE_HOME: cache } });
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: "latest\n" });
      expect(r.stderr).toContain("the scheme remembered for it failed; asking it again");
      expect(JSON.parse(readFileSync(join(cache, "regctl", "schemes.json"), "utf8"))).toEqual({ [secure.host]: "https" });
    } finally {
      secure.stop();
    }
  }, 30_000);
});

describe("bad files, numbers and credentials: one line, exit 2, nothing sent", () => {
  const dir = mkdtempSync(join(tmpdir(), "regctl-bad-"));
  const cases: [string, string[], Record<string, string>, string][] = [
    ["a port out of range", ["tags", "127.0.0.1:99999/app"], {}, "regctl: 127.0.0.1:99999: port 99999 is out of range (1 to 65535)"],
    [
      "--cacert that is not a certificate",
      ["tags", "HOST/busybox", "--cacert", "/etc/passwd"],
      {},
      "regctl: --cacert /etc/passwd is not a PEM certificate (no BEGIN CERTIFICATE line)",
    ],
    ["--cacert that is missing", ["tags", "HOST/busybox", "--cacert", join(dir, "nope.crt")], {}, `regctl: --cacert ${join(dir, "nope.crt")}: no such file`],
  ];
  for (const [name, args, env, message] of cases)
    test(name, async () => {
      const r = await run(
        args.map((a) => a.replace("HOST", reg.host)),
        { env },
      );
      expect({ code: r.code, lines: oneLine(r.stderr) }).toEqual({ code: 2, lines: [message] });
      expect(r.stderr).toMatch(/\nhint: \S/);
    });

  test("REGCTL_USERNAME without REGCTL_PASSWORD, at a registry that wants credentials", async () => {
    const locked = lockedRegistry();
    try {
      const r = await run(["tags", `${locked.host}/app`, "--plain-http"], { env: { REGCTL_USERNAME: "bob" } });
      expect({ code: r.code, lines: oneLine(r.stderr) }).toEqual({ code: 2, lines: ["regctl: REGCTL_USERNAME is set but REGCTL_PASSWORD is not"] });
      expect(r.stderr).toContain("hint: set both, or unset REGCTL_USERNAME");
    } finally {
      locked.stop();
    }
  });

  test("login to a registry that needs none says so and stores nothing", async () => {
    const home = mkdtempSync(join(tmpdir(), "regctl-home-"));
    const r = await run(["login", reg.host, "-u", "bob", "--password-stdin"], { stdin: "junk\n", env: { HOME: home } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${reg.host} needs no login: it answers without credentials; nothing stored`);
    expect(r.stdout).not.toContain("logged in");
    expect(existsSync(join(home, ".docker", "config.json"))).toBe(false);
  });
});
