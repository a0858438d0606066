#!/usr/bin/env bash
# make demo: a throwaway real registry on 127.0.0.1:5000 (deletes enabled), a small image pushed
# as busybox:latest and busybox:1.36, and the seed problem walked through with dist/regctl.
# The registry is Debian's docker-registry (installed when missing and possible), or the
# registry:2 image where a Docker engine runs. It is stopped at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${DEMO_PORT:-5000}
HOST=127.0.0.1:$PORT
REGCTL=dist/regctl
BUN=node_modules/.bin/bun
work=$(mktemp -d)
export XDG_CACHE_HOME=$work/cache
pid="" container=""

bold="" reset=""
if [ -t 1 ]; then bold=$(tput bold 2>/dev/null || true) reset=$(tput sgr0 2>/dev/null || true); fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }
show() { printf '%s$ %s%s\n' "$bold" "$*" "$reset"; "$@"; }

cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "demo: 127.0.0.1:$PORT is already in use; stop what listens there, or run DEMO_PORT=5001 make demo" >&2
  exit 1
fi

cat >"$work/config.yml" <<YAML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: $work/storage }
  delete: { enabled: true }
http: { addr: "$HOST", secret: demo }
YAML

if ! command -v docker-registry >/dev/null && [ -z "${DEMO_DOCKER:-}" ]; then
  if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then
    echo "installing Debian's docker-registry (apt-get)…"
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker-registry >/dev/null
  fi
fi
if command -v docker-registry >/dev/null && [ -z "${DEMO_DOCKER:-}" ]; then
  docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
  pid=$!
  gc() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; show docker-registry garbage-collect "$work/config.yml" 2>&1 | tail -3; }
elif docker info >/dev/null 2>&1; then
  container=$(docker run -d -p "$HOST:5000" -e REGISTRY_STORAGE_DELETE_ENABLED=true registry:2)
  gc() { docker stop "$container" >/dev/null; show docker run --rm --volumes-from "$container" registry:2 garbage-collect /etc/docker/registry/config.yml | tail -3; }
else
  echo "demo: needs Debian's docker-registry (apt-get install docker-registry) or a running Docker engine" >&2
  exit 1
fi
for _ in $(seq 100); do curl -fsS "http://$HOST/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$HOST/v2/" >/dev/null || { echo "demo: the registry did not start" >&2; cat "$work/registry.log" >&2; exit 1; }

$BUN test/seed.ts push "http://$HOST" busybox latest 1.36 --seed busybox --layer-bytes 2000000 >/dev/null
$BUN test/seed.ts push "http://$HOST" busybox edge --seed edge >/dev/null

step "A registry with deletes enabled"
show $REGCTL ping "$HOST"
step "Its repositories and tags: latest and 1.36 are one image"
show $REGCTL repos "$HOST"
show $REGCTL tags "$HOST/busybox" --digests

step "The trap: curl without an Accept header gets a schema1 manifest converted on the fly"
wrong=$(curl -sSI "http://$HOST/v2/busybox/manifests/latest" | tr -d '\r' | awk 'tolower($1)=="docker-content-digest:"{print $2}')
echo "curl -I …/manifests/latest          → $wrong   (converted: not stored)"
echo "curl -X DELETE …/manifests/$wrong →"
curl -sS -X DELETE "http://$HOST/v2/busybox/manifests/$wrong"
step "The stored digest, asked with the right Accept header"
show $REGCTL digest "$HOST/busybox:latest"
show $REGCTL inspect "$HOST/busybox:latest"

step "Delete it, printing the curl that does it (stderr is a runnable sh script)"
show $REGCTL delete "$HOST/busybox:latest" --curl --yes
step "Both tags on that digest are gone; edge stays"
show $REGCTL tags "$HOST/busybox" --digests

step "The disk comes back only after garbage-collect (registry stopped)"
du -sh "$work/storage" 2>/dev/null | sed 's/^/before: /' || true
gc
du -sh "$work/storage" 2>/dev/null | sed 's/^/after:  /' || true
echo
echo "demo done; the registry is stopped and its storage removed."
