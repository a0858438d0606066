// Fuzzing the parsers regctl runs on what users type and what registries answer: thousands of
// random and mutated inputs each (inserted, deleted and replaced characters, unicode, control
// characters, huge repeats), from a seeded PRNG so a failure is reproducible (FUZZ_SEED=n to vary).
// Properties: nothing throws anything but RegctlError/UsageError; the parsers of registry answers
// (WWW-Authenticate, Link, error bodies) and splitWords, isDigest never throw at all; no input
// makes a parser slow; a reference that parses re-parses from formatReference to the same value;
// shQuote (and shQuoteWithVars) round-trip through a real sh.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  findCredential,
  formatReference,
  isDigest,
  parseDuration,
  parseErrorBody,
  parseLinkNext,
  parseReference,
  parseRegistry,
  parseRetryAfter,
  parseWwwAuthenticate,
  readDockerConfig,
  type Reference,
  RegctlError,
  shQuote,
  shQuoteWithVars,
  splitWords,
  UsageError,
} from "../regctl.ts";
import { exec } from "./fixtures.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20260127);
const counts: Record<string, number> = {};
afterAll(() => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(
    `\nfuzz (seed ${SEED}): ${total} inputs\n  ${Object.entries(counts)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n  ")}`,
  );
});

// ── a seeded PRNG and the mutations ──

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

/** Characters that break parsers: separators, quotes, unicode look-alikes, controls, surrogates. */
const NASTY = [
  "\u0000",
  "\u0001",
  "\t",
  "\n",
  "\r",
  "\u001b",
  "\u007f",
  " ",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\u200b",
  "\u202e",
  "\uff1a" /* fullwidth colon */,
  "\uff0f" /* fullwidth slash */,
  "\u0130" /* İ: lowercases to two code points */,
  "\u212a" /* Kelvin K */,
  "\ud800" /* lone surrogate */,
  "\udfff",
  "😀",
  "é",
  "e\u0301",
  "%00",
  "%2F",
  "..",
  "/",
  ":",
  "@",
  "#",
  "?",
  "&",
  "=",
  ",",
  ";",
  '"',
  "'",
  "\\",
  "<",
  ">",
  "[",
  "]",
  "{",
  "}",
  "$",
  "`",
  "*",
  "!",
  "~",
  "sha256:",
  "http://",
  "https://",
  "localhost",
  "0",
];

function randomString(r: Rng, max = 40, alphabet?: string): string {
  const n = r.int(max + 1);
  let s = "";
  for (let i = 0; i < n; i++) {
    const k = r.int(10);
    if (alphabet && k < 6) s += alphabet[r.int(alphabet.length)];
    else if (k < 8) s += String.fromCharCode(32 + r.int(95));
    else if (k < 9) s += r.pick(NASTY);
    else s += String.fromCodePoint(r.int(0x11000));
  }
  return s;
}

/** One to three mutations of a string: insert, delete, replace, unicode, controls, huge repeats, splices. */
function mutate(r: Rng, input: string, others: readonly string[]): string {
  let s = input;
  for (let m = 1 + r.int(3); m > 0; m--) {
    const at = r.int(s.length + 1);
    switch (r.int(9)) {
      case 0:
        s = s.slice(0, at) + String.fromCharCode(r.int(256)) + s.slice(at);
        break; // a byte
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + r.int(8));
        break; // delete
      case 2:
        s = s.slice(0, at) + String.fromCharCode(r.int(128)) + s.slice(at + 1);
        break; // replace
      case 3:
        s = s.slice(0, at) + r.pick(NASTY) + s.slice(at);
        break; // nasty
      case 4:
        s = s.slice(0, at) + String.fromCodePoint(r.int(0x110000)) + s.slice(at);
        break; // any code point
      case 5: {
        // a huge repeat of a slice
        const len = 1 + r.int(8);
        s = s.slice(0, at) + s.slice(at, at + len).repeat(r.pick([2, 64, 600, 5000, 30000])) + s.slice(at + len);
        break;
      }
      case 6: {
        // splice with another example
        const o = r.pick(others);
        s = s.slice(0, at) + o.slice(r.int(o.length + 1));
        break;
      }
      case 7:
        s = r.next() < 0.5 ? s.toUpperCase() : s.trim();
        break;
      default:
        s = s.slice(0, at) + randomString(r, 6) + s.slice(at);
    }
  }
  return s.slice(0, 100_000); // huge, but bounded: repeats of repeats stay under 100 K characters
}

