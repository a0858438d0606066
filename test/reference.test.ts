// References as docker reads them: a table of the valid and invalid forms that docker's own
// reference package tests (distribution/reference: reference_test.go, normalize_test.go,
// regexp_test.go), each as docker normalises it (ParseNormalizedNamed: Docker Hub, library/),
// then the few forms where regctl differs on purpose (README, "References"). A refused input is a
// UsageError with a hint; through the binary, exit 2, one line and a hint, never "a bug".
import { describe, expect, test } from "bun:test";
import { formatReference, parseReference, parseRegistry, type Reference, UsageError } from "../regctl.ts";
import { regctlCommand } from "./cli.ts";
import { exec } from "./fixtures.ts";

const HUB = "registry-1.docker.io";
const F64 = `sha256:${"f".repeat(64)}`;
const BE = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912";
const DBCC = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
const F512 = `sha512:${"f".repeat(128)}`;
const HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
const LONG_NAMESPACE = Array(4).fill("this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255").join("_");

/** input → [registry, repository, tag?, digest?] */
type Valid = [string, string, string, string?, string?];

const VALID: Valid[] = [
  // normalize_test.go, TestValidateReferenceName
  ["docker/docker", HUB, "docker/docker"],
  ["library/debian", HUB, "library/debian"],
  ["debian", HUB, "library/debian"],
  ["docker.io/docker/docker", HUB, "docker/docker"],
  ["docker.io/library/debian", HUB, "library/debian"],
  ["docker.io/debian", HUB, "library/debian"],
  ["index.docker.io/docker/docker", HUB, "docker/docker"],
  ["index.docker.io/library/debian", HUB, "library/debian"],
  ["index.docker.io/debian", HUB, "library/debian"],
  ["127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker"],
  ["127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian"],
  ["127.0.0.1:5000/debian", "127.0.0.1:5000", "debian"],
  ["192.168.0.1", HUB, "library/192.168.0.1"], // the command line takes it for a registry
  ["192.168.0.1:80", HUB, "library/192.168.0.1", "80"], // likewise
  ["192.168.0.1:8/debian", "192.168.0.1:8", "debian"],
  ["192.168.0.2:25000/debian", "192.168.0.2:25000", "debian"],
  ["thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", HUB, "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"],
  ["[fc00::1]:5000/docker", "[fc00::1]:5000", "docker"],
  ["[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker"],
  ["[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000", "library/debian"],
  [`docker.io/${HEX64}`, HUB, `library/${HEX64}`],
  ["Docker/docker", "Docker", "docker"],
  ["DOCKER/docker", "DOCKER", "docker"],
  // normalize_test.go, TestValidateRemoteName
  ["docker-rules/docker", HUB, "docker-rules/docker"],
  ["docker---rules/docker", HUB, "docker---rules/docker"],
  ["doc/docker", HUB, "doc/docker"],
  ["d/docker", HUB, "d/docker"],
  ["jess/t", HUB, "jess/t"],
  ["dock__er/docker", HUB, "dock__er/docker"],
  // normalize_test.go, TestParseRepositoryInfo: familiar, full and ambiguous names
  ["fooo/bar", HUB, "fooo/bar"],
  ["docker.io/fooo/bar", HUB, "fooo/bar"],
  ["index.docker.io/fooo/bar", HUB, "fooo/bar"],
  ["ubuntu", HUB, "library/ubuntu"],
  ["nonlibrary/ubuntu", HUB, "nonlibrary/ubuntu"],
  ["other/library", HUB, "other/library"],
  ["127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase"],
  ["127.0.0.1:8000/privatebase", "127.0.0.1:8000", "privatebase"],
  ["example.com/private/moonbase", "example.com", "private/moonbase"],
  ["example.com/privatebase", "example.com", "privatebase"],
  ["example.com:8000/private/moonbase", "example.com:8000", "private/moonbase"],
  ["example.com:8000/privatebasee", "example.com:8000", "privatebasee"],
  ["ubuntu-12.04-base", HUB, "library/ubuntu-12.04-base"],
  ["index.docker.io/library/ubuntu-12.04-base", HUB, "library/ubuntu-12.04-base"],
  ["docker.io/foo", HUB, "library/foo"],
  ["library/foo/bar", HUB, "library/foo/bar"],
  ["store/foo/bar", HUB, "store/foo/bar"],
  ["Foo/bar", "Foo", "bar"],
  ["FOO/bar", "FOO", "bar"],
  ["LOCALDOMAIN/fooo", "LOCALDOMAIN", "fooo"],
  // normalize_test.go, TestParseReferenceWithTagAndDigest
  [
    "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
    HUB,
    "library/busybox",
    "latest",
    "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
  ],
  // normalize_test.go, TestParseAnyReference (the named ones)
  ["redis", HUB, "library/redis"],
  ["redis:latest", HUB, "library/redis", "latest"],
  ["docker.io/library/redis:latest", HUB, "library/redis", "latest"],
  [`redis@${DBCC}`, HUB, "library/redis", undefined, DBCC],
  [`docker.io/library/redis@${DBCC}`, HUB, "library/redis", undefined, DBCC],
  ["dmcgowan/myapp", HUB, "dmcgowan/myapp"],
  ["dmcgowan/myapp:latest", HUB, "dmcgowan/myapp", "latest"],
  ["docker.io/mcgowan/myapp:latest", HUB, "mcgowan/myapp", "latest"],
  [`dmcgowan/myapp@${DBCC}`, HUB, "dmcgowan/myapp", undefined, DBCC],
  [`docker.io/dmcgowan/myapp@${DBCC}`, HUB, "dmcgowan/myapp", undefined, DBCC],
  ["dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", HUB, "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9"],
  ["dbcc1", HUB, "library/dbcc1"],
  // normalize_test.go, TestNormalizedSplitHostname
  ["test.com/foo", "test.com", "foo"],
  ["test_com/foo", HUB, "test_com/foo"],
  ["docker/migrator", HUB, "docker/migrator"],
  ["test.com:8080/foo", "test.com:8080", "foo"],
  ["test-com:8080/foo", "test-com:8080", "foo"],
  ["foo", HUB, "library/foo"],
  ["xn--n3h.com/foo", "xn--n3h.com", "foo"],
  ["xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"],
  ["docker.io/library/foo/bar", HUB, "library/foo/bar"],
  // reference_test.go, TestReferenceParse, as docker normalises each
  ["test_com", HUB, "library/test_com"],
  ["test.com:tag", HUB, "library/test.com", "tag"],
  ["test.com:5000", HUB, "library/test.com", "5000"], // the command line takes it for a registry
  ["test.com/repo:tag", "test.com", "repo", "tag"],
  ["test:5000/repo", "test:5000", "repo"],
  ["test:5000/repo:tag", "test:5000", "repo", "tag"],
  [`test:5000/repo@${F64}`, "test:5000", "repo", undefined, F64],
  [`test:5000/repo:tag@${F64}`, "test:5000", "repo", "tag", F64],
  ["Uppercase/lowercase:tag", "Uppercase", "lowercase", "tag"], // docker's FIXME there: a domain, so it parses
  ["lowercase:Uppercase", HUB, "library/lowercase", "Uppercase"],
  [`${"a/".repeat(127)}a:tag-puts-this-over-max`, HUB, `${"a/".repeat(127)}a`, "tag-puts-this-over-max"],
  ["sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux"],
  ["sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag"],
  ["b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com"],
  ["xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com"],
  [`xn--7o8h.com/myimage:xn--7o8h.com@${F512}`, "xn--7o8h.com", "myimage", "xn--7o8h.com", F512],
  ["foo_bar.com:8080", HUB, "library/foo_bar.com", "8080"],
  ["foo/foo_bar.com:8080", HUB, "foo/foo_bar.com", "8080"],
  ["192.168.1.1", HUB, "library/192.168.1.1"],
  ["192.168.1.1:tag", HUB, "library/192.168.1.1", "tag"],
  ["192.168.1.1:5000", HUB, "library/192.168.1.1", "5000"],
  ["192.168.1.1/repo", "192.168.1.1", "repo"],
  ["192.168.1.1:5000/repo", "192.168.1.1:5000", "repo"],
  ["192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050"],
  ["[2001:db8::1]/repo", "[2001:db8::1]", "repo"],
  ["[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag"],
  ["[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo"],
  ["[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag"],
  [`[2001:db8::1]:5000/repo@${F64}`, "[2001:db8::1]:5000", "repo", undefined, F64],
  [`[2001:db8::1]:5000/repo:tag@${F64}`, "[2001:db8::1]:5000", "repo", "tag", F64],
  ["[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo"],
  ["[::1]:5000/repo", "[::1]:5000", "repo"],
  // regexp_test.go: TestFullNameRegexp, TestReferenceRegexp, TestDomainRegexp (a domain as the first part)
  ["simple/name", HUB, "simple/name"],
  ["docker/stevvooe/app", HUB, "docker/stevvooe/app"],
  ["aa-a/a", HUB, "aa-a/a"],
  ["foo.com", HUB, "library/foo.com"],
  ["foo.com:8080/bar", "foo.com:8080", "bar"],
  ["localhost:8080/bar", "localhost:8080", "bar"],
  ["foo_bar", HUB, "library/foo_bar"],
  ["foo.com/foo_bar", "foo.com", "foo_bar"],
  ["example.com/xn--7o8h.com/myimage", "example.com", "xn--7o8h.com/myimage"],
  ["example.com/some_separator__underscore/myimage", "example.com", "some_separator__underscore/myimage"],
  ["do__cker/docker", HUB, "do__cker/docker"],
  ["registry.io/foo/project--id.module--name.ver---sion--name", "registry.io", "foo/project--id.module--name.ver---sion--name"],
  ["Asdf.com/foo/bar", "Asdf.com", "foo/bar"],
  ["registry.com:8080/myapp:tag", "registry.com:8080", "myapp", "tag"],
  [`registry.com:8080/myapp@${BE}`, "registry.com:8080", "myapp", undefined, BE],
  [`registry.com:8080/myapp:tag2@${BE}`, "registry.com:8080", "myapp", "tag2", BE],
  [`localhost:8080@${BE}`, HUB, "library/localhost", "8080", BE],
  [`localhost:8080/name@${BE}`, "localhost:8080", "name", undefined, BE],
  [`localhost@${BE}`, HUB, "library/localhost", undefined, BE],
  ["test.com:10304/x", "test.com:10304", "x"],
  ["localhost/x", "localhost", "x"],
  ["ab.c-om/x", "ab.c-om", "x"],
  ["0101.com/x", "0101.com", "x"],
  ["001a.com/x", "001a.com", "x"],
  ["b.gbc.io:443/x", "b.gbc.io:443", "x"],
  ["[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:5000/x", "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:5000", "x"],
  // regexp_test.go, TestIdentifierRegexp: not 64 hex digits, so a name
  ["da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf", HUB, "library/da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf"],
  ["da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482", HUB, "library/da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482"],
  [`${HEX64}:tag`, HUB, `library/${HEX64}`, "tag"], // only the bare 64 hex digits are an image ID
];

