// Tables for the pure decisions of regctl.ts, one line a case: input → expected. No registry, no
// shell, no network: the retry policy, what a 401 leads to, prune's decision, natural order,
// token scopes, and the candidates of a TAB.
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  completeLine,
  completionSpec,
  mapOrdered,
  decidePrune,
  naturalCompare,
  on401,
  type Outcome,
  type PruneFacts,
  type Refusal,
  readCachedLines,
  RETRY,
  type RegistryRequest,
  retryDecision,
  scopeFor,
} from "../regctl.ts";

describe("retryDecision: request, outcome, attempt → what the transport does", () => {
  const GET = { method: "GET" } as const;
  const DELETE = { method: "DELETE" } as const;
  const verified = { method: "DELETE", verify: { request: { method: "HEAD", url: "http://h/x" }, done: 404 } } as Pick<RegistryRequest, "method" | "verify">;
  const PUT = { method: "PUT", idempotent: true } as const;
  const POST = { method: "POST" } as const;
  // jitter 0.5: the backoff exactly, 200 ms doubling to 2 s
  const cases: [string, Pick<RegistryRequest, "method" | "idempotent" | "verify">, Outcome, number, number, string][] = [
    // name, request, outcome, attempt, uncertain earlier attempts → decision
    ["a read turned away (429)", GET, { status: 429 }, 1, 0, "retry 200"],
    ["a read turned away, Retry-After 3 s", GET, { status: 429, retryAfterMs: 3000 }, 1, 0, "retry 3000"],
    ["a read, Retry-After beyond the limit", GET, { status: 503, retryAfterMs: RETRY.maxRetryAfterMs + 1 }, 1, 0, "stop"],
    ["a read, gateway 502", GET, { status: 502 }, 2, 0, "retry 400"],
    ["a read, connection reset, backoff capped", GET, { network: "ECONNRESET" }, 5, 0, "retry 2000"],
    ["a read, the last attempt", GET, { status: 503 }, RETRY.attempts, 0, "stop"],
    ["a read, refused: the registry is down", GET, { network: "ECONNREFUSED" }, 1, 0, "stop"],
    ["a read, untrusted certificate", GET, { network: "CERT" }, 1, 0, "stop"],
    ["a read, 404", GET, { status: 404 }, 1, 0, "stop"],
    ["a read, 500", GET, { status: 500 }, 1, 0, "stop"],
    ["a write turned away (429): it did not happen", DELETE, { status: 429 }, 1, 0, "retry 200"],
    ["a write, refused: it did not arrive", DELETE, { network: "ECONNREFUSED" }, 1, 0, "retry 200"],
    ["a write, refused, out of write attempts", DELETE, { network: "ECONNREFUSED" }, RETRY.writeAttempts, 0, "stop"],
    ["a write, reset: may have happened, no way to look", DELETE, { network: "ECONNRESET" }, 1, 0, "stop unknown"],
    ["a write, gateway 504: may have happened", POST, { status: 504 }, 1, 0, "stop unknown"],
    ["a verifiable write, reset: look first", verified, { network: "ECONNRESET" }, 1, 0, "verify"],
    ["a verifiable write, timed out: look first", verified, { network: "TimeoutError" }, 2, 1, "verify"],
    ["a verifiable write, the third unknown outcome", verified, { network: "ECONNRESET" }, 3, 2, "stop unknown"],
    ["an idempotent write, reset: send again", PUT, { network: "ECONNRESET" }, 1, 0, "retry 200"],
    ["an idempotent write, out of unknown outcomes", PUT, { status: 502 }, 3, 2, "stop unknown"],
    ["a write answered 201", PUT, { status: 201 }, 1, 0, "stop"],
    ["any request at the attempt limit, reset", PUT, { network: "ECONNRESET" }, RETRY.attempts, 0, "stop unknown"],
  ];
  for (const [name, req, outcome, attempt, uncertain, expected] of cases)
    test(`${name} → ${expected}`, () => {
      const d = retryDecision(req, outcome, attempt, uncertain, RETRY, () => 0.5);
      const shown = d.action === "retry" ? `retry ${Math.round(d.waitMs)}` : d.action === "stop" ? `stop${d.unknown ? " unknown" : ""}` : d.action;
      expect(shown).toBe(expected);
    });

  test("a wait that would pass the request's deadline (--timeout) is a stop; one within it, a retry", () => {
    const shown = (d: ReturnType<typeof retryDecision>) =>
      d.action === "retry" ? `retry ${Math.round(d.waitMs)}` : d.action === "stop" ? `stop${d.unknown ? " unknown" : ""}` : d.action;
    expect(shown(retryDecision(GET, { status: 503 }, 3, 0, RETRY, () => 0.5, 799))).toBe("stop");
    expect(shown(retryDecision(GET, { status: 503 }, 3, 0, RETRY, () => 0.5, 801))).toBe("retry 800");
    expect(shown(retryDecision(GET, { status: 429, retryAfterMs: 5000 }, 1, 0, RETRY, () => 0.5, 4000))).toBe("stop");
    expect(shown(retryDecision({ method: "PUT", idempotent: true }, { network: "ECONNRESET" }, 1, 0, RETRY, () => 0.5, 10))).toBe("stop unknown");
  });

  test("the jitter stays within ±25 % of the backoff", () => {
    for (const j of [0, 0.999]) {
      const d = retryDecision(GET, { status: 503 }, 3, 0, RETRY, () => j);
      expect(d.action === "retry" && d.waitMs >= 600 && d.waitMs <= 1000).toBe(true);
    }
  });
});

