// The --curl transcript as a newcomer runs it: sh and curl alone, curl OLDEST_CURL or later (the
// system's curl here; REGCTL_TEST_CURL=/path/to/curl runs every script of the suite with another,
// e.g. one built from curl's tag curl-7_68_0). Reads print nothing, each write says what it did,
// and a dry run's note stands above the command regctl did not send.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { OLDEST_CURL } from "../regctl.ts";
import { CURL_TOO_NEW, manifestStatus, registryTags, run, scriptCurlVersion, scriptsChecked, sh } from "./cli.ts";
import { startRegistry, type Registry } from "./registry.ts";
import { pushImage } from "./seed.ts";

let reg: Registry;
/** Where this file's transcripts start in test/cli.ts's record (test files share it). */
let first = 0;

beforeAll(async () => {
  first = scriptsChecked.length;
  reg = await startRegistry({ deleteEnabled: true });
}, 30_000);
afterAll(async () => {
  await reg?.stop();
});

const NOTE = "# dry run: regctl did not send the next command; this script will\n";

test(`the scripts need curl ${OLDEST_CURL} or later; the curl they run with here is one`, async () => {
  const version = await scriptCurlVersion();
  console.log(`transcripts run with curl ${version}; the oldest they support: ${OLDEST_CURL}`);
  expect(Bun.semver.order(/^\d+\.\d+\.\d+/.exec(version)![0], OLDEST_CURL)).toBeGreaterThanOrEqual(0);
});

describe("a dry run's script, run by sh", () => {
  test("delete: the reads print nothing, the DELETE says what it deleted; the note stands above it", async () => {
    const img = await pushImage(reg.url, "t/delete", ["latest", "1.36"], { seed: "t-delete" });
    await pushImage(reg.url, "t/delete", ["keep"], { seed: "t-keep" });
    const plan = await run(["delete", `${reg.host}/t/delete:latest`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    // every write of the plan has the note right above it, and nothing says "not sent" below one
    const writes = plan.stderr.split("\n").filter((l) => /^ANSWER=|^\[ "\$\(curl .* -X DELETE /.test(l));
    expect(writes.length).toBe(2); // the deletes-enabled check and the DELETE
    for (const w of writes) expect(plan.stderr).toContain(`${NOTE}${w}`);
    expect(plan.stderr).not.toMatch(/not sent/);
    const r = await sh(plan.stderr);
    expect(r).toMatchObject({ code: 0, stdout: `deleted ${reg.host}/t/delete@${img.digest}\n`, stderr: "" });
    expect(await registryTags(reg.url, "t/delete")).toEqual(["keep"]);
  });

  test("untag on distribution 2.8: the refused DELETE by tag, the throwaway's upload, push and delete, each said", async () => {
    const img = await pushImage(reg.url, "t/untag", ["a", "b"], { seed: "t-untag" });
    const plan = await run(["untag", `${reg.host}/t/untag:a`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    const r = await sh(plan.stderr);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe(`not untagged by DELETE: ${reg.host}/t/untag:a (the registry answered 400)`);
    expect(lines.slice(1, -1)).toEqual([`started a blob upload to ${reg.host}/t/untag`, expect.stringMatching(/^uploaded blob sha256:\w+ to /), `pushed ${reg.host}/t/untag:a`]);
    expect(lines.at(-1)).toMatch(new RegExp(`^deleted ${reg.host}/t/untag@sha256:\\w+$`));
    expect(await registryTags(reg.url, "t/untag")).toEqual(["b"]);
    expect(await manifestStatus(reg.url, "t/untag", img.digest)).toBe(200);
  });

  test("prune: one line per deleted manifest", async () => {
    const old = await pushImage(reg.url, "t/prune", ["v1"], { seed: "t-v1", created: "2023-01-01T00:00:00Z" });
    await pushImage(reg.url, "t/prune", ["v2"], { seed: "t-v2", created: "2024-01-01T00:00:00Z" });
    const plan = await run(["prune", `${reg.host}/t/prune`, "--keep", "1", "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    const r = await sh(plan.stderr);
    expect(r).toMatchObject({ code: 0, stdout: `deleted ${reg.host}/t/prune@${old.digest}\n`, stderr: "" });
    expect(await registryTags(reg.url, "t/prune")).toEqual(["v2"]);
  });

  test("a step that fails stops the script, naming the request, before any write", async () => {
    const img = await pushImage(reg.url, "t/fails", ["x"], { seed: "t-fails" });
    const plan = await run(["delete", `${reg.host}/t/fails@${img.digest}`, "--dry-run", "--curl"]);
    expect(plan.code).toBe(0);
    // deleted between the plan and the run: the script's recheck finds no tag, and the DELETE a 404
    await fetch(`${reg.url}/v2/t/fails/manifests/${img.digest}`, { method: "DELETE" });
    const r = await sh(plan.stderr);
    expect(r).toMatchObject({ code: 1, stdout: "" });
    expect(r.stderr).toContain(`HEAD ${reg.url}/v2/t/fails/manifests/${img.digest} failed: stopping`);
  });
});

test("no transcript of this file uses a curl newer than the oldest supported (test/cli.ts checks every one of the suite)", () => {
  const mine = scriptsChecked.slice(first);
  expect(mine.length).toBeGreaterThanOrEqual(8);
  for (const { where, script } of mine) for (const feature of Object.keys(CURL_TOO_NEW)) expect({ where, uses: script.includes(feature) }).toEqual({ where, uses: false });
});
