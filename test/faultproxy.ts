// A fault-injecting HTTP proxy of the tests' own, put in front of the REAL registry.
//
// Why it exists: a real registry does not fail on demand. To see what regctl does when a
// connection drops (before the registry saw the request, or after it acted on it and the answer
// was lost), when it is turned away (503, 429 with Retry-After) or when it is slow, something
// has to sit between the two and misbehave, at chosen rates and reproducibly.
//
// Why node:net and not Bun.serve: a Bun.serve fetch handler has no way to close a connection
// without answering. A thrown error becomes a 500 page; a body stream that errors does cut the
// socket, but only as a side effect the runtime logs as an uncaught error. A TCP server can
// reset the socket for real (resetAndDestroy: RST, no answer), which is what a dropped
// connection looks like to a client.
//
// How it forwards: one request per client connection. The proxy reads the request head,
// decides the fault, rewrites `Connection: close` into the head and passes head and body to a
// fresh connection to the registry; the answer is piped back byte for byte as it arrives (HEAD
// has no body; large bodies stream), and the registry closing its end marks the answer's end.
// Host is left as the client sent it: the registry answers whatever Host it gets. Anything that
// is not an HTTP request (regctl's https probe of a loopback registry sends a TLS hello) is
// piped through untouched, so the registry itself answers it.
//
// Held: `hold(method, path)` keeps the next matching request from the registry until the test
// releases it, so a test can put a change of its own (a push) between two of regctl's requests.
//
// Reproducible: whether and how a request is hit is a hash of (seed, method, path, how many times
// that method and path were asked before), not of arrival order, so the same run meets the same
// faults however its concurrent requests interleave. (Only which Retry-After form a 429 carries
// alternates in arrival order.)
import { connect, createServer, type Socket } from "node:net";

export type Faults = {
  /** close the connection without an answer; half before forwarding, half AFTER forwarding (the registry acted, the answer is lost) */
  dropRate?: number;
  /** answer 503 without forwarding */
  status503Rate?: number;
  /** answer 429 without forwarding, with Retry-After: 1 (seconds) or an HTTP date, alternately */
  status429Rate?: number;
  /** forward after waiting slowMs */
  slowRate?: number;
  slowMs?: number;
  /** seed of the deterministic choice (default 1) */
  seed?: number;
  /** only requests with these methods are hit (default: every method) */
  onlyMethods?: string[];
  /** stop injecting after this many faults (slow ones included) */
  maxFaults?: number;
  /** which kind of drop: "before" the registry sees the request, "after" it answered, or half each (default) */
  dropKind?: "before" | "after";
  /** Retry-After on a 429: "seconds" (1), "date" (an HTTP date ≥ 1 s ahead), "alternate" (default), "none" */
  retryAfter?: "seconds" | "date" | "alternate" | "none";
};

export type Fault = "none" | "drop" | "drop-after-forward" | "503" | "429" | "slow";

export type FaultStats = {
  /** HTTP requests seen (non-HTTP connections, such as a TLS probe, are not counted) */
  requests: number;
  /** connections closed without an answer, both kinds */
  dropped: number;
  /** of those, the ones the registry had received and answered (the answer was discarded) */
  dropsAfterForward: number;
  s503: number;
  s429: number;
  slow: number;
};

export type LoggedRequest = { method: string; path: string; fault: Fault; at: number };

export type Hold = { arrived: Promise<LoggedRequest>; release(): void };

export type FaultProxy = {
  host: string; // "127.0.0.1:PORT"
  url: string; // "http://127.0.0.1:PORT"
  stats: FaultStats;
  /** every request with the fault it met, in arrival order (the first 100000) */
  log: LoggedRequest[];
  /** connections open right now, client side */
  open(): number;
  setFaults(f: Faults): void;
  /**
   * Hold the next request with this method (and a path matching `path`) before it reaches the
   * registry, until `release()`: the test changes the registry meanwhile, as a concurrent push
   * would. `arrived` resolves once the request is held.
   */
  hold(method: string, path?: RegExp): Hold;
  stop(): Promise<void>;
};

const MAX_HEAD = 64 << 10;
const MAX_LOG = 100_000;