/** Inputs for one parser: a third random, two thirds mutated from valid examples. */
function* inputs(r: Rng, n: number, valid: readonly string[], alphabet?: string): Generator<string> {
  for (const v of valid) yield v;
  for (let i = 0; i < n; i++) yield r.next() < 0.33 ? randomString(r, 60, alphabet) : mutate(r, r.pick(valid), valid);
}

const show = (s: unknown) => {
  const j = JSON.stringify(s) ?? String(s);
  return j.length > 160 ? `${j.slice(0, 160)}… (${j.length} chars)` : j;
};

/**
 * Run `fn` on every input: collects the inputs that threw what they must not, and the slowest call.
 * `allowed`: the errors the function may throw (none: it must never throw).
 */
function fuzz<T>(name: string, gen: Iterable<T>, fn: (x: T) => void, allowed: (new (...a: never[]) => Error)[] = []) {
  const bad: string[] = [];
  let slowest = { ms: 0, input: "" };
  let n = 0;
  for (const x of gen) {
    n++;
    const t0 = performance.now();
    try {
      fn(x);
    } catch (err) {
      if (!allowed.some((E) => err instanceof E) || err instanceof PropertyError)
        bad.push(`${show(x)} → ${(err as Error)?.constructor?.name}: ${(err as Error)?.message?.slice(0, 200)}`);
    }
    const ms = performance.now() - t0;
    if (ms > slowest.ms) slowest = { ms, input: show(x) };
  }
  counts[name] = (counts[name] ?? 0) + n;
  return { bad, slowest, n };
}

/** `fuzz` for a function that answers a promise: each input awaited before the next. */
async function fuzzAsync<T>(name: string, gen: Iterable<T>, fn: (x: T) => Promise<void>, allowed: (new (...a: never[]) => Error)[] = []) {
  const bad: string[] = [];
  let n = 0;
  for (const x of gen) {
    n++;
    try {
      await fn(x);
    } catch (err) {
      if (!allowed.some((E) => err instanceof E) || err instanceof PropertyError)
        bad.push(`${show(x)} → ${(err as Error)?.constructor?.name}: ${(err as Error)?.message?.slice(0, 200)}`);
    }
  }
  counts[name] = (counts[name] ?? 0) + n;
  return { bad, n };
}

/** A property that does not hold: never an allowed error. */
class PropertyError extends Error {}
const must = (ok: boolean, what: string) => {
  if (!ok) throw new PropertyError(what);
};

const H64 = "0123456789abcdef".repeat(4);
const D256 = `sha256:${H64}`;
const D512 = `sha512:${H64.repeat(2)}`;

// ── parsers of what users type ──