const INVALID: string[] = [
  // normalize_test.go, TestValidateReferenceName
  "docker/Docker",
  "-docker",
  "-docker/docker",
  "-docker.io/docker/docker",
  "docker///docker",
  "docker.io/docker/Docker",
  "docker.io/docker///docker",
  "[fc00::1]",
  "[fc00::1]:5000",
  "fc00::1:5000/debian",
  "[fe80::1%eth0]:5000/debian",
  "[2001:db8:3:4::192.0.2.33]:5000/debian",
  HEX64,
  // normalize_test.go, TestValidateRemoteName
  "docker-/docker",
  "-docker-/docker",
  "____/____",
  "_docker/_docker",
  "dock..er/docker",
  "dock_.er/docker",
  "dock-.er/docker",
  "docker/",
  `${LONG_NAMESPACE}/docker`,
  // normalize_test.go, TestInvalidReferenceComponents
  "-foo",
  "busybox:-foo",
  // reference_test.go, TestReferenceParse
  "",
  ":justtag",
  `@${F64}`,
  "repo@sha256:ffffffffffffffffffffffffffffffffff",
  `validname@invaliddigest:${"f".repeat(64)}`,
  "Uppercase:tag",
  "test:5000/Uppercase/lowercase:tag",
  `${"a/".repeat(128)}a:tag`,
  "aa/asdf$$^/aa",
  "[2001:db8::1]",
  "[2001:db8::1]:5000",
  "[2001:db8::1]:tag",
  "[fe80::1%eth0]:5000/repo",
  "[fe80::1%@invalidzone]:5000/repo",
  // regexp_test.go, TestFullNameRegexp and TestReferenceRegexp
  "a/a/a/a/",
  "a//a/a",
  "foo.com/",
  "foo.com:http/bar",
  "a^a",
  "asdf$$^/aa",
  "a-/a/a/a",
  "foo.com/a-/a/a",
  "-foo/bar",
  "foo/bar-",
  "foo-/bar",
  "foo/-bar",
  "_foo/bar",
  "foo_bar.com:8080/app",
  "docker_/docker_",
  "example.com/__underscore/myimage",
  "example.com/..dots/myimage",
  "example.com/.dots/myimage",
  "example.com/nodouble..dots/myimage",
  "docker./docker",
  ".docker/docker",
  "docker-/docker",
  "do..cker/docker",
  "do__cker:8080/docker",
  "Foo/FarB",
  "registry.com:8080/myapp@sha256:badbadbadbad",
  "registry.com:8080/myapp:invalid~tag",
  "bad_hostname.com:8080/myapp:tag",
  `localhost:http/name@${BE}`,
  "registry.com:8080/myapp@bad",
  "registry.com:8080/myapp@2bad",
  // regexp_test.go, TestDomainRegexp (a domain as the first part)
  "test.com:http/x",
  "-ab.com/x",
  "ab-.com/x",
  "ab.-com/x",
  "ab.com-/x",
  "[fd00:1:2::3]75050/x",
  "[fd00:1:2::3]::75050/x",
  "[fd00:1:2::3%eth0]:75050/x",
  "fd00:1:2::3:75050/x",
  // regexp_test.go, TestIdentifierRegexp: uppercase hex is a name, and names are lowercase
  "7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C",
];

