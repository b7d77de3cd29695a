# Two commands: `make demo` (install, then deblur bundled sample photos) and `make test` (install, lint, test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean campaign-data test-lowest

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev,tensorboard,onnx,heif,tiff]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench campaign
	$(BIN)/ruff format --check src tests bench campaign
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

# The demo runs the packaged golf-synthetic-v1 weights (GPU-trained; docs/TRAINING_CAMPAIGN.md).
demo: $(STAMP)
	$(BIN)/golfdeblur demo --out demo_output

# The GPU campaign's data (docs/TRAINING_CAMPAIGN.md), in one ignored folder that a device call carries (about 50 MiB):
# BSDS500 and GoPro-protocol pairs from the shared frames packed into data.npz, and the first 24 CBSD68 images of the
# fixed validation set (what the recipe validates on, so in-run validation on the GPU matches validation here).
# Needs ../shared/data (override with DATA=...).
DATA ?= ../shared/data
CAMPAIGN := local/campaign
VALIDATION_IMAGES := 24
campaign-data: $(STAMP)
	rm -rf local/campaign-pairs $(CAMPAIGN).new
	$(BIN)/golfdeblur make-pairs $(DATA)/frames/GOPR0477_11_00 local/campaign-pairs --frames 7-13
	$(BIN)/golfdeblur pack-data $(CAMPAIGN).new/data.npz --sharp $(DATA)/sharp/bsds500 \
		--pairs local/campaign-pairs/GOPR0477_11_00/blur_gamma local/campaign-pairs/GOPR0477_11_00/sharp
	mkdir -p $(CAMPAIGN).new/eval/cbsd68
	$(BIN)/python -c "import sys; from golfdeblur.data.sources import list_images; \
		from golfdeblur.data.packed import copy_compact; \
		[copy_compact(f, sys.argv[1]) for f in list_images(sys.argv[2])[:$(VALIDATION_IMAGES)]]" \
		$(CAMPAIGN).new/eval/cbsd68 $(DATA)/eval/cbsd68
	rm -rf $(CAMPAIGN) local/campaign-pairs && mv $(CAMPAIGN).new $(CAMPAIGN)
	du -sh $(CAMPAIGN)

# The suite at the lowest versions pyproject.toml allows (requirements-lowest.txt), in .venv-lowest. Not part of
# `make test`: on Linux it downloads torch 2.6.0 from PyPI, a multi-GB CUDA build (add PyTorch's CPU index with
# PIP_EXTRA_INDEX_URL for a small one). LOWEST_PYTHON: the oldest Python we support.
LOWEST_PYTHON ?= python3.10
test-lowest:
	@$(LOWEST_PYTHON) -c "import sys; sys.exit(sys.version_info[:2] != (3, 10))" 2>/dev/null || { echo \
		"test-lowest: $(LOWEST_PYTHON) is not a working Python 3.10; name one: make test-lowest LOWEST_PYTHON=PATH" >&2; \
		exit 2; }
	rm -rf .venv-lowest
	$(LOWEST_PYTHON) -m venv .venv-lowest
	.venv-lowest/bin/pip install --quiet -r requirements-lowest.txt
	.venv-lowest/bin/pip install --quiet --no-deps -e .
	.venv-lowest/bin/python -m pytest -q

clean:
	rm -rf $(VENV) .venv-lowest demo_output
