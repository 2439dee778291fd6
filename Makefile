# subgate: build, release and test shortcuts. Plain `go build` works too;
# this file only adds the version stamp and the release matrix.
#
#   make build      static ./subgate for this machine
#   make release    dist/subgate-VERSION-linux-{amd64,arm64} and SHA256SUMS
#   make test       go test -race ./...
#   make bench      every benchmark, once
#   make fuzz       each fuzz target of every package for FUZZTIME (default 30s)
#   make soak       the 10-minute, 1,000-stream soak test (docs/soak.md)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)

LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
BUILD     := CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)"
PLATFORMS := linux/amd64 linux/arm64
FUZZTIME  ?= 30s

.PHONY: build release test bench fuzz soak clean

build:
	$(BUILD) -o subgate .

release:
	@mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=dist/subgate-$(VERSION)-$$os-$$arch; \
		echo "$$out"; \
		GOOS=$$os GOARCH=$$arch $(BUILD) -o $$out .; \
	done
	cd dist && sha256sum subgate-$(VERSION)-* > SHA256SUMS-$(VERSION)

test:
	go test -race ./...

bench:
	go test -run '^$$' -bench . -benchmem ./...

fuzz:
	@set -e; for p in $$(go list ./...); do \
		for t in $$(go test -list '^Fuzz' $$p | grep '^Fuzz' || true); do \
			echo "== $$p $$t"; go test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$p; \
		done; \
	done

soak:
	go test ./proxy -run Soak -soak -timeout 0 -v

clean:
	rm -rf dist subgate
