# Two front doors: `make run` (the teacher's app) and `make test` (the whole suite).
# Both create or refresh .venv from requirements.txt by themselves.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
PORT ?= 8501
# This machine only; a school network needs a password: make run ADDRESS=0.0.0.0 with
# GRADER_APP_PASSWORD set (the app refuses to serve a network without it).
ADDRESS ?= 127.0.0.1

.PHONY: run test lint venv clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run streamlit_app.py --server.headless true --server.address $(ADDRESS) --server.port $(PORT) --browser.gatherUsageStats false

# The suite starts with the linters (pyproject.toml: ruff's rules and complexity limit, mypy on grader/).
test: lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check grader tests bench pages streamlit_app.py
	$(PY) -m mypy grader

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
