# AdPilot: build, demo, test and benchmark entry points.
# `make demo` and `make test` work on a fresh clone; `.ci/run` installs system packages first.

SWIFT ?= swift
ADPILOT := .build/release/adpilot
DATA ?= ../shared/data
DEMO_DAYS ?= 8
DEMO_IMPRESSIONS_PER_DAY ?= 25000

PG_CONFIG ?= pg_config
# The Swift build folder the extension's library is built in, like `swift build --scratch-path`.
SCRATCH_PATH ?= $(CURDIR)/.build

.PHONY: all build debug demo demo-real test bench bench-quality lint format db-start db-stop db-status clean
.PHONY: extension install-extension test-extension pg-server-headers sql-score-demo check-test-data

all: build

build:
	$(SWIFT) build -c release --product adpilot

debug:
	$(SWIFT) build

# Synthetic logs end to end: generate, train, allocate the next day, score its requests.
# As root the extension is installed before the database starts: installing the server headers
# can upgrade the PostgreSQL package, and a server started before that fails to load PL/pgSQL.
demo: build
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory install-extension; fi
	$(ADPILOT) db start
	$(ADPILOT) generate --days $(DEMO_DAYS) --impressions-per-day $(DEMO_IMPRESSIONS_PER_DAY)
	$(ADPILOT) campaigns sync
	$(ADPILOT) train --dataset synthetic
	$(ADPILOT) allocate --dataset synthetic --next-day
	$(ADPILOT) score --dataset synthetic
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory sql-score-demo; fi
	$(ADPILOT) summary --dataset synthetic

# One scoring query through the adpilot extension in the embedded database, compared with the
# batch scorer's stored scores. Installing the extension needs root.
sql-score-demo: install-extension
	psql "$$($(ADPILOT) db url)" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS adpilot" \
	  -c "SELECT count(*) AS requests, \
	             count(*) FILTER (WHERE adpilot.score(r.dataset, r.cat_values, r.num_values, \
	                                                  r.seq_values) = s.score) AS equal_in_sql \
	      FROM adpilot.ad_requests r JOIN adpilot.ad_scores s USING (dataset, request_id, ad_id) \
	      WHERE r.dataset = 'synthetic'"

# The public samples in $(DATA): Criteo and iPinYou 2997 for CTR, the Taobao sample for the
# behaviour-sequence path, the 9 iPinYou advertisers' streams for allocation.
demo-real: build
	$(ADPILOT) db start
	$(ADPILOT) import criteo $(DATA)/criteo-dac/criteo_dac_first10k.csv
	$(ADPILOT) import ipinyou --split train $(DATA)/ipinyou/campaign2997_ctr_train.csv
	$(ADPILOT) import ipinyou --split test $(DATA)/ipinyou/campaign2997_ctr_test.csv
	$(ADPILOT) import taobao $(DATA)/taobao-alimama-dmr/alimama_dmr_sample.csv
	$(ADPILOT) import ipinyou-streams $(DATA)/ipinyou/rlb_market_price_streams.csv.gz
	$(ADPILOT) campaigns sync
	$(ADPILOT) train --dataset criteo
	$(ADPILOT) train --dataset ipinyou_2997
	$(ADPILOT) train --dataset taobao
	$(ADPILOT) allocate --dataset ipinyou_rlb --date 2013-06-14
	$(ADPILOT) requests from-impressions --dataset ipinyou_2997 --split test --limit 5000
	$(ADPILOT) score --dataset ipinyou_2997
	$(ADPILOT) summary --dataset ipinyou_2997
	$(ADPILOT) summary --dataset ipinyou_rlb

# Unit and database tests; the test support starts its own PostgreSQL cluster. As root (CI),
# the extension is built and installed first so that its SQL tests run too; elsewhere they are
# skipped with a message naming `make test-extension`.
test: check-test-data
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) install-extension; fi
	$(SWIFT) build --build-tests
	if [ "$$(id -u)" = 0 ]; then export ADPILOT_TEST_EXTENSION=1; fi; \
	  $(SWIFT) test --skip-build