describe("on401: what the refused request carried, what the registry said → the next step", () => {
  const r = (over: Partial<Refusal>): Refusal => ({ scheme: "bearer", carried: "nothing", credential: true, username: true, fresh: false, scope: true, ...over });
  const cases: [string, Refusal, string][] = [
    ["no usable WWW-Authenticate", r({ scheme: undefined }), "fail no scheme"],
    ["basic, no username at hand", r({ scheme: "basic", username: false, credential: false }), "fail log in"],
    ["basic, credentials at hand", r({ scheme: "basic" }), "send basic"],
    ["basic, the credentials were sent and refused", r({ scheme: "basic", carried: "basic" }), "fail credentials refused"],
    ["bearer, nothing carried", r({}), "send token"],
    ["bearer, anonymous (no credentials), a scope", r({ credential: false, username: false }), "send token"],
    ["bearer, no scope and no credentials (GET /v2/)", r({ credential: false, username: false, scope: false }), "fail log in"],
    ["bearer, no scope, credentials (login checks them)", r({ scope: false }), "send token"],
    ["a token refused once (expired)", r({ carried: "bearer" }), "send renewed token"],
    ["a renewed token refused again", r({ carried: "bearer", fresh: true }), "fail token refused"],
    ["a token that lacks the scope", r({ carried: "bearer", error: "insufficient_scope" }), "fail scope not granted"],
    ["a renewed token, invalid_token", r({ carried: "bearer", fresh: true, error: "invalid_token" }), "fail token invalid"],
  ];
  for (const [name, refusal, expected] of cases)
    test(`${name} → ${expected}`, () => {
      const step = on401(refusal);
      expect("send" in step ? `send ${step.send}` : `fail ${step.fail}`).toBe(expected);
    });
});

