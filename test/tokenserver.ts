// A Docker registry token server of the tests' own, in front of the REAL registry: the registry
// (distribution 2.8, `auth.token`) verifies the ES256 JWTs we sign with a cert chained to a CA we
// generate, so a client's whole token dance (challenge → token → retry) runs against real checks.
// Protocol: GET /token (Basic or anonymous, `scope` params) and the OAuth2 POST /token
// (grant_type=password | refresh_token), which docker uses for an `identitytoken`.
import { type KeyObject, X509Certificate, createPrivateKey, randomBytes, sign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCA, serve, type TestServer } from "./fixtures.ts";
import { type Registry, startRegistry, tempRoot } from "./registry.ts";

export type Scope = { type: string; name: string; actions: string[] };
export type Access = Scope;

export type TokenClaims = {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: Access[];
};

export type TokenRegistryOptions = {
  users: Record<string, string>; // user → password
  /** Actions granted for one requested scope; default: all requested for a known user, none anonymously. */
  grants?: (user: string | undefined, scope: Scope) => string[];
  /** Which JSON field(s) carry the token, on GET and POST alike; default both. */
  answer?: "token" | "access_token" | "both";
  deleteEnabled?: boolean;
  /** HTTPS for the registry AND the token server; trust `caCertPath` (both CAs) to reach them. */
  tls?: boolean;
};

export type TokenRequest = { method: string; path: string; query: string; authorization?: string; body?: string };

export type TokenRegistry = {
  registry: Registry;
  tokenUrl: string; // realm: "http://127.0.0.1:PORT/token" (https with tls)
  service: string; // "regctl-test"
  requests: TokenRequest[]; // every request to the token server, in order
  refreshTokens: Map<string, string>; // refresh token → user; delete one to revoke it
  /** With tls: a PEM bundle of the registry's CA and the token server's CA. */
  caCertPath?: string;
  /** Signs a token directly (for expired, wrong-audience, … tokens); claims override the defaults. */
  issue(user: string | undefined, access: Access[], claims?: Partial<TokenClaims>): string;
  stop(): Promise<void>;
};

export const SERVICE = "regctl-test";
export const ISSUER = "regctl-test-issuer";
export const EXPIRES_IN = 300;