# The import tests read the public samples: ADPILOT_DATA, else shared/data beside the checkout.
# Stop before the build when they are missing, instead of failing those tests one by one.
check-test-data:
	@data="$${ADPILOT_DATA:-$(CURDIR)/../shared/data}"; \
	if [ ! -f "$$data/criteo-dac/criteo_dac_first10k.csv" ]; then \
	  echo "make test: the public samples are missing: $$data/criteo-dac/criteo_dac_first10k.csv not found." >&2; \
	  echo "Clone the repository beside shared/, or set ADPILOT_DATA to the shared/data folder." >&2; \
	  exit 1; \
	fi

# CTR throughput beside the same model in PyTorch (bench/torch_din.py), and the allocator beside
# SciPy's HiGHS, with both peers in a virtual environment created on first use. THREADS
# (default 2) sets both CTR sides' thread count. bench/load.sh then times training's row loading
# against a bare COPY of the same rows, and bench/sql.sh times scoring in SQL with the extension
# beside `adpilot score` and PyTorch, with bench/jitter.sh (the spread of a fixed CPU loop) before
# and after it. As root the extension of this checkout is built and installed first; elsewhere
# run `make install-extension` as root beforehand.
bench/.venv/.installed: bench/requirements.txt
	python3 -m venv bench/.venv
	bench/.venv/bin/pip install --quiet -r bench/requirements.txt
	touch $@

bench: build bench/.venv/.installed
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) install-extension; fi
	$(MAKE) --no-print-directory bench-quality
	bench/run.sh
	bench/allocate.sh
	bench/load.sh
	bench/jitter.sh
	bench/sql.sh
	bench/jitter.sh

# CTR model quality: AdPilot's models beside a hashed logistic regression, LightGBM and
# DeepCTR-Torch on the same rows of Criteo, iPinYou 2997 and synthetic data, with the synthetic
# acceptance check (bench/quality.sh; docs/BENCHMARKS.md gives its run time).
bench-quality: build bench/.venv/.installed
	bench/.venv/bin/python bench/quality_test.py
	THREADS=$${THREADS:-2} DATA=$(DATA) bench/quality.sh

# The PostgreSQL extension: extension/adpilot.so carries its own static Swift runtime.
extension: pg-server-headers
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) SWIFT=$(SWIFT) SCRATCH=$(SCRATCH_PATH)

# Installs into the PostgreSQL that pg_config names; usually needs root.
install-extension: extension
	$(MAKE) -C extension PG_CONFIG=$(PG_CONFIG) SWIFT=$(SWIFT) SCRATCH=$(SCRATCH_PATH) install

# Installs the server headers and PGXS (Debian's postgresql-server-dev-N for pg_config's major
# version) when pg_config cannot find them.
pg-server-headers:
	@major=$$($(PG_CONFIG) --version 2>/dev/null | sed -nE 's/^PostgreSQL ([0-9]+).*/\1/p'); \
	if [ -z "$$major" ]; then \
	  echo "$(PG_CONFIG) failed: install libpq-dev or set PG_CONFIG=/path/to/pg_config" >&2; \
	  exit 1; \
	fi; \
	if [ ! -f "$$($(PG_CONFIG) --includedir-server)/postgres.h" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && \
	    apt-get install -y --no-install-recommends "postgresql-server-dev-$$major"; \
	  else \
	    echo "PostgreSQL server headers not found: install postgresql-server-dev-$$major" >&2; \
	    exit 1; \
	  fi; \
	fi

# The extension's tests against the test cluster, after installing the extension. They build
# in release mode because their setup (train, then batch-score 10,000 pairs) took 424 s in a
# debug build and 5 s in release; -enable-testing keeps @testable imports working there.
test-extension: install-extension
	$(SWIFT) build -c release --build-tests -Xswiftc -enable-testing \
	  --scratch-path $(SCRATCH_PATH)
	ADPILOT_TEST_EXTENSION=1 $(SWIFT) test -c release -Xswiftc -enable-testing --skip-build \
	  --scratch-path $(SCRATCH_PATH) --filter 'ExtensionTests|ScoringInterfaceTests|SQLBenchmarkTests'

lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

format:
	$(SWIFT) format -i -r Sources Tests Package.swift

db-start: build
	$(ADPILOT) db start

db-stop: build
	$(ADPILOT) db stop

db-status: build
	$(ADPILOT) db status

clean:
	rm -rf .build
