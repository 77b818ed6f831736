# One non-recursive Makefile for the whole tree (STYLE.md "Build").
#
#   make              libraries and programs (bin/)
#   make test         check-core, then every cmocka suite under tests/unit and tests/sim
#   make asan         the same suites built with ASan+UBSan (build/asan)
#   make CC=clang     the same with clang
#   make fuzz         libFuzzer target for the message decoder (clang; FUZZ_SECONDS=60)
#   make bench-crypto micro-benchmarks of the crypto layer
#   make bench        cluster benchmark table (scripts/bench.sh; BENCH_QUICK=1: ~2 min)
#   make bench-memory replica RSS after 1,000,000 puts (scripts/bench.sh --memory)
#   make check-core   bft/ objects reference no I/O, clock, thread or nng symbol
#
# Sources are found by wildcard: a new crypto/x.c joins libcr, a new tests/unit/test_x.c becomes a
# suite, so a module and its tests never need an edit here.

CC      ?= cc
BUILD   ?= build
BIN     ?= bin
SAN     ?=
V       ?= 0
PROTOCOL ?= pbft
F        ?= 1
BYZANTINE ?=
OPS      ?= 300

PKGS    := libsodium msgpack inih libisal
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
           -Wvla -Wpointer-arith -Wcast-qual -Wundef
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(CFLAGS) -I. $(PKG_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lnng -lpthread -lm

ifeq ($(SAN),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS    += -fsanitize=address,undefined
endif

# ---------------------------------------------------------------------------------------------
# Libraries: crypto/ -> libcr, bft/ (pure core) -> libbft, bft/sim -> libsim, net/ -> libnet,
# node/ (all but the programs' main files) -> libnode.

CR_SRC   := $(wildcard crypto/*.c)
BFT_SRC  := $(wildcard bft/*.c)
SIM_SRC  := $(wildcard bft/sim/*.c)
NET_SRC  := $(wildcard net/*.c)
PROGS    := bftkeygen bftnode bftctl
NODE_SRC := $(filter-out $(addprefix node/,$(addsuffix .c,$(PROGS))),$(wildcard node/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBCR   := $(BUILD)/libcr.a
LIBBFT  := $(BUILD)/libbft.a
LIBSIM  := $(BUILD)/libsim.a
LIBNET  := $(BUILD)/libnet.a
LIBNODE := $(BUILD)/libnode.a
# Link order: dependents first (node -> net, bft -> crypto).
LIBS_ALL := $(LIBNODE) $(LIBNET) $(LIBSIM) $(LIBBFT) $(LIBCR)

PROG_BINS := $(foreach p,$(PROGS),$(if $(wildcard node/$(p).c),$(BIN)/$(p)))

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
SIM_TSRC  := $(wildcard tests/sim/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC) $(SIM_TSRC))
TEST_HELPERS := $(filter-out $(UNIT_SRC) $(SIM_TSRC),$(wildcard tests/unit/*.c tests/sim/*.c))

.PHONY: all deps test test-unit test-integration test-byzantine asan check-core fuzz bench-crypto sim clean run \
        bench bench-memory
all: deps $(PROG_BINS) $(LIBS_ALL)

deps:
	@bash scripts/deps.sh

ifeq ($(V),0)
Q := @
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC    $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

define mklib
$(1): $(call obj,$(2))
	@mkdir -p $$(dir $$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(eval $(call mklib,$(LIBCR),$(CR_SRC)))
$(eval $(call mklib,$(LIBBFT),$(BFT_SRC)))
$(eval $(call mklib,$(LIBSIM),$(SIM_SRC)))
$(eval $(call mklib,$(LIBNET),$(NET_SRC)))
$(eval $(call mklib,$(LIBNODE),$(NODE_SRC)))

$(BIN)/%: $(BUILD)/node/%.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS_ALL) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(call obj,$(TEST_HELPERS)) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(call obj,$(TEST_HELPERS)) $(LIBS_ALL) $(LDLIBS) -lcmocka

# ---------------------------------------------------------------------------------------------
# The pure core links against no socket, clock, thread, stdio or nng symbol (DESIGN.md).
FORBIDDEN := socket connect bind listen accept send sendto sendmsg recv recvfrom recvmsg \
  read write open openat close fopen fclose fread fwrite fprintf printf puts fputs perror \
  clock_gettime gettimeofday time sleep usleep nanosleep pthread_create pthread_mutex_lock \
  randombytes_buf randombytes_random randombytes_uniform getrandom rand srand

check-core: $(call obj,$(BFT_SRC))
	@bad=$$(nm -u $^ 2>/dev/null | awk '{print $$2}' | sed 's/@.*//' | sort -u | \
	  grep -xE '$(subst $(space),|,$(strip $(FORBIDDEN)))|nng_.*|nni_.*' || true); \
	if [ -n "$$bad" ]; then echo "check-core: bft/ references forbidden symbols:"; \
	  for s in $$bad; do echo "  $$s: $$(nm -uA $^ | grep -w "$$s" | cut -d: -f1 | sort -u | tr '\n' ' ')"; done; exit 1; fi; \
	echo "check-core: bft/ is pure ($(words $^) objects, no I/O, clock, thread or nng symbol)"
space := $(empty) $(empty)

# Each suite runs even when an earlier one failed; the target fails if any did.
test-unit: $(TEST_BINS) $(PROG_BINS)
	@fail=0; for t in $(TEST_BINS); do echo "== $$t"; $$t || fail=1; done; \
	if [ $$fail -ne 0 ]; then echo "SOME TEST SUITES FAILED"; exit 1; fi; echo "ALL TEST SUITES PASSED"

test: deps all check-core
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-integration

# Real bftnode processes on 127.0.0.1, through scripts/cluster.sh (PROTOCOLS="pbft hbbft").
test-integration: all
	@bash tests/integration/test_cluster.sh
	@bash tests/integration/test_open_clients.sh
	@bash tests/integration/test_sessions.sh

# Every Byzantine mode of both protocols on real processes, n=7 colluding pairs, partitions in
# network namespaces (as root), a short chaos round; prints a table (issue 8; ~15-25 min).
test-byzantine: all
	@BFT_BIN=$(abspath $(BIN)) bash tests/integration/test_byzantine.sh

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin SAN=1 test-unit

# The README's first command: a local 3f+1 cluster and a checked client workload.
#   make run PROTOCOL=hbbft F=2 BYZANTINE=1:equivocate
run: all
	@PROTOCOL=$(PROTOCOL) F=$(F) BYZANTINE="$(BYZANTINE)" OPS=$(OPS) bash scripts/run.sh

sim: deps $(BUILD)/tests/sim/test_sim_pbft $(BUILD)/tests/sim/test_sim_hb
	SIM_LONG=1 $(BUILD)/tests/sim/test_sim_pbft
	SIM_LONG=1 $(BUILD)/tests/sim/test_sim_hb

# ---------------------------------------------------------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -std=c11 -D_DEFAULT_SOURCE -g -O1 -I. $(PKG_CFLAGS) $(WARN) \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz: deps
	@mkdir -p build/fuzz tests/fuzz/corpus
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_wire tests/fuzz/fuzz_wire.c $(BFT_SRC) $(CR_SRC) $(PKG_LIBS)
	@mkdir -p build/fuzz/work
	cp -n tests/fuzz/corpus/* build/fuzz/work/ 2>/dev/null || true
	build/fuzz/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -max_len=70000 \
		-artifact_prefix=build/fuzz/ build/fuzz/work tests/fuzz/corpus

bench-crypto: deps $(BUILD)/bench/bench_crypto
	$(BUILD)/bench/bench_crypto

# Real clusters on 127.0.0.1 (docs/PERFORMANCE.md); bounded to ~10 min, BENCH_QUICK=1 ~2 min.
bench: all
	@BENCH_QUICK=$(BENCH_QUICK) BFT_BIN=$(abspath $(BIN)) bash scripts/bench.sh
bench-memory: all
	@BFT_BIN=$(abspath $(BIN)) bash scripts/bench.sh --memory

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBS_ALL) $(LDLIBS)

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
