// The token server of the tests' own against the REAL registry (distribution 2.8 with auth.token),
// with plain fetch: if these fail, every token-auth test of regctl is suspect.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MediaTypes, pushImage } from "./seed.ts";
import { type Scope, type TokenRegistry, parseScopes, startTokenRegistry } from "./tokenserver.ts";

const FETCH_MS = 5_000;
const TEST_MS = 20_000;
const ZERO = `sha256:${"0".repeat(64)}`;

const started: TokenRegistry[] = [];
afterAll(async () => {
  await Promise.all(started.map((t) => t.stop()));
}, TEST_MS);

async function start(opts: Parameters<typeof startTokenRegistry>[0]): Promise<TokenRegistry> {
  const tr = await startTokenRegistry(opts);
  started.push(tr);
  return tr;
}

type Init = RequestInit & { tls?: { ca: string } };
const get = (url: string, init: Init = {}) => fetch(url, { signal: AbortSignal.timeout(FETCH_MS), ...init } as RequestInit);
const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

type TokenAnswer = {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
  refresh_token?: string;
  scope?: string;
  errors?: { code: string; message: string }[];
};

/** GET the token server; scopes are sent as separate `scope` params, as docker does. */
async function getToken(tr: TokenRegistry, scopes: string[], auth?: string, extra: Record<string, string> = {}, init: Init = {}): Promise<{ status: number; body: TokenAnswer }> {
  const q = new URLSearchParams({ service: tr.service, ...extra });
  for (const s of scopes) q.append("scope", s);
  const res = await get(`${tr.tokenUrl}?${q}`, { ...init, headers: auth ? { Authorization: auth } : {} });
  return { status: res.status, body: (await res.json()) as TokenAnswer };
}

/** A token from GET /token that must succeed. */
async function token(tr: TokenRegistry, scopes: string[], auth?: string): Promise<string> {
  const { status, body } = await getToken(tr, scopes, auth);
  expect(status).toBe(200);
  return body.token ?? body.access_token!;
}

async function postToken(tr: TokenRegistry, form: Record<string, string>): Promise<{ status: number; body: TokenAnswer }> {
  const res = await get(tr.tokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ service: tr.service, client_id: "regctl-test", ...form }).toString(),
  });
  return { status: res.status, body: (await res.json()) as TokenAnswer };
}

const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
const claimsOf = (jwt: string) => decode(jwt.split(".")[1]!) as { sub: string; aud: string; access: Scope[] };

/** The exact challenge the registry sends: realm, service, then scope and error when present. */
const challenge = (tr: TokenRegistry, scope?: string, error?: string) =>
  `Bearer realm="${tr.tokenUrl}",service="${tr.service}"${scope ? `,scope="${scope}"` : ""}${error ? `,error="${error}"` : ""}`;
/** 2.8 lists a push's actions from a Go map: "pull,push" or, about one time in five, "push,pull". */
const pushChallenges = (tr: TokenRegistry, repo: string, error?: string) => [
  challenge(tr, `repository:${repo}:pull,push`, error),
  challenge(tr, `repository:${repo}:push,pull`, error),
];

async function status(url: string, init: Init = {}): Promise<{ status: number; challenge: string | null }> {
  const res = await get(url, init);
  await res.arrayBuffer();
  return { status: res.status, challenge: res.headers.get("www-authenticate") };
}

