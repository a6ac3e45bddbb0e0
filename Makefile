# herald — build, run and test.
#
#   make          release build (build/release/herald), -O2, warnings are errors,
#                 and the web apps (web/dist, Vite; needs node and npm)
#   make run      install what is missing, build, start the server with a demo tenant
#   make test     install what is missing, build with ASan+UBSan, run every test
#                 (browser tests in Debian's Chromium included)
#   make bench    run the benchmarks in bench/ (see docs/performance.md)
#   make format   clang-format every C file
#
# Dependencies come from Debian's -dev packages through pkg-config
# (scripts/setup.sh installs them). http-parser ships no .pc file.

PKGS      := libuv jansson sqlite3 libsodium libcurl openssl
CC        ?= cc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lpthread -lm
WARN      := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
BUILD_ID  := $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
DEFS      := -D_GNU_SOURCE -DHERALD_VERSION=\"$(VERSION)\" -DHERALD_BUILD=\"$(BUILD_ID)\"

SRC_ALL   := $(shell find src -name '*.c' | sort)
SRC_MAIN  := src/cli/main.c
SRC_LIB   := $(filter-out $(SRC_MAIN),$(SRC_ALL))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

# ---- release ---------------------------------------------------------------
REL_DIR   := build/release
REL_FLAGS := -O2 -g $(WARN) $(DEFS) -Isrc $(PKG_CFLAGS)
REL_OBJ   := $(SRC_LIB:%.c=$(REL_DIR)/%.o)

# ---- sanitizers (tests) ----------------------------------------------------
SAN_DIR   := build/asan
SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
             $(WARN) $(DEFS) -Isrc $(PKG_CFLAGS)
SAN_OBJ   := $(SRC_LIB:%.c=$(SAN_DIR)/%.o)

# ---- plain debug build for valgrind (valgrind and ASan do not mix) ----------
DBG_DIR   := build/debug
DBG_FLAGS := -O0 -g $(WARN) $(DEFS) -Isrc $(PKG_CFLAGS)
DBG_OBJ   := $(SRC_LIB:%.c=$(DBG_DIR)/%.o)

.PHONY: all web run test deps deps-test unit blackbox browser openapi valgrind bench bench-smoke bench-idle \
        bench-fanout bench-ingest bench-storm bench-growth bench-push format format-check clean screenshots

all: $(REL_DIR)/herald web

# ---- web apps (web/dist) -----------------------------------------------------
# Rebuilt when a source, the lock file or the build scripts changed; the stamp
# is a hidden file, which herald serve does not publish.
WEB_SRC := $(shell find web -path web/node_modules -prune -o -path web/dist -prune -o -type f -print 2>/dev/null) \
           docs/openapi.yaml scripts/build-web.sh scripts/compress-web.mjs
WEB_STAMP := web/dist/.built

web: $(WEB_STAMP)
$(WEB_STAMP): $(WEB_SRC)
	@scripts/build-web.sh

$(REL_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_FLAGS) -MMD -MP -c $< -o $@
$(REL_DIR)/libherald.a: $(REL_OBJ)
	ar rcs $@ $^
$(REL_DIR)/herald: $(SRC_MAIN) $(REL_DIR)/libherald.a
	$(CC) $(REL_FLAGS) $^ -o $@ $(PKG_LIBS)

$(SAN_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) -MMD -MP -c $< -o $@
$(SAN_DIR)/libherald.a: $(SAN_OBJ)
	ar rcs $@ $^
$(SAN_DIR)/herald: $(SRC_MAIN) $(SAN_DIR)/libherald.a
	$(CC) $(SAN_FLAGS) $^ -o $@ $(PKG_LIBS)
$(SAN_DIR)/tests/%: tests/unit/%.c $(SAN_DIR)/libherald.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(PKG_LIBS) -lcmocka