// What docker's grammar lets through and leaves to a later check ("it will fail on validation"):
// no URL can name these hosts, so regctl refuses them before any request.
const UNREACHABLE: string[] = [
  "192.168.1.1:75050/x",
  "192.168.1.1:750050/x",
  "[fd00:1:2::3]:75050/x",
  "[fd00123123123]:75050/x",
  "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050/x",
  "[1::2::3]/x",
  "[::1]:0/x",
  "999.1.1.1/x",
  "a.09/x",
];

// Where regctl differs from docker on purpose (README): an http://, https:// or docker:// prefix;
// Docker Hub's names. A bare registry where a repository is due is refused by the command line.
const DIFFERS: Valid[] = [
  ["https://github.com/docker/docker", "github.com", "docker/docker"],
  ["http://localhost:5000/busybox", "localhost:5000", "busybox"],
  ["HTTPS://reg.example.com/a:1", "reg.example.com", "a", "1"],
  ["docker://busybox", HUB, "library/busybox"],
  // Docker Hub by any case of its names, and by its API host (docker would take these for other hosts)
  ["Docker.io/busybox", HUB, "library/busybox"],
  ["registry-1.docker.io/busybox", HUB, "library/busybox"],
];

const show = (s: string) => (s.length > 70 ? `${JSON.stringify(s.slice(0, 60))}… (${s.length})` : JSON.stringify(s));
const expected = ([, registry, repository, tag, digest]: Valid): Reference => ({ registry, repository, tag, digest });