describe("token server + real registry", () => {
  let tr: TokenRegistry;
  let v2: string;
  const alice = basic("alice", "secret"); // everything she asks for
  const bob = basic("bob", "hunter2"); // pull only
  beforeAll(async () => {
    tr = await start({
      users: { alice: "secret", bob: "hunter2" },
      grants: (user, scope) => {
        if (user === "alice") return scope.actions;
        if (scope.type !== "repository") return [];
        if (user === "bob") return ["pull"];
        return scope.name.startsWith("public/") ? ["pull"] : []; // anonymous
      },
    });
    v2 = `${tr.registry.url}/v2`;
    await pushImage(tr.registry.url, "demo/app", ["1.0", "latest"], {
      seed: "token-demo",
      headers: bearer(await token(tr, ["repository:demo/app:pull,push"], alice)),
    });
  }, TEST_MS);

  test(
    "401 challenges without a token: the scope each operation asks for",
    async () => {
      const m = `${v2}/demo/app/manifests`;
      expect(await status(`${v2}/`)).toEqual({ status: 401, challenge: challenge(tr) });
      const pull = { status: 401, challenge: challenge(tr, "repository:demo/app:pull") };
      expect(await status(`${m}/latest`)).toEqual(pull);
      expect(await status(`${m}/latest`, { method: "HEAD" })).toEqual(pull);
      expect(await status(`${v2}/demo/app/tags/list`)).toEqual(pull);
      expect(await status(`${v2}/demo/app/blobs/${ZERO}`)).toEqual(pull);
      expect(await status(`${m}/${ZERO}`, { method: "DELETE" })).toEqual({ status: 401, challenge: challenge(tr, "repository:demo/app:delete") });
      expect(await status(`${v2}/_catalog`)).toEqual({ status: 401, challenge: challenge(tr, "registry:catalog:*") });
      for (const [method, url] of [
        ["POST", `${v2}/demo/app/blobs/uploads/`],
        ["PUT", `${m}/latest`],
      ] as const) {
        const r = await status(url, { method });
        expect(r.status).toBe(401);
        expect(pushChallenges(tr, "demo/app")).toContain(r.challenge!);
      }
      // The body is the usual error list, with the access wanted as detail.
      const res = await get(`${v2}/demo/app/tags/list`);
      expect(await res.json()).toEqual({
        errors: [{ code: "UNAUTHORIZED", message: "authentication required", detail: [{ Type: "repository", Class: "", Name: "demo/app", Action: "pull" }] }],
      });
      // Basic credentials are not a token: the same challenge, no error="…".
      expect(await status(`${v2}/demo/app/tags/list`, { headers: { Authorization: alice } })).toEqual(pull);
    },
    TEST_MS,
  );

  test(
    "token answer and JWT shape: ES256, x5c, raw r||s signature, claims",
    async () => {
      const { status: code, body } = await getToken(tr, ["repository:demo/app:pull"], bob);
      expect(code).toBe(200);
      expect(body.token).toBe(body.access_token!);
      expect(body.expires_in).toBe(300);
      expect(Math.abs(Date.parse(body.issued_at!) - Date.now())).toBeLessThan(10_000);
      const [h, , sig] = body.token!.split(".");
      const header = decode(h!) as { alg: string; typ: string; x5c: string[] };
      expect(header.alg).toBe("ES256");
      expect(header.typ).toBe("JWT");
      expect(header.x5c).toHaveLength(1);
      expect(Buffer.from(sig!, "base64url")).toHaveLength(64);
      const claims = decode(body.token!.split(".")[1]!) as Record<string, unknown>;
      expect(claims).toMatchObject({ iss: "regctl-test-issuer", sub: "bob", aud: "regctl-test", access: [{ type: "repository", name: "demo/app", actions: ["pull"] }] });
      expect((claims.exp as number) - (claims.iat as number)).toBe(300);
    },
    TEST_MS,
  );

  test(
    "pull token: tags/list and manifest 200; push refused with insufficient_scope",
    async () => {
      const pull = bearer(await token(tr, ["repository:demo/app:pull"], bob));
      const tags = await get(`${v2}/demo/app/tags/list`, { headers: pull });
      expect(tags.status).toBe(200);
      expect(((await tags.json()) as { tags: string[] }).tags.sort()).toEqual(["1.0", "latest"]);
      const head = await get(`${v2}/demo/app/manifests/1.0`, { method: "HEAD", headers: { ...pull, Accept: MediaTypes.docker.manifest } });
      expect(head.status).toBe(200);
      expect(head.headers.get("docker-content-digest")).toStartWith("sha256:");
      // bob asks for pull,push and gets pull only.
      const asked = await token(tr, ["repository:demo/app:pull,push"], bob);
      expect(claimsOf(asked).access).toEqual([{ type: "repository", name: "demo/app", actions: ["pull"] }]);
      const r = await status(`${v2}/demo/app/blobs/uploads/`, { method: "POST", headers: bearer(asked) });
      expect(r.status).toBe(401);
      expect(pushChallenges(tr, "demo/app", "insufficient_scope")).toContain(r.challenge!);
    },
    TEST_MS,
  );

  test(
    "a token for another repository → 401 insufficient_scope",
    async () => {
      const other = bearer(await token(tr, ["repository:other/app:pull"], alice));
      expect(await status(`${v2}/demo/app/tags/list`, { headers: other })).toEqual({ status: 401, challenge: challenge(tr, "repository:demo/app:pull", "insufficient_scope") });
      expect(await status(`${v2}/_catalog`, { headers: other })).toEqual({ status: 401, challenge: challenge(tr, "registry:catalog:*", "insufficient_scope") });
      // Any valid token opens /v2/, whatever its access.
      expect((await status(`${v2}/`, { headers: other })).status).toBe(200);
    },
    TEST_MS,
  );

  test(
    "forged, foreign and expired tokens → 401 invalid_token",
    async () => {
      const good = await token(tr, ["repository:demo/app:pull"], alice);
      const [h, p, s] = good.split(".") as [string, string, string];
      const sig = Buffer.from(s, "base64url");
      sig[10] ^= 0xff;
      const other = (await token(tr, ["repository:other/app:pull"], alice)).split(".");
      const access = [{ type: "repository", name: "demo/app", actions: ["pull"] }];
      const now = Math.floor(Date.now() / 1000);
      const invalid = challenge(tr, "repository:demo/app:pull", "invalid_token");
      const forged = {
        "bad signature": `${h}.${p}.${sig.toString("base64url")}`,
        "other token's signature": `${h}.${p}.${other[2]}`,
        "claims swapped": `${h}.${other[1]}.${s}`,
        "wrong audience": tr.issue("alice", access, { aud: "somewhere-else" }),
        "wrong issuer": tr.issue("alice", access, { iss: "someone-else" }),
        "expired 2 min ago": tr.issue("alice", access, { exp: now - 120 }),
        "not before in 2 min": tr.issue("alice", access, { nbf: now + 120 }),
        "not a JWT": "garbage",
      };
      for (const [what, jwt] of Object.entries(forged)) {
        const r = await status(`${v2}/demo/app/tags/list`, { headers: bearer(jwt) });
        expect({ what, ...r }).toEqual({ what, status: 401, challenge: invalid });
      }
      expect(await status(`${v2}/`, { headers: bearer("garbage") })).toEqual({ status: 401, challenge: challenge(tr, undefined, "invalid_token") });
      // 2.8 allows 60 s of clock skew on exp and nbf: a token expired 30 s ago still works.
      expect((await status(`${v2}/demo/app/tags/list`, { headers: bearer(tr.issue("alice", access, { exp: now - 30 })) })).status).toBe(200);
      // The registry honours "*" as every action.
      const star = tr.issue("alice", [{ type: "repository", name: "demo/app", actions: ["*"] }]);
      expect((await status(`${v2}/demo/app/tags/list`, { headers: bearer(star) })).status).toBe(200);
    },
    TEST_MS,
  );

  test(
    "token server: wrong credentials → 401; anonymous gets what grants allow",
    async () => {
      const before = tr.requests.length;
      for (const auth of [basic("alice", "wrong"), basic("mallory", "secret"), "Basic !!!", `Bearer ${"x".repeat(20)}`]) {
        const r = await getToken(tr, ["repository:demo/app:pull"], auth);
        expect(r.status).toBe(401);
        expect(r.body.errors![0]!.code).toBe("UNAUTHORIZED");
      }
      // Anonymous: a valid token with no access, which the registry refuses for a private repository…
      const anon = await token(tr, ["repository:demo/app:pull"]);
      expect(claimsOf(anon)).toMatchObject({ sub: "", access: [] });
      expect(await status(`${v2}/demo/app/tags/list`, { headers: bearer(anon) })).toEqual({
        status: 401,
        challenge: challenge(tr, "repository:demo/app:pull", "insufficient_scope"),
      });
      // …and grants may give it pull elsewhere (an unknown repository then answers 404, past auth).
      const pub = await token(tr, ["repository:public/app:pull,push"]);
      expect(claimsOf(pub).access).toEqual([{ type: "repository", name: "public/app", actions: ["pull"] }]);
      expect((await status(`${v2}/public/app/tags/list`, { headers: bearer(pub) })).status).toBe(404);
      // Every request is recorded, with the Authorization header exactly when one was sent.
      const seen = tr.requests.slice(before);
      expect(seen).toHaveLength(6);
      expect(seen[0]).toEqual({ method: "GET", path: "/token", query: "service=regctl-test&scope=repository%3Ademo%2Fapp%3Apull", authorization: basic("alice", "wrong") });
      expect("authorization" in seen[4]!).toBe(false);
      expect(seen[5]!.query).toBe("service=regctl-test&scope=repository%3Apublic%2Fapp%3Apull%2Cpush");
      // Bad requests.
      expect((await getToken(tr, ["repository:demo/app:pull"], alice, { service: "other" })).status).toBe(400);
      expect((await getToken(tr, ["repository:demo/app"], alice)).status).toBe(400);
      expect((await get(`${tr.tokenUrl.replace(/token$/, "nope")}`)).status).toBe(404);
    },
    TEST_MS,
  );

  test(
    "several scopes in one request give one token for all of them",
    async () => {
      const jwt = await token(tr, ["repository:demo/app:pull", "repository:other/app:pull,push", "registry:catalog:*"], alice);
      expect(claimsOf(jwt).access).toEqual([
        { type: "repository", name: "demo/app", actions: ["pull"] },
        { type: "repository", name: "other/app", actions: ["pull", "push"] },
        { type: "registry", name: "catalog", actions: ["*"] },
      ]);
      expect((await status(`${v2}/demo/app/tags/list`, { headers: bearer(jwt) })).status).toBe(200);
      expect((await status(`${v2}/_catalog`, { headers: bearer(jwt) })).status).toBe(200);
      expect((await status(`${v2}/other/app/blobs/uploads/`, { method: "POST", headers: bearer(jwt) })).status).toBe(202);
    },
    TEST_MS,
  );

  test(
    "catalog with registry:catalog:*",
    async () => {
      const res = await get(`${v2}/_catalog`, { headers: bearer(await token(tr, ["registry:catalog:*"], alice)) });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { repositories: string[] }).repositories).toContain("demo/app");
      // bob's grants give nothing outside repositories.
      const bobs = await token(tr, ["registry:catalog:*"], bob);
      expect(claimsOf(bobs).access).toEqual([]);
      expect(await status(`${v2}/_catalog`, { headers: bearer(bobs) })).toEqual({ status: 401, challenge: challenge(tr, "registry:catalog:*", "insufficient_scope") });
    },
    TEST_MS,
  );

  test(
    "DELETE needs the delete action",
    async () => {
      const push = bearer(await token(tr, ["repository:demo/del:pull,push"], alice));
      const img = await pushImage(tr.registry.url, "demo/del", ["gone"], { seed: "token-del", headers: push });
      const url = `${v2}/demo/del/manifests/${img.digest}`;
      expect(await status(url, { method: "DELETE", headers: push })).toEqual({ status: 401, challenge: challenge(tr, "repository:demo/del:delete", "insufficient_scope") });
      const del = bearer(await token(tr, ["repository:demo/del:delete"], alice));
      expect((await status(url, { method: "DELETE", headers: del })).status).toBe(202);
    },
    TEST_MS,
  );

  test(
    "OAuth2 POST: password grant with a refresh token, then the refresh grant",
    async () => {
      const scope = "repository:demo/app:pull";
      const pw = await postToken(tr, { grant_type: "password", username: "bob", password: "hunter2", scope, access_type: "offline" });
      expect(pw.status).toBe(200);
      expect(pw.body.scope).toBe(scope);
      expect(pw.body.expires_in).toBe(300);
      const refresh = pw.body.refresh_token!;
      expect(refresh).toBeTruthy();
      expect(tr.refreshTokens.get(refresh)).toBe("bob");
      expect((await status(`${v2}/demo/app/tags/list`, { headers: bearer(pw.body.access_token!) })).status).toBe(200);
      // The request went in the form body, not in a header.
      const req = tr.requests.at(-1)!;
      expect(req.method).toBe("POST");
      expect(req.authorization).toBeUndefined();
      expect(new URLSearchParams(req.body).get("password")).toBe("hunter2");

      const rt = await postToken(tr, { grant_type: "refresh_token", refresh_token: refresh, scope: `${scope} registry:catalog:*` });
      expect(rt.status).toBe(200);
      expect(claimsOf(rt.body.access_token!)).toMatchObject({ sub: "bob", access: [{ type: "repository", name: "demo/app", actions: ["pull"] }] });
      expect((await status(`${v2}/demo/app/tags/list`, { headers: bearer(rt.body.access_token!) })).status).toBe(200);

      // No access_type=offline: no refresh token. Wrong password, unknown or revoked refresh token: 401.
      const online = await postToken(tr, { grant_type: "password", username: "bob", password: "hunter2", scope });
      expect(online.status).toBe(200);
      expect(online.body.refresh_token).toBeUndefined();
      expect((await postToken(tr, { grant_type: "password", username: "bob", password: "nope", scope })).status).toBe(401);
      expect((await postToken(tr, { grant_type: "refresh_token", refresh_token: "unknown", scope })).status).toBe(401);
      tr.refreshTokens.delete(refresh);
      const revoked = await postToken(tr, { grant_type: "refresh_token", refresh_token: refresh, scope });
      expect(revoked.status).toBe(401);
      expect(revoked.body.errors![0]!.code).toBe("UNAUTHORIZED");
      expect((await postToken(tr, { grant_type: "client_credentials", scope })).status).toBe(400);
      // `docker login` style: GET with offline_token=true also hands out a refresh token.
      const login = await getToken(tr, [], alice, { offline_token: "true", client_id: "docker", account: "alice" });
      expect(tr.refreshTokens.get(login.body.refresh_token!)).toBe("alice");
    },
    TEST_MS,
  );
});

