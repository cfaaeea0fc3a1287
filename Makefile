# Two commands set everything up: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format privacy clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/porchlight demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole suite on SQLite; then, when PORCHLIGHT_TEST_DATABASE_URL names a PostgreSQL
# server (CI sets it), the whole suite again with every test's database on PostgreSQL.
test: lint
	$(BIN)/pytest
	@if [ -n "$$PORCHLIGHT_TEST_DATABASE_URL" ]; then \
		echo "== the suite again on PostgreSQL =="; \
		PORCHLIGHT_TEST_BACKEND=postgresql $(BIN)/pytest -p no:cacheprovider; \
	fi

# The privacy regression tests alone (they also run in `make test`): canaries searched for in
# the database, WAL, DATA_DIR and DEBUG logs; nothing kept in the browser; retention.
privacy: $(STAMP)
	$(BIN)/pytest -m privacy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
