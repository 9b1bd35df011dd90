# The two commands the README promises, plus `setup` which both run first.
#   make demo   install what is missing, then build, boot and train on the emulated device
#   make test   install what is missing, then run the whole test suite
# Set-up is idempotent: with nothing missing it costs a few seconds.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := $(shell grep -v '^\#' host_tools/debian_packages.txt)
PIO_CORE := .pio-core
PYTEST_ARGS ?=

export PLATFORMIO_CORE_DIR := $(CURDIR)/$(PIO_CORE)
export PLATFORMIO_SETTING_ENABLE_TELEMETRY := No
export PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL := 36500

.PHONY: setup debian-packages demo test clean

setup: debian-packages $(VENV)/.installed $(PIO_CORE)/packages/tool-scons/package.json

# Installs only the Debian packages that are missing (apt-get update only when something is).
debian-packages:
	@missing=""; \
	for pkg in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The virtual environment, re-installed when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@if ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then \
	  echo "error: mcutrain needs Python 3.11 ($(PYTHON) is $$($(PYTHON) --version 2>&1)); set PYTHON=python3.11"; exit 1; fi
	@[ -x $(VENV_PY) ] || $(PYTHON) -m venv $(VENV) || \
	  { DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(VENV_PY) -m pip install -q --upgrade pip
	$(VENV_PY) -m pip install -q -e '.[dev]'
	@touch $@

# PlatformIO's build engine (tool-scons), seeded from PyPI's SCons: no PlatformIO registry needed.
$(PIO_CORE)/packages/tool-scons/package.json: $(VENV)/.installed
	$(VENV_PY) -m host_tools.pio_bootstrap $(PIO_CORE)
	@touch $@

demo: setup
	$(VENV)/bin/mcutrain demo

test: setup
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf .pio build