describe("references and registries", () => {
  const VALID = [
    "busybox",
    "busybox:latest",
    "library/busybox:1.36",
    "localhost:5000/busybox",
    "localhost/app:v1",
    "127.0.0.1:5000/a/b/c:tag",
    "registry.example.com/team/app:1.0.0-rc.1",
    "[::1]:5000/app:x",
    "[fe80::1]/x",
    "docker.io/library/busybox",
    "index.docker.io/x/y",
    `localhost:5000/app@${D256}`,
    `ghcr.io/o/r:t@${D256}`,
    `app@${D512}`,
    "https://localhost:5000/app:tag",
    "docker://busybox",
    "a__b/c--d.e_f:TAG_1.2-rc",
    `${"x".repeat(200)}:${"t".repeat(128)}`,
    "my-registry:443/a.b/c-d/e__f",
    "LOCALDOMAIN/fooo",
    "Foo/bar:Tag",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "[2001:db8::1]:5000/repo",
    "192.168.1.1:75050/x",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
  ];
  /** Every registry regctl accepts is one a request can be sent to. */
  const urlFor = (registry: string) => {
    try {
      return new URL(`https://${registry}/v2/`).host !== "";
    } catch {
      return false;
    }
  };
  test("parseReference: only UsageError; what parses re-parses from formatReference to the same value, and is well-formed", () => {
    const r = prng(SEED);
    const res = fuzz(
      "parseReference",
      inputs(r, 12_000, VALID, "abz09._-/:@[]sh256ABCDEF"),
      (s) => {
        for (const requireTagOrDigest of [false, true]) {
          const ref = parseReference(s, { requireTagOrDigest });
          const text = formatReference(ref);
          let again: Reference;
          try {
            again = parseReference(text, { requireTagOrDigest });
          } catch (err) {
            throw new PropertyError(
              `parsed to ${show(ref)}, but its formatReference ${show(text)} (${text.length} chars) does not re-parse: ${(err as Error).message.slice(0, 120)}`,
            );
          }
          must(JSON.stringify(again) === JSON.stringify(ref), `re-parses to ${show(again)}, not ${show(ref)}`);
          must(!/[\s\u0000-\u001f\u007f]/.test(text), `formatReference holds whitespace or a control: ${show(text)}`);
          must(ref.tag === undefined || /^[\w][\w.-]{0,127}$/.test(ref.tag), `tag ${show(ref.tag)}`);
          must(ref.digest === undefined || isDigest(ref.digest), `digest ${show(ref.digest)}`);
          must(!/[A-Z]/.test(ref.repository) && ref.repository.length > 0, `repository ${show(ref.repository)}`);
          must(urlFor(ref.registry), `registry ${show(ref.registry)} makes no URL`);
        }
      },
      [UsageError],
    );
    if (res.bad.length) console.log(`parseReference: ${res.bad.length} failures, e.g.\n  ${res.bad.slice(0, 6).join("\n  ")}`);
    expect(res.bad.slice(0, 4)).toEqual([]);
    expect(res.slowest.ms).toBeLessThan(250);
  });

  test("parseReference of the longest valid parts: every accepted reference still re-parses", () => {
    // Targeted, from what the grammar allows: a 247-character name (Docker Hub adds library/), a 128-character tag, a sha512 digest.
    const bad: string[] = [];
    const name = "a".repeat(247);
    const cases = [`${name}:${"t".repeat(128)}@${D512}`, `${"b".repeat(255)}:${"t".repeat(128)}`, `localhost:5000/${"c".repeat(255)}:${"t".repeat(128)}@${D512}`];
    for (const s of cases) {
      let ref: Reference;
      try {
        ref = parseReference(s);
      } catch {
        continue; // refused: fine
      }
      const text = formatReference(ref);
      try {
        parseReference(text);
      } catch (err) {
        bad.push(`${show(s)} (${s.length} chars) parses; formatReference gives ${text.length} chars, refused: ${(err as Error).message.slice(-40)}`);
      }
    }
    counts["parseReference (longest parts)"] = cases.length;
    expect(bad).toEqual([]);
  });

  test("parseRegistry: only UsageError; a result is a host that parses again", () => {
    const r = prng(SEED + 1);
    const VALID_R = [
      "localhost:5000",
      "http://127.0.0.1:5000/",
      "https://registry.example.com",
      "[::1]:443",
      "docker.io",
      "ghcr.io",
      "my-host",
      "LOCALDOMAIN",
      "[2001:db8::1]:5000",
      "192.0.2.1:75050",
    ];
    const res = fuzz(
      "parseRegistry",
      inputs(r, 6_000, VALID_R, "azAZ09.-:/[]"),
      (s) => {
        const { registry, scheme } = parseRegistry(s);
        must(scheme === undefined || scheme === "http" || scheme === "https", `scheme ${show(scheme)}`);
        must(parseRegistry(registry).registry === registry, `${show(registry)} does not parse again to itself`);
        must(!/[\s/]/.test(registry), `registry ${show(registry)}`);
        must(urlFor(registry), `registry ${show(registry)} makes no URL`);
      },
      [UsageError],
    );
    expect(res.bad.slice(0, 4)).toEqual([]);
    expect(res.slowest.ms).toBeLessThan(250);
  });

  test("isDigest: never throws; true only for algorithm:hex of the right length", () => {
    const r = prng(SEED + 2);
    const res = fuzz("isDigest", inputs(r, 6_000, [D256, D512, `sha384:${"a".repeat(96)}`, "sha256:abc", D256.toUpperCase()], "sha2560123456789abcdef:"), (s) => {
      const ok = isDigest(s);
      must(typeof ok === "boolean", "not a boolean");
      if (ok) must(/^sha(256:[0-9a-f]{64}|384:[0-9a-f]{96}|512:[0-9a-f]{128})$/.test(s), `accepted ${show(s)}`);
    });
    expect(res.bad.slice(0, 4)).toEqual([]);
  });

  test("parseDuration: only UsageError; a result is a whole number of ms, ≥ 0, that a timer takes", () => {
    const r = prng(SEED + 3);
    const res = fuzz(
      "parseDuration",
      inputs(r, 6_000, ["30", "30s", "1500ms", "2m", "12h", "30d", "1.5w", " 5 s ", "0", "999999999999d"], "0123456789.msdhw "),
      (s) => {
        const ms = parseDuration(s);
        // AbortSignal.timeout (--timeout) takes at most 2^53 - 1 ms; beyond, every request fails with a RangeError.
        must(Number.isSafeInteger(ms) && ms >= 0, `${show(s)} → ${ms}`);
      },
      [UsageError],
    );
    if (res.bad.length) console.log(`parseDuration: ${res.bad.length} failures, e.g.\n  ${res.bad.slice(0, 3).join("\n  ")}`);
    expect(res.bad.slice(0, 4)).toEqual([]);
  });
});