function refusal(input: string): UsageError {
  try {
    parseReference(input);
  } catch (err) {
    return err as UsageError;
  }
  throw new Error(`${show(input)} parsed`);
}

describe("docker's valid references", () => {
  for (const row of VALID)
    test(show(row[0]), () => {
      const ref = parseReference(row[0]);
      expect(ref).toEqual(expected(row));
      expect(parseReference(formatReference(ref))).toEqual(ref);
    });
});

describe("docker's invalid references", () => {
  for (const input of [...INVALID, ...UNREACHABLE])
    test(`refuses ${show(input)}`, () => {
      const err = refusal(input);
      expect(err).toBeInstanceOf(UsageError);
      expect(err.exitCode).toBe(2);
      expect(err.message).not.toContain("\n");
      expect(err.hint).toBeTruthy();
    });
});

describe("where regctl differs on purpose", () => {
  for (const row of DIFFERS) test(show(row[0]), () => expect(parseReference(row[0])).toEqual(expected(row)));
});

describe("the reasons given", () => {
  test.each([
    [HEX64, /image ID/, /docker\.io\/1a3f/],
    ["[2001:db8:3:4::192.0.2.33]:5000/debian", /IPv4 part/, /\[::1\]:5000/],
    ["localhost:75050/x", /^localhost:75050: port 75050 is out of range \(1 to 65535\)$/, /port/],
    ["[fd00123123123]:5000/x", /not an IPv6 address/, /brackets/],
    ["docker/Docker", /lowercase/, /reference is/],
    ["Foo/FarB", /lowercase/, /reference is/],
  ])("%s", (input, why, hint) => {
    const err = refusal(input);
    expect(err.message).toMatch(why);
    expect(err.hint ?? "").toMatch(hint);
  });
});

