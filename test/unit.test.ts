// Unit tables for the pure parts of regctl.ts: references, curl quoting, headers, errors.
import { describe, expect, test } from "bun:test";
import {
  formatReference,
  garbageCollectHelp,
  hintFor,
  isDigest,
  MANIFEST_ACCEPT,
  parseDuration,
  parseErrorBody,
  parseLinkNext,
  parseReference,
  parseRegistry,
  parseRetryAfter,
  parseWwwAuthenticate,
  paint,
  shQuote,
  shQuoteWithVars,
  toCurl,
  UsageError,
} from "../regctl.ts";
import { exec } from "./fixtures.ts";

const D = `sha256:${"ab".repeat(32)}`;

describe("parseReference", () => {
  const cases: [string, string, string, string | undefined, string | undefined][] = [
    // input → registry, repository, tag, digest
    ["busybox", "registry-1.docker.io", "library/busybox", undefined, undefined],
    ["busybox:1.36", "registry-1.docker.io", "library/busybox", "1.36", undefined],
    ["docker.io/library/busybox:latest", "registry-1.docker.io", "library/busybox", "latest", undefined],
    ["index.docker.io/user/app", "registry-1.docker.io", "user/app", undefined, undefined],
    ["user/app:v1", "registry-1.docker.io", "user/app", "v1", undefined],
    ["localhost/app", "localhost", "app", undefined, undefined],
    ["localhost:5000/busybox:latest", "localhost:5000", "busybox", "latest", undefined],
    ["127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000", "a/b/c", "t", undefined],
    ["[::1]:5000/busybox:1", "[::1]:5000", "busybox", "1", undefined],
    [`reg.example.com/team/app@${D}`, "reg.example.com", "team/app", undefined, D],
    [`reg.example.com:443/app:tag@${D}`, "reg.example.com:443", "app", "tag", D],
    ["my-reg.io/a.b_c__d--e/f:Tag_1.2-rc", "my-reg.io", "a.b_c__d--e/f", "Tag_1.2-rc", undefined],
    ["http://localhost:5000/busybox", "localhost:5000", "busybox", undefined, undefined],
  ];
  for (const [input, registry, repository, tag, digest] of cases) test(input, () => expect(parseReference(input)).toEqual({ registry, repository, tag, digest }));

  const bad = [
    "",
    " busybox",
    "Busybox",
    "localhost:5000/Busy",
    "a//b",
    "a/",
    "/a",
    "busybox:",
    "busybox:-x",
    `busybox:${"t".repeat(129)}`,
    "busybox@sha256:abc",
    `busybox@md5:${"a".repeat(32)}`,
    `busybox@${D.toUpperCase()}`,
    "reg..io/a",
    "-reg.io/a",
    "a:b:c",
    "bad host:5000/x",
    "localhost:5000/a b",
    "ünïcode/x",
    "a".repeat(600),
    `x/${"a".repeat(300)}`,
  ];
  for (const input of bad) test(`refuses ${JSON.stringify(input).slice(0, 40)}`, () => expect(() => parseReference(input)).toThrow(UsageError));

  test("a default tag only when asked", () => {
    expect(parseReference("localhost:5000/x").tag).toBeUndefined();
    expect(parseReference("localhost:5000/x", { requireTagOrDigest: true }).tag).toBe("latest");
    expect(parseReference(`localhost:5000/x@${D}`, { requireTagOrDigest: true }).tag).toBeUndefined();
  });
  test("formats back", () => expect(formatReference(parseReference("busybox:1"))).toBe("registry-1.docker.io/library/busybox:1"));
});

describe("parseRegistry", () => {
  test.each([
    ["localhost:5000", "localhost:5000", undefined],
    ["http://127.0.0.1:5000/", "127.0.0.1:5000", "http"],
    ["https://reg.example.com", "reg.example.com", "https"],
    ["docker.io", "registry-1.docker.io", undefined],
    ["[::1]:5000", "[::1]:5000", undefined],
  ])("%s", (input, registry, scheme) => expect(parseRegistry(input)).toEqual({ registry, scheme: scheme as never }));
  test.each(["", "a/b", "http://", "host:port", "ftp://x"])("refuses %p", (input) => expect(() => parseRegistry(input)).toThrow(UsageError));
});

describe("digests", () => {
  test.each([
    [D, true],
    [`sha512:${"a".repeat(128)}`, true],
    ["sha256:abc", false],
    [D.toUpperCase(), false],
    [`${D}\n`, false],
    ["", false],
  ])("%p → %p", (s, ok) => expect(isDigest(s)).toBe(ok));
});

