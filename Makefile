# The README's commands, plus lint and benchmarks.
GO ?= go

.PHONY: run demo test test-ci lint bench generate

run:
	$(GO) run ./cmd/porthole serve

demo:
	$(GO) run ./cmd/porthole serve --demo

test:
	$(GO) test ./...

# What CI runs: installs and starts PostgreSQL, Redis and Chromium, then
# go test -race ./... with every service required.
test-ci:
	bash .ci/run

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# Benchmarks quoted in docs/benchmarks.md (set PORTHOLE_TEST_REDIS_URL and
# PORTHOLE_TEST_POSTGRES_URL to include the service-backed ones).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=5 ./internal/ratelimit/ ./internal/httpx/ ./internal/auth/ ./internal/audit/

generate:
	$(GO) generate ./...