$(DBG_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(DBG_FLAGS) -MMD -MP -c $< -o $@
$(DBG_DIR)/libherald.a: $(DBG_OBJ)
	ar rcs $@ $^
$(DBG_DIR)/tests/%: tests/unit/%.c $(DBG_DIR)/libherald.a
	@mkdir -p $(dir $@)
	$(CC) $(DBG_FLAGS) $^ -o $@ $(PKG_LIBS) -lcmocka

$(REL_DIR)/bench/%: bench/%.c $(REL_DIR)/libherald.a
	@mkdir -p $(dir $@)
	$(CC) $(REL_FLAGS) $^ -o $@ $(PKG_LIBS)

UNIT_SAN := $(UNIT_SRC:tests/unit/%.c=$(SAN_DIR)/tests/%)
UNIT_DBG := $(UNIT_SRC:tests/unit/%.c=$(DBG_DIR)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(REL_DIR)/bench/%)

deps:
	@scripts/setup.sh run
deps-test:
	@scripts/setup.sh test

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-demo.sh $(REL_DIR)/herald

# Unit tests under ASan+UBSan, the same under valgrind, then the black-box suite
# against the sanitizer build of the real binary.
test: deps-test
	@$(MAKE) --no-print-directory all $(SAN_DIR)/herald $(UNIT_SAN) $(UNIT_DBG) $(BENCH_BIN)
	@$(MAKE) --no-print-directory format-check unit valgrind blackbox openapi bench-smoke browser
	@echo "make test: 7 passed, 0 failed (format, unit, valgrind, blackbox, openapi, bench-smoke, browser)"

unit: $(UNIT_SAN)
	@scripts/run-unit.sh $(UNIT_SAN)

valgrind: $(UNIT_DBG)
	@scripts/run-unit.sh --valgrind $(UNIT_DBG)

# One test file at a time (each starts its own servers); Node before 20.10 has
# no --test-concurrency and runs them in parallel, which also works, slower.
blackbox: $(SAN_DIR)/herald $(BENCH_BIN)
	@cd tests/blackbox && conc=$$(node --test-concurrency=1 -e 0 >/dev/null 2>&1 && echo --test-concurrency=1); \
		HERALD_BIN=../../$(SAN_DIR)/herald HERALD_BENCH_DIR=../../$(REL_DIR)/bench \
		node --test $$conc --test-reporter=spec *.test.mjs

# The web apps in Debian's Chromium against the sanitizer build (tests/browser,
# playwright-core from its lock file). Screenshots land in build/screenshots/;
# `make screenshots` refreshes the checked-in ones in docs/screenshots/.
browser: $(SAN_DIR)/herald web
	@if [ ! -d tests/browser/node_modules ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then \
		echo "browser: npm ci in tests/browser"; \
		(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) && touch tests/browser/node_modules; \
	fi
	@cd tests/browser && conc=$$(node --test-concurrency=1 -e 0 >/dev/null 2>&1 && echo --test-concurrency=1); \
		HERALD_BIN=../../$(SAN_DIR)/herald node --test $$conc --test-reporter=spec *.test.mjs

screenshots:
	@HERALD_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(MAKE) --no-print-directory browser

# docs/openapi.yaml: valid OpenAPI 3.1, every route of src/api/ documented, every
# example matching its schema. Installs its npm packages from the lock file when
# node_modules is missing or older than the lock (as scripts/setup.sh does for
# tests/blackbox).
openapi:
	@if [ ! -d tests/openapi/node_modules ] || [ tests/openapi/package-lock.json -nt tests/openapi/node_modules ]; then \
		echo "openapi: npm ci in tests/openapi"; \
		(cd tests/openapi && npm ci --no-audit --no-fund --loglevel=error) && touch tests/openapi/node_modules; \
	fi
	@cd tests/openapi && node validate.mjs

# Benchmarks (docs/performance.md): each prints a table and writes its plots to
# docs/perf/. Mosquitto, gnuplot and wrk come from scripts/setup.sh bench; make
# test needs none of them.
bench: all $(BENCH_BIN)
	@bench/ws.sh all
	@node bench/push.mjs --pushes 20000 --concurrency 64,256,1024 --pending 100000

bench-idle: all $(BENCH_BIN)
	@bench/ws.sh idle
bench-fanout: all $(BENCH_BIN)
	@bench/ws.sh fanout1k
	@bench/ws.sh fanout19
bench-ingest: all $(BENCH_BIN)
	@bench/ws.sh ingest
bench-storm: all $(BENCH_BIN)
	@bench/ws.sh storm
bench-growth: all $(BENCH_BIN)
	@bench/ws.sh growth
# The push queue against a local stand-in push service with 50 ms latency, and
# the memory of 100,000 pending pushes (docs/performance.md, "Push queue").
bench-push: all
	@node bench/push.mjs --pushes 20000 --concurrency 64,256,1024 --pending 100000

# A few seconds of the realtime load generator: keeps it working, and fails on
# any lost, duplicated or reordered message (no timing is asserted).
bench-smoke: all $(BENCH_BIN)
	@bench/ws.sh smoke

format:
	clang-format -i $(SRC_ALL) $(wildcard src/*/*.h src/*/*/*.h) $(UNIT_SRC) $(BENCH_SRC)
format-check:
	@clang-format --dry-run --Werror $(SRC_ALL) $(wildcard src/*/*.h src/*/*/*.h) $(UNIT_SRC) $(BENCH_SRC)
	@echo "format: ok"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
