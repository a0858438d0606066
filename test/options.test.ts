// Every option means what it says: each declared once in regctl.ts's table, each checked for its
// shape before any request. A table test runs every option given once, twice, without its value
// and with junk; then the repeatable ones against the real registry, where a wrong reading deletes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { COMMANDS, GLOBAL_OPTIONS, optionsOf, type OptionSpec } from "../regctl.ts";
import { registryTags, run } from "./cli.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { pushImage } from "./seed.ts";
import { startTagServer } from "./tagserver.ts";

// A server of the tests' own that only counts requests: a usage error must send none.
const srv = startTagServer({ repo: "x", tags: ["a"], pageSize: 10 });
afterAll(() => srv.stop());

/** A good value and some junk for each shape. */
function values(o: OptionSpec): { good: string; junk: string[] } {
  switch (o.kind) {
    case "count":
      return { good: String(o.min ?? 1), junk: ["x", "-1", "1.5", "1e3", String((o.max ?? 1e9) + 1)] };
    case "duration":
      return { good: "5s", junk: ["30", "soon", "-1s", "1y"] };
    case "regex":
      return { good: "^a", junk: ["(", "[z-a]"] };
    case "choice":
      return { good: o.choices![0]!, junk: ["tcsh"] };
    default:
      return { good: "alice", junk: [""] };
  }
}

/** Each option once, with the first command that takes it and an argument that command accepts. */
const ARG = { registry: "HOST", repo: "HOST/x", ref: "HOST/x:a", target: "HOST/x", choice: "bash" } as const;
const named = new Set<string>();
const cases = COMMANDS.flatMap((c) =>
  optionsOf(c)
    .filter((o) => !named.has(o.name) && named.add(o.name))
    .map((o) => ({ o, command: c.name, arg: c.arg ? (ARG[c.arg.kind] as string) : "" })),
);

