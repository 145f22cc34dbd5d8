# The single entry point. Every target installs what it needs into .venv first,
# so a fresh machine with only Python can run `make serve` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

HOST ?= 127.0.0.1
PORT ?= 50051
HTTP_PORT ?=
MODEL ?= default
DATA ?= examples/assistant
MODELS_DIR ?= models
EXPORT_DIR ?= exported
TEST_DATA ?= tests/data/assistant_heldout.yml
MIN_ACCURACY ?=
MIN_ENTITY_F1 ?=
PYTEST_ARGS ?=
# FINETUNE=1: fine-tune the encoder too, keep it only when it scores better; FINETUNE=force
FINETUNE ?=
TRAIN_ARGS ?=
FINETUNE_FLAG := $(if $(filter force,$(FINETUNE)),--fine-tune=force,$(if $(filter-out 0 no off,$(FINETUNE)),--fine-tune))

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install serve test test-fast lint proto proto-check options options-check train validate export evaluate bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with training and dev extras

serve: $(STAMP) ## train + export the example bot if needed, serve gRPC on HOST:PORT (HTTP_PORT=8080: HTTP/JSON too)
	@if [ ! -e $(EXPORT_DIR)/$(MODEL)/current ]; then \
		echo "No export for model '$(MODEL)' yet: training and exporting $(DATA) first."; \
		$(BIN)/intent-train train --data $(DATA) --model $(MODEL) --models-dir $(MODELS_DIR) && \
		$(BIN)/intent-train export --model $(MODEL) --models-dir $(MODELS_DIR) --export-dir $(EXPORT_DIR) || exit $$?; \
	fi
	$(BIN)/intent-server --host $(HOST) --port $(PORT) --export-dir $(EXPORT_DIR) --model $(MODEL) \
		$(if $(HTTP_PORT),--http-port $(HTTP_PORT))

train: $(STAMP) ## train MODEL from DATA (a YAML file or folder); FINETUNE=1 fine-tunes the encoder too
	$(BIN)/intent-train train --data $(DATA) --model $(MODEL) --models-dir $(MODELS_DIR) \
		$(FINETUNE_FLAG) $(TRAIN_ARGS)

validate: $(STAMP) ## check DATA for mistakes without training
	$(BIN)/intent-train validate $(DATA)

export: $(STAMP) ## export the latest trained MODEL to exported/MODEL/
	$(BIN)/intent-train export --model $(MODEL) --models-dir $(MODELS_DIR) --export-dir $(EXPORT_DIR)

evaluate: $(STAMP) ## score MODEL's export on labelled TEST_DATA (MIN_ACCURACY=0.9: exit 1 below)
	$(BIN)/intent-train evaluate --model $(MODEL) --data $(TEST_DATA) --export-dir $(EXPORT_DIR) \
		--models-dir $(MODELS_DIR) $(if $(MIN_ACCURACY),--min-accuracy $(MIN_ACCURACY)) \
		$(if $(MIN_ENTITY_F1),--min-entity-f1 $(MIN_ENTITY_F1))

proto: $(STAMP) ## regenerate the committed gRPC code from protos/
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. \
		protos/intent_server/proto/intent.proto

proto-check: $(STAMP) ## fail when the committed generated code is stale
	@tmp=$$(mktemp -d) && \
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp \
		protos/intent_server/proto/intent.proto && \
	for f in intent_pb2.py intent_pb2.pyi intent_pb2_grpc.py; do \
		diff -q $$tmp/intent_server/proto/$$f intent_server/proto/$$f >/dev/null || \
		{ echo "intent_server/proto/$$f is stale: run 'make proto' and commit it"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated proto code is up to date"

options: $(STAMP) ## regenerate docs/reference/options.md from the option declarations
	$(BIN)/python -m tools.options_reference

options-check: $(STAMP) ## fail when the committed docs/reference/options.md is stale
	@$(BIN)/python -m tools.options_reference --check

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check intent_server trainer tests bench tools
	$(BIN)/ruff format --check intent_server trainer tests bench tools
	$(BIN)/mypy intent_server trainer bench tools

test: $(STAMP) proto-check options-check lint ## install, check generated code and lint, run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## the tests that neither train nor export (under a minute; no lint)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP) ## accuracy and speed benchmark; results under bench/results/
	$(BIN)/python -m bench.run

clean: ## remove trained models, exports, evaluation reports, caches (keeps .venv)
	rm -rf $(MODELS_DIR) .cache $(EXPORT_DIR)/*/ evaluation .pytest_cache .mypy_cache .ruff_cache
