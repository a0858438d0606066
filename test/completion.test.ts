// Shell completion end to end: REAL bash (with bash-completion), zsh and fish call the compiled
// binary back (`regctl __complete SHELL`) for candidates from the REAL registry.
// - bash: bash-completion's own machinery (COMP_WORDS split at ':' as readline does, `_regctl`,
//   COMPREPLY), and interactive bash in tmux (Tab, Tab Tab, the line and the cursor);
// - zsh: interactive in tmux (compinit, `source <(regctl completion zsh)`, Tab, the listing);
// - fish: `complete -C` (fish's own machinery), values and descriptions;
// - `completion install|uninstall` for each shell, then a new shell;
// - a registry that is down or hangs, one that needs credentials and TLS, and the cache.
// Every shell gets its own temp HOME and XDG dirs; tmux runs on a private socket. Every wait is a
// bounded poll. Under `make test` REGCTL_BIN is dist/regctl; without it a binary is built here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TCPSocketListener } from "bun";
import { exec, type ExecResult, execSync, freePort, serve } from "./fixtures.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { pushImage, pushManyTags } from "./seed.ts";
import { Pane, startTmux, stopTmux } from "./terminal.ts";

const ROOT = resolve(import.meta.dir, "..");
const BASH_COMPLETION = "/usr/share/bash-completion/bash_completion";
const USER = "carol";
const PASSWORD = "Compl3tion-pw";
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString("base64");

let tmp = "";
let binDir = "";
let reg: Registry; // plain http: busybox, team/app-1.2, my.repo_x/sub, zz/many (300 tags)
let authReg: Registry; // TLS + htpasswd
let cacheReg: Registry; // plain http, stopped by the cache test
let hang: TCPSocketListener | undefined; // accepts connections, never answers
let H = ""; // reg.host, 127.0.0.1:PORT
let DOWN = ""; // a closed port
let HANG = "";
let digestA = ""; // busybox:latest and busybox:1.36
let digestB = ""; // busybox:edge
let bashPane: Pane;
let plainBashPane: Pane; // bash without bash-completion: '@' stays in COMP_WORDBREAKS
let zshPane: Pane;

type Env = Record<string, string>;

/** A temp HOME with its own XDG dirs, and PATH starting with the directory holding `regctl`. */
function makeHome(name: string, extra: Env = {}): Env {
  const dir = join(tmp, "homes", name);
  mkdirSync(dir, { recursive: true });
  return {
    HOME: dir,
    XDG_CACHE_HOME: join(dir, ".cache"),
    XDG_DATA_HOME: join(dir, ".local", "share"),
    XDG_CONFIG_HOME: join(dir, ".config"),
    XDG_DATA_DIRS: join(tmp, "no-system-data"), // no completion installed on the machine leaks in
    PATH: `${binDir}:/usr/bin:/bin`,
    LANG: "C.UTF-8",
    ...extra,
  };
}

/** A command with exactly `env`, in its HOME; killed after 15 s. Its status, outputs and wall time. */
const inHome = (cmd: string[], env: Env, timeoutMs = 15_000): Promise<ExecResult> => exec(cmd, { env, cwd: env.HOME, timeoutMs });

const regctl = (args: string[], env: Env) => inHome([join(binDir, "regctl"), ...args], env);

/** One TAB as the scripts ask it: the line up to the cursor in COMP_LINE. */
const answer = (shell: string, line: string, env: Env) => inHome([join(binDir, "regctl"), "__complete", shell], { ...env, COMP_LINE: line, COMP_POINT: String(line.length) });

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const fishq = (s: string) => `'${s.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
const sorted = (a: Iterable<string>) => [...a].sort();
const hex = (digest: string) => digest.slice("sha256:".length);

// ───────────── bash: bash-completion's machinery, as readline drives it ─────────────

// What bash 5.2 with bash-completion does for programmable completion (checked in an interactive
// bash): words split at blanks, and each run of ':' (in COMP_WORDBREAKS) is a word of its own.
// bash-completion takes '@' out of COMP_WORDBREAKS; plain bash keeps it, and readline then
// replaces the text from the last '@' on (the plain bash pane in tmux checks that case).
function bashWords(line: string): { words: string[]; cword: number } {
  const words: string[] = [];
  for (const token of line.split(/[ \t]+/)) {
    if (token === "") words.push("");
    else words.push(...token.match(/:+|[^:]+/g)!);
  }
  return { words, cword: words.length - 1 };
}

/** The line after readline puts one COMPREPLY entry in place of the text after the last break. */
function bashApply(line: string, reply: string): string {
  let start = 0;
  for (let i = 0; i < line.length; i++) if (" \t\n\"'><=;|&(:".includes(line[i]!)) start = i + 1;
  return line.slice(0, start) + reply;
}

const lastWord = (line: string) => line.slice(line.lastIndexOf(" ") + 1);

/** COMPREPLY of `_regctl` for each line, in one bash that sourced bash-completion and the script. */
async function bashComplete(env: Env, lines: string[], source = "source <(regctl completion bash)"): Promise<string[][]> {
  let script = `source ${BASH_COMPLETION}\n${source}\n`;
  for (const line of lines) {
    const { words, cword } = bashWords(line);
    script += `COMP_WORDS=(${words.map(shq).join(" ")}); COMP_CWORD=${cword}; COMP_LINE=${shq(line)}; COMP_POINT=\${#COMP_LINE}; COMPREPLY=()\n`;
    script += `_regctl; echo '<<<'; printf '%s\\n' "\${COMPREPLY[@]}"\n`;
  }
  const r = await inHome(["bash", "--norc", "--noprofile", "-c", script], env);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout
    .split("<<<\n")
    .slice(1)
    .map((part) => part.split("\n").filter(Boolean));
}

/** The words a completed line ends in, one per COMPREPLY entry (sorted). */
async function bashCandidates(env: Env, lines: string[]): Promise<string[][]> {
  const replies = await bashComplete(env, lines);
  return replies.map((r, i) => sorted(r.map((reply) => lastWord(bashApply(lines[i]!, reply)))));
}

// ───────────── fish: complete -C ─────────────

/** `complete -C LINE` for each line: [value, description][] (fish sorts them). */
async function fishComplete(env: Env, lines: string[], opts: { source?: boolean } = {}): Promise<[string, string][][]> {
  const source = opts.source ?? true;
  let script = source ? "source (regctl completion fish | psub)\n" : "";
  for (const line of lines) script += `echo '<<<'; complete -C ${fishq(line)}\n`;
  // --no-config keeps the machine's fish config out, but also empties fish_complete_path: an
  // installed script is only found by a fish that reads its configuration.
  const r = await inHome(["fish", ...(source ? ["--no-config"] : []), "-c", script], env);
  expect(r.stderr).toBe("");
  return r.stdout
    .split("<<<\n")
    .slice(1)
    .map((part) =>
      part
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const tab = l.indexOf("\t");
          return (tab < 0 ? [l, ""] : [l.slice(0, tab), l.slice(tab + 1)]) as [string, string];
        }),
    );
}

