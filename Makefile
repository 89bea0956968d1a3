# Two entry points for a fresh machine: `make train` and `make test`; `make docs` serves
# the documentation site at http://127.0.0.1:8000.
# Each creates .venv on first use; torch is pinned here (the CPU wheel on disk).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install train test docs clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,envpool,docs,box2d,tf,distributed]"
	touch $(STAMP)

install: $(STAMP)

# Trains Pong (the pong-quick preset; its seeds' times to mean-10 ≥ 19 on a 2-core CPU are
# in docs/results.md) into runs/pong-quick; run it again after an interruption and it resumes.
train: $(STAMP)
	@if [ -f runs/pong-quick/checkpoints/latest ]; then \
		$(VENV)/bin/deepq train --resume runs/pong-quick; \
	else \
		$(VENV)/bin/deepq train pong-quick --run-dir runs/pong-quick; \
	fi

test: $(STAMP)
	$(PY) -m pytest -q tests

docs: $(STAMP)
	$(VENV)/bin/mkdocs serve

clean:
	rm -rf $(VENV) runs site
