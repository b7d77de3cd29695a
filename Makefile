# Two commands: `make demo` (install, then deblur bundled sample photos) and `make test` (install, lint, test).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean campaign-data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev,tensorboard]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/golfdeblur demo --out demo_output

# The GPU campaign's data (docs/TRAINING_CAMPAIGN.md): GoPro-protocol pairs from the shared frames and BSDS500, packed
# into one ignored file that a device call carries. Needs ../shared/data (override with DATA=...).
DATA ?= ../shared/data
CAMPAIGN := local/campaign
campaign-data: $(STAMP)
	rm -rf $(CAMPAIGN)/pairs $(CAMPAIGN)/new
	$(BIN)/golfdeblur make-pairs $(DATA)/frames/GOPR0477_11_00 $(CAMPAIGN)/pairs --frames 7-13
	$(BIN)/golfdeblur pack-data $(CAMPAIGN)/new/data.npz --sharp $(DATA)/sharp/bsds500 \
		--pairs $(CAMPAIGN)/pairs/GOPR0477_11_00/blur_gamma $(CAMPAIGN)/pairs/GOPR0477_11_00/sharp
	mv $(CAMPAIGN)/new/data.npz $(CAMPAIGN)/data.npz && rmdir $(CAMPAIGN)/new

clean:
	rm -rf $(VENV) demo_output