describe("decidePrune: tags, image facts, policy → actions", () => {
  const day = 86_400_000;
  const T0 = Date.parse("2026-01-01T00:00:00Z");
  const at = (d: number) => new Date(T0 + d * day).toISOString();
  const img = (created: string | undefined, blobs: [string, number][], children: string[] = []): PruneFacts => ({ created, blobs: new Map(blobs), children });
  // Five images a day apart (a oldest, e newest), a shared base layer, a list holding c, an undated one.
  const images = new Map<string, PruneFacts>([
    [
      "A",
      img(at(0), [
        ["base", 100],
        ["la", 10],
      ]),
    ],
    [
      "B",
      img(at(1), [
        ["base", 100],
        ["lb", 20],
      ]),
    ],
    [
      "C",
      img(at(2), [
        ["base", 100],
        ["lc", 30],
      ]),
    ],
    [
      "D",
      img(at(3), [
        ["base", 100],
        ["ld", 40],
      ]),
    ],
    [
      "E",
      img(at(4), [
        ["base", 100],
        ["le", 50],
      ]),
    ],
    [
      "L",
      img(
        at(2),
        [
          ["base", 100],
          ["lc", 30],
          ["C", 5],
        ],
        ["C"],
      ),
    ],
    ["U", img(undefined, [["lu", 7]])],
  ]);
  const tags = (...pairs: string[]) => pairs.map((p) => ({ tag: p.split("=")[0]!, digest: p.split("=")[1]! }));
  const actions = (d: ReturnType<typeof decidePrune>) => d.rows.map((r) => `${r.tag}:${r.action}`).join(" ");
  const cases: [string, ReturnType<typeof tags>, Parameters<typeof decidePrune>[2], string, string[], string[], number][] = [
    // name, tags, policy → actions (natural order), deletes, untags, bytes freed
    ["keep 2 of 5", tags("v1=A", "v2=B", "v3=C", "v4=D", "v5=E"), { keep: 2 }, "v1:delete v2:delete v3:delete v4:keep v5:keep", ["A", "B", "C"], [], 60],
    ["keep more than there are", tags("v1=A", "v2=B"), { keep: 5 }, "v1:keep v2:keep", [], [], 0],
    ["keep 0: everything dated goes; the shared base is freed once", tags("v1=A", "v2=B"), { keep: 0 }, "v1:delete v2:delete", ["A", "B"], [], 130],
    ["an unmatched tag keeps its digest: the matched one on it goes alone", tags("old=A", "v1=B", "v2=A"), { keep: 1, match: [/^v/] }, "old:keep v1:keep v2:untag", [], ["v2"], 0],
    [
      "two tags on one digest, keep 1: the tie goes to the higher name, the other is untagged",
      tags("a=A", "b=A", "z=E"),
      { keep: 1, match: [/^[ab]$/] },
      "a:untag b:keep z:keep",
      [],
      ["a"],
      0,
    ],
    ["a child of a kept list stays", tags("c=C", "list=L", "e=E"), { keep: 1, match: [/^c$|^e$/] }, "c:untag e:keep list:keep", [], ["c"], 0],
    ["no creation time: never removed by age", tags("u=U", "v1=A", "v2=B"), { keep: 1 }, "u:keep v1:delete v2:keep", ["A"], [], 10],
    ["no creation time, --match alone: removed", tags("u=U", "v1=A"), { match: [/^u$/] }, "u:delete v1:keep", ["U"], [], 7],
    ["--older-than: created before the cutoff", tags("v1=A", "v2=B", "v3=C"), { olderThan: T0 + 1.5 * day }, "v1:delete v2:delete v3:keep", ["A", "B"], [], 30],
    ["--exclude wins over --match", tags("v1=A", "v2=B"), { match: [/^v/], exclude: [/2$/] }, "v1:delete v2:keep", ["A"], [], 10],
    ["ties by time: natural order, v10 newer than v9", tags("v9=A", "v10=A"), { keep: 1 }, "v9:untag v10:keep", [], ["v9"], 0],
  ];
  for (const [name, t, policy, expected, deletes, untags, frees] of cases)
    test(`${name} → ${expected}`, () => {
      const d = decidePrune(t, images, policy);
      expect({ actions: actions(d), deletes: d.deletes, untags: d.untags, frees: d.frees }).toEqual({ actions: expected, deletes, untags, frees });
    });

  test("every row says why, in words", () => {
    const d = decidePrune(tags("v1=A", "v2=B", "u=U"), images, { keep: 1, olderThan: T0 + 10 * day });
    expect(d.rows.map((r) => `${r.tag}: ${r.reason}`)).toEqual(["u: no creation time: its age is unknown", "v1: created before 2026-01-11, not the newest", "v2: the newest"]);
    expect(d.cutoff).toBe("2026-01-11T00:00:00Z");
  });

  const why = (d: ReturnType<typeof decidePrune>) => Object.fromEntries(d.rows.map((r) => [r.tag, r.reason]));
  const reasonCases: [string, ReturnType<typeof tags>, Parameters<typeof decidePrune>[2], Record<string, string>][] = [
    [
      "--keep 2, and a cutoff to the second",
      tags("v1=A", "v2=B", "v3=C"),
      { keep: 2, olderThan: T0 + 2.5 * day + 1234 },
      { v1: "created before 2026-01-03 12:00:01 UTC, not one of the 2 newest", v2: "one of the 2 newest", v3: "one of the 2 newest" },
    ],
    ["--keep 0", tags("v1=A"), { keep: 0 }, { v1: "--keep 0 keeps none" }],
    ["--older-than alone: the newer ones", tags("v1=A", "v5=E"), { olderThan: T0 + 2 * day }, { v1: "created before 2026-01-03", v5: "created after 2026-01-03" }],
    [
      "--match and --exclude: left by either, said which",
      tags("v1=A", "v2=B", "x=C"),
      { match: [/^v/], exclude: [/2$/] },
      { v1: "matched by --match", v2: "excluded by --exclude", x: "not matched by --match" },
    ],
    ["--exclude alone", tags("v1=A", "v2=B"), { keep: 0, exclude: [/1$/] }, { v1: "excluded by --exclude", v2: "--keep 0 keeps none" }],
    ["--dangling alone leaves images", tags("v1=A"), { dangling: true }, { v1: "not a referrer: --dangling leaves images" }],
    [
      "untagged alone: the kept tag on the same image is named",
      tags("a=A", "b=A", "z=E"),
      { keep: 1, match: [/^[ab]$/] },
      { a: "matched by --match, not the newest; its image stays, tagged b", b: "the newest", z: "not matched by --match" },
    ],
    [
      "untagged alone: the kept list that holds the image is named",
      tags("c=C", "list=L", "e=E"),
      { keep: 1, match: [/^c$|^e$/] },
      { c: "matched by --match, not the newest; its image stays in the kept list list", e: "the newest", list: "not matched by --match" },
    ],
  ];
  for (const [name, t, policy, expected] of reasonCases) test(`reasons: ${name}`, () => expect(why(decidePrune(t, images, policy))).toEqual(expected));

  test("no reason is left unsaid, and none is the old shorthand", () => {
    for (const [, t, policy] of [...cases.map((c) => [c[0], c[1], c[2]] as const), ...reasonCases])
      for (const r of decidePrune(t, images, policy).rows) {
        expect(r.reason).not.toBe("");
        expect(r.reason).not.toMatch(/^(not matched|kept|matched)$|among the|beyond the|matches --match|\(s\)/);
      }
  });

  test("referrers say what they are and whose they are", () => {
    const sig = { digest: "S", mediaType: "application/vnd.oci.image.manifest.v1+json", size: 1, found: "cosign tag", tag: `sha256-${"a".repeat(64)}.sig`, referrers: [] };
    const d = decidePrune(tags("v1=A", "v2=B"), images, { keep: 1 }, {
      of: new Map([
        ["A", [sig]],
        ["B", []],
      ]),
      dangling: new Set(),
    } as never);
    expect(d.rows.filter((r) => r.referrer).map((r) => `${r.action}: ${r.reason}`)).toEqual(["delete: signature (cosign) of v1: deleted after it"]);
  });

  describe("ties in --keep: images created at the same instant across the boundary", () => {
    const y1970 = new Date(0).toISOString();
    const repro = new Map<string, PruneFacts>([...images, ...["R1", "R2", "R3", "R4"].map((d) => [d, img(y1970, [[`l${d}`, 1]])] as [string, PruneFacts])]);
    const tie = (t: ReturnType<typeof tags>, keep: number) => decidePrune(t, repro, { keep });
    test("reproducible builds (1970): the tag order decides, and the plan says so", () => {
      const d = tie(tags("v2.9=R1", "v2.10=R2", "v2.11=R3", "v2.2=R4"), 2);
      expect(actions(d)).toBe("v2.2:delete v2.9:delete v2.10:keep v2.11:keep");
      expect(d.ties).toEqual({ created: y1970, tags: 4, images: 4, kept: 2, order: "tag, natural version order, highest first" });
    });
    test("two tags on one image count as one image", () => {
      expect(tie(tags("a=R1", "b=R1", "c=R2"), 1).ties).toMatchObject({ tags: 3, images: 2, kept: 1 });
    });
    test("no tie at the boundary: none reported", () => {
      expect(decidePrune(tags("v1=A", "v2=B", "v3=C"), images, { keep: 2 }).ties).toBeUndefined();
      // the boundary between a dated image and the 1970 ones; equal times all kept, or all removed
      expect(tie(tags("v1=A", "x=R1", "y=R2"), 1).ties).toBeUndefined();
      expect(tie(tags("v1=A", "x=R1", "y=R2"), 2).ties).toMatchObject({ tags: 2, kept: 1 });
      expect(tie(tags("x=R1", "y=R2"), 5).ties).toBeUndefined();
      expect(tie(tags("x=R1", "y=R2"), 0).ties).toBeUndefined();
    });
  });

  test("deletes and untags come in natural version order: v1.9 before v1.10", () => {
    const d = decidePrune(tags("v1.10=A", "v1.9=B", "v1.11=C", "v1.9-alias=E", "v2=E"), images, { keep: 1 });
    expect(d.deletes).toEqual(["B", "A", "C"]);
    expect(d.rows.map((r) => r.tag)).toEqual(["v1.9", "v1.9-alias", "v1.10", "v1.11", "v2"]);
  });
});

