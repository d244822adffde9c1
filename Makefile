# The two commands a newcomer runs are `make demo` and `make test`; everything they need
# is installed from here, so a clean clone on a fresh machine works.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Debian packages the tests and benchmarks drive: a real browser for the console, an
# RTSP camera (GStreamer's RTSP server with x264, run by Debian's Python: tests/rtsp_camera.py),
# a Chinese font for the lanes' help stickers (`seat lanes sticker`) and the simulated
# lanes' plates, the PostgreSQL and Redis servers the tests of several centres start
# for themselves (tests/services.py), and nginx, which runs docs/deploy/nginx.conf in front
# of two centres (tests/test_nginx.py).
SYSTEM_PACKAGES := chromium python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly fonts-wqy-zenhei postgresql redis-server \
	nginx

.PHONY: demo test lint bench system-deps clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "remote-seat needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps $$($(BIN)/python -c \
		'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["remote-seat"]["no-deps"])')
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/seat demo

system-deps:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
		else \
			echo "missing:$$missing -- install with: sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Three workers, a test file each at a time: the suite's time is spread over three
# thousand tests that mostly wait on sockets, browsers, subprocesses and lease clocks
# (on two workers the two cores were busy about half the time), so a third worker
# shortens it on two cores (538 s against 750 s); a file stays whole in one worker,
# with its fixtures.
test: $(STAMP) system-deps lint
	$(BIN)/pytest -n 3 --dist loadfile

bench: $(STAMP) system-deps
	$(BIN)/python bench/gate_latency.py --lanes 200 --commands 2000 --concurrency 1
	$(BIN)/python bench/gate_latency.py --lanes 200 --commands 4000 --concurrency 20
	$(BIN)/python bench/gate_latency.py --lanes 2000 --commands 0
	$(BIN)/python bench/flood.py
	$(BIN)/python bench/media.py
	$(BIN)/python -m bench.login_storm
	$(BIN)/python -m bench.guess_storm
	$(BIN)/python bench/calls.py
	$(BIN)/python bench/wall.py
	$(BIN)/python bench/plates.py
	$(BIN)/python bench/vehicles.py
	$(BIN)/python bench/ledger_stores.py
	$(BIN)/python bench/lease_renewal.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/lane_hardware.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
