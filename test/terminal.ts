// A real terminal for the tests: tmux on a private server (its socket in a temp dir of the test
// file's own, no user config), one detached session per Pane, and bounded polls on the screen.
import { expect } from "bun:test";
import { execSync } from "./fixtures.ts";

type Env = Record<string, string>;

const SOCKET = `regctl-tests-${process.pid}`;
let home = "";

/**
 * Every tmux call goes to a server of its own, under `dir` (its HOME and TMUX_TMPDIR): call it
 * before the first Pane. The server stays up between panes (exit-empty off): one that is exiting
 * because a test killed the last pane makes the next new-session fail.
 */
export function startTmux(dir: string): void {
  home = dir;
  tmux("start-server", ";", "set-option", "-s", "exit-empty", "off");
}

/** One tmux command to the tests' server; -u: what the panes print is read back as UTF-8. */
export function tmux(...args: string[]): string {
  if (!home) throw new Error("startTmux(dir) first: the tests' tmux server lives in a temp dir of their own");
  return execSync(["tmux", "-u", "-L", SOCKET, "-f", "/dev/null", ...args], { env: { PATH: "/usr/bin:/bin", HOME: home, TMUX_TMPDIR: home }, check: true }).stdout;
}

const panes: Pane[] = [];

export class Pane {
  private static count = 0;
  readonly id: string;

  /** A detached session (200x50 unless `size` says) running `cmd` with exactly `env` (env -i): nothing leaks in. */
  constructor(
    readonly prompt: string,
    cmd: string[],
    env: Env,
    size = { columns: 200, rows: 50 },
  ) {
    this.id = `pane${++Pane.count}`;
    const vars = Object.entries({ ...env, TERM: "screen" }).map(([k, v]) => `${k}=${v}`);
    tmux("new-session", "-d", "-s", this.id, "-x", String(size.columns), "-y", String(size.rows), "/usr/bin/env", "-i", ...vars, ...cmd);
    panes.push(this);
  }

  keys(...keys: string[]) {
    tmux("send-keys", "-t", this.id, ...keys);
  }

  type(text: string) {
    tmux("send-keys", "-t", this.id, "-l", text);
  }

  /** The screen's lines; `joined`: a line the terminal wrapped is one line. */
  lines(joined = false): string[] {
    return tmux("capture-pane", "-p", ...(joined ? ["-J"] : []), "-t", this.id)
      .split("\n")
      .map((l) => l.trimEnd());
  }

  /** The screen with its colours, as escape sequences (capture-pane -e). */
  coloured(): string {
    return tmux("capture-pane", "-p", "-e", "-t", this.id);
  }

  cursor(): { x: number; y: number } {
    const [x, y] = tmux("display-message", "-p", "-t", this.id, "#{cursor_x} #{cursor_y}").trim().split(" ").map(Number);
    return { x: x!, y: y! };
  }

  /** The line the cursor is on: the prompt and what is being edited. */
  current(): string {
    return this.lines()[this.cursor().y] ?? "";
  }

  /** The screen's non-empty lines. */
  text(joined = false): string {
    return this.lines(joined).filter(Boolean).join("\n");
  }

  /** Poll every 50 ms; on timeout, fail with what the pane shows. */
  async until(what: string, ok: () => boolean, ms = 4000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (ok()) return;
      if (Date.now() > deadline) {
        throw new Error(`${this.id}: waited ${ms} ms for ${what}; cursor ${JSON.stringify(this.cursor())}, the pane shows:\n${this.text()}`);
      }
      await Bun.sleep(50);
    }
  }

  /** The shell is up and shows our prompt on its last line. */
  ready(ms = 8000): Promise<void> {
    return this.until(`the prompt "${this.prompt}"`, () => this.lines().filter(Boolean).at(-1) === this.prompt.trimEnd(), ms);
  }

  /** An empty line on a cleared screen, then `text` typed (and echoed) at the prompt. */
  async fresh(text: string): Promise<void> {
    this.keys("C-u", "C-l");
    await this.until("a cleared screen", () => this.text() === this.prompt.trimEnd());
    this.type(text);
    await this.until(`"${text}" to be typed`, () => this.current() === (this.prompt + text).trimEnd());
  }

  /** Type `typed`, press Tab: the line must become `expected`, followed by a space or not. */
  async completes(typed: string, expected: string, space: boolean): Promise<void> {
    await this.fresh(typed);
    this.keys("Tab");
    const want = this.prompt + expected;
    await this.until(`the line "${expected}"${space ? " and a space" : " and no space"}`, () => this.current() === want && this.cursor().x === want.length + (space ? 1 : 0));
  }

  /**
   * The screen but the line being edited (a listing: zsh shows it below the line, bash above a
   * fresh prompt), once `ok` holds for it.
   */
  async listing(what: string, ok: (listed: string[]) => boolean): Promise<string[]> {
    let listed: string[] = [];
    await this.until(what, () => {
      const y = this.cursor().y;
      listed = this.lines().filter((l, i) => i !== y && l && !l.startsWith(this.prompt));
      return ok(listed);
    });
    return listed;
  }

  /**
   * Tab, then a 'Q' typed right behind it: the Q shows only once the TAB has returned. Returns how
   * long that took; the screen must hold nothing but the line (no candidates, no error text).
   */
  async silentTab(typed: string): Promise<number> {
    await this.fresh(typed);
    const t0 = performance.now();
    this.keys("Tab");
    this.type("Q");
    await this.until("the TAB to return", () => this.current() === `${this.prompt}${typed}Q`, 5000);
    const ms = performance.now() - t0;
    await Bun.sleep(100); // anything printed late would show now
    expect(this.text()).toBe(`${this.prompt}${typed}Q`);
    return ms;
  }

  kill() {
    try {
      tmux("kill-session", "-t", this.id);
    } catch {
      // already gone
    }
  }
}

/** Kill every pane and the server. */
export function stopTmux(): void {
  for (const p of panes) p.kill();
  panes.length = 0;
  try {
    tmux("kill-server");
  } catch {
    // no server left
  }
  home = "";
}