/** FNV-1a, then a murmur-style finaliser: a uniform number in [0, 1) from a string. */
function unit(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

const REASON: Record<number, string> = { 429: "Too Many Requests", 503: "Service Unavailable" };

export async function startFaultProxy(target: string, faults: Faults = {}): Promise<FaultProxy> {
  const up = new URL(target);
  const upPort = Number(up.port || 80);
  let f: Faults = { ...faults };
  const stats: FaultStats = { requests: 0, dropped: 0, dropsAfterForward: 0, s503: 0, s429: 0, slow: 0 };
  const log: LoggedRequest[] = [];
  const asked = new Map<string, number>(); // "METHOD path" → times seen
  const sockets = new Set<Socket>();
  let injected = 0;
  const t0 = Date.now();
  const holds: { method: string; path?: RegExp; arrive(r: LoggedRequest): void; released: Promise<void> }[] = [];

  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {}); // a peer that goes away is not the proxy's problem
  };

  /** Reset when the runtime can (RST), else close: either way the client gets no answer. */
  const drop = (s: Socket) => {
    const r = s as Socket & { resetAndDestroy?: () => void };
    if (typeof r.resetAndDestroy === "function") r.resetAndDestroy();
    else s.destroy();
  };

  const choose = (method: string, path: string): Fault => {
    const key = `${method} ${path}`;
    const n = (asked.get(key) ?? 0) + 1;
    asked.set(key, n);
    if (f.onlyMethods && !f.onlyMethods.includes(method)) return "none";
    if (f.maxFaults !== undefined && injected >= f.maxFaults) return "none";
    const r = unit(`${f.seed ?? 1}|${key}|${n}`);
    let edge = 0;
    const bands: [number | undefined, Fault][] = [
      [f.dropRate, "drop"],
      [f.status503Rate, "503"],
      [f.status429Rate, "429"],
      [f.slowRate, "slow"],
    ];
    for (const [rate, fault] of bands) {
      edge += rate ?? 0;
      if (r < edge) {
        injected++;
        // Either kind of drop, half each (also a hash: the same request meets the same kind).
        if (fault === "drop" && f.dropKind) return f.dropKind === "before" ? "drop" : "drop-after-forward";
        if (fault === "drop") return unit(`${f.seed ?? 1}|${key}|${n}|kind`) < 0.5 ? "drop" : "drop-after-forward";
        return fault;
      }
    }
    return "none";
  };

  const retryAfter = (): string | undefined => {
    const mode = f.retryAfter ?? "alternate";
    if (mode === "none") return undefined;
    const useDate = mode === "date" || (mode === "alternate" && stats.s429 % 2 === 0);
    // An HTTP date has whole seconds: round up so the wait is at least one second.
    return useDate ? new Date(Math.ceil((Date.now() + 1000) / 1000) * 1000).toUTCString() : "1";
  };

  /** A complete error answer from the proxy itself, then close (the request body is read and discarded). */
  const answer = (client: Socket, status: 429 | 503, method: string) => {
    const body = JSON.stringify({ errors: [{ code: status === 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", message: "injected by the fault proxy" }] });
    const extra = status === 429 ? retryAfter() : undefined;
    if (status === 429) stats.s429++;
    else stats.s503++;
    const head = [
      `HTTP/1.1 ${status} ${REASON[status]}`,
      "Content-Type: application/json",
      `Content-Length: ${Buffer.byteLength(body)}`,
      "Connection: close",
      ...(extra ? [`Retry-After: ${extra}`] : []),
    ].join("\r\n");
    client.resume(); // read and discard a body, so closing sends FIN, not RST
    client.end(`${head}\r\n\r\n${method === "HEAD" ? "" : body}`);
  };

  /** Forward head (rewritten) and body; pipe the answer back, or discard it and drop the client. */
  const forward = (client: Socket, head: string, rest: Buffer, loseAnswer: boolean) => {
    const upstream = connect(upPort, up.hostname);
    track(upstream);
    upstream.on("error", () => drop(client));
    client.on("close", () => upstream.destroy());
    upstream.write(head);
    if (rest.length) upstream.write(rest);
    client.pipe(upstream);
    if (loseAnswer) {
      upstream.resume(); // read the registry's whole answer, keep none of it
      upstream.on("end", () => drop(client));
    } else {
      upstream.pipe(client);
    }
  };

  const handle = async (client: Socket, headBytes: Buffer, rest: Buffer) => {
    const lines = headBytes.toString("latin1").split("\r\n");
    const [method = "", path = ""] = (lines[0] ?? "").split(" ");
    // One request per connection: the registry and the client both close after this answer.
    const headers = lines.slice(1).filter((l) => !/^(connection|keep-alive|proxy-connection)\s*:/i.test(l));
    const head = `${[lines[0], ...headers, "Connection: close"].join("\r\n")}\r\n\r\n`;
    stats.requests++;
    const fault = choose(method, path);
    const entry = { method, path, fault, at: Date.now() - t0 };
    if (log.length < MAX_LOG) log.push(entry);
    const held = holds.findIndex((h) => h.method === method && (!h.path || h.path.test(path)));
    if (held >= 0) {
      const [h] = holds.splice(held, 1);
      h!.arrive(entry);
      await h!.released;
      if (client.destroyed) return;
    }
    switch (fault) {
      case "drop":
        stats.dropped++;
        return drop(client);
      case "drop-after-forward":
        stats.dropped++;
        stats.dropsAfterForward++;
        return forward(client, head, rest, true);
      case "503":
      case "429":
        return answer(client, fault === "503" ? 503 : 429, method);
      case "slow":
        stats.slow++;
        await Bun.sleep(f.slowMs ?? 100);
        if (client.destroyed) return;
        return forward(client, head, rest, false);
      default:
        return forward(client, head, rest, false);
    }
  };

  const server = createServer((client) => {
    track(client);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Not an HTTP request line (a TLS hello starts with 0x16): a plain TCP pipe to the registry.
      if (!/^[A-Z]/.test(buffered.toString("latin1", 0, 1))) {
        client.off("data", onData);
        const upstream = connect(upPort, up.hostname);
        track(upstream);
        upstream.on("error", () => client.destroy());
        client.on("close", () => upstream.destroy());
        upstream.write(buffered);
        client.pipe(upstream);
        upstream.pipe(client);
        return;
      }
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buffered.length > MAX_HEAD) client.destroy();
        return;
      }
      client.off("data", onData);
      client.pause();
      void handle(client, buffered.subarray(0, end), buffered.subarray(end + 4));
    };
    client.on("data", onData);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    stats,
    log,
    open: () => sockets.size,
    setFaults: (next) => {
      f = { ...next };
      injected = 0;
    },
    hold: (method, path) => {
      let arrive!: (r: LoggedRequest) => void;
      let release!: () => void;
      const arrived = new Promise<LoggedRequest>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      holds.push({ method, path, arrive, released });
      return { arrived, release };
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
