// The questions regctl asks on a terminal, answered in a REAL one (tmux) against the REAL registry:
// delete, untag and prune's [y/N], login's Username: and Password:, and -u's Password:. Ctrl-C
// exits 130 and Ctrl-D (end of input) exits 1, each after a newline, with nothing changed; a `y`
// still deletes; a password is never echoed; after the question the terminal is as it was. Each run
// is `sh -c 'regctl …; echo "exit=$?"'` in a pane of its own. The registry's state is read with
// plain fetch; every wait is a bounded poll.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { manifestStatus, registryTags, regctlCommand, run, secret } from "./cli.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { pushImage, pushManyTags } from "./seed.ts";
import { Pane, startTmux, stopTmux } from "./terminal.ts";

const USER = "dora";
const PASSWORD = secret("Pr0mpt-pw-q7Zx");

let tmp = "";
let reg: Registry; // deletes enabled, no credentials
let authReg: Registry; // htpasswd: USER / PASSWORD
let homes = 0;

type Env = Record<string, string>;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "regctl-prompts-"));
  startTmux(tmp);
  [reg, authReg] = await Promise.all([startRegistry({ deleteEnabled: true }), startRegistry({ htpasswd: { user: USER, password: PASSWORD } })]);
}, 30_000);

afterAll(async () => {
  stopTmux();
  await Promise.all([reg?.stop(), authReg?.stop()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A HOME of its own, with an empty cache and docker config. */
function makeHome(): Env {
  const home = join(tmp, `home${++homes}`);
  mkdirSync(home);
  return { HOME: home, PATH: "/usr/bin:/bin", XDG_CACHE_HOME: join(home, "cache"), DOCKER_CONFIG: join(home, "docker"), LANG: "C.UTF-8" };
}

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * regctl ARGS in a terminal of its own, then `exit=N`; the pane stays up (sleep) so the screen can
 * be read. A Ctrl-C that the terminal turns into SIGINT goes to sh too: its trap keeps it going.
 */
function regctlIn(args: string[], env: Env, size?: { columns: number; rows: number }): Pane {
  const command = [...regctlCommand(), ...args].map(shq).join(" ");
  return new Pane("", ["sh", "-c", `trap : INT; ${command}; echo "exit=$?"; exec sleep 600`], env, size);
}

/** Wait until the cursor sits at the end of a line ending in `question` (regctl is reading). */
async function asked(pane: Pane, question: string): Promise<string> {
  await pane.until(`the question "${question}"`, () => pane.current().endsWith(question.trimEnd()) && pane.cursor().x === pane.current().length + 1, 20_000);
  return pane.current();
}

/** The screen's non-empty lines once regctl has exited. */
async function finished(pane: Pane): Promise<string[]> {
  await pane.until("exit=N", () => /exit=\d+$/.test(pane.text()), 15_000);
  return pane.text().split("\n");
}

/** An image with two tags, and another with one, in a repository of its own. */
async function seed(repo: string) {
  const a = await pushImage(reg.url, repo, ["latest", "1.36"], { seed: `${repo}-a` });
  const b = await pushImage(reg.url, repo, ["edge"], { seed: `${repo}-b` });
  return { a: a.digest, b: b.digest };
}

async function unchanged(repo: string, digests: { a: string; b: string }) {
  expect(await registryTags(reg.url, repo)).toEqual(["1.36", "edge", "latest"]);
  expect(await manifestStatus(reg.url, repo, digests.a)).toBe(200);
  expect(await manifestStatus(reg.url, repo, digests.b)).toBe(200);
}

const CTRL_C = { key: "C-c", code: 130, message: "regctl: interrupted: nothing changed" };

describe("[y/N]: Ctrl-C is interrupted (130), Ctrl-D is a no (1); nothing changes", () => {
  const cases = [
    { command: "delete", ...CTRL_C },
    { command: "delete", key: "C-d", code: 1, message: "regctl: nothing deleted: not confirmed" },
    { command: "untag", ...CTRL_C },
    { command: "untag", key: "C-d", code: 1, message: "regctl: nothing changed: not confirmed" },
    { command: "prune", ...CTRL_C },
    { command: "prune", key: "C-d", code: 1, message: "regctl: nothing changed: not confirmed" },
  ];
  test.each(cases)("$command, $key → exit $code", async ({ command, key, code, message }) => {
    const repo = `p/${command}-${key.toLowerCase()}`;
    const digests = await seed(repo);
    const args = { delete: ["delete", `${reg.host}/${repo}:latest`], untag: ["untag", `${reg.host}/${repo}:latest`], prune: ["prune", `${reg.host}/${repo}`, "--keep", "0"] }[
      command
    ]!;
    const pane = regctlIn(args, makeHome());
    const question = await asked(pane, "? [y/N] ");
    pane.keys(key);
    const screen = await finished(pane);
    // The question stays as it was, the message starts a line of its own.
    expect(screen.slice(-3)).toEqual([question.trimEnd(), message, `exit=${code}`]);
    await unchanged(repo, digests);
    pane.kill();
  });
});

describe("[y/N]: the answer is read", () => {
  test("delete: a `y` typed after an erased `n` deletes (exit 0), and the line shows just the y", async () => {
    const repo = "p/delete-yes";
    const { a, b } = await seed(repo);
    const pane = regctlIn(["delete", `${reg.host}/${repo}:latest`], makeHome());
    const question = await asked(pane, "? [y/N] ");
    expect(question).toBe("Delete this Docker image and its 2 tags (1.36, latest)? [y/N]");
    expect(pane.lines().filter(Boolean)).toEqual([`${reg.host}/${repo}:latest is ${a.slice(0, 19)}…`, question]);
    pane.type("n");
    await pane.until("the n echoed", () => pane.current() === `${question} n`);
    pane.keys("BSpace");
    pane.type("y");
    await pane.until("the y in place of the n", () => pane.current() === `${question} y`);
    pane.keys("Enter");
    const screen = await finished(pane);
    expect(screen).toContain(`deleted ${reg.host}/${repo}@${a}`);
    expect(screen.at(-1)).toBe("exit=0");
    expect(await registryTags(reg.url, repo)).toEqual(["edge"]);
    expect(await manifestStatus(reg.url, repo, a)).toBe(404);
    expect(await manifestStatus(reg.url, repo, b)).toBe(200);
    pane.kill();
  });

  test("untag: Enter on an empty line is a no (exit 1)", async () => {
    const repo = "p/untag-enter";
    const digests = await seed(repo);
    const pane = regctlIn(["untag", `${reg.host}/${repo}:latest`], makeHome());
    await asked(pane, "? [y/N] ");
    pane.keys("Enter");
    const screen = await finished(pane);
    expect(screen.slice(-2)).toEqual(["regctl: nothing changed: not confirmed", "exit=1"]);
    await unchanged(repo, digests);
    pane.kill();
  });
});

describe("on an 80-column terminal", () => {
  const narrow = { columns: 80, rows: 24 };

  test("the delete question takes two lines, the full digest in neither", async () => {
    const repo = "p/narrow-delete-question";
    const digests = await seed(repo);
    const { a } = digests;
    const pane = regctlIn(["delete", `${reg.host}/${repo}:latest`], makeHome(), narrow);
    await asked(pane, "? [y/N] ");
    const screen = pane.lines().filter(Boolean);
    expect(screen).toEqual([`${reg.host}/${repo}:latest is ${a.slice(0, 19)}…`, "Delete this Docker image and its 2 tags (1.36, latest)? [y/N]"]);
    expect(screen.join("\n")).not.toContain(a);
    pane.keys("C-d");
    await finished(pane);
    await unchanged(repo, digests);
    pane.kill();
  });

  test("Ctrl-C during a prune's deletes: the progress line is erased, then one summary names the first few tags left and the command that finishes", async () => {
    const repo = "p/interrupt-progress";
    await pushManyTags(reg.url, repo, 300, { distinctImages: true });
    // One DELETE at a time: the deletes take long enough for the key to land among them.
    const args = ["prune", `${reg.host}/${repo}`, "--keep", "10", "--yes", "--concurrency", "1"];
    const pane = regctlIn(args, makeHome(), narrow);
    await pane.until("the progress bar past 20", () => Number(/ (\d+)\/290$/.exec(pane.current())?.[1] ?? 0) > 20, 60_000);
    pane.keys("C-c");
    await finished(pane);
    const screen = pane.text(true).split("\n"); // lines the terminal wrapped, joined
    expect(screen).toContain("interrupted: starting nothing new, finishing what is in flight…");
    // The bar is gone (and the ^C the terminal echoed on its line with it); nothing is left on its line.
    expect(screen.filter((l) => /\/290|\^C/.test(l))).toEqual([]);
    const summary = screen.find((l) => l.startsWith(`${reg.host}/${repo}: deleted `))!;
    const [, deleted, left] = /: deleted (\d+) manifests, untagged 0 tags, (\d+) not started$/.exec(summary)!;
    expect(Number(deleted) + Number(left)).toBe(290);
    const notStarted = screen.filter((l) => l.startsWith("not started"));
    expect(notStarted.length).toBe(1);
    expect(notStarted[0]).toMatch(new RegExp(`^not started \\(${left}\\): (v[\\d.]+, ){4}v[\\d.]+ …and ${Number(left) - 5} more$`));
    expect(screen.join("\n")).not.toMatch(/sha256:[a-f0-9]{64}/);
    expect(screen).toContain(`regctl: interrupted: the prune stopped before the end: ${deleted} done, ${left} not started`);
    expect(screen).toContain(`hint: run the same prune again to finish: regctl ${args.join(" ")}`);
    expect(screen.at(-1)).toBe("exit=130");
    pane.kill();
  }, 90_000);
});

describe("a dry run on a terminal draws no progress bar: nothing is sent", () => {
  test("prune --dry-run: the plan, and no finished bar under it that reads as writes done", async () => {
    const repo = "p/dry-bar";
    await pushImage(reg.url, repo, ["old"], { seed: `${repo}-old`, created: "2024-01-01T00:00:00Z" });
    await pushImage(reg.url, repo, ["older"], { seed: `${repo}-older`, created: "2023-01-01T00:00:00Z" });
    await pushImage(reg.url, repo, ["new"], { seed: `${repo}-new`, created: "2024-02-01T00:00:00Z" });
    const pane = regctlIn(["prune", `${reg.host}/${repo}`, "--keep", "1", "--dry-run"], makeHome());
    await finished(pane);
    const screen = pane.text(true);
    expect(screen).toContain("delete");
    expect(screen).not.toContain("█");
    expect(screen).not.toMatch(/\d+\/2\s*$/m);
    expect(screen.split("\n").at(-1)).toBe("exit=0");
    pane.kill();
  });
});

describe("colour: on a terminal for keep, delete, untag and the error prefix; never with NO_COLOR, never down a pipe", () => {
  const SGR = /\x1b\[[0-9;]*m/;

  test("a terminal: the actions and regctl: are coloured, and the columns still line up", async () => {
    const repo = "p/colour";
    await pushImage(reg.url, repo, ["old"], { seed: `${repo}-old`, created: "2024-01-01T00:00:00Z" });
    await pushImage(reg.url, repo, ["new", "alias"], { seed: `${repo}-new`, created: "2024-02-01T00:00:00Z" });
    const pane = regctlIn(["prune", `${reg.host}/${repo}`, "--keep", "1"], makeHome());
    await asked(pane, "? [y/N] ");
    const coloured = pane.coloured();
    // tmux redraws the colours as it sees fit; which colour goes with which action is what counts.
    const colourOf = (action: string) => new RegExp(`\\x1b\\[([0-9;]*)m${action}\\x1b\\[`).exec(coloured)?.[1];
    expect([colourOf("keep"), colourOf("delete"), colourOf("untag")]).toEqual(["32", "31", "33"]);
    // Colour codes take no width: ACTION and REASON start in the same column on every row.
    const rows = pane.lines().filter((l) => /^(TAG|alias|new|old) /.test(l));
    const starts = rows.map((l) => {
      const m = /(ACTION|keep|delete|untag)\s+/.exec(l)!;
      return [m.index, m.index + m[0].length];
    });
    expect(rows.length).toBe(4);
    for (const s of starts) expect(s).toEqual(starts[0]!);
    pane.keys("C-d");
    await finished(pane);
    expect(/\x1b\[([0-9;]*)mregctl:/.exec(pane.coloured())?.[1]).toBe("31");
    pane.kill();
  });

  test("NO_COLOR=1 on a terminal: no colour", async () => {
    const repo = "p/no-colour";
    await pushImage(reg.url, repo, ["a"], { seed: repo });
    const pane = regctlIn(["prune", `${reg.host}/${repo}`, "--keep", "0"], { ...makeHome(), NO_COLOR: "1" });
    await asked(pane, "? [y/N] ");
    pane.keys("C-d");
    await finished(pane);
    expect(pane.coloured()).not.toMatch(SGR);
    pane.kill();
  });

  test("down a pipe, NO_COLOR unset: no escape codes on stdout or stderr", async () => {
    const repo = "p/piped";
    await pushImage(reg.url, repo, ["a"], { seed: repo });
    const r = await run(["prune", `${reg.host}/${repo}`, "--keep", "0"], { env: { ...makeHome(), NO_COLOR: "" } });
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("delete");
    expect(r.stdout + r.stderr).not.toMatch(SGR);
    expect(r.stderr).toMatch(/^regctl: refusing to delete/m);
  });
});

describe("login and -u: Ctrl-C (130) and Ctrl-D (1) store nothing; the password is never echoed", () => {
  const configOf = (env: Env) => join(env.DOCKER_CONFIG!, "config.json");
  const cases = [
    { at: "Username:", ...CTRL_C },
    { at: "Username:", key: "C-d", code: 1, message: "regctl: no username given (end of input): nothing changed" },
    { at: "Password:", ...CTRL_C },
    { at: "Password:", key: "C-d", code: 1, message: "regctl: no password given (end of input): nothing changed" },
  ];
  // Against the registry that takes any credentials: a password made up of nothing would be stored.
  test.each(cases)("login at $at, $key → exit $code", async ({ at, key, code, message }) => {
    const env = makeHome();
    const pane = regctlIn(["login", reg.host], env);
    await asked(pane, "Username: ");
    if (at === "Password:") {
      pane.type(USER);
      await pane.until("the username echoed", () => pane.current() === `Username: ${USER}`);
      pane.keys("Enter");
      await asked(pane, "Password: ");
      pane.type(PASSWORD);
      await Bun.sleep(200); // what an echo would show by now
      expect(pane.current()).toBe("Password:");
      if (key === "C-d") pane.keys("C-u"); // Ctrl-D ends the input on an empty line only
    }
    pane.keys(key);
    const screen = await finished(pane);
    expect(screen.slice(-3)).toEqual([at, message, `exit=${code}`]);
    if (at === "Password:") {
      expect(screen.join("\n")).not.toContain(PASSWORD);
      expect(existsSync(configOf(env))).toBe(false);
    }
    pane.kill();
  });

  test("login: the typed password is the one checked and stored, and it never shows", async () => {
    const env = makeHome();
    const pane = regctlIn(["login", authReg.host], env);
    await asked(pane, "Username: ");
    pane.type(USER);
    pane.keys("Enter");
    await asked(pane, "Password: ");
    pane.type(PASSWORD);
    pane.keys("Enter");
    const screen = await finished(pane);
    expect(screen.slice(-2)).toEqual([`logged in to ${authReg.host} as ${USER} (stored in ${configOf(env)})`, "exit=0"]);
    expect(screen.join("\n")).not.toContain(PASSWORD);
    const stored = JSON.parse(readFileSync(configOf(env), "utf8"));
    expect(stored.auths[authReg.host].auth).toBe(Buffer.from(`${USER}:${PASSWORD}`).toString("base64"));
    pane.kill();
  });

  test("-u USER without a password: Ctrl-C at its Password: exits 130", async () => {
    const pane = regctlIn(["tags", `${authReg.host}/busybox`, "-u", USER], makeHome());
    await asked(pane, "Password: ");
    pane.keys("C-c");
    const screen = await finished(pane);
    expect(screen.slice(-3)).toEqual(["Password:", CTRL_C.message, "exit=130"]);
    pane.kill();
  });
});

describe("after the question the terminal is as it was", () => {
  test("while regctl works on, what is typed echoes and Ctrl-C is a signal again (exit 130)", async () => {
    // A registry that accepts connections and never answers keeps regctl at work after the question.
    const hang = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open() {} } });
    try {
      const pane = regctlIn(["tags", `127.0.0.1:${hang.port}/busybox`, "-u", USER, "--verbose", "--timeout", "30s"], makeHome());
      await asked(pane, "Password: ");
      pane.type(PASSWORD);
      pane.keys("Enter");
      await pane.until("the first request", () => pane.text().includes("# → GET "));
      pane.type("abc");
      await pane.until("the terminal's own echo of abc", () => pane.lines().includes("abc"));
      pane.keys("C-c");
      const screen = await finished(pane);
      expect(screen.at(-1)).toBe("exit=130");
      expect(screen.join("\n")).not.toContain(PASSWORD);
      pane.kill();
    } finally {
      hang.stop(true);
    }
  });
});

describe("without a terminal the refusals stay", () => {
  test("untag without --yes and login without --password-stdin exit 2; nothing changes, nothing is stored", async () => {
    const repo = "p/no-tty";
    const digests = await seed(repo);
    const env = makeHome();
    const untag = await run(["untag", `${reg.host}/${repo}:latest`], { env });
    expect(untag.code).toBe(2);
    expect(untag.stderr).toContain("no terminal to ask on");
    await unchanged(repo, digests);
    const login = await run(["login", authReg.host], { env });
    expect(login.code).toBe(2);
    expect(login.stderr).toContain("login needs -u USER and --password-stdin");
    expect(existsSync(join(env.DOCKER_CONFIG!, "config.json"))).toBe(false);
  });
});