describe("naturalCompare", () => {
  const cases: [string[], string[]][] = [
    [
      ["v1.10", "v1.9", "v1.2"],
      ["v1.2", "v1.9", "v1.10"],
    ],
    [
      ["10", "9", "100", "1"],
      ["1", "9", "10", "100"],
    ],
    [
      ["b", "a10", "a9", "a"],
      ["a", "a9", "a10", "b"],
    ],
    [
      ["1.0.0-rc.2", "1.0.0", "1.0.0-rc.10"],
      ["1.0.0", "1.0.0-rc.2", "1.0.0-rc.10"],
    ],
    [
      ["latest", "Latest", "v2", "v02"],
      ["Latest", "latest", "v02", "v2"],
    ],
  ];
  for (const [input, expected] of cases) test(`${input.join(" ")} → ${expected.join(" ")}`, () => expect([...input].sort(naturalCompare)).toEqual(expected));
});

describe("scopeFor", () => {
  const cases: [RegistryRequest["method"], string, string | undefined][] = [
    ["GET", "https://r/v2/busybox/tags/list", "repository:busybox:pull"],
    ["HEAD", "https://r/v2/a/b/c/manifests/latest", "repository:a/b/c:pull"],
    ["DELETE", "https://r/v2/app/manifests/sha256:abc", "repository:app:delete"],
    ["PUT", "https://r/v2/app/manifests/1", "repository:app:pull,push"],
    ["POST", "https://r/v2/app/blobs/uploads/", "repository:app:pull,push"],
    ["GET", "https://r/v2/app/referrers/sha256:abc", "repository:app:pull"],
    ["GET", "https://r/v2/_catalog?n=100", "registry:catalog:*"],
    ["GET", "https://r/v2/", undefined],
    ["GET", "https://r/token", undefined],
  ];
  for (const [method, url, expected] of cases) test(`${method} ${url} → ${expected}`, () => expect(scopeFor(method, url)).toBe(expected));
});