describe("options", () => {
  for (const answer of ["token", "access_token"] as const) {
    test(
      `answer: "${answer}" carries the token in that field only`,
      async () => {
        const tr = await start({ users: { u: "p" }, answer });
        const other = answer === "token" ? "access_token" : "token";
        const g = await getToken(tr, ["repository:a/b:pull,push"], basic("u", "p"));
        expect(g.status).toBe(200);
        expect(g.body[other]).toBeUndefined();
        const p = await postToken(tr, { grant_type: "password", username: "u", password: "p", scope: "repository:a/b:pull" });
        expect(p.body[other]).toBeUndefined();
        for (const jwt of [g.body[answer]!, p.body[answer]!]) {
          expect((await status(`${tr.registry.url}/v2/a/b/tags/list`, { headers: bearer(jwt) })).status).toBe(404); // past auth
        }
        // Default grants: anonymous gets nothing.
        expect(claimsOf((await getToken(tr, ["repository:a/b:pull"])).body[answer]!).access).toEqual([]);
      },
      TEST_MS,
    );
  }

  test(
    "tls: https registry and token server, one CA bundle for both",
    async () => {
      const tr = await start({ users: { u: "p" }, tls: true, deleteEnabled: false });
      expect(tr.registry.url).toStartWith("https://");
      expect(tr.tokenUrl).toStartWith("https://127.0.0.1:");
      const tls = { ca: await Bun.file(tr.caCertPath!).text() };
      expect(await status(`${tr.registry.url}/v2/x/y/tags/list`, { tls })).toEqual({ status: 401, challenge: challenge(tr, "repository:x/y:pull") });
      const jwt = (await getToken(tr, ["repository:x/y:pull,push,delete"], basic("u", "p"), {}, { tls })).body.token!;
      const headers = bearer(jwt);
      const img = await pushImage(tr.registry.url, "x/y", ["v1"], { headers, fetchOptions: { tls } });
      expect((await status(`${tr.registry.url}/v2/x/y/tags/list`, { tls, headers })).status).toBe(200);
      // Deletes disabled: with token auth the 401 comes first, the 405 only with a delete token.
      const url = `${tr.registry.url}/v2/x/y/manifests/${img.digest}`;
      expect((await status(url, { method: "DELETE", tls })).status).toBe(401);
      expect((await status(url, { method: "DELETE", tls, headers })).status).toBe(405);
      await expect(get(tr.tokenUrl)).rejects.toThrow(); // not without our CA
    },
    TEST_MS,
  );
});

test("parseScopes", () => {
  expect(parseScopes(["repository:a/b:pull,push repository:a/b:delete", "registry:catalog:*", "repository(plugin):p:pull"])).toEqual([
    { type: "repository", name: "a/b", actions: ["pull", "push", "delete"] },
    { type: "registry", name: "catalog", actions: ["*"] },
    { type: "repository(plugin)", name: "p", actions: ["pull"] },
  ]);
  expect(parseScopes(["repository:localhost:5000/a:pull"])).toEqual([{ type: "repository", name: "localhost:5000/a", actions: ["pull"] }]);
  expect(parseScopes(["nope"])).toBeString();
  expect(parseScopes([])).toEqual([]);
});