const PREFIX = "regctl-registry-"; // test/registry.ts sweeps these dirs once their owner pid is gone
const dirs = new Set<string>();
process.on("exit", () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A root CA, a JWT signing cert it signs and, for tls, a server cert for 127.0.0.1/localhost. */
async function makeCerts(dir: string, tls: boolean) {
  const ca = await makeCA(dir, "regctl test token CA");
  const [signing, server] = await Promise.all([ca.sign("signing", `/CN=${ISSUER}`, ["keyUsage=critical,digitalSignature"]), tls ? ca.server() : Promise.resolve(undefined)]);
  return {
    ca: ca.cert,
    signingCert: readFileSync(signing.cert, "utf8"),
    signingKey: createPrivateKey(readFileSync(signing.key)),
    server: server ? { cert: readFileSync(server.cert, "utf8"), key: readFileSync(server.key, "utf8") } : undefined,
  };
}

const b64url = (data: string | Uint8Array) => Buffer.from(data).toString("base64url");

/** A compact JWS, ES256 with the raw r||s signature (JWS form, not DER) and the cert in x5c. */
export function signJwt(claims: object, key: KeyObject, certPem: string): string {
  const x5c = [Buffer.from(new X509Certificate(certPem).raw).toString("base64")];
  const input = `${b64url(JSON.stringify({ alg: "ES256", typ: "JWT", x5c }))}.${b64url(JSON.stringify(claims))}`;
  const sig = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${b64url(sig)}`;
}

/** `repository:NAME:ACTIONS`, `repository(plugin):NAME:ACTIONS`, `registry:catalog:*`; several per value, space-separated. */
export function parseScopes(values: string[]): Scope[] | string {
  const merged = new Map<string, Scope>();
  for (const s of values.flatMap((v) => v.split(" ")).filter(Boolean)) {
    const first = s.indexOf(":");
    const last = s.lastIndexOf(":");
    if (first <= 0 || last === first || last === first + 1) return `invalid scope: ${s}`;
    const type = s.slice(0, first);
    const name = s.slice(first + 1, last);
    const actions = s
      .slice(last + 1)
      .split(",")
      .filter(Boolean);
    const key = `${type}\n${name}`;
    const seen = merged.get(key);
    if (seen) seen.actions = [...new Set([...seen.actions, ...actions])];
    else merged.set(key, { type, name, actions: [...new Set(actions)] });
  }
  return [...merged.values()];
}

const json = (status: number, body: unknown) => Response.json(body, { status });
const error = (status: number, code: string, message: string) => json(status, { errors: [{ code, message }] });

export async function startTokenRegistry(opts: TokenRegistryOptions): Promise<TokenRegistry> {
  const dir = mkdtempSync(join(tempRoot(), `${PREFIX}${process.pid}-token-`));
  dirs.add(dir);
  const removeDir = () => {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };

  const grants = opts.grants ?? ((user, scope) => (user === undefined ? [] : scope.actions));
  const answer = opts.answer ?? "both";
  const requests: TokenRequest[] = [];
  const refreshTokens = new Map<string, string>();
  let server: TestServer | undefined;

  try {
    const certs = await makeCerts(dir, opts.tls ?? false);

    const issue = (user: string | undefined, access: Access[], claims: Partial<TokenClaims> = {}): string => {
      const now = Math.floor(Date.now() / 1000);
      const full: TokenClaims = {
        iss: ISSUER,
        sub: user ?? "",
        aud: SERVICE,
        exp: now + EXPIRES_IN,
        nbf: now,
        iat: now,
        jti: randomBytes(12).toString("hex"),
        access,
        ...claims,
      };
      return signJwt(full, certs.signingKey, certs.signingCert);
    };

    /** Token answer for `user` and the requested scopes, the access filtered by `grants`. */
    const grant = (user: string | undefined, scopes: Scope[], extra: Record<string, unknown>) => {
      const access: Access[] = [];
      for (const s of scopes) {
        const granted = grants(user, { ...s, actions: [...s.actions] });
        const actions = s.actions.filter((a) => granted.includes(a));
        if (actions.length) access.push({ type: s.type, name: s.name, actions });
      }
      const token = issue(user, access);
      return json(200, {
        ...(answer !== "access_token" ? { token } : {}),
        ...(answer !== "token" ? { access_token: token } : {}),
        expires_in: EXPIRES_IN,
        issued_at: new Date().toISOString(),
        ...extra,
      });
    };

    const checkPassword = (user: string, password: string) => Object.hasOwn(opts.users, user) && opts.users[user] === password;

    const newRefreshToken = (user: string) => {
      const rt = randomBytes(24).toString("base64url");
      refreshTokens.set(rt, user);
      return rt;
    };

    const handle = async (req: Request): Promise<Response> => {
      const url = new URL(req.url);
      const authorization = req.headers.get("authorization") ?? undefined;
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.text();
      requests.push({
        method: req.method,
        path: url.pathname,
        query: url.search.replace(/^\?/, ""),
        ...(authorization !== undefined ? { authorization } : {}),
        ...(body !== undefined ? { body } : {}),
      });
      if (url.pathname !== "/token") return error(404, "NOT_FOUND", `no such endpoint: ${url.pathname}`);
      if (req.method !== "GET" && req.method !== "POST") return error(405, "UNSUPPORTED", `method ${req.method} not allowed`);

      const params = req.method === "GET" ? url.searchParams : new URLSearchParams(body);
      if (req.method === "POST" && !(req.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
        return error(400, "UNSUPPORTED", "POST /token wants application/x-www-form-urlencoded");
      }
      const service = params.get("service");
      if (service !== null && service !== SERVICE) return error(400, "DENIED", `unknown service: ${service}`);
      const scopes = parseScopes(params.getAll("scope"));
      if (typeof scopes === "string") return error(400, "SCOPE_INVALID", scopes);

      if (req.method === "GET") {
        let user: string | undefined;
        if (authorization !== undefined) {
          const m = /^Basic\s+(\S+)$/i.exec(authorization);
          if (!m) return error(401, "UNAUTHORIZED", "unsupported authorization scheme");
          const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
          const colon = decoded.indexOf(":");
          const name = colon < 0 ? decoded : decoded.slice(0, colon);
          if (colon < 0 || !checkPassword(name, decoded.slice(colon + 1))) {
            return error(401, "UNAUTHORIZED", "incorrect username or password");
          }
          user = name;
        }
        // `docker login` asks for a refresh token (its identitytoken) with offline_token=true.
        const offline = user !== undefined && params.get("offline_token") === "true";
        return grant(user, scopes, offline ? { refresh_token: newRefreshToken(user!) } : {});
      }

      const scope = { scope: scopes.map((s) => `${s.type}:${s.name}:${s.actions.join(",")}`).join(" ") };
      switch (params.get("grant_type")) {
        case "password": {
          const user = params.get("username");
          if (user === null || !checkPassword(user, params.get("password") ?? "")) {
            return error(401, "UNAUTHORIZED", "incorrect username or password");
          }
          const offline = params.get("access_type") === "offline";
          return grant(user, scopes, { ...scope, ...(offline ? { refresh_token: newRefreshToken(user) } : {}) });
        }
        case "refresh_token": {
          const user = refreshTokens.get(params.get("refresh_token") ?? "");
          if (user === undefined) return error(401, "UNAUTHORIZED", "unknown refresh token");
          return grant(user, scopes, scope);
        }
        default:
          return error(400, "UNSUPPORTED", `unsupported grant_type: ${params.get("grant_type")}`);
      }
    };

    server = serve(handle, certs.server ? { tls: certs.server } : {});
    const tokenUrl = `${server.url}/token`;

    const registry = await startRegistry({
      deleteEnabled: opts.deleteEnabled,
      tls: opts.tls,
      token: { realm: tokenUrl, service: SERVICE, issuer: ISSUER, rootCertBundle: certs.ca },
    });
    let caCertPath: string | undefined;
    if (registry.caCertPath) {
      caCertPath = join(dir, "ca-bundle.crt");
      writeFileSync(caCertPath, readFileSync(registry.caCertPath, "utf8") + readFileSync(certs.ca, "utf8"));
    }

    const srv = server;
    return {
      registry,
      tokenUrl,
      service: SERVICE,
      requests,
      refreshTokens,
      issue,
      ...(caCertPath ? { caCertPath } : {}),
      stop: async () => {
        await srv.stop();
        await registry.stop();
        removeDir();
      },
    };
  } catch (e) {
    await server?.stop();
    removeDir();
    throw e;
  }
}
