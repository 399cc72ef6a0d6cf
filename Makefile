# Two entry points on a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= tiny
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_DATA := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz /usr/share/wordnet/data.noun

# MathJax 3, served from the book's own _static so formulas render offline.
MATHJAX_VERSION := 3.2.2
MATHJAX := _static/mathjax/tex-chtml.js

.PHONY: setup data book course execute html test test-fast bench clean

setup: $(STAMP) data $(MATHJAX)

# npm checks the tarball against the registry's integrity hash. Kept: the TeX
# to HTML-CSS component, its web fonts and the accessibility menu's modules
# (what a page loads), about 2 MB of the package's 24.
$(MATHJAX):
	@echo "installing MathJax $(MATHJAX_VERSION) for offline math (npm)"
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack -q mathjax@$(MATHJAX_VERSION) >/dev/null && \
	  tar -xzf mathjax-$(MATHJAX_VERSION).tgz && mkdir -p $(CURDIR)/_static/mathjax && \
	  for f in tex-chtml.js output/chtml/fonts/woff-v2 a11y; do \
	    mkdir -p $(CURDIR)/_static/mathjax/$$(dirname $$f) && cp -r package/es5/$$f $(CURDIR)/_static/mathjax/$$f; done && \
	  rm -rf $$tmp
	@test -f $@

# Reinstall when the dependency list changes. torch/torchvision are pinned
# exactly in pyproject.toml so pip takes the local build and nothing else.
# The nmt extra (fairseq-fixed) builds C++ extensions once, about 6 minutes;
# pip's wheel cache makes later set-ups fast.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,nmt]'
	@touch $@

# Debian packages: the embedded data, and Chromium for the browser test of the built book.
data:
	@for f in $(DEBIAN_DATA) /usr/bin/chromium; do test -f $$f || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages (dataset-fashion-mnist, wordnet-base, chromium)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist wordnet-base chromium; \
	fi
	@$(BIN)/lskd data verify fashion_mnist

# Execute every chapter (papermill, $(PROFILE) profile), then render. A failed
# chapter is reported and replaced by a failure page; the others still build,
# and make exits non-zero at the end. Chapters that train run side by side, one
# per CPU core at one thread each (JOBS=1: one at a time). With data you bring:
#   make book PROFILE=cub200 DATA_ROOT=~/data/CUB_200_2011 SCALE=smoke
BOOK_ARGS := $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(SCALE),--scale $(SCALE)) $(if $(JOBS),--jobs $(JOBS))
book: setup
	@start=$$(date +%s); status=0; \
	$(BIN)/lskd book --profile $(PROFILE) $(BOOK_ARGS) -q || status=$$?; \
	$(BIN)/jupyter-book build . --path-output book -q || status=$$?; \
	$(BIN)/lskd check-book book/_build/html || status=$$?; \
	echo "make book: $$(( $$(date +%s) - start )) s; open book/_build/html/index.html"; \
	exit $$status

# The course pack: the executed book rendered twice, the students' edition without solutions
# (book/_build/course/student) and the instructors' with them; each checked in Chromium.
course: setup
	@test -n "$$(ls book/executed/*.ipynb 2>/dev/null)" || $(MAKE) book
	$(BIN)/lskd course
	$(BIN)/lskd check-book book/_build/course/student/_build/html --no-screenshots
	$(BIN)/lskd check-book book/_build/course/instructor/_build/html --no-screenshots

html: setup
	$(BIN)/jupyter-book build . --path-output book

test: setup
	$(BIN)/python -m pytest -q

# Working sessions: everything that does not train, start kernels or processes (under a minute).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf book/_build book/executed runs