describe("shQuote", () => {
  const hostile = [
    "",
    "plain",
    "it's",
    "a b",
    "$HOME",
    "`id`",
    "$(id)",
    '"q"',
    "back\\slash",
    "new\nline",
    "tab\t",
    "*?[]",
    ";&|<>",
    "'",
    "''",
    "\u00e9\u4e2d",
    "-n",
    "%header{x}",
  ];
  test.each(hostile)("round-trips %p through sh", async (s) => {
    expect((await exec(["sh", "-c", `printf '%s' ${shQuote(s)}`])).stdout).toBe(s);
  });
  test("random bytes round-trip through sh", async () => {
    // 200 random strings of printable and control bytes (no NUL: argv cannot hold it).
    const strings = Array.from({ length: 200 }, () =>
      String.fromCharCode(...Array.from({ length: 1 + Math.floor(Math.random() * 20) }, () => 1 + Math.floor(Math.random() * 126))),
    );
    const script = strings.map((s) => `printf '%s\\0' ${shQuote(s)}`).join("\n");
    expect((await exec(["sh", "-c", script])).stdout.split("\0").slice(0, -1)).toEqual(strings);
  });
  test("captured values become double-quoted variables", async () => {
    const vars = new Map([[D, "DIGEST"]]);
    const quoted = shQuoteWithVars(`http://h/v2/x/manifests/${D}?a='b'`, vars);
    expect(quoted).toBe(`http://h/v2/x/manifests/"$DIGEST"'?a='\\''b'\\'''`);
    expect((await exec(["sh", "-c", `DIGEST=zzz; printf '%s' ${quoted}`])).stdout).toBe("http://h/v2/x/manifests/zzz?a='b'");
  });
});

describe("toCurl", () => {
  test("HEAD with capture uses -w %header and no jq", () => {
    const line = toCurl({
      method: "HEAD",
      url: "http://h/v2/a/manifests/latest",
      headers: { Accept: MANIFEST_ACCEPT },
      script: { capture: { variable: "DIGEST", header: "docker-content-digest" } },
    });
    expect(line.startsWith("DIGEST=$(curl -sS -f -o /dev/null -I -w '%header{docker-content-digest}'")).toBe(true);
    expect(line).not.toContain("jq");
  });
  test("DELETE fails on error statuses unless they are expected", () => {
    expect(toCurl({ method: "DELETE", url: "http://h/x" })).toBe("curl -sS --fail-with-body -X DELETE http://h/x");
    expect(toCurl({ method: "DELETE", url: "http://h/x", expect: [404] })).toBe("curl -sS -X DELETE http://h/x");
  });
  test("-k under --insecure, quoting of hostile URLs", () => {
    expect(toCurl({ method: "GET", url: "https://h/v2/'x'" }, { insecure: true })).toBe(`curl -sS -k 'https://h/v2/'\\''x'\\'''`);
  });
});

describe("parseLinkNext", () => {
  const base = "http://127.0.0.1:5000/v2/_catalog?n=10";
  test.each([
    ['</v2/_catalog?last=bulk%2Frepo-09&n=10>; rel="next"', "http://127.0.0.1:5000/v2/_catalog?last=bulk%2Frepo-09&n=10"],
    ["<https://other/v2/x/tags/list?last=a>; rel=next", "https://other/v2/x/tags/list?last=a"],
    ['<http://a/prev>; rel="prev", </v2/next?x=1>; rel="next"', "http://127.0.0.1:5000/v2/next?x=1"],
    ['</v2/a>; rel="previous"', undefined],
    ["garbage", undefined],
    ["", undefined],
    ['<http://[bad>; rel="next"', undefined],
  ])("%p", (link, expected) => expect(parseLinkNext(link, base)).toBe(expected as string | undefined));
});

describe("parseWwwAuthenticate", () => {
  test("bearer with quoted commas and several scopes", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push repository:c:pull"')).toEqual([
      { scheme: "bearer", params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a/b:pull,push repository:c:pull" } },
    ]);
  });
  test("several challenges", () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm", Bearer realm="x",error="insufficient_scope"')).toEqual([
      { scheme: "basic", params: { realm: "Registry Realm" } },
      { scheme: "bearer", params: { realm: "x", error: "insufficient_scope" } },
    ]);
  });
  test("escaped quotes, unquoted values", () => {
    expect(parseWwwAuthenticate('Bearer realm="a\\"b", service=reg')).toEqual([{ scheme: "bearer", params: { realm: 'a"b', service: "reg" } }]);
  });
  test.each(["", "===", '"unterminated', 'Bearer realm="x', ",,,", "Basic"])("garbage %p never throws", (h) => {
    expect(() => parseWwwAuthenticate(h)).not.toThrow();
  });
});