// ── parsers of what registries answer: they must never throw ──

describe("registry answers", () => {
  test("parseWwwAuthenticate: never throws; fast on headers up to 64 KiB; schemes lowercase, params strings", () => {
    const r = prng(SEED + 4);
    const VALID = [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      'Basic realm="Registry Realm"',
      'Bearer realm="x", error="insufficient_scope", Basic realm="y"',
      "Negotiate, NTLM",
      'Bearer realm="a\\"b,c",service=plain',
      "Bearer realm=https://x/token,service=y",
      'Digest realm="x", qop="auth,auth-int", nonce="abc"',
    ];
    let slowSmall = { ms: 0, length: 0 };
    const res = fuzz("parseWwwAuthenticate", inputs(r, 8_000, VALID, 'Bearer realm=",\\ '), (s) => {
      const t0 = performance.now();
      const out = parseWwwAuthenticate(s);
      const ms = performance.now() - t0;
      // A header of up to 64 KiB parses fast. (Bun's fetch takes headers of 300 KB and more; past
      // ~70 K characters JSC's regexp engine backtracks slowly, ~0.4 s at most, then gives up: [].)
      if (s.length <= 64 << 10 && ms > slowSmall.ms) slowSmall = { ms, length: s.length };
      must(Array.isArray(out), "not an array");
      for (const c of out) {
        must(typeof c.scheme === "string" && c.scheme === c.scheme.toLowerCase() && c.scheme.length > 0, `scheme ${show(c.scheme)}`);
        for (const [k, v] of Object.entries(c.params)) must(typeof v === "string" && k === k.toLowerCase(), `param ${show(k)}=${show(v)}`);
      }
    });
    parseWwwAuthenticate(null);
    expect(res.bad.slice(0, 4)).toEqual([]);
    expect(slowSmall.ms).toBeLessThan(150);
    expect(res.slowest.ms).toBeLessThan(2000);
  });

  test("parseWwwAuthenticate: a quoted value is read whole, or not at all (an unterminated quote does not lose a character)", () => {
    const bad: string[] = [];
    const cases: [string, string | undefined][] = [
      ['Bearer realm="https://auth.example.com/token",service="x"', "https://auth.example.com/token"],
      ['Bearer realm="https://auth.example.com/token', undefined], // unterminated: refuse, or keep every character
      ['Bearer realm="a\\"b"', 'a"b'],
    ];
    for (const [h, realm] of cases) {
      const got = parseWwwAuthenticate(h)[0]?.params.realm;
      if (realm !== undefined ? got !== realm : got !== undefined && got !== "https://auth.example.com/token") bad.push(`${show(h)} → realm ${show(got)}`);
    }
    counts["parseWwwAuthenticate (quotes)"] = cases.length;
    expect(bad).toEqual([]);
  });

  test("parseLinkNext: never throws, never slow; a result is an absolute URL", () => {
    const r = prng(SEED + 5);
    const VALID = [
      '</v2/_catalog?last=b&n=2>; rel="next"',
      "<https://r.example.com/v2/a/tags/list?n=1&last=x>; rel=next",
      '</v2/a/tags/list?last=1>; rel="prev", </v2/a/tags/list?last=2>; rel="next"',
      '<http://[::1]:5000/v2/_catalog?n=5>;rel="next";title="x"',
    ];
    const bases = ["http://127.0.0.1:5000/v2/_catalog", "https://registry.example.com/v2/a/tags/list?n=2"];
    const res = fuzz("parseLinkNext", inputs(r, 8_000, VALID, '<>/;=", relnxt?&'), (s) => {
      for (const base of bases) {
        const next = parseLinkNext(s, base);
        if (next !== undefined) must(URL.canParse(next) && /^[a-z][a-z0-9+.-]*:/i.test(next), `${show(next)}`);
      }
    });
    parseLinkNext(null, bases[0]!);
    expect(res.bad.slice(0, 4)).toEqual([]);
    expect(res.slowest.ms).toBeLessThan(250);
  });

  test("parseRetryAfter: never throws; undefined or a number of ms ≥ 0", () => {
    const r = prng(SEED + 6);
    const VALID = ["1", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "  3  ", new Date(Date.now() + 5000).toUTCString(), "0"];
    const res = fuzz("parseRetryAfter", inputs(r, 6_000, VALID, "0123456789 ,:GMTWedOct"), (s) => {
      const ms = parseRetryAfter(s);
      must(ms === undefined || (typeof ms === "number" && !Number.isNaN(ms) && ms >= 0), `${show(s)} → ${ms}`);
    });
    expect(res.bad.slice(0, 4)).toEqual([]);
  });

  test("parseErrorBody: never throws, on strings and bytes; codes are strings", () => {
    const r = prng(SEED + 7);
    const VALID = [
      '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}',
      '{"errors":null}',
      "[]",
      "null",
      '{"errors":[{"code":1},{"code":"A","message":5},null,"x",[]]}',
      '{"errors":{"length":3}}',
      "<html>no</html>",
      `{"errors":[${'{"code":"X"},'.repeat(50)}{"code":"Y"}]}`,
      `${"[".repeat(5000)}${"]".repeat(5000)}`,
    ];
    const enc = new TextEncoder();
    const res = fuzz("parseErrorBody", inputs(r, 6_000, VALID, '{}[]":,errorscode'), (s) => {
      for (const body of [s, enc.encode(s), Uint8Array.from({ length: s.length % 64 }, (_, i) => (s.charCodeAt(i % Math.max(1, s.length)) * 7) & 255)]) {
        const out = parseErrorBody(body);
        must(Array.isArray(out), "not an array");
        for (const e of out) must(typeof e.code === "string" && (e.message === undefined || typeof e.message === "string"), show(e));
      }
    });
    expect(res.bad.slice(0, 4)).toEqual([]);
    expect(res.slowest.ms).toBeLessThan(250);
  });
});