describe("registries", () => {
  test.each([
    ["LOCALDOMAIN", "LOCALDOMAIN"],
    ["[2001:db8::1]:5000", "[2001:db8::1]:5000"],
    ["index.docker.io", HUB],
    ["192.168.0.1:80", "192.168.0.1:80"],
  ])("%s", (input, registry) => expect(parseRegistry(input).registry).toBe(registry));
  test.each(["[2001:db8:3:4::192.0.2.33]:5000", "[fe80::1%eth0]:5000", "[fc00123]", "localhost:65536", "localhost:0", "a.09", "foo_bar.com:8080"])("refuses %s", (input) =>
    expect(() => parseRegistry(input)).toThrow(UsageError),
  );
});

// Through the binary: what is refused exits 2 with a line and a hint, never an unexpected error.
describe("on the command line", () => {
  const inputs = [...INVALID.filter((s) => s !== "" && !s.startsWith("-")), ...UNREACHABLE];
  test(`${inputs.length} refused references: exit 2, one line and a hint, nothing sent`, async () => {
    const bad: string[] = [];
    for (const input of inputs) {
      const r = await exec([...regctlCommand(), "digest", input], { env: { ...process.env, NO_COLOR: "1" } as Record<string, string>, timeoutMs: 20_000 });
      const lines = r.stderr.trimEnd().split("\n");
      const ok = r.code === 2 && r.stdout === "" && lines.length === 2 && lines[0]!.startsWith("regctl: ") && lines[1]!.startsWith("hint: ") && !/bug/.test(r.stderr);
      if (!ok) bad.push(`${show(input)}: exit ${r.code}: ${r.stderr.trim()}`);
    }
    expect(bad).toEqual([]);
  }, 120_000);
});