describe("errors", () => {
  test("parses the spec's error body", () => {
    expect(parseErrorBody('{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}')).toEqual([
      { code: "UNSUPPORTED", message: "The operation is unsupported.", detail: undefined },
    ]);
    expect(parseErrorBody("<html>502</html>")).toEqual([]);
    expect(parseErrorBody('{"errors":"nope"}')).toEqual([]);
    expect(parseErrorBody('{"errors":[{"nocode":1}, null]}')).toEqual([]);
  });
  const u = "http://h/v2/busybox/manifests/";
  test.each([
    ["DELETE", `${u}${D}`, 405, "UNSUPPORTED", /storage\.delete\.enabled: true/],
    ["DELETE", `${u}latest`, 400, "DIGEST_INVALID", /by digest/],
    ["DELETE", `${u}${D}`, 404, "MANIFEST_UNKNOWN", /schema1/],
    ["GET", `${u}nope`, 404, "MANIFEST_UNKNOWN", /regctl tags/],
    ["GET", "http://h/v2/nope/tags/list", 404, "NAME_UNKNOWN", /regctl repos/],
  ])("%s %s %d %s → hint", (method, url, status, code, hint) => {
    expect(hintFor(method as "GET", url, status, [{ code }])).toMatch(hint);
  });
});

describe("durations", () => {
  test.each([
    ["30s", 30000],
    ["1500ms", 1500],
    ["2m", 120000],
    ["12h", 43200000],
    ["30d", 2592000000],
    ["1.5w", 907200000],
  ] as const)("%p", (s, ms) => expect(parseDuration(s)).toBe(ms));
  test.each(["", "x", "-1s", "1y", "1 2s"])("refuses %p", (s) => expect(() => parseDuration(s)).toThrow(UsageError));
  test.each(["30", "0", "1.5"])("a bare number %p has no unit: refused, with an example", (s) => expect(() => parseDuration(s, "--older-than 30d")).toThrow(/no unit/));
  test("Retry-After in seconds and as a date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe("output words", () => {
  test("regctl help gc: the long form of the garbage-collect advice, lines within 80 columns", () => {
    const text = garbageCollectHelp();
    for (const line of text.split("\n")) expect({ line, fits: line.length <= 80 }).toEqual({ line, fits: true });
    for (const must of ["docker-registry garbage-collect", "docker exec", "--dry-run", "--delete-untagged", "read-only", "distribution issue 3178"]) expect(text).toContain(must);
  });

  describe("paint: colour on a terminal only, never with NO_COLOR or TERM=dumb", () => {
    const saved = { NO_COLOR: process.env.NO_COLOR, TERM: process.env.TERM };
    const set = (env: Record<string, string | undefined>) => {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    };
    const withEnv = (env: Record<string, string | undefined>, f: () => void) => {
      set(env);
      try {
        f();
      } finally {
        set(saved);
      }
    };
    const cases: [string, boolean | undefined, Record<string, string | undefined>, string][] = [
      ["a terminal", true, { NO_COLOR: undefined, TERM: "xterm" }, "\x1b[31mdelete\x1b[39m"],
      ["a terminal, NO_COLOR=1", true, { NO_COLOR: "1", TERM: "xterm" }, "delete"],
      ["a terminal, NO_COLOR empty (unset, as no-color.org says)", true, { NO_COLOR: "", TERM: "xterm" }, "\x1b[31mdelete\x1b[39m"],
      ["a terminal, TERM=dumb", true, { NO_COLOR: undefined, TERM: "dumb" }, "delete"],
      ["a pipe", undefined, { NO_COLOR: undefined, TERM: "xterm" }, "delete"],
      ["a pipe (isTTY false)", false, { NO_COLOR: undefined, TERM: "xterm" }, "delete"],
    ];
    for (const [name, isTTY, env, expected] of cases) test(name, () => withEnv(env, () => expect(paint({ isTTY }, "red", "delete")).toBe(expected)));
  });
});
