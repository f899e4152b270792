# tenantpool — build, test and tooling targets. `make run` and `make test` are the two set-up
# commands: both install what they need (the Pulumi CLI and Mailpit are built from the Go module
# proxy and cached under $(CACHE)).
SHELL := /bin/bash
GO ?= go
CACHE ?= $(HOME)/.cache/tenantpool
DATA_DIR ?= ./data

PULUMI_VERSION := v3.274.1
PULUMI_DIR := $(CACHE)/pulumi-$(PULUMI_VERSION)
PULUMI := $(PULUMI_DIR)/pulumi
MAILPIT_VERSION := v1.27.11
MAILPIT := $(CACHE)/mailpit-$(MAILPIT_VERSION)/mailpit
STRIPE_MOCK_VERSION := v0.203.0
STRIPE_MOCK := $(CACHE)/stripe-mock-$(STRIPE_MOCK_VERSION)/stripe-mock

# Tests find the tools through these; PostgreSQL tests run when POOL_TEST_DATABASE_URL is set.
export PATH := $(PULUMI_DIR):$(PATH)
export TENANTPOOL_PULUMI := $(PULUMI)
export TENANTPOOL_MAILPIT := $(MAILPIT)
export TENANTPOOL_STRIPE_MOCK := $(STRIPE_MOCK)

.PHONY: build test test-short run bench lint fuzz pulumi plugins mailpit stripe-mock tools clean

build:
	$(GO) build -o bin/poold ./pool/cmd/poold

run: build
	./bin/poold serve --data-dir $(DATA_DIR)

test: tools lint
	$(GO) test -race -count=1 -timeout 30m ./...

test-short:
	$(GO) test -short -count=1 ./...

# The benchmarks BENCHMARKS.md reports (PostgreSQL parts need POOL_TEST_DATABASE_URL).
bench: tools
	$(GO) test -run '^$$' -bench 'Claim|SnapshotPlan' -benchtime 5000x -count 3 ./pool/store/ | tee bench.txt
	$(GO) test -run '^$$' -bench Webhook -benchtime 2000x ./pool/orders/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench Provision -benchtime 8x ./pool/pulumiprov/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench PaidToEmail -benchtime 1x -timeout 30m ./pool/orders/ | tee -a bench.txt

# gofmt, go vet, and go.mod/go.sum exactly as `go mod tidy` leaves them.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

FUZZTIME ?= 60s

# Bounded fuzzing of the webhook handler (its seed corpus, testdata/fuzz, also runs in `make test`).
fuzz: tools
	$(GO) test -run '^$$' -fuzz '^FuzzWebhook$$' -fuzztime $(FUZZTIME) ./pool/orders/

tools: pulumi mailpit stripe-mock

pulumi: $(PULUMI)

# The Pulumi CLI cannot be downloaded here: build the pinned version from the Go module proxy in a
# throw-away tools module (the pkg module needs its clipboard replace; the Automation API refuses a
# CLI without a version, hence the ldflags).
$(PULUMI):
	@mkdir -p $(PULUMI_DIR)/src
	@printf '%s\n' 'module tenantpool-tools' 'go 1.26' \
	  'require github.com/pulumi/pulumi/pkg/v3 $(PULUMI_VERSION)' \
	  'require github.com/pulumi/pulumi/sdk/v3 $(PULUMI_VERSION)' \
	  'replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e' \
	  > $(PULUMI_DIR)/src/go.mod
	@printf '%s\n' '//go:build tools' 'package tools' 'import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"' > $(PULUMI_DIR)/src/tools.go
	cd $(PULUMI_DIR)/src && GOFLAGS=-mod=mod $(GO) mod tidy >/dev/null 2>&1 || true
	cd $(PULUMI_DIR)/src && GOFLAGS=-mod=mod $(GO) build -trimpath \
	  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)" \
	  -o $(PULUMI).tmp github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
	mv $(PULUMI).tmp $(PULUMI)
	$(PULUMI) version

# The Docker and Cloudflare provider plugins (the versions go.mod pins) in $(DATA_DIR)'s Pulumi
# home, where poold looks for them; they are downloaded, so this needs network access.
plugins: build pulumi
	./bin/poold plugins install --data-dir $(DATA_DIR)

mailpit: $(MAILPIT)

$(MAILPIT):
	@mkdir -p $(dir $(MAILPIT))
	GOBIN=$(dir $(MAILPIT)) $(GO) install -ldflags "-X github.com/axllent/mailpit/config.Version=$(MAILPIT_VERSION)" github.com/axllent/mailpit@$(MAILPIT_VERSION)
	$(MAILPIT) version --no-release-check

clean:
	rm -rf bin bench.txt

stripe-mock: $(STRIPE_MOCK)

# Stripe's API mock for the tests that call the Stripe API, and its bundled fixtures, which tests
# patch (pool/orders/stripemocktest) to serve the sessions and prices they need.
$(STRIPE_MOCK):
	@mkdir -p $(dir $(STRIPE_MOCK))
	GOBIN=$(dir $(STRIPE_MOCK)) $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)
	cd $(dir $(STRIPE_MOCK)) && cp "$$($(GO) mod download -json github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p')/embedded/openapi/fixtures3.json" $(dir $(STRIPE_MOCK))fixtures3.json
	chmod 644 $(dir $(STRIPE_MOCK))fixtures3.json