describe("every option, from the table", () => {
  test("the table covers the options the help lists", () => {
    expect(cases.length).toBe(GLOBAL_OPTIONS.length + 16);
    expect(cases.map((c) => c.o.name)).toEqual(
      expect.arrayContaining(["keep", "match", "exclude", "older-than", "repo", "page-size", "timeout", "concurrency", "all-tags", "platform", "referrers"]),
    );
  });

  test.each(cases.map((c) => [`${c.command} --${c.o.name}`, c] as const))(
    "%s: twice, without a value, with junk → exit 2 naming it, nothing sent",
    async (_, { o, command, arg }) => {
      const line = (...extra: string[]) => [command, ...(arg ? [arg.replace("HOST", srv.host)] : []), ...extra, ...(o.name === "plain-http" ? [] : ["--plain-http"])];
      let before = srv.requests.length;
      const usage = async (args: string[], message: RegExp) => {
        const r = await run(args, { stdin: "" });
        expect({ args, code: r.code }).toEqual({ args, code: 2 });
        expect(r.stderr).toMatch(message);
        expect(r.stderr).toContain("hint:");
        expect(r.stderr).not.toContain("    at ");
        expect(r.stdout).toBe("");
      };
      const flag = `--${o.name}`;
      if (o.kind === "flag") {
        await usage(line(flag, flag), new RegExp(`--${o.name} given twice`));
        await usage(line(`${flag}=yes`), new RegExp(`--${o.name} takes no value`));
      } else {
        const { good, junk } = values(o);
        if (o.kind === "regex" || o.kind === "file") {
          // Repeatable: twice is accepted (it fails later for want of a registry, not as usage).
          const r = await run([...line(flag, good, flag, good), "--timeout", "1s"]);
          expect(r.stderr).not.toContain("given twice");
          before = srv.requests.length;
        } else {
          await usage(line(flag, good, flag, good), new RegExp(`--${o.name} given twice`));
        }
        await usage([command, arg.replace("HOST", srv.host), flag], new RegExp(`--${o.name} needs a value`));
        await usage(line(flag, "--json"), new RegExp(`--${o.name} needs a value`));
        const quoted = (j: string) => JSON.stringify(j).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        for (const j of junk) await usage(line(flag, j), new RegExp(`--${o.name} ${quoted(j)}|duration ${quoted(j)}`));
      }
      expect(srv.requests.length).toBe(before);
    },
  );

  test("an option of another command, or before any command, is refused by name", async () => {
    const before = srv.requests.length;
    for (const [args, message] of [
      [["tags", `${srv.host}/x`, "--keep", "3"], "tags takes no --keep"],
      [["ping", srv.host, "--yes"], "ping takes no --yes"],
      [["--keep", "3"], "--keep belongs to a command"],
      [["tags", `${srv.host}/x`, "--kep", "3"], 'unknown option "--kep"'],
      [["pnig", srv.host], "did you mean ping"],
      [["cp", `${srv.host}/x:a`, `${srv.host}/y:a`], "did you mean copy"], // crane's verb
      [["list-tags", `${srv.host}/x`], "did you mean tags"], // skopeo's
    ] as const) {
      const r = await run([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(srv.requests.length).toBe(before);
  });

  test("--version prints the version and nothing else happens, whatever the line says", async () => {
    const before = srv.requests.length;
    const r = await run(["delete", `${srv.host}/x:a`, "--yes", "--version", "--plain-http"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^regctl \d+\.\d+\.\d+ \(/);
    expect(r.stderr).toBe("");
    expect(srv.requests.length).toBe(before);
  });

  test("--help of a command says which options may be repeated, and shows their shape", async () => {
    const r = await run(["prune", "--help"]);
    expect(r.code).toBe(0);
    // A description wrapped at 80 columns continues under itself: read it as one line.
    const text = r.stdout.replace(/\n {20,}/g, " ");
    expect(text).toMatch(/--match <regex>\s+Only tags matching this; may be repeated: any of them/);
    expect(text).toMatch(/--exclude <regex>.*may be repeated: any of them/);
    expect(text).toMatch(/--repo <regex>.*may be repeated: any of them/);
    expect(text).toMatch(/--older-than <duration>.*with a unit: 30d/);
    expect(text).toMatch(/Shared options[^\n]*\n[\s\S]*-v\/--verbose/);
    // Its own options are described; the shared ones are named, not described again.
    expect(text).not.toMatch(/--verbose\s+Print every request/);
  });

  test("every help fits 80 columns with no trailing blanks; regctl help CMD is CMD --help; regctl version is --version", async () => {
    const helps = [["--help"], ...COMMANDS.map((c) => [c.name, "--help"])];
    const results = await Promise.all(helps.map((args) => run(args)));
    for (const [i, r] of results.entries()) {
      const wide = r.stdout.split("\n").filter((l) => l.length > 80 || / $/.test(l));
      expect({ help: helps[i]!.join(" "), code: r.code, wide }).toEqual({ help: helps[i]!.join(" "), code: 0, wide: [] });
    }
    const [viaHelp, viaFlag, version, versionFlag, unknown] = await Promise.all([
      run(["help", "prune"]),
      run(["prune", "--help"]),
      run(["version"]),
      run(["--version"]),
      run(["help", "pnig"]),
    ]);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    const gc = await run(["help", "gc"]);
    expect(gc.code).toBe(0);
    expect(gc.stdout).toContain("garbage-collect");
    expect(gc.stdout.split("\n").filter((l) => l.length > 80)).toEqual([]);
    expect(version.stdout).toBe(versionFlag.stdout);
    expect(version.stdout).toMatch(/^regctl \d+\.\d+\.\d+ \(/);
    expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({
      code: 2,
      stderr: 'regctl: unknown command "pnig"\nhint: did you mean ping? (regctl help lists the commands)\n',
    });
  });
});

describe("against the real registry", () => {
  let reg: Registry;
  beforeAll(async () => {
    reg = await startRegistry({ deleteEnabled: true });
  }, 30_000);
  afterAll(() => reg?.stop());

  /** One image per tag, each its own digest, created a day apart (the first oldest). */
  const seed = async (repo: string, tags: string[]) => {
    for (const [i, tag] of tags.entries()) await pushImage(reg.url, repo, [tag], { seed: `${repo}-${tag}`, created: new Date(Date.UTC(2024, 0, 1 + i)).toISOString() });
  };

  test("--exclude twice: both tags are protected, every other goes", async () => {
    await seed("o/exclude", ["latest", "old", "a", "b"]);
    const r = await run(["prune", `${reg.host}/o/exclude`, "--exclude", "latest", "--exclude", "old", "--keep", "0", "--yes"]);
    expect(r.code).toBe(0);
    expect(await registryTags(reg.url, "o/exclude")).toEqual(["latest", "old"]);
  });

  test("--match twice: the tags matching either go, the others stay", async () => {
    await seed("o/match", ["pr-1", "ci-1", "v1", "main"]);
    const r = await run(["prune", `${reg.host}/o/match`, "--match", "^pr-", "--match", "^ci-", "--keep", "0", "--yes"]);
    expect(r.code).toBe(0);
    expect(await registryTags(reg.url, "o/match")).toEqual(["main", "v1"]);
  });

  test("--repo twice: prune and du take the repositories matching either", async () => {
    for (const repo of ["ra/app", "rb/app", "rc/app"]) await seed(repo, ["1", "2"]);
    const du = await run(["du", reg.host, "--repo", "^ra/", "--repo", "^rb/", "--json"]);
    expect(du.code).toBe(0);
    expect(JSON.parse(du.stdout).map((u: { repository: string }) => u.repository)).toEqual(["ra/app", "rb/app"]);
    const r = await run(["prune", reg.host, "--repo", "^ra/", "--repo", "^rb/", "--keep", "1", "--yes"]);
    expect(r.code).toBe(0);
    expect(await registryTags(reg.url, "ra/app")).toEqual(["2"]);
    expect(await registryTags(reg.url, "rb/app")).toEqual(["2"]);
    expect(await registryTags(reg.url, "rc/app")).toEqual(["1", "2"]);
  });

  test("--older-than 30 (no unit) changes nothing: exit 2 with the hint 30d; the plan says the cut-off as a date", async () => {
    await seed("o/age", ["old", "new"]);
    const bare = await run(["prune", `${reg.host}/o/age`, "--older-than", "30", "--yes"]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("has no unit");
    expect(bare.stderr).toContain("--older-than 30d");
    expect(await registryTags(reg.url, "o/age")).toEqual(["new", "old"]);
    const plan = await run(["prune", `${reg.host}/o/age`, "--older-than", "30d", "--dry-run"]);
    expect(plan.code).toBe(0);
    const cut = new Date(Date.now() - 30 * 86400e3).toISOString().slice(0, 10);
    // Each row says it as a date, in UTC (both images are from 2024).
    for (const tag of ["new", "old"]) expect(plan.stdout).toMatch(new RegExp(`^${tag}\\s.*\\sdelete\\s+created before ${cut} \\d\\d:\\d\\d:\\d\\d UTC$`, "m"));
    const json = await run(["prune", `${reg.host}/o/age`, "--older-than", "30d", "--dry-run", "--json"]);
    expect(JSON.parse(json.stdout)[0].cutoff).toStartWith(cut);
  });

  test("-v is --verbose on every command: delete -v --yes deletes and shows its requests", async () => {
    const img = await pushImage(reg.url, "o/verbose", ["t"], { seed: "verbose" });
    const r = await run(["delete", `${reg.host}/o/verbose:t`, "-v", "--yes"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`deleted ${reg.host}/o/verbose@${img.digest}`);
    expect(r.stderr).toContain(`# → DELETE ${reg.url}/v2/o/verbose/manifests/${img.digest}`);
    expect(await registryTags(reg.url, "o/verbose")).toEqual([]);
  });
});