const values = (rows: [string, string][]) => sorted(rows.map(([v]) => v));

const tokens = (lines: string[]) => new Set(lines.join(" ").split(/\s+/).filter(Boolean));

// ───────────── fixtures ─────────────

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "regctl-completion-"));
  startTmux(tmp);
  mkdirSync(join(tmp, "no-system-data"));
  binDir = join(tmp, "bin");
  mkdirSync(binDir);
  let bin = process.env.REGCTL_BIN ? resolve(ROOT, process.env.REGCTL_BIN) : "";
  const registries = Promise.all([startRegistry(), startRegistry({ tls: true, htpasswd: { user: USER, password: PASSWORD } }), startRegistry()]);
  if (!bin) {
    bin = join(tmp, "regctl");
    const b = await inHome(
      [join(ROOT, "node_modules", ".bin", "bun"), "build", "--compile", join(ROOT, "regctl.ts"), "--outfile", bin],
      { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmp },
      60_000,
    );
    if (b.code !== 0) throw new Error(`bun build --compile failed: ${b.stderr}${b.stdout}`);
  }
  symlinkSync(bin, join(binDir, "regctl"));

  // The shells start while the registries are being seeded.
  bashPane = new Pane("B> ", ["bash", "--norc", "--noprofile"], makeHome("bash-tty"));
  const rc = join(tmp, "bash-tty.rc");
  writeFileSync(rc, `source ${BASH_COMPLETION}\nsource <(regctl completion bash)\nPS1='B> '\n`);
  bashPane.type(`source ${rc}`);
  bashPane.keys("Enter");
  plainBashPane = new Pane("P> ", ["bash", "--norc", "--noprofile"], makeHome("bash-plain-tty"));
  plainBashPane.type("PS1='P> '; source <(regctl completion bash)");
  plainBashPane.keys("Enter");
  zshPane = new Pane("Z> ", ["zsh", "-f"], makeHome("zsh-tty"));
  zshPane.type("PS1='Z> '; autoload -U compinit; compinit -u; source <(regctl completion zsh)");
  zshPane.keys("Enter");

  [reg, authReg, cacheReg] = await registries;
  H = reg.host;
  const a = await pushImage(reg.url, "busybox", ["latest", "1.36"], { seed: "completion-busybox" });
  const b = await pushImage(reg.url, "busybox", ["edge"], { seed: "completion-edge" });
  digestA = a.digest;
  digestB = b.digest;
  await pushImage(reg.url, "team/app-1.2", ["v1"], { seed: "completion-app" });
  await pushImage(reg.url, "my.repo_x/sub", ["rc-1"], { seed: "completion-sub" });
  await pushManyTags(reg.url, "zz/many", 300);

  const tlsOpts = { headers: { Authorization: `Basic ${BASIC}` }, fetchOptions: { tls: { ca: readFileSync(authReg.caCertPath!, "utf8") } } };
  await pushImage(authReg.url, "busybox", ["latest", "1.36"], { seed: "completion-busybox", ...tlsOpts });

  DOWN = `127.0.0.1:${await freePort()}`;
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open() {} } });
  hang = listener;
  HANG = `127.0.0.1:${listener.port}`;

  await Promise.all([bashPane.ready(), plainBashPane.ready(), zshPane.ready()]);
}, 60_000);

