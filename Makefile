# make run   installs what is missing, builds, serves HTTPS on the embedded store
# make test  installs what is missing, type-checks, runs the whole suite
SHELL := /bin/bash
.DEFAULT_GOAL := help
STAMP := node_modules/.installed-stamp
# Debian packages the suite needs besides Node, as command:package. openssl and
# python3 cross-check the test vectors, curl drives the shell client, and
# redis-server, redis-sentinel and nginx run the scale-out tests (started by the tests, on loopback),
# and chromium runs the website's browser test.
SYSTEM_TOOLS := openssl:openssl python3:python3 curl:curl redis-server:redis-server redis-sentinel:redis-sentinel nginx:nginx-light chromium:chromium

.PHONY: help run test build deps system-deps typecheck test-mongo openapi cluster bench cli keyring-rotate clean

help:
	@echo "make run    - install, build and serve HTTPS on the embedded store (DATA_DIR=./var)"
	@echo "make test   - install and run the whole test suite"
	@echo "make test-mongo - the store contract suite against MONGODB_URI"
	@echo "make bench  - load tests against peers (BENCH_QUICK=1 for under 2 minutes)"
	@echo "make cluster - Redis + 3 instances + nginx (TLS) on https://127.0.0.1:9443 until Ctrl-C"
	@echo "make keyring-rotate KEYRING=path - add a new master key version to a keyring file"

$(STAMP): package.json package-lock.json
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

test: deps system-deps typecheck
	npx tap
	@if [ -z "$$MONGODB_URI" ]; then echo "MongoDB contract run skipped: MONGODB_URI is unset (run 'make test-mongo' against a replica set)"; fi

# The store contract suite against a real MongoDB replica set.
test-mongo: deps
	@if [ -z "$$MONGODB_URI" ]; then echo "make test-mongo needs MONGODB_URI, e.g. mongodb://localhost:27017/signed_api_test?replicaSet=rs0" >&2; exit 2; fi
	npx tap test/store/mongodb.test.ts

# Load tests on loopback against peers in the same run (bench/README.md); BENCH_QUICK=1 for a short run.
bench: build
	bash bench/run.sh

# The signed-api CLI (the package's bin): make cli ARGS="--ca var/dev-cert.pem login alice"
cli: build
	@node dist/src/cli/main.js $(ARGS)

# Rewrites the committed OpenAPI document from the running routes (a test fails when they differ).
openapi: deps
	node --import tsx src/openapi-cli.ts > openapi/openapi.json.tmp && mv openapi/openapi.json.tmp openapi/openapi.json

# Redis, three instances sharing one keyring and one store, and nginx terminating TLS, on loopback.
cluster: deps system-deps
	node --import tsx test/cluster/main.ts

keyring-rotate: build
	@test -n "$(KEYRING)" || { echo "usage: make keyring-rotate KEYRING=path/to/keyring"; exit 2; }
	node dist/src/keyring-cli.js rotate "$(KEYRING)"

clean:
	rm -rf dist .tap coverage
