# bsodwatch build and test entry points. `make test` is what CI runs (.ci/run).
GO      ?= go
BIN     ?= bin
PKGS    ?= ./...
LDFLAGS ?= -s -w

.PHONY: all build test test-steps test-go test-ad test-windows ps1-check race fmt-check vet cross bench fuzz docker clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/bsodwatch ./cmd/bsodwatch

# test: formatting, vet, the Windows cross-build, then every test with a private Samba on a
# loopback port (installed from Debian packages when missing, stopped afterwards), the same
# tests built for Windows and run under Wine, and the PowerShell scripts' syntax check. The
# last line says how long it all took (the figure the README gives).
test:
	@t0=$$(date +%s); rc=0; $(MAKE) --no-print-directory test-steps || rc=$$?; \
	echo "make test: $$(( $$(date +%s) - t0 )) s in all, exit $$rc" >&2; exit $$rc

test-steps: fmt-check vet cross test-go test-windows ps1-check

test-go:
	./scripts/test.sh $(PKGS)

# test-ad: the Active Directory tests alone, verbose, in the rig of scripts/ad.sh (Samba AD
# DC in namespaces of its own), including the 6.5-minute ticket expiry run.
AD_ROOT ?= /tmp/bsodwatch-ad
test-ad:
	AD_ROOT=$(AD_ROOT) ./scripts/ad.sh start
	AD_ROOT=$(AD_ROOT) BSODWATCH_AD_EXPIRY=1 ./scripts/ad.sh exec $(GO) test -count=1 -p 1 -v -timeout 20m -run '^TestAD' $(PKGS); \
	rc=$$?; AD_ROOT=$(AD_ROOT) ./scripts/ad.sh stop; exit $$rc

# test-windows: GOOS=windows tests under Wine in a private prefix (installs wine64 and MinGW
# from Debian packages when missing); prints its exclusions with their reasons.
test-windows:
	./scripts/test-windows.sh $(PKGS)

# ps1-check: scripts/*.ps1 parsed with the tree-sitter PowerShell grammar (npm).
ps1-check:
	./scripts/check-ps1.sh

# race: every test under the race detector (slower; not part of `make test`).
race:
	./scripts/test.sh -race $(PKGS)

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	GOOS=windows GOARCH=amd64 $(GO) vet $(PKGS)

cross:
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build $(PKGS)
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/bsodwatch.exe ./cmd/bsodwatch

bench:
	./scripts/bench.sh

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s -fuzzminimizetime 2s ./analyzer/cdbout
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime 30s -fuzzminimizetime 2s ./dumpfile
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime 30s -fuzzminimizetime 2s ./eventlog
	$(GO) test -run '^$$' -fuzz '^FuzzRestore$$' -fuzztime 30s -fuzzminimizetime 2s ./dumpshare

# Multi-stage: the image builds its own static binary (needs a Docker engine).
docker:
	docker build -t bsodwatch .

clean:
	rm -rf $(BIN)
