# regctl.ts — `make help` lists the targets.
SHELL := /bin/bash
PREFIX ?= /usr/local
BUN := node_modules/.bin/bun
DENO := node_modules/.bin/deno
TSC := node_modules/.bin/tsc
BIOME := node_modules/.bin/biome
VERSION := $(shell node -p 'require("./package.json").version' 2>/dev/null)
TARGETS := linux-x64 linux-x64-baseline linux-arm64 linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64
# Debian packages the tests use: the real registry, TLS and htpasswd tools, the shells.
APT_PACKAGES := docker-registry apache2-utils openssl curl skopeo tmux bash-completion zsh fish time

.PHONY: help deps system-deps build check fmt test demo bench install release clean completions completions-check

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json ## Install the npm dependencies (npm ci: bun, deno, cac, ofetch, typescript, biome)

system-deps: ## Install the Debian packages the tests and the demo use (apt-get, as root or with sudo)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  echo "installing:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

dist/regctl: regctl.ts package.json node_modules/.package-lock.json
	@mkdir -p dist
	$(BUN) build --compile --minify --bytecode --compile-jit-policy=100 regctl.ts --outfile dist/regctl

build: dist/regctl ## Compile the standalone binary dist/regctl (bun build --compile)

check: deps ## Typecheck (tsc --strict) and lint (biome)
	$(TSC) --noEmit -p .
	$(BIOME) ci --error-on-warnings

fmt: deps ## Format and apply Biome's safe fixes (biome check --write) to the files biome.json includes
	$(BIOME) check --write

test: check build completions-check system-deps ## Typecheck, build, and run every test against the real registry: all through dist/regctl, core and auth again as `bun regctl.ts`
	REGCTL_BIN=dist/regctl $(BUN) test --timeout 60000
	$(BUN) test --timeout 60000 test/core.test.ts test/auth.test.ts

completions: build ## Regenerate completions/ (regctl.bash, _regctl, regctl.fish) from dist/regctl
	@mkdir -p completions
	dist/regctl completion bash > completions/regctl.bash
	dist/regctl completion zsh > completions/_regctl
	dist/regctl completion fish > completions/regctl.fish

completions-check: build ## Fail when completions/ is stale (run make completions)
	@for s in bash:regctl.bash zsh:_regctl fish:regctl.fish; do \
	  dist/regctl completion $${s%%:*} | cmp -s - completions/$${s#*:} || { echo "completions/$${s#*:} is stale: run make completions" >&2; exit 1; }; \
	done

demo: deps build ## Start a throwaway registry on 127.0.0.1:5000 and walk through the seed problem
	@bash test/demo.sh

bench: deps build system-deps ## Measure regctl beside a curl loop, skopeo and the registry's ceiling
	$(BUN) bench/bench.ts

install: build ## Install dist/regctl and the shell completions under PREFIX (default /usr/local)
	install -Dm755 dist/regctl $(DESTDIR)$(PREFIX)/bin/regctl
	install -Dm644 completions/regctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/regctl
	install -Dm644 completions/_regctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_regctl
	install -Dm644 completions/regctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/regctl.fish

release: deps ## Binaries for linux (x64, x64 without AVX2, arm64, musl for Alpine) and macOS, each with a sha256 sum, in dist/release
	@for t in $(TARGETS); do $(MAKE) --no-print-directory dist/release/regctl-$(VERSION)-$$t || exit 1; done
	@ls -l dist/release

# One target's binary and its sum; --version names the target (bun downloads each target's runtime once).
dist/release/regctl-$(VERSION)-%: regctl.ts package.json node_modules/.package-lock.json
	@mkdir -p dist/release
	$(BUN) build --compile --minify --compile-jit-policy=100 --target=bun-$* --define 'REGCTL_TARGET="$*"' regctl.ts --outfile $@
	cd dist/release && sha256sum regctl-$(VERSION)-$* > regctl-$(VERSION)-$*.sha256

clean: ## Remove dist/
	rm -rf dist