afterAll(async () => {
  stopTmux();
  hang?.stop(true);
  await Promise.all([reg?.stop(), authReg?.stop(), cacheReg?.stop()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const REPOS = () => [`${H}/busybox:`, `${H}/my.repo_x/sub:`, `${H}/team/app-1.2:`, `${H}/zz/many:`];
const BUSYBOX_TAGS = () => [`${H}/busybox:1.36`, `${H}/busybox:edge`, `${H}/busybox:latest`];

// ───────────── bash ─────────────

describe("bash, through bash-completion's machinery", () => {
  test("commands, options, repositories, tags and digests; ':' in the word is handled as COMP_WORDBREAKS splits it", async () => {
    const env = makeHome("bash-c");
    const cases: [string, string[]][] = [
      ["regctl de", ["delete"]],
      ["regctl delete --c", ["--cacert", "--concurrency", "--curl"]],
      [`regctl delete ${H}/bu`, [`${H}/busybox:`]],
      [`regctl delete ${H}/`, REPOS()],
      [`regctl delete ${H}/busybox:`, BUSYBOX_TAGS()],
      [`regctl delete ${H}/busybox:la`, [`${H}/busybox:latest`]],
      [`regctl delete ${H}/team/`, [`${H}/team/app-1.2:`]],
      [`regctl delete ${H}/team/app-1.2:`, [`${H}/team/app-1.2:v1`]],
      [`regctl delete ${H}/my.repo_x/sub:`, [`${H}/my.repo_x/sub:rc-1`]],
      [`regctl delete ${H}/busybox@`, sorted([`${H}/busybox@${digestA}`, `${H}/busybox@${digestB}`])],
      [`regctl delete ${H}/busybox@sha256:${hex(digestB).slice(0, 5)}`, [`${H}/busybox@${digestB}`]],
      [`regctl delete -y ${H}/busybox:e`, [`${H}/busybox:edge`]],
      [`regctl inspect ${H}/zz/many:v1.2.9`, sorted([`${H}/zz/many:v1.2.9`, ...Array.from({ length: 10 }, (_, i) => `${H}/zz/many:v1.2.9${i}`)])],
      [`regctl tags ${H}/bu`, [`${H}/busybox`]],
      ["regctl completion --shell ", ["bash", "fish", "zsh"]],
      ["regctl completion ", ["bash", "fish", "install", "uninstall", "zsh"]],
      [`regctl delete ${H}/busybox:latest `, []], // delete takes one reference
      [`regctl delete ${H}/nosuchrepo:`, []],
    ];
    const got = await bashCandidates(
      env,
      cases.map(([line]) => line),
    );
    for (const [i, [line, want]] of cases.entries()) expect({ line, got: got[i] }).toEqual({ line, got: sorted(want) });

    const commands = await bashCandidates(env, ["regctl "]);
    for (const c of ["ping", "repos", "tags", "digest", "manifest", "inspect", "delete", "login", "logout", "completion"]) expect(commands[0]).toContain(c);
  });

  test("registries this user worked with are offered: `host/` for a reference, `host` for ping", async () => {
    const env = makeHome("bash-recent");
    expect((await regctl(["tags", `${H}/busybox`], env)).code).toBe(0);
    const [ref, ping] = await bashCandidates(env, ["regctl delete 127.0", "regctl ping 127.0"]);
    expect(ref).toEqual([`${H}/`]);
    expect(ping).toEqual([H]);
  });

  test("options are offered as they are spelled on the command line (--dry-run, not cac's --dryRun)", async () => {
    const got = await bashCandidates(makeHome("bash-options"), ["regctl delete --dr", "regctl delete --pl", "regctl tags --pag", "regctl login --password-s"]);
    expect(got).toEqual([["--dry-run"], ["--plain-http"], ["--page-size"], ["--password-stdin"]]);
  });

  test("an option's value is not taken for the reference: `tags --page-size 5 HOST/bu`", async () => {
    const got = await bashCandidates(makeHome("bash-option-value"), [`regctl tags --page-size 5 ${H}/bu`, `regctl delete --timeout 5s ${H}/bu`]);
    expect(got).toEqual([[`${H}/busybox`], [`${H}/busybox:`]]);
  });

  test("global options before the command, as the CLI accepts them: `regctl --json tags HOST/bu`", async () => {
    const env = makeHome("bash-global-first");
    expect((await regctl(["--json", "tags", `${H}/busybox`], env)).code).toBe(0); // the CLI takes it
    const got = await bashCandidates(env, [`regctl --json tags ${H}/bu`, "regctl --insecure de"]);
    expect(got).toEqual([[`${H}/busybox`], ["delete"]]);
  });
});

describe("bash, interactive in tmux", () => {
  test("Tab completes the repository to `busybox:` with no space; Tab Tab lists its tags", async () => {
    await bashPane.completes(`regctl delete ${H}/bu`, `regctl delete ${H}/busybox:`, false);
    bashPane.keys("Tab", "Tab");
    await bashPane.listing("the tags listed", (below) => ["1.36", "edge", "latest"].every((t) => tokens(below).has(t)));
    expect(bashPane.current()).toBe(`B> regctl delete ${H}/busybox:`);
  });

  test("a unique tag gets a space; digests after `@`, completed past bash's ':' break", async () => {
    await bashPane.completes(`regctl delete ${H}/busybox:la`, `regctl delete ${H}/busybox:latest`, true);
    await bashPane.completes(`regctl delete ${H}/team/app-1.2:`, `regctl delete ${H}/team/app-1.2:v1`, true);
    expect(hex(digestA)[0]).not.toBe(hex(digestB)[0]); // so the common prefix stops at sha256:
    await bashPane.completes(`regctl delete ${H}/busybox@`, `regctl delete ${H}/busybox@sha256:`, false);
    bashPane.keys("Tab", "Tab");
    await bashPane.listing("the digests listed", (below) => tokens(below).has(hex(digestA)) && tokens(below).has(hex(digestB)));
    await bashPane.completes(`regctl delete ${H}/busybox@sha256:${hex(digestB).slice(0, 4)}`, `regctl delete ${H}/busybox@${digestB}`, true);
  });

  test("bash without bash-completion, where '@' is a word break too: `@` and `:` complete in place", async () => {
    // readline replaces from an '@' on, and after a ':': a reply cut at the wrong one doubles the line.
    await plainBashPane.completes(`regctl delete ${H}/bu`, `regctl delete ${H}/busybox:`, false);
    await plainBashPane.completes(`regctl delete ${H}/busybox:la`, `regctl delete ${H}/busybox:latest`, true);
    await plainBashPane.completes(`regctl delete ${H}/busybox@`, `regctl delete ${H}/busybox@sha256:`, false);
    await plainBashPane.completes(`regctl delete ${H}/busybox@sha256:${hex(digestB).slice(0, 4)}`, `regctl delete ${H}/busybox@${digestB}`, true);
  });

  test("commands and options; regctl after `&&` (bash hands the function that command alone)", async () => {
    await bashPane.completes("regctl ins", "regctl inspect", true);
    await bashPane.completes("regctl delete --cu", "regctl delete --curl", true);
    await bashPane.completes(`true && regctl delete ${H}/bu`, `true && regctl delete ${H}/busybox:`, false);
  });
});

// ───────────── zsh ─────────────

describe("zsh, interactive in tmux", () => {
  test("commands after `regctl ` with their descriptions; options after `--c`", async () => {
    await zshPane.fresh("regctl ");
    zshPane.keys("Tab");
    const below = await zshPane.listing("the commands listed", (b) => b.some((l) => /^delete\s+-- Delete an image/.test(l)));
    for (const c of ["ping", "repos", "tags", "digest", "manifest", "inspect", "login", "logout", "completion"])
      expect(below.some((l) => new RegExp(`^${c}\\s+-- `).test(l))).toBe(true);
    await zshPane.completes("regctl de", "regctl delete", true);

    await zshPane.fresh("regctl delete --c");
    zshPane.keys("Tab");
    await zshPane.listing("the options listed", (b) => ["--cacert", "--concurrency", "--curl"].every((o) => b.some((l) => l.startsWith(`${o} `))));
    await zshPane.completes("regctl delete --cu", "regctl delete --curl", true);
    await zshPane.completes("regctl completion --shell z", "regctl completion --shell zsh", true);
  });

  test("repositories after `host/`, tags after `repo:`", async () => {
    await zshPane.fresh(`regctl delete ${H}/`);
    zshPane.keys("Tab");
    await zshPane.listing("the repositories listed", (b) => REPOS().every((r) => tokens(b).has(r)));

    await zshPane.completes(`regctl delete ${H}/bu`, `regctl delete ${H}/busybox:`, false);
    zshPane.keys("Tab");
    await zshPane.listing("the tags listed", (b) => BUSYBOX_TAGS().every((t) => tokens(b).has(t)));
    expect(zshPane.current()).toBe(`Z> regctl delete ${H}/busybox:`);

    await zshPane.completes(`regctl delete ${H}/busybox:la`, `regctl delete ${H}/busybox:latest`, true);
    await zshPane.completes(`regctl delete ${H}/team/a`, `regctl delete ${H}/team/app-1.2:`, false);
    zshPane.keys("Tab");
    await zshPane.until("v1", () => zshPane.current() === `Z> regctl delete ${H}/team/app-1.2:v1`);
    await zshPane.completes(`regctl delete ${H}/my.`, `regctl delete ${H}/my.repo_x/sub:`, false);
    await zshPane.completes(`regctl tags ${H}/my`, `regctl tags ${H}/my.repo_x/sub`, true);
  });

  test("digests after `repo@`, described by their tags", async () => {
    expect(hex(digestA)[0]).not.toBe(hex(digestB)[0]);
    await zshPane.completes(`regctl delete ${H}/busybox@`, `regctl delete ${H}/busybox@sha256:`, false);
    zshPane.keys("Tab");
    await zshPane.listing(
      "the digests listed with their tags",
      (b) =>
        b.some((l) => l.startsWith(`${H}/busybox@${digestA} `) && l.endsWith("-- 1.36, latest")) &&
        b.some((l) => l.startsWith(`${H}/busybox@${digestB} `) && l.endsWith("-- edge")),
    );
    await zshPane.completes(`regctl delete ${H}/busybox@sha256:${hex(digestA).slice(0, 4)}`, `regctl delete ${H}/busybox@${digestA}`, true);
  });

  test("regctl anywhere on the line: after `&&`, `;` and in `$(…)` (bash and fish manage it too)", async () => {
    await zshPane.completes(`true && regctl delete ${H}/bu`, `true && regctl delete ${H}/busybox:`, false);
    await zshPane.completes(`echo; regctl delete ${H}/busybox:la`, `echo; regctl delete ${H}/busybox:latest`, true);
    await zshPane.completes(`echo $(regctl tags ${H}/bu`, `echo $(regctl tags ${H}/busybox`, true);
  });
});

// ───────────── fish ─────────────

describe("fish, through complete -C", () => {
  test("repositories, tags, digests described by tags, commands, options, --shell values", async () => {
    const env = makeHome("fish-c");
    const [repos, bu, tags, la, app, sub, digests, commands, options, shells, actions, tagsRepo, chained] = await fishComplete(env, [
      `regctl delete ${H}/`,
      `regctl delete ${H}/bu`,
      `regctl delete ${H}/busybox:`,
      `regctl delete ${H}/busybox:la`,
      `regctl delete ${H}/team/app-1.2:`,
      `regctl delete ${H}/my.repo_x/sub:r`,
      `regctl delete ${H}/busybox@`,
      "regctl ",
      "regctl delete --c",
      "regctl completion --shell ",
      "regctl completion ",
      `regctl tags ${H}/my`,
      `true && regctl delete ${H}/bu`,
    ]);
    expect(repos).toEqual(REPOS().map((r) => [r, "repository"] as [string, string]));
    expect(bu).toEqual([[`${H}/busybox:`, "repository"]]);
    expect(values(tags!)).toEqual(BUSYBOX_TAGS());
    expect(values(la!)).toEqual([`${H}/busybox:latest`]);
    expect(values(app!)).toEqual([`${H}/team/app-1.2:v1`]);
    expect(values(sub!)).toEqual([`${H}/my.repo_x/sub:rc-1`]);
    expect(sorted(digests!.map(([v, d]) => `${v} ${d}`))).toEqual(sorted([`${H}/busybox@${digestA} 1.36, latest`, `${H}/busybox@${digestB} edge`]));
    const described = new Map(commands);
    for (const c of ["ping", "repos", "tags", "digest", "manifest", "inspect", "delete", "login", "logout", "completion"]) expect(described.get(c)).toBeTruthy();
    expect(described.get("delete")).toStartWith("Delete an image");
    expect(values(options!)).toEqual(["--cacert", "--concurrency", "--curl"]);
    expect(options!.every(([, d]) => d.length > 0)).toBe(true);
    expect(values(shells!)).toEqual(["bash", "fish", "zsh"]);
    expect(values(actions!)).toEqual(["bash", "fish", "install", "uninstall", "zsh"]);
    expect(values(tagsRepo!)).toEqual([`${H}/my.repo_x/sub`]);
    expect(values(chained!)).toEqual([`${H}/busybox:`]);
  });

  test("options as spelled on the command line: --dry-run, --plain-http", async () => {
    const [dry, plain] = await fishComplete(makeHome("fish-options"), ["regctl delete --dr", "regctl delete --plain"]);
    expect(values(dry!)).toEqual(["--dry-run"]);
    expect(values(plain!)).toEqual(["--plain-http"]);
  });
});

// ───────────── install / uninstall ─────────────

/** Every file under dir (not directories), relative, sorted. */
function filesUnder(dir: string, prefix = ""): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

describe("completion install / uninstall, then a new shell", () => {
  test("bash: into the bash-completion user dir under XDG_DATA_HOME; bash-completion's loader finds it on the first TAB", async () => {
    const env = makeHome("bash-install");
    const file = join(env.XDG_DATA_HOME!, "bash-completion", "completions", "regctl");
    const inst = await regctl(["completion", "install", "--shell", "bash"], env);
    expect(inst.code).toBe(0);
    expect(inst.stdout).toContain(file);
    expect(readFileSync(file, "utf8")).toContain("complete -F _regctl regctl");

    // bash-completion's own loader, as bash calls it for a command it has no completion for yet.
    const probe = `source ${BASH_COMPLETION}; _completion_loader regctl; complete -p regctl`;
    expect((await inHome(["bash", "--norc", "--noprofile", "-c", probe], env)).stdout).toBe("complete -F _regctl regctl\n");
    const [loaded] = await bashComplete(env, [`regctl delete ${H}/bu`], "_completion_loader regctl");
    expect(loaded!.map((r) => lastWord(bashApply(`regctl delete ${H}/bu`, r)))).toEqual([`${H}/busybox:`]);

    // And interactively: a bash that sourced bash-completion only.
    const pane = new Pane("I> ", ["bash", "--norc", "--noprofile"], env);
    const rc = join(tmp, "bash-install.rc");
    writeFileSync(rc, `source ${BASH_COMPLETION}\nPS1='I> '\n`);
    pane.type(`source ${rc}`);
    pane.keys("Enter");
    await pane.ready();
    await pane.completes(`regctl delete ${H}/bu`, `regctl delete ${H}/busybox:`, false);
    pane.kill();

    const un = await regctl(["completion", "uninstall", "--shell", "bash"], env);
    expect(un.code).toBe(0);
    expect(existsSync(file)).toBe(false);
    expect(filesUnder(env.XDG_DATA_HOME!)).toEqual([]); // nothing else was there
    expect((await inHome(["bash", "--norc", "--noprofile", "-c", probe], env)).stdout).not.toContain("_regctl");
  }, 20_000);

  /** A new interactive bash that reads `rc` alone: no /etc/bash.bashrc, no profile, so no bash-completion unless `rc` loads it. */
  async function newBash(env: Env, rc: string): Promise<Pane> {
    const pane = new Pane("R> ", ["bash", "--norc", "--noprofile"], env);
    pane.type(`PS1='R> '; source ${shq(rc)}`);
    pane.keys("Enter");
    await pane.ready();
    return pane;
  }

  /** What an interactive bash that sourced `rc` says to `cmds` (stdout). */
  const inBash = async (env: Env, rc: string, cmds: string) => (await inHome(["bash", "--norc", "--noprofile", "-i", "-c", `source ${shq(rc)}; ${cmds}`], env)).stdout;

  test("bash without bash-completion: install makes ~/.bashrc source the script, and says so; a new bash completes; uninstall removes the .bashrc it made", async () => {
    const env = makeHome("bash-rc-new");
    const bashrc = join(env.HOME!, ".bashrc");
    const file = join(env.XDG_DATA_HOME!, "bash-completion", "completions", "regctl");
    const inst = await regctl(["completion", "install", "--shell", "bash"], env);
    expect(inst.code).toBe(0);
    expect(inst.stdout).toBe(`wrote ${file}\ncreated ${bashrc} with a block that sources it in an interactive bash, with or without bash-completion\nopen a new bash to use it\n`);
    expect(readFileSync(bashrc, "utf8")).toContain(`. ${file}`);

    // No bash-completion here: the .bashrc alone registers regctl, in an interactive shell only.
    expect(await inBash(env, bashrc, "type -t _completion_loader; complete -p regctl")).toBe("complete -F _regctl regctl\n");
    expect((await inHome(["bash", "--norc", "--noprofile", "-c", `source ${shq(bashrc)}; complete -p regctl`], env)).stdout).toBe("");
    const pane = await newBash(env, bashrc);
    await pane.completes("regctl pru", "regctl prune", true);
    await pane.completes(`regctl delete ${H}/bu`, `regctl delete ${H}/busybox:`, false);
    pane.kill();

    const un = await regctl(["completion", "uninstall", "--shell", "bash"], env);
    expect(un.code).toBe(0);
    expect(un.stdout).toBe(`removed ${file}\nremoved ${bashrc}: install had created it for the regctl block alone\n`);
    expect(existsSync(bashrc)).toBe(false);
    expect(filesUnder(env.XDG_DATA_HOME!)).toEqual([]);
  }, 20_000);

  test("bash with bash-completion, loaded before the block or after it: regctl is registered once and completes; uninstall restores .bashrc", async () => {
    const env = makeHome("bash-rc-bc");
    const bashrc = join(env.HOME!, ".bashrc");
    const original = `# as Debian's and Ubuntu's .bashrc do\nsource ${BASH_COMPLETION}\n`;
    writeFileSync(bashrc, original);
    const inst = await regctl(["completion", "install", "--shell", "bash"], env);
    expect(inst.stdout).toContain(`added a block to ${bashrc} that sources it`);
    const rc = readFileSync(bashrc, "utf8");
    expect(rc).toStartWith(`${original}# >>> regctl completion`);

    // Before: bash-completion's loader, as a TAB would call it, finds regctl registered and changes nothing.
    expect(await inBash(env, bashrc, "type -t _completion_loader; _completion_loader regctl; complete -p regctl")).toBe("function\ncomplete -F _regctl regctl\n");
    let pane = await newBash(env, bashrc);
    await pane.completes("regctl pru", "regctl prune", true);
    await pane.completes(`regctl delete ${H}/bu`, `regctl delete ${H}/busybox:`, false);
    pane.kill();

    // After: bash-completion sourced once the block has run.
    const after = join(env.HOME!, "after.rc");
    writeFileSync(after, `${rc.slice(original.length)}source ${BASH_COMPLETION}\n`);
    expect(await inBash(env, after, "_completion_loader regctl; complete -p regctl")).toBe("complete -F _regctl regctl\n");
    pane = await newBash(env, after);
    await pane.completes("regctl pru", "regctl prune", true);
    pane.kill();
    rmSync(after);

    expect((await regctl(["completion", "uninstall", "--shell", "bash"], env)).stdout).toContain(`removed the regctl block from ${bashrc}`);
    expect(readFileSync(bashrc, "utf8")).toBe(original);
  }, 30_000);

  test.each([
    ["empty", ""],
    ["without a final newline", "alias ll='ls -l'\nexport EDITOR=vi"],
    ["ending in blank lines", "# mine\nalias ll='ls -l'\n\n"],
  ])("bash: a .bashrc %s comes back byte for byte; a second install adds no second block", async (name, original) => {
    const env = makeHome(`bash-rc-${name.replaceAll(" ", "-")}`);
    const bashrc = join(env.HOME!, ".bashrc");
    writeFileSync(bashrc, original);
    expect((await regctl(["completion", "install", "--shell", "bash"], env)).code).toBe(0);
    const rc = readFileSync(bashrc, "utf8");
    expect(rc).toStartWith(original);
    expect(rc.split("# >>> regctl completion").length).toBe(2);
    expect((await regctl(["completion", "install", "--shell", "bash"], env)).stdout).toContain(`${bashrc} has the regctl block already`);
    expect(readFileSync(bashrc, "utf8")).toBe(rc);
    expect(await inBash(env, bashrc, "complete -p regctl")).toBe("complete -F _regctl regctl\n");
    expect((await regctl(["completion", "uninstall", "--shell", "bash"], env)).code).toBe(0);
    expect(readFileSync(bashrc, "utf8")).toBe(original);
  });

  test("zsh: ~/.zfunc/_regctl and a block in $ZDOTDIR/.zshrc; a new zsh completes; uninstall restores .zshrc byte for byte", async () => {
    const env = makeHome("zsh-install");
    env.ZDOTDIR = join(env.HOME!, "zdot");
    mkdirSync(env.ZDOTDIR);
    const zshrc = join(env.ZDOTDIR, ".zshrc");
    const original = "# my zshrc\nPS1='N> '\nalias ll='ls -l'\n\n# last line\n";
    writeFileSync(zshrc, original);

    const inst = await regctl(["completion", "install", "--shell", "zsh"], env);
    expect(inst.code).toBe(0);
    const func = join(env.HOME!, ".zfunc", "_regctl");
    expect(readFileSync(func, "utf8")).toStartWith("#compdef regctl\n");
    const rc = readFileSync(zshrc, "utf8");
    expect(rc.startsWith(original)).toBe(true);
    expect(rc).toContain(`fpath=(${join(env.HOME!, ".zfunc")} $fpath)`);
    expect(existsSync(join(env.HOME!, ".zshrc"))).toBe(false); // ZDOTDIR wins over HOME
    expect((await regctl(["completion", "install", "--shell", "zsh"], env)).code).toBe(0);
    expect(readFileSync(zshrc, "utf8")).toBe(rc); // a second install adds no second block

    // A new interactive zsh: no global rc files (-d), its own ZDOTDIR/.zshrc.
    const pane = new Pane("N> ", ["zsh", "-d"], env);
    await pane.ready();
    await pane.completes(`regctl delete ${H}/bu`, `regctl delete ${H}/busybox:`, false);
    pane.kill();

    const un = await regctl(["completion", "uninstall", "--shell", "zsh"], env);
    expect(un.code).toBe(0);
    expect(existsSync(func)).toBe(false);
    expect(readFileSync(zshrc, "utf8")).toBe(original);
  }, 20_000);

  test("zsh: a .zshrc without a final newline also comes back byte for byte", async () => {
    const env = makeHome("zsh-install-nonl");
    const zshrc = join(env.HOME!, ".zshrc");
    const original = "PS1='N> '\nalias ll='ls -l'"; // no newline at the end
    writeFileSync(zshrc, original);
    expect((await regctl(["completion", "install", "--shell", "zsh"], env)).code).toBe(0);
    expect(readFileSync(zshrc, "utf8")).toStartWith(`${original}\n# >>> regctl completion`);
    expect((await regctl(["completion", "uninstall", "--shell", "zsh"], env)).code).toBe(0);
    expect(readFileSync(zshrc, "utf8")).toBe(original);
  });

  test("zsh: a .zshrc that runs compinit itself gets no second one (compdef instead), says so, and completes; uninstall restores it", async () => {
    const env = makeHome("zsh-own-compinit");
    const zshrc = join(env.HOME!, ".zshrc");
    const log = join(env.HOME!, "compinit.log");
    // Any compinit after the user's own shows in compinit.log.
    const original = `PS1='N> '\nautoload -Uz compinit && compinit -i\ncompinit() { print -r -- again >> ${shq(log)}; }\n`;
    writeFileSync(zshrc, original);
    const inst = await regctl(["completion", "install", "--shell", "zsh"], env);
    expect(inst.stdout).toContain(`added a block to ${zshrc} that puts ${join(env.HOME!, ".zfunc")} on fpath and runs compinit, or only compdef when compinit ran before it`);
    const pane = new Pane("N> ", ["zsh", "-d"], env);
    await pane.ready();
    await pane.completes("regctl pru", "regctl prune", true);
    await pane.completes(`regctl delete ${H}/bu`, `regctl delete ${H}/busybox:`, false);
    pane.kill();
    expect(existsSync(log)).toBe(false);
    expect((await regctl(["completion", "uninstall", "--shell", "zsh"], env)).code).toBe(0);
    expect(readFileSync(zshrc, "utf8")).toBe(original);
  }, 20_000);

  test("zsh: no .zshrc: install makes one, uninstall removes it", async () => {
    const env = makeHome("zsh-rc-new");
    const zshrc = join(env.HOME!, ".zshrc");
    expect((await regctl(["completion", "install", "--shell", "zsh"], env)).stdout).toContain(`created ${zshrc} with a block`);
    expect((await regctl(["completion", "uninstall", "--shell", "zsh"], env)).code).toBe(0);
    expect(existsSync(zshrc)).toBe(false);
  });

  test("fish: into $XDG_CONFIG_HOME/fish/completions; a new fish completes; uninstall removes it", async () => {
    const env = makeHome("fish-install");
    const file = join(env.XDG_CONFIG_HOME!, "fish", "completions", "regctl.fish");
    expect((await regctl(["completion", "install", "--shell", "fish"], env)).code).toBe(0);
    expect(existsSync(file)).toBe(true);
    const [found] = await fishComplete(env, [`regctl delete ${H}/bu`], { source: false });
    expect(found).toEqual([[`${H}/busybox:`, "repository"]]);
    expect((await regctl(["completion", "uninstall", "--shell", "fish"], env)).code).toBe(0);
    expect(existsSync(file)).toBe(false);
    const [gone] = await fishComplete(env, [`regctl delete ${H}/bu`], { source: false });
    expect(gone).toEqual([]);
  });
});

// ───────────── a registry that is down, or hangs ─────────────

describe("a registry that is down or does not answer", () => {
  // A TAB gives up at its own deadline (about a second), long before a request's 30 s timeout:
  // a bound far above the one and far below the other says which ended it, on a loaded machine
  // too. How quick it is, `make bench` measures (TAB on a down registry, on one that does not answer).
  const BY_THE_DEADLINE_MS = 10_000;

  test("the answer is empty and silent, at the TAB's deadline", async () => {
    const env = makeHome("down");
    const lines = [DOWN, HANG].flatMap((host) => [`regctl delete ${host}/bu`, `regctl delete ${host}/busybox:`, `regctl delete ${host}/busybox@`]);
    const results = await Promise.all(lines.map((line) => answer("zsh", line, env)));
    for (const [i, r] of results.entries())
      expect({ line: lines[i], code: r.code, stdout: r.stdout, stderr: r.stderr, ms: r.ms < BY_THE_DEADLINE_MS }).toEqual({
        line: lines[i],
        code: 0,
        stdout: "",
        stderr: "",
        ms: true,
      });
    expect(existsSync(join(env.XDG_CACHE_HOME!, "regctl", "completion")) ? readdirSync(join(env.XDG_CACHE_HOME!, "regctl", "completion")) : []).toEqual([]);
  }, 20_000);

  test("zsh and bash: TAB returns at its deadline and the pane shows nothing but the line", async () => {
    for (const pane of [zshPane, bashPane]) {
      for (const host of [DOWN, HANG]) {
        const ms = await pane.silentTab(`regctl delete ${host}/busybox:`);
        expect(ms).toBeLessThan(BY_THE_DEADLINE_MS);
      }
    }
  }, 20_000);
});

// ───────────── credentials and TLS ─────────────

describe("a registry that needs credentials, behind TLS", () => {
  test("with certs.d and config.json auths in HOME, repositories and tags complete; without credentials nothing, silently", async () => {
    const HT = authReg.host;
    const env = makeHome("auth");
    mkdirSync(join(env.HOME!, ".docker", "certs.d", HT), { recursive: true });
    writeFileSync(join(env.HOME!, ".docker", "certs.d", HT, "ca.crt"), readFileSync(authReg.caCertPath!));
    writeFileSync(join(env.HOME!, ".docker", "config.json"), JSON.stringify({ auths: { [HT]: { auth: BASIC } } }));

    const [repos, tags, known] = await fishComplete(env, [`regctl delete ${HT}/`, `regctl delete ${HT}/busybox:`, "regctl delete 127.0.0.1"]);
    expect(repos).toEqual([[`${HT}/busybox:`, "repository"]]);
    expect(values(tags!)).toEqual([`${HT}/busybox:1.36`, `${HT}/busybox:latest`]);
    expect(known).toEqual([[`${HT}/`, "registry"]]); // from config.json's auths
    const [bash] = await bashCandidates(env, [`regctl delete ${HT}/busybox:l`]);
    expect(bash).toEqual([`${HT}/busybox:latest`]);
    // The cache holds names, never the credentials.
    const dir = join(env.XDG_CACHE_HOME!, "regctl");
    for (const f of filesUnder(dir)) {
      const text = readFileSync(join(dir, f), "utf8");
      expect(text.includes(PASSWORD) || text.includes(BASIC)).toBe(false);
    }

    const anon = makeHome("auth-none");
    mkdirSync(join(anon.HOME!, ".docker", "certs.d", HT), { recursive: true });
    writeFileSync(join(anon.HOME!, ".docker", "certs.d", HT, "ca.crt"), readFileSync(authReg.caCertPath!));
    const r = await answer("zsh", `regctl delete ${HT}/busybox:`, anon);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(r.ms).toBeLessThan(2000);
  }, 20_000);
});

// ───────────── credential helpers and config files that block ─────────────

/** Is the process still running? A zombie (killed, not yet reaped by init) is not. */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0] !== "Z";
  } catch {
    return false;
  }
}

const mkfifo = (path: string) => expect(execSync(["mkfifo", path]).code).toBe(0);

/**
 * A docker-credential-NAME on PATH that answers carol's credentials after `seconds`; each run
 * appends its pid and its sleep's pid to DIR/pids, so the test can see what is left running.
 */
function credentialHelperDir(name: string, seconds: number): string {
  const dir = join(tmp, `helper-${name}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `docker-credential-${name}`);
  writeFileSync(
    file,
    `#!/bin/sh
echo $$ >> ${shq(join(dir, "pids"))}
sleep ${seconds} &
echo $! >> ${shq(join(dir, "pids"))}
wait
printf '%s' '{"Username":"${USER}","Secret":"${PASSWORD}"}'
`,
  );
  chmodSync(file, 0o755);
  return dir;
}

const pidsOf = (dir: string) => (existsSync(join(dir, "pids")) ? readFileSync(join(dir, "pids"), "utf8").split("\n").filter(Boolean).map(Number) : []);

describe("a TAB returns within its budget whatever a credential helper or a config file does", () => {
  /** HOME trusting authReg's CA, with `config` as ~/.docker/config.json and the helpers on PATH. */
  const helperHome = (name: string, config: object, ...helperDirs: string[]) => {
    const env = makeHome(name, { PATH: [...helperDirs, binDir, "/usr/bin", "/bin"].join(":") });
    mkdirSync(join(env.HOME!, ".docker", "certs.d", authReg.host), { recursive: true });
    writeFileSync(join(env.HOME!, ".docker", "certs.d", authReg.host, "ca.crt"), readFileSync(authReg.caCertPath!));
    writeFileSync(join(env.HOME!, ".docker", "config.json"), JSON.stringify(config));
    return env;
  };

  test("credsStore that takes 5 s: answered from the cache at once; cold, nothing, silently, within 1.5 s, and no helper left running", async () => {
    const HT = authReg.host;
    const quick = credentialHelperDir("quick", 0);
    const slow = credentialHelperDir("slow", 5);
    const env = helperHome("helper-slow", { credsStore: "quick" }, quick, slow);
    const line = `regctl tags ${HT}/`;

    // A helper that answers at once: the TAB asks it, and the registry lists the repository.
    const first = await answer("bash", line, env);
    expect({ code: first.code, stdout: first.stdout, stderr: first.stderr }).toEqual({ code: 0, stdout: `${HT}/busybox\n`, stderr: "" });
    expect(pidsOf(quick).length).toBe(2);

    // The slow helper, the list cached: what is known is offered, and the helper is not even run.
    writeFileSync(join(env.HOME!, ".docker", "config.json"), JSON.stringify({ credsStore: "slow" }));
    const cached = await answer("bash", line, env);
    expect({ code: cached.code, stdout: cached.stdout, stderr: cached.stderr }).toEqual({ code: 0, stdout: `${HT}/busybox\n`, stderr: "" });
    expect(cached.ms).toBeLessThan(1500);
    expect(pidsOf(slow)).toEqual([]);

    // Cold: the TAB needs the credentials, the helper takes 5 s; the TAB gives up on it in time.
    rmSync(join(env.XDG_CACHE_HOME!, "regctl", "completion"), { recursive: true, force: true });
    const cold = await answer("bash", line, env);
    expect({ code: cold.code, stdout: cold.stdout, stderr: cold.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(cold.ms).toBeLessThan(1500);
    const pids = pidsOf(slow);
    expect(pids.length).toBe(2); // the helper did run: the shell and its sleep
    expect(pids.filter(running)).toEqual([]);
  }, 20_000);

  test("a helper asked late (the registry's 401 takes 600 ms) is stopped when the TAB gives up at its deadline", async () => {
    const slow401 = serve(async () => {
      await Bun.sleep(600);
      return new Response("{}", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="regctl-test"' } });
    });
    try {
      const late = credentialHelperDir("late", 5);
      const env = helperHome("helper-late", { credsStore: "late" }, late);
      const r = await answer("bash", `regctl tags --plain-http ${slow401.host}/`, env);
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(r.ms).toBeLessThan(1500);
      const pids = pidsOf(late);
      expect(pids.length).toBe(2);
      // SIGKILL is sent as the TAB exits; under load the kernel may take a moment to reap them.
      for (let i = 0; i < 20 && pids.some(running); i++) await Bun.sleep(50);
      expect(pids.filter(running)).toEqual([]);
    } finally {
      await slow401.stop();
    }
  }, 20_000);

  test("config.json or auth.json a FIFO (a read that never ends): skipped; what other files say is offered, within 1.5 s", async () => {
    const HT = authReg.host;
    const env = helperHome("fifo-config", {});
    const dockerConfig = join(env.HOME!, "docker-fifo");
    mkdirSync(dockerConfig);
    mkfifo(join(dockerConfig, "config.json"));
    const authFile = join(env.HOME!, "auth.json");
    writeFileSync(authFile, JSON.stringify({ auths: { [HT]: { auth: BASIC } } }));
    const fifoEnv = { ...env, DOCKER_CONFIG: dockerConfig, REGISTRY_AUTH_FILE: authFile };

    // docker's config blocks; podman's auth.json names the registry and holds its credentials.
    const [registries, repos] = await Promise.all([answer("bash", "regctl tags 127.0.0", fifoEnv), answer("bash", `regctl tags ${HT}/`, fifoEnv)]);
    expect({ code: registries.code, stdout: registries.stdout, stderr: registries.stderr }).toEqual({ code: 0, stdout: `${HT}/\n`, stderr: "" });
    expect({ code: repos.code, stdout: repos.stdout, stderr: repos.stderr }).toEqual({ code: 0, stdout: `${HT}/busybox\n`, stderr: "" });

    // Both FIFOs, nothing cached: nothing to offer, at once.
    mkfifo(join(env.HOME!, "auth-fifo.json"));
    rmSync(join(env.XDG_CACHE_HOME!, "regctl", "completion"), { recursive: true, force: true });
    const bothEnv = { ...fifoEnv, REGISTRY_AUTH_FILE: join(env.HOME!, "auth-fifo.json") };
    const [none, cold] = await Promise.all([answer("bash", "regctl tags 127.0.0", bothEnv), answer("bash", `regctl tags ${HT}/`, bothEnv)]);
    expect({ code: none.code, stdout: none.stdout, stderr: none.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
    expect({ code: cold.code, stdout: cold.stdout, stderr: cold.stderr }).toEqual({ code: 0, stdout: "", stderr: "" });
    for (const r of [registries, repos, none, cold]) expect(r.ms).toBeLessThan(1500);
  }, 20_000);
});

// ───────────── the cache ─────────────

describe("the completion cache", () => {
  test("a second TAB is answered from $XDG_CACHE_HOME/regctl/completion/; a delete forgets; the registry down, the cache still answers", async () => {
    const HC = cacheReg.host;
    const env = makeHome("cache");
    const a = await pushImage(cacheReg.url, "busybox", ["latest", "1.36"], { seed: "cache-a" });
    const b = await pushImage(cacheReg.url, "busybox", ["edge"], { seed: "cache-b" });
    const dir = join(env.XDG_CACHE_HOME!, "regctl", "completion");
    // A file per list: a header line with the time it was read, then the list a line each, in byte order.
    const readCache = (text: string) => {
      const [head, ...lines] = text.trimEnd().split("\n");
      const m = /^regctl completion cache 1 (\d+)$/.exec(head!);
      expect(m).not.toBeNull();
      return { at: Number(m![1]), items: lines };
    };
    const cached = () => new Map(readdirSync(dir).map((f) => [decodeURIComponent(f), readCache(readFileSync(join(dir, f), "utf8"))]));
    const tagLine = `regctl delete ${HC}/busybox:`;
    const digestLine = `regctl delete ${HC}/busybox@`;
    const tagsOf = async () => values((await fishComplete(env, [tagLine]))[0]!).map((v) => v.slice(`${HC}/busybox:`.length));

    // First TABs ask the registry, and fill the cache.
    expect(await tagsOf()).toEqual(["1.36", "edge", "latest"]);
    expect(values((await fishComplete(env, [digestLine]))[0]!)).toEqual(sorted([`${HC}/busybox@${a.digest}`, `${HC}/busybox@${b.digest}`]));
    expect(cached().get(`tags ${HC}/busybox`)?.items).toEqual(["1.36", "edge", "latest"]);
    expect(cached().has(`digests ${HC}/busybox`)).toBe(true);

    // A tag pushed behind regctl's back: the second TAB does not see it, so it came from the cache.
    await pushImage(cacheReg.url, "busybox", ["sneaky"], { seed: "cache-c" });
    expect(await tagsOf()).toEqual(["1.36", "edge", "latest"]);

    // regctl's own delete forgets what completion knew of the repository.
    const del = await regctl(["delete", `${HC}/busybox:latest`, "--yes"], env);
    expect(del.code).toBe(0);
    expect(del.stdout).toContain(`untagged ${HC}/busybox:1.36`);
    expect(cached().has(`tags ${HC}/busybox`)).toBe(false);
    expect(await tagsOf()).toEqual(["edge", "sneaky"]);
    const digests = values((await fishComplete(env, [digestLine]))[0]!);
    expect(digests).not.toContain(`${HC}/busybox@${a.digest}`);
    expect(digests).toContain(`${HC}/busybox@${b.digest}`);

    // An entry past its time (60 s) is asked again.
    await pushImage(cacheReg.url, "busybox", ["late"], { seed: "cache-d" });
    const key = [...readdirSync(dir)].find((f) => decodeURIComponent(f) === `tags ${HC}/busybox`)!;
    writeFileSync(join(dir, key), `regctl completion cache 1 ${Date.now() - 61_000}\nedge\nsneaky\n`);
    expect(await tagsOf()).toEqual(["edge", "late", "sneaky"]);

    // The registry down: what is cached still completes, at once; what is not, gives nothing.
    await cacheReg.stop();
    const t0 = performance.now();
    const [tags, other] = await fishComplete(env, [tagLine, `regctl delete ${HC}/other:`]);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(values(tags!)).toEqual([`${HC}/busybox:edge`, `${HC}/busybox:late`, `${HC}/busybox:sneaky`]);
    expect(other).toEqual([]);
  }, 20_000);
});

// ───────────── warm and cold ─────────────
// How long these take, `make bench` measures (startup and completion); here, what they answer.

describe("warm and cold", () => {
  test("one `regctl __complete zsh` at `host/repo:` (300 tags): the same answer warm, cold and with no cache at all; `regctl --help`", async () => {
    const env = makeHome("warm-cold");
    const line = `regctl delete ${H}/zz/many:`;
    const dir = join(env.XDG_CACHE_HOME!, "regctl");
    const N = 15;
    const first = await answer("zsh", line, env); // also learns the registry's scheme
    expect(first.stdout.trim().split("\n").length).toBe(300);

    for (let i = 0; i < N; i++) {
      const r = await answer("zsh", line, env);
      expect(r.stdout).toBe(first.stdout);
    }
    for (let i = 0; i < N; i++) {
      // no completion cache; the scheme already known
      rmSync(join(dir, "completion"), { recursive: true, force: true });
      const r = await answer("zsh", line, env);
      expect(r.stdout).toBe(first.stdout);
    }
    for (let i = 0; i < N; i++) {
      // no cache at all: the scheme is probed too
      rmSync(dir, { recursive: true, force: true });
      const r = await answer("zsh", line, env);
      expect(r.stdout).toBe(first.stdout);
    }
    for (let i = 0; i < N; i++) {
      const r = await regctl(["--help"], env);
      expect(r.code).toBe(0);
    }
  }, 30_000);
});
