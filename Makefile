# SPDX-License-Identifier: Apache-2.0
# Herald build. GNU make; objects out of tree under build/ (build/san with SAN=1).
#
#   make            heraldd, herald, herald-bench, test clients
#   make run        build, then start heraldd on ./data with every head on its default port
#   make test       unit + integration + browser + crash (+ fuzz smoke) tests
#   make browser    SSE and WebSockets in headless Chromium (Debian's, driven by playwright-core)
#   make crash      kill -9 heraldd while publishing; every acknowledged message survives
#   make bench      Herald against nats-server, same client, same run -> docs/benchmarks.md
#   make fuzz       build the libFuzzer harnesses (clang)
#   make install PREFIX=/usr/local
#   SAN=1           ASan+UBSan build (own object tree)      WERROR=1  warnings are errors

CC      ?= cc
PREFIX  ?= /usr/local
SAN     ?= 0
WERROR  ?= 0
PKGS    := libuv jansson libisal libcrypto
CLI_PKGS := libnats

ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else
BUILD   := build
SANFLAGS :=
OPT     ?= -O2 -g
endif

WARN    := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN    += -Werror
endif
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Isrc
CFLAGS  += $(OPT) $(WARN) $(SANFLAGS) -MMD -MP $(shell pkg-config --cflags $(PKGS))
LDFLAGS += $(SANFLAGS)
LIBS    := $(shell pkg-config --libs $(PKGS)) -lwslay -lpthread -lm
CLI_LIBS := $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null) -lpthread -lm

# --- sources -------------------------------------------------------------------------
COMMON_SRC := $(wildcard src/common/*.c)
ENGINE_SRC := $(wildcard src/engine/*.c) $(wildcard src/store/*.c)
HEADS_SRC  := $(wildcard src/heads/*/*.c)
SERVER_SRC := $(wildcard src/server/*.c)
CLI_SRC    := $(wildcard src/cli/*.c)
BENCH_SRC  := $(wildcard bench/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
CLIENT_SRC := $(wildcard tests/integration/clients/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBHERALD  := $(BUILD)/lib/libherald.a
LIBHEADS   := $(BUILD)/lib/libherald-heads.a
HERALDD    := $(BUILD)/bin/heraldd
HERALD     := $(BUILD)/bin/herald
BENCH      := $(BUILD)/bin/herald-bench
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
CLIENT_BINS := $(patsubst tests/integration/clients/%.c,$(BUILD)/tests/clients/%,$(CLIENT_SRC))
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))

.PHONY: all run test test-nofuzz unit integration browser crash fuzz fuzz-smoke bench clean install deps compdb check-san
all: $(HERALDD) $(HERALD) $(BENCH) $(CLIENT_BINS) $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBHERALD): $(call obj,$(COMMON_SRC) $(ENGINE_SRC))
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(LIBHEADS): $(call obj,$(HEADS_SRC))
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(HERALDD): $(call obj,$(SERVER_SRC)) $(LIBHEADS) $(LIBHERALD)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

$(HERALD): $(call obj,$(CLI_SRC)) $(LIBHERALD)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(CLI_LIBS) $(LIBS) -o $@

$(BENCH): $(call obj,$(BENCH_SRC))
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(CLI_LIBS) -o $@

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(LIBHEADS) $(LIBHERALD)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LIBS) -lcmocka -o $@

$(BUILD)/tests/clients/%: $(BUILD)/obj/tests/integration/clients/%.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(CLI_LIBS) -o $@

# --- libFuzzer harnesses (clang; each links the pure codec it targets) ---------------
# Library sources are compiled with the fuzz flags into one archive, so a harness pulls in
# only the objects it references (the heads' handlers need the server; codecs do not).
FUZZ_CC    ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) $(shell pkg-config --cflags $(PKGS))
FUZZ_LIB   := build/fuzz/libherald-fuzz.a
build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -c $< -o $@
$(FUZZ_LIB): $(patsubst %.c,build/fuzz/obj/%.o,$(COMMON_SRC) $(ENGINE_SRC) $(HEADS_SRC))
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^
build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(FUZZ_LIB) $(LIBS) -o $@
fuzz: $(FUZZ_BINS)
# New inputs go to build/fuzz/corpus-<name> (the first corpus dir); the checked-in seed
# corpus is only read.
fuzz-smoke: fuzz
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	  echo "fuzz smoke: $$n"; mkdir -p build/fuzz/corpus-$$n; \
	  $$f -runs=20000 -max_len=8192 build/fuzz/corpus-$$n tests/fuzz/corpus/$${n#fuzz_} \
	    >/dev/null 2>build/fuzz/$$n.log \
	    || { tail -40 build/fuzz/$$n.log; exit 1; }; done

# --- running, testing ----------------------------------------------------------------
deps:
	@scripts/deps

# deps first, then a fresh make: pkg-config flags are read when make starts.
run: deps
	@$(MAKE) --no-print-directory all
	$(HERALDD) --store_dir ./data

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: all
	HERALD_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q tests/integration

# Chromium and playwright-core come from scripts/deps (make deps); the tests skip, saying
# why, only when they cannot be installed.
browser: all
	HERALD_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q tests/browser

crash: all
	HERALD_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q tests/crash

test: test-nofuzz
	@$(MAKE) --no-print-directory fuzz-smoke

test-nofuzz: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory crash

bench: deps
	@$(MAKE) --no-print-directory all
	bench/run

compdb:
	bear -- $(MAKE) -B all

install: $(HERALDD) $(HERALD)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/herald
	install -m 755 $(HERALDD) $(HERALD) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/herald/*.h $(DESTDIR)$(PREFIX)/include/herald/

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
