# kitaru — build, test, benchmark, lint.
GO      ?= go
BIN     ?= bin/kitaru
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/kitaruhq/kitaru/cli.Version=$(VERSION)

.PHONY: build test test-unit test-keyring cross bench lint fuzz clean temporal-server

# Static, with no cgo: one file that runs on any Linux, and no C signal
# paths in a binary whose main job includes handling Ctrl-C.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

# The whole suite: lint, the cross builds, race-checked unit and end-to-end
# tests, then the keyring tests against a real Secret Service
# (gnome-keyring in a private D-Bus session).
test: lint cross test-unit test-keyring

# Every system kitaru is built for must build, and go vet (which compiles
# the tests too) must pass on each, so code only one system has is caught
# here rather than on someone's Mac or Windows machine. No cgo, as in build.
CROSS ?= linux/amd64 linux/arm64 linux/386 darwin/arm64 darwin/amd64 windows/amd64
cross:
	@set -e; for t in $(CROSS); do \
		echo "cross: $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build ./...; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./...; \
	done

# The Temporal test server (a module of its own) is built first, so that
# no test binary spends its timeout compiling it on a cold machine.
test-unit: temporal-server
	$(GO) test -race -count=1 -timeout 25m ./...

temporal-server:
	cd internal/temporalserver && $(GO) build -o /dev/null .

test-keyring:
	@./scripts/with-secret-service.sh $(GO) test -race -count=1 -run 'SecretService' ./keyring/... ./cli/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	# The Temporal test server is a module of its own (./... stops at it).
	cd internal/temporalserver && $(GO) vet ./...

# Go fuzzes one target per run: the loader, expressions, then the reader
# of run: commands that decides where a ${{ }} may stand.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./flowspec
	$(GO) test -run '^$$' -fuzz '^FuzzExpr$$' -fuzztime $(FUZZTIME) ./flowspec
	$(GO) test -run '^$$' -fuzz '^FuzzScanShell$$' -fuzztime $(FUZZTIME) ./flowspec

clean:
	rm -rf bin
