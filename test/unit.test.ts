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
  OLDEST_CURL,
  paint,
  type RegistryRequest,
  shQuote,
  shQuoteWithVars,
  toCurl,
  UsageError,
} from "../regctl.ts";
import { assertOldCurl, CURL_ADDED, CURL_TOO_NEW, curlOptions } from "./cli.ts";
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
  const M = "http://h/v2/a/manifests";
  const B = `http://h/v2/a/blobs/${D}`;
  const ACCEPT = { Accept: MANIFEST_ACCEPT };
  const vars = new Map([[MANIFEST_ACCEPT, "ACCEPT"]]);
  // request, options → the lines of the script; none needs a curl newer than 7.68
  const cases: [string, RegistryRequest, Parameters<typeof toCurl>[1], string][] = [
    [
      "a GET: the body to /dev/null, -f stops the script on an error status",
      { method: "GET", url: `${M}/latest` },
      {},
      `curl -sS -f -o /dev/null ${M}/latest || { echo 'GET ${M}/latest failed: stopping' >&2; exit 1; }`,
    ],
    [
      "a HEAD: -I, its headers to /dev/null",
      { method: "HEAD", url: `${M}/latest`, headers: ACCEPT },
      { vars },
      `curl -sS -f -o /dev/null -I -H 'Accept: '"$ACCEPT" ${M}/latest || { echo 'HEAD ${M}/latest failed: stopping' >&2; exit 1; }`,
    ],
    [
      "a read that takes a 404 as an answer: the status checked with -w",
      { method: "HEAD", url: B, expect: [404] },
      {},
      `STATUS=$(curl -sS -o /dev/null -w '%{http_code}' -I ${B})\ncase $STATUS in 2??|3??|404) ;; *) echo 'HEAD ${B} answered '"$STATUS" >&2; exit 1 ;; esac`,
    ],
    [
      "the anonymous ping takes a 401",
      { method: "GET", url: "http://h/v2/", anonymous: true, expect: [401] },
      {},
      `STATUS=$(curl -sS -o /dev/null -w '%{http_code}' http://h/v2/)\ncase $STATUS in 2??|3??|401) ;; *) echo 'GET http://h/v2/ answered '"$STATUS" >&2; exit 1 ;; esac`,
    ],
    [
      "a DELETE by digest: the status checked, the error body shown, what it did echoed",
      { method: "DELETE", url: `${M}/${D}` },
      { vars: new Map([[D, "DIGEST"]]) },
      `ANSWER=$(curl -sS -w ' %{http_code}' -X DELETE ${M}/"$DIGEST")\ncase $ANSWER in *' '2??) echo 'deleted h/a@'"$DIGEST" ;; *) echo 'DELETE ${M}/'"$DIGEST"' failed: '"$ANSWER" >&2; exit 1 ;; esac`,
    ],
    [
      "a DELETE by tag, which a registry may refuse: the refusal echoed, not a failure",
      { method: "DELETE", url: `${M}/latest`, expect: [400, 404, 405] },
      {},
      `ANSWER=$(curl -sS -w ' %{http_code}' -X DELETE ${M}/latest)\ncase $ANSWER in *' '2??) echo 'untagged h/a:latest' ;; *' '400|*' '404|*' '405) echo 'not untagged by DELETE: h/a:latest (the registry answered '"\${ANSWER##* })" ;; *) echo 'DELETE ${M}/latest failed: '"$ANSWER" >&2; exit 1 ;; esac`,
    ],
    [
      "a PUT of a manifest",
      { method: "PUT", url: `${M}/1`, headers: { "Content-Type": "application/x" }, body: "{}" },
      {},
      `ANSWER=$(curl -sS -w ' %{http_code}' -X PUT -H 'Content-Type: application/x' --data-binary '{}' ${M}/1)\ncase $ANSWER in *' '2??) echo 'pushed h/a:1' ;; *) echo 'PUT ${M}/1 failed: '"$ANSWER" >&2; exit 1 ;; esac`,
    ],
    [
      "a header captured from a HEAD: -I, picked by sh alone, CR stripped",
      { method: "HEAD", url: `${M}/latest`, headers: ACCEPT, script: { capture: { variable: "DIGEST", header: "docker-content-digest" } } },
      { vars },
      `HEADERS=$(curl -sS -f -I -H 'Accept: '"$ACCEPT" ${M}/latest) || { echo 'HEAD ${M}/latest failed: stopping' >&2; exit 1; }\nDIGEST=$(printf '%s\\n' "$HEADERS" | while IFS= read -r L; do case $L in [Dd][Oo][Cc][Kk][Ee][Rr]-[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Dd][Ii][Gg][Ee][Ss][Tt]:*) L=\${L#*:}; L=\${L# }; printf '%s' "\${L%"$(printf '\\r')"}"; break ;; esac; done)`,
    ],
    [
      "a header captured from a POST: -D -, the body to /dev/null; an empty value stops the script",
      { method: "POST", url: "http://h/v2/a/blobs/uploads/", script: { capture: { variable: "LOCATION", header: "location", check: false } } },
      {},
      [
        "HEADERS=$(curl -sS -f -D - -o /dev/null -X POST http://h/v2/a/blobs/uploads/) || { echo 'POST http://h/v2/a/blobs/uploads/ failed: stopping' >&2; exit 1; }",
        `LOCATION=$(printf '%s\\n' "$HEADERS" | while IFS= read -r L; do case $L in [Ll][Oo][Cc][Aa][Tt][Ii][Oo][Nn]:*) L=\${L#*:}; L=\${L# }; printf '%s' "\${L%"$(printf '\\r')"}"; break ;; esac; done)`,
        `[ -n "$LOCATION" ] || { echo 'the answer has no location header: stopping' >&2; exit 1; }`,
        "echo 'started a blob upload to h/a'",
      ].join("\n"),
    ],
    [
      "a blob PUT to the captured location",
      { method: "PUT", url: `http://h/v2/a/blobs/uploads/u?_state=s&digest=${encodeURIComponent(D)}`, body: "{}" },
      { vars: new Map([["http://h/v2/a/blobs/uploads/u?_state=s", "LOCATION"]]) },
      `ANSWER=$(curl -sS -w ' %{http_code}' -X PUT --data-binary '{}' "$LOCATION"'&digest=sha256%3A${D.slice(7)}')\ncase $ANSWER in *' '2??) echo 'uploaded blob ${D} to h/a' ;; *) echo 'PUT '"$LOCATION"'&digest=sha256%3A${D.slice(7)} failed: '"$ANSWER" >&2; exit 1 ;; esac`,
    ],
    [
      "a check: the script stops unless the status is the one asked",
      { method: "DELETE", url: `${M}/${D}`, expect: [404, 405], script: { stopUnless: { status: 404, message: "deletes are disabled" } } },
      {},
      `[ "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE ${M}/${D})" = 404 ] || { echo 'deletes are disabled' >&2; exit 1; }`,
    ],
    [
      "credentials by variable, never by value",
      { method: "GET", url: `${M}/latest`, auth: { basic: true } },
      {},
      `curl -sS -u "$REGCTL_USERNAME:$REGCTL_PASSWORD" -f -o /dev/null ${M}/latest || { echo 'GET ${M}/latest failed: stopping' >&2; exit 1; }`,
    ],
    [
      "a bearer token by variable",
      { method: "GET", url: `${M}/latest`, auth: { bearer: "TOKEN" } },
      {},
      `curl -sS -H "Authorization: Bearer $TOKEN" -f -o /dev/null ${M}/latest || { echo 'GET ${M}/latest failed: stopping' >&2; exit 1; }`,
    ],
    [
      "a token request: -f, the token picked out of the JSON by sh",
      { method: "GET", url: "http://t/token?scope=s", auth: { basic: true }, script: { tokenCapture: "TOKEN" } },
      {},
      [
        `TOKEN=$(curl -sS -u "$REGCTL_USERNAME:$REGCTL_PASSWORD" -f 'http://t/token?scope=s') || { echo 'GET http://t/token?scope=s failed: stopping' >&2; exit 1; }`,
        `case $TOKEN in *'"token"'*) TOKEN=\${TOKEN#*'"token"'} ;; *) TOKEN=\${TOKEN#*'"access_token"'} ;; esac`,
        `TOKEN=\${TOKEN#*'"'}; TOKEN=\${TOKEN%%'"'*}`,
      ].join("\n"),
    ],
    [
      "the refresh grant: --data-urlencode with the secret by variable",
      {
        method: "POST",
        url: "http://t/token",
        form: [
          ["grant_type", "refresh_token"],
          ["refresh_token", { secret: "identityToken", host: "h" }],
        ],
        script: { tokenCapture: "TOKEN" },
      },
      {},
      `TOKEN=$(curl -sS -f -X POST --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$REGCTL_IDENTITY_TOKEN" http://t/token) || { echo 'POST http://t/token failed: stopping' >&2; exit 1; }`,
    ],
    [
      "-k under --insecure, quoting of hostile URLs",
      { method: "GET", url: "https://h/v2/'x'" },
      { insecure: true },
      `curl -sS -k -f -o /dev/null 'https://h/v2/'\\''x'\\''' || { echo 'GET https://h/v2/'\\''x'\\'' failed: stopping' >&2; exit 1; }`,
    ],
    [
      "--cacert, --cert and --key",
      { method: "GET", url: "https://h/v2/" },
      { cacert: "/c/ca.crt", cert: "/c/client.cert", key: "/c/client.key" },
      "curl -sS --cacert /c/ca.crt --cert /c/client.cert --key /c/client.key -f -o /dev/null https://h/v2/ || { echo 'GET https://h/v2/ failed: stopping' >&2; exit 1; }",
    ],
  ];
  test.each(cases)("%s", (_, req, opts, lines) => {
    const script = toCurl(req, opts);
    // the token request's first line is enough to compare
    expect(req.script?.tokenCapture && req.form ? script.split("\n")[0] : script).toBe(lines);
    expect(() => assertOldCurl(script, "this case")).not.toThrow();
  });

  /** Run lines of toCurl with `curl` a sh function that prints `answer` (what curl would print), and with DIGEST set. */
  const withStub = (answer: string, lines: string, after = "") =>
    exec(["sh", "-c", `set -eu\ncurl() { printf '%s' "$ANSWER_STUB"; }\n${lines}\n${after}`], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ANSWER_STUB: answer } });
  const CRLF = (...lines: string[]) => lines.map((l) => `${l}\r\n`).join("");

  test("a captured header, with sh alone: any case of its name, CR stripped, the first one", async () => {
    const capture = toCurl({ method: "HEAD", url: `${M}/x`, script: { capture: { variable: "DIGEST", header: "docker-content-digest" } } });
    for (const name of ["Docker-Content-Digest", "docker-content-digest"]) {
      const r = await withStub(CRLF("HTTP/1.1 200 OK", "Content-Type: a/b", `${name}: ${D}`, `${name}: sha256:other`, ""), capture, `printf '%s' "$DIGEST"`);
      expect(r).toMatchObject({ code: 0, stdout: D });
    }
  });
  test("a write: what it did echoed; an error status stops the script with the registry's answer", async () => {
    const del = toCurl({ method: "DELETE", url: `${M}/${D}` });
    expect(await withStub(" 202", del)).toMatchObject({ code: 0, stdout: `deleted h/a@${D}\n` });
    const refused = await withStub('{"errors":[{"code":"UNSUPPORTED"}]}\n 405', del, "echo never");
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain(`DELETE ${M}/${D} failed: {"errors":[{"code":"UNSUPPORTED"}]}`);
    const tag = toCurl({ method: "DELETE", url: `${M}/latest`, expect: [400] });
    expect(await withStub('{"errors":[{"code":"DIGEST_INVALID"}]} 400', tag)).toMatchObject({
      code: 0,
      stdout: "not untagged by DELETE: h/a:latest (the registry answered 400)\n",
    });
  });
  test("a read that expects a 404: 404 goes on, 500 stops", async () => {
    const head = toCurl({ method: "HEAD", url: B, expect: [404] });
    expect(await withStub("404", head, "echo on")).toMatchObject({ code: 0, stdout: "on\n" });
    const r = await withStub("500", head, "echo on");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`HEAD ${B} answered 500`);
  });
  test("the recheck reads each tag's status, digest and type from the headers, with sh alone", async () => {
    const recheck = toCurl({
      method: "GET",
      url: "http://h/v2/a/tags/list",
      script: { recheck: { repository: "a", deletes: new Map([[D, ["old"]]]), untags: new Map(), lists: new Set() } },
    });
    expect(recheck).not.toContain("%header{");
    // tags/list, then one HEAD per tag: "new" was pushed onto the digest to delete since the plan
    const stub = `curl() { for a; do url=$a; done; case $url in
      */tags/list) printf '{"name":"a","tags":["old","new","gone"]}' ;;
      */manifests/gone) printf 'HTTP/1.1 404 Not Found\\r\\n\\r\\n' ;;
      */manifests/*) printf 'HTTP/2 200\\r\\ncontent-type: application/vnd.oci.image.manifest.v1+json\\r\\ndocker-content-digest: ${D}\\r\\n\\r\\n' ;;
    esac; }`;
    const r = await exec(["sh", "-c", `set -eu\nACCEPT=x\n${stub}\n${recheck}\necho planned`], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the repository changed since the plan: new → ${D}; run it again`);
    const same = await exec(["sh", "-c", `set -eu\nACCEPT=x\n${stub.replace('"new",', "")}\n${recheck}\necho planned`], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    expect(same).toMatchObject({ code: 0, stdout: "planned\n" });
  });
});

describe("the curl the scripts need", () => {
  test(`every option and -w variable the scripts may use is older than curl ${OLDEST_CURL}; the ones they dropped are newer`, () => {
    const semver = (v: string) => [...v.split("."), "0", "0"].slice(0, 3).join(".");
    for (const added of Object.values(CURL_ADDED)) expect(Bun.semver.order(semver(added), OLDEST_CURL)).toBeLessThanOrEqual(0);
    for (const added of Object.values(CURL_TOO_NEW)) expect(Bun.semver.order(added, OLDEST_CURL)).toBe(1);
  });
  test.each([
    [`DIGEST=$(curl -sS -f -o /dev/null -I -w '%header{docker-content-digest}' http://h/)`, "%header{"],
    ["curl -sS --fail-with-body -X DELETE http://h/", "--fail-with-body"],
    [`curl -sS -w '%{header_json}' http://h/`, "header_json"],
    ["curl -sS --retry-all-errors http://h/", "--retry-all-errors"],
    [`A=$(curl -sS -w '%{json}' http://h/)`, "%{json}"],
  ])("refuses %p (%s)", (script, feature) => expect(() => assertOldCurl(script, "a script")).toThrow(feature));
  test("finds the options of every curl command, however quoted, and not in comments", () => {
    const script = [
      "# curl -sS --some-comment",
      `HEADERS=$(curl -sS -k -f -I -H 'Accept: '"$ACCEPT" http://h/ | tr -d '\\r')`,
      `[ "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$URL")" = 404 ] || exit 1`,
      `curl -sS -u "$U:$P" --data-urlencode "a=-x" -D - 'http://h/?-y'`,
    ].join("\n");
    expect(curlOptions(script).sort()).toEqual(["%{http_code}", "--data-urlencode", "-D", "-H", "-I", "-S", "-X", "-f", "-k", "-o", "-s", "-u", "-w"].sort());
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