describe("completeLine: the line up to the cursor → candidates (no registry: nothing past a host/)", () => {
  const home = mkdtempSync(join(tmpdir(), "regctl-tables-"));
  mkdirSync(join(home, ".docker"));
  writeFileSync(
    join(home, ".docker", "config.json"),
    JSON.stringify({ auths: { "registry.example.com": {}, "https://index.docker.io/v1/": {} }, credHelpers: { "ghcr.io": "x" } }),
  );
  const env = { HOME: home, XDG_CACHE_HOME: join(home, "cache") };
  const cases: [string, string][] = [
    ["regctl ", "ping repos tags digest manifest inspect referrers delete login logout untag prune du tag copy completion help version"],
    ["regctl p", "ping prune"],
    ["regctl --json t", "tags tag"],
    ["regctl tags --d", "--digests"],
    ["regctl prune x --ke", "--keep"],
    ["regctl prune x --older", "--older-than"],
    ["regctl completion --shell ", "bash zsh fish"],
    ["regctl completion --shell z", "zsh"],
    ["regctl completion ", "bash zsh fish install uninstall"],
    ["regctl completion bash ", ""],
    ["regctl ping ", "docker.io ghcr.io registry.example.com"],
    ["regctl tags reg", "registry.example.com/"],
    ["regctl tags docker.io/busybox extra", ""],
    ["regctl copy docker.io/busybox:1 reg", "registry.example.com/"], // the destination completes as the source does
    ["regctl copy --platform linux/amd64 docker.io/busybox:1 gh", "ghcr.io/"],
    ["regctl copy docker.io/busybox:1 ghcr.io/x:1 reg", ""],
    ["regctl tag docker.io/busybox:1 reg", ""], // a new tag name: nothing to offer
    ["regctl logout --json ", "docker.io ghcr.io registry.example.com"],
    ["regctl nosuch ", ""],
    ["regctl --t", "--timeout"],
    ["regctl help pr", "prune"],
    ["regctl help ", "ping repos tags digest manifest inspect referrers delete login logout untag prune du tag copy completion help version gc"],
  ];
  for (const [line, expected] of cases)
    test(`${JSON.stringify(line)} → ${expected || "(nothing)"}`, async () => {
      const found = await completeLine(line, completionSpec(), env);
      expect(found.map((c) => c.value).join(" ")).toBe(expected);
    });
});

