# newswatch — the targets the README names. Everything runs from the project's own venv (.venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# cargo (rustup's default place) builds the tagging engine's compiled core at install time.
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: demo test system-deps install constraints kafka-jars lint format bench chaos clean

## The two set-up commands of the README -------------------------------------------------
demo: system-deps install          ## run the whole pipeline on the bundled demo feeds
	$(BIN)/newswatch up --demo

test: system-deps install kafka-jars   ## the full test suite, real servers included
	$(BIN)/pytest -q -ra --durations=15

## Building blocks ---------------------------------------------------------------------------
system-deps:                       ## redis-server, prometheus/promtool, Java 17 + Maven (Debian)
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

install: $(BIN)/python             ## the project, editable, with test and embedded extras
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'

constraints:                       ## re-pin constraints.txt from the venv (after changing dependencies)
	@{ head -3 constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^newswatch'; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt

kafka-jars:                        ## Apache Kafka 4.x jars via Maven (cached between runs)
	bash tests/kafka/fetch.sh

CHAOS_MINUTES ?= 30
chaos: system-deps install kafka-jars  ## faults on a 3-broker cluster: build/chaos/report.json + plot
	$(BIN)/python -m tests.chaos.run --minutes $(CHAOS_MINUTES) --out build/chaos

# mypy resolves `newswatch.*` through build/typecheck/newswatch/{streams,agents}, links to the
# source folders ([tool.mypy] in pyproject.toml says why the editable install alone is not enough).
lint:                              ## ruff (lint + format check) and the mypy type check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p build/typecheck/newswatch
	@ln -sfn ../../../streams build/typecheck/newswatch/streams
	@ln -sfn ../../../agents build/typecheck/newswatch/agents
	$(BIN)/mypy
	@if git rev-parse --git-dir >/dev/null 2>&1; then python3 .ci/commit_subjects.py; fi

format:
	$(BIN)/ruff format .

bench: install                     ## benchmarks (figures and ratios, one run each)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