// ── local files ──

describe("docker config files", () => {
  const dir = mkdtempSync(join(tmpdir(), "regctl-fuzz-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const VALID = [
    '{"auths":{"localhost:5000":{"auth":"YWxpY2U6c2VjcmV0"}}}',
    '{"auths":{"https://index.docker.io/v1/":{"identitytoken":"tok"}},"credHelpers":{"gcr.io":"gcloud"},"credsStore":"desktop"}',
    '{"auths":{"r.example.com":{"username":"u","password":"p"}},"HttpHeaders":{"User-Agent":"x"}}',
    "{}",
    '{"auths":{}}',
    '{"auths":[]}',
    '{"auths":null}',
    '{"credsStore":5}',
    "[]",
    "null",
    '"x"',
    "",
    "\ufeff{}",
  ];

  test("readDockerConfig: only RegctlError, on random and mutated files; a result is an object", () => {
    const r = prng(SEED + 8);
    let i = 0;
    const res = fuzz(
      "readDockerConfig",
      inputs(r, 3_000, VALID, '{}[]":,authsuernmpwdcredHlStoyb64='),
      (s) => {
        const path = join(dir, `c${i++ % 50}.json`);
        // Some as text, some as raw bytes (invalid UTF-8 included).
        writeFileSync(path, r.next() < 0.8 ? s : Buffer.from(Array.from(s, (c) => c.charCodeAt(0) & 255)));
        const c = readDockerConfig(path);
        must(c === undefined || (typeof c === "object" && c !== null && !Array.isArray(c)), show(c));
      },
      [RegctlError],
    );
    // Paths that are not files.
    mkdirSync(join(dir, "adir"), { recursive: true });
    const special = fuzz("readDockerConfig (paths)", [join(dir, "adir"), join(dir, "missing.json"), join(dir, "c0.json", "below"), "", "\u0000"], (p) => void readDockerConfig(p), [
      RegctlError,
    ]);
    if (res.bad.length) console.log(`readDockerConfig: ${res.bad.length} failures, e.g.\n  ${res.bad.slice(0, 3).join("\n  ")}`);
    expect(res.bad.slice(0, 4)).toEqual([]);
    expect(special.bad.slice(0, 4)).toEqual([]);
  });

  test("findCredential on random and mutated config files: only RegctlError, never a crash on a wrong type", async () => {
    const r = prng(SEED + 9);
    const home = join(dir, "home");
    mkdirSync(join(home, ".docker"), { recursive: true });
    const emptyPath = join(dir, "nobin");
    mkdirSync(emptyPath, { recursive: true });
    chmodSync(emptyPath, 0o755);
    // Values of every JSON type where the code expects strings and objects (credential helpers left out: they would run programs).
    const values = ['"YWxpY2U6c2VjcmV0"', '"bm9jb2xvbg=="', "5", "true", "null", "[]", '{"a":1}', '""', '"a:b"', '"%%%"'];
    const generated = function* () {
      for (const v of VALID) if (!/cred/.test(v)) yield v;
      for (let n = 0; n < 1_500; n++) {
        const entry = `{${["auth", "identitytoken", "username", "password"]
          .filter(() => r.next() < 0.5)
          .map((k) => `"${k}":${r.pick(values)}`)
          .join(",")}}`;
        const key = r.pick(["localhost:5000", "http://localhost:5000", "https://localhost:5000/v2/", "other:1"]);
        const doc = `{"auths":{"${key}":${r.next() < 0.9 ? entry : r.pick(values)}}}`;
        yield r.next() < 0.7 ? doc : mutate(r, doc, VALID).replace(/cred/gi, "x");
      }
    };
    const wrongType: string[] = [];
    const res = await fuzzAsync(
      "findCredential",
      generated(),
      async (s) => {
        writeFileSync(join(home, ".docker", "config.json"), s);
        const c = await findCredential("localhost:5000", {}, { HOME: home, PATH: emptyPath });
        if (c) {
          if (typeof c.source !== "string") wrongType.push(`${show(s)} → no source`);
          for (const k of ["username", "password", "identityToken"] as const)
            if (c[k] !== undefined && typeof c[k] !== "string") wrongType.push(`${show(s)} → ${k} is ${show(c[k])}, not a string`);
        }
      },
      [RegctlError],
    );
    if (res.bad.length) console.log(`findCredential: ${res.bad.length} inputs threw something else than RegctlError, e.g.\n  ${res.bad.slice(0, 3).join("\n  ")}`);
    if (wrongType.length) console.log(`findCredential: ${wrongType.length} inputs gave a credential field that is not a string, e.g.\n  ${wrongType.slice(0, 3).join("\n  ")}`);
    // A config file with a number where a string belongs must be a RegctlError naming the file, not "a bug in regctl".
    expect(res.bad.slice(0, 3)).toEqual([]);
    // And no number, object or boolean goes on as a username, password or token.
    expect(wrongType.slice(0, 3)).toEqual([]);
  });
});

// ── shell words and quoting ──

describe("shell", () => {
  test("splitWords: never throws; words are strings; splitWords of shQuoted words gives the words back", () => {
    const r = prng(SEED + 10);
    const VALID = [`regctl tags 'a b' "c\\"d" e\\ f`, "regctl ", "", "'", '"', "\\", "a\\", `'it'\\''s'`, "x\u00a0y"];
    const res = fuzz("splitWords", inputs(r, 6_000, VALID, ` '"\\ab`), (s) => {
      const w = splitWords(s);
      must(Array.isArray(w) && w.length >= 1 && w.every((x) => typeof x === "string"), show(w));
    });
    const words = fuzz(
      "splitWords ∘ shQuote",
      (function* () {
        for (let i = 0; i < 4_000; i++) yield Array.from({ length: 1 + r.int(4) }, () => (r.next() < 0.5 ? randomString(r, 12, ` '"\\$\`\t\n`) : mutate(r, "a b'c", VALID)));
      })(),
      (arr) => {
        const back = splitWords(arr.map(shQuote).join(" "));
        must(JSON.stringify(back) === JSON.stringify(arr), `${show(arr)} → ${show(arr.map(shQuote).join(" "))} → ${show(back)}`);
      },
    );
    expect(res.bad.slice(0, 4)).toEqual([]);
    expect(words.bad.slice(0, 4)).toEqual([]);
  });

  /** Run many quoted words through one sh (a script file: no argv limit); printf prints each NUL-terminated. */
  async function throughSh(script: string): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), "regctl-fuzz-sh-"));
    try {
      writeFileSync(join(dir, "s.sh"), script);
      const r = await exec(["sh", join(dir, "s.sh")], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" }, timeoutMs: 20_000 });
      if (r.code !== 0) throw new Error(`sh exited ${r.code}: ${r.stderr.slice(0, 300)}`);
      return r.stdout.split("\0").slice(0, -1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Strings of random bytes 1–255 (sh arguments cannot hold NUL), and random unicode (no lone surrogates: UTF-8 cannot carry them). */
  function shInputs(r: Rng, n: number): string[] {
    const out = ["", "'", "''", "'\\''", "a b", "$HOME", "`id`", "$(id)", "\\", "\n", "-n", "--", "!", "~", "*", "a=b", "%s", "\\0101"];
    while (out.length < n) {
      const k = r.int(4);
      if (k === 0) out.push(Array.from({ length: r.int(40) }, () => String.fromCharCode(1 + r.int(255))).join(""));
      else if (k === 1) out.push(randomString(r, 30, `'"\\$\`!*?[]{}~#&;|<>() \t\n`).replace(/[\u0000\ud800-\udfff]/g, ""));
      else if (k === 2) out.push(mutate(r, r.pick(out), out).replace(/[\u0000\ud800-\udfff]/g, ""));
      else out.push(String.fromCodePoint(...Array.from({ length: 1 + r.int(10) }, () => 1 + r.int(0xd7ff))));
    }
    return out;
  }

  test("shQuote round-trips through sh for random bytes and unicode (batched, one sh per 500)", async () => {
    const r = prng(SEED + 11);
    const all = shInputs(r, 4_000);
    const bad: string[] = [];
    for (let i = 0; i < all.length; i += 500) {
      const batch = all.slice(i, i + 500);
      const got = await throughSh(`printf '%s\\0' ${batch.map(shQuote).join(" \\\n  ")}\n`);
      batch.forEach((s, j) => {
        if (got[j] !== s) bad.push(`${show(s)} → ${show(shQuote(s))} → ${show(got[j])}`);
      });
      if (got.length !== batch.length) bad.push(`batch ${i}: ${got.length} words back for ${batch.length}`);
    }
    counts["shQuote (through sh)"] = all.length;
    expect(bad.slice(0, 5)).toEqual([]);
  }, 30_000);

  test("shQuoteWithVars round-trips through sh with the variables set to the values they stand for", async () => {
    const r = prng(SEED + 12);
    const strings = shInputs(r, 1_500).filter((s) => s.length > 0);
    const bad: string[] = [];
    for (let i = 0; i < strings.length; i += 250) {
      const batch = strings.slice(i, i + 250);
      const lines: string[] = [];
      batch.forEach((s, j) => {
        // Two non-empty values taken from the string itself, so they occur in it.
        const vars = new Map<string, string>();
        for (let v = 0; v < 2; v++) {
          const at = r.int(s.length);
          const value = s.slice(at, at + 1 + r.int(6));
          if (value && ![...vars.keys()].some((k) => k.includes(value) || value.includes(k))) vars.set(value, `V${j}_${v}`);
        }
        for (const [value, name] of vars) lines.push(`${name}=${shQuote(value)}`);
        lines.push(`printf '%s\\0' ${shQuoteWithVars(s, vars)}`);
      });
      const got = await throughSh(`${lines.join("\n")}\n`);
      batch.forEach((s, j) => {
        if (got[j] !== s) bad.push(`${show(s)} → ${show(got[j])}`);
      });
    }
    counts["shQuoteWithVars (through sh)"] = strings.length;
    expect(bad.slice(0, 5)).toEqual([]);
  }, 30_000);
});
