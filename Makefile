# Two entry points on a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= tiny
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_DATA := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz /usr/share/wordnet/data.noun

.PHONY: setup data book execute html test bench clean

setup: $(STAMP) data

# Reinstall when the dependency list changes. torch/torchvision are pinned
# exactly in pyproject.toml so pip takes the local build and nothing else.
# The nmt extra (fairseq-fixed) builds C++ extensions once, about 6 minutes;
# pip's wheel cache makes later set-ups fast.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,nmt]'
	@touch $@

data:
	@for f in $(DEBIAN_DATA); do test -f $$f || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian data packages (dataset-fashion-mnist, wordnet-base)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist wordnet-base; \
	fi
	@$(BIN)/lskd data verify fashion_mnist

# Execute every chapter (papermill, $(PROFILE) profile), then render. A failed
# chapter is reported and replaced by a failure page; the others still build,
# and make exits non-zero at the end.
book: setup
	@start=$$(date +%s); status=0; \
	$(BIN)/lskd book --profile $(PROFILE) -q || status=$$?; \
	$(BIN)/jupyter-book build . --path-output book -q || status=$$?; \
	echo "make book: $$(( $$(date +%s) - start )) s; open book/_build/html/index.html"; \
	exit $$status

html: setup
	$(BIN)/jupyter-book build . --path-output book

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf book/_build book/executed runs