describe("mapOrdered: results in input order, as soon as every earlier one is done, never more than a window waiting", () => {
  for (const [items, limit, window] of [
    [1, 8, 32],
    [300, 8, 32],
    [300, 1, 4],
    [57, 5, 5],
  ] as const)
    test(`${items} items, ${limit} in flight, window ${window}`, async () => {
      const seen: number[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      let maxAhead = 0;
      await mapOrdered(
        Array.from({ length: items }, (_, i) => i),
        limit,
        async (i) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          maxAhead = Math.max(maxAhead, i - seen.length);
          await Bun.sleep((i * 7919) % 5); // out of order on purpose
          inFlight--;
          return i;
        },
        (i) => seen.push(i),
        window,
      );
      expect(seen).toEqual(Array.from({ length: items }, (_, i) => i));
      expect(maxInFlight).toBeLessThanOrEqual(limit);
      expect(maxAhead).toBeLessThan(Math.max(window, limit));
    });

  test("a failure ends it with that failure", async () => {
    const run = mapOrdered(
      [1, 2, 3, 4],
      2,
      async (i) => {
        if (i === 3) throw new Error("three");
        return i;
      },
      () => {},
    );
    await expect(run).rejects.toThrow("three");
  });
});

describe("readCachedLines: a sorted cache file, searched by prefix, gives what a filter of the whole list gives", () => {
  const dir = mkdtempSync(join(tmpdir(), "regctl-cachefile-"));
  // A deterministic mix: short tags, long tags (past one read of 256 bytes), digest lines, numbers
  // that share prefixes; sizes below and far above the point where the file is searched, not read.
  let seed = 7;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return Math.floor((seed / 2 ** 32) * n);
  };
  const names = (count: number) => {
    const out = new Set<string>();
    while (out.size < count) {
      const k = rand(4);
      if (k === 0) out.add(`v${rand(50)}.${rand(50)}.${rand(50)}`);
      else if (k === 1) out.add(`t${String(rand(1_000_000)).padStart(6, "0")}`);
      else if (k === 2) out.add(`${"long-".repeat(20 + rand(30))}${rand(1000)}`);
      else
        out.add(
          `sha256:${rand(2 ** 30)
            .toString(16)
            .padStart(8, "0")}${"0".repeat(56)}\tv${rand(99)}`,
        );
    }
    return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  };
  for (const count of [0, 1, 30, 2_000, 60_000]) {
    test(`${count} lines`, () => {
      const list = names(count);
      const path = join(dir, `c${count}`);
      writeFileSync(path, `regctl completion cache 1 ${Date.now()}\n${list.map((l) => `${l}\n`).join("")}`);
      const prefixes = [
        "",
        "t",
        "t0",
        "t5",
        "t999999",
        "v1",
        "v1.",
        "long-long",
        "sha256:",
        "sha256:0",
        "sha256:f",
        "a",
        "~",
        "zzz",
        ...list.filter((_, i) => i % Math.max(1, Math.floor(count / 40)) === 0).flatMap((l) => [l, l.slice(0, 3), l.slice(0, l.length - 1)]),
      ];
      for (const prefix of prefixes) expect({ prefix, got: readCachedLines(path, prefix) }).toEqual({ prefix, got: list.filter((l) => l.startsWith(prefix)) });
    });
  }

  test("past its time, without its header, or missing: not cached", () => {
    const old = join(dir, "old");
    writeFileSync(old, `regctl completion cache 1 ${Date.now() - 3_600_000}\nv1\n`);
    expect(readCachedLines(old, "")).toBeUndefined();
    const other = join(dir, "other");
    writeFileSync(other, "v1\nv2\n");
    expect(readCachedLines(other, "v")).toBeUndefined();
    expect(readCachedLines(join(dir, "none"), "v")).toBeUndefined();
  });
});
