# Benchmarks (bench/README.md).  Included by the top Makefile.
#   make bench         full run, <= 10 min: reports/data/<run-id>.json
#   make bench-quick   every workload once, small (< 60 s): $(B)/bench/data/<run-id>.json
#   make bench IMPL=path/to/lib.so|.a    the same workloads against another library
#   make bench-ringcheck   osfloor's ring against an independent SPSC ring program
#   make bench-peers   the full run, headline figures also under PyPy, billiard,
#                      multiprocess and Debian's CPython (conformance/impls/)
#   make bench IMPL_B=NAME=path/to/lib.so|.a   a second C library as side NAME
#                      (headline and target figures, same interleaved groups)
#   make bench-targets only the groups of reports/targets.json's figures, with
#                      TARGET_SAMPLES rounds (21: enough for each target's 95%
#                      interval, never fewer: no time budget; more where a row
#                      asks, its "rounds"; IMPL_B= for its CPU rows), ~14 min
# BENCH_SAMPLES / BENCH_SECONDS tune the full run; BENCH_ARGS passes more
# options to bench/run.py (e.g. BENCH_ARGS='--only queue.').

BENCH_SAMPLES ?= 5
BENCH_SECONDS ?= 0.15
TARGET_SAMPLES ?= 21
BENCH_DATA ?= reports/data
BENCH_QUICK_DATA ?= $(B)/bench/data
BENCH_ARGS ?=

BENCH_CFLAGS := $(STD) $(WARN) $(OPT) -pthread -Iref/include -I$(B)/bench/gen
BENCH_COMMON := bench/common/bench.c bench/common/bench.h $(B)/bench/gen/calibration.h
BENCH_MPB := $(B)/bench/mpbench-$(IMPL_NAME)
BENCH_OSF := $(B)/bench/osfloor
BENCH_TUT := $(basename $(notdir $(wildcard ref/examples/tutorial_*.c)))

# A shared IMPL is found at run time through a directory holding it under
# its soname (libmpref.so links as libmpref.so.0, which need not exist).
BENCH_LIBDIR := $(abspath $(B)/bench/lib-$(IMPL_NAME))
ifeq ($(IMPL),)
BENCH_LINK := $(B)/libmpref.a
BENCH_EXDIR := $(B)/examples
else
BENCH_LINK := $(abspath $(IMPL)) -Wl,-rpath,$(BENCH_LIBDIR) -Wl,-rpath,$(abspath $(dir $(IMPL)))
BENCH_EXDIR := $(B)/bench/ex-$(IMPL_NAME)
endif

# The calibration's constants for C, from the one file mpbench.py reads too.
$(B)/bench/gen/calibration.h: bench/calibration.json
	@mkdir -p $(@D)
	$(PYTHON) -c 'import json, sys; d = json.load(open(sys.argv[1])); \
	  print("/* Generated from bench/calibration.json by bench/bench.mk: edit that file. */"); \
	  [print("#define MPB_CAL_%s %r" % (k.upper(), v)) for k, v in d.items() if k != "doc"]' \
	  $< > $@.tmp && mv $@.tmp $@

$(B)/bench/mpbench-$(IMPL_NAME): bench/c/mpbench.c $(BENCH_COMMON) ref/include/mp.h \
		$(if $(IMPL),$(IMPL),$(B)/libmpref.a) | $(DEPS_STAMP)
	@mkdir -p $(@D)
ifneq ($(IMPL),)
	@mkdir -p $(BENCH_LIBDIR); so=$$(readelf -d $(IMPL) 2>/dev/null | \
	  sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'); \
	[ -z "$$so" ] || ln -sf $(abspath $(IMPL)) $(BENCH_LIBDIR)/$$so
endif
	$(CC) $(BENCH_CFLAGS) bench/c/mpbench.c bench/common/bench.c -o $@ $(BENCH_LINK) $(LIBS)

$(BENCH_OSF): bench/os/osfloor.c $(BENCH_COMMON)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) bench/os/osfloor.c bench/common/bench.c -o $@ -pthread

$(B)/bench/ringcheck: bench/os/ringcheck.c
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(OPT) bench/os/ringcheck.c -o $@

# osfloor's ring (os.ring) beside bench/os/ringcheck.c, a ring program that
# shares no code with it, alternately, best of three each, per size: the
# floor should reach at least half of the yardstick on the same machine.
RINGCHECK_SIZES ?= 64 1024 1048576
.PHONY: bench-ringcheck
bench-ringcheck: $(BENCH_OSF) $(B)/bench/ringcheck
	@for sz in $(RINGCHECK_SIZES); do best_f=0; best_c=0; \
	  for i in 1 2 3; do \
	    f=$$($(BENCH_OSF) stream mech=ring size=$$sz -t 0.5 | sed -n 's/.*"samples":\[\([0-9.e+]*\).*/\1/p'); \
	    c=$$($(B)/bench/ringcheck $$sz 0.5 | sed -n 's/.*: \([0-9.e+]*\) msg\/s/\1/p'); \
	    best_f=$$(echo "$$f $$best_f" | awk '{print ($$1 > $$2) ? $$1 : $$2}'); \
	    best_c=$$(echo "$$c $$best_c" | awk '{print ($$1 > $$2) ? $$1 : $$2}'); \
	  done; \
	  echo "$$sz $$best_f $$best_c" | awk '{printf "ringcheck size=%s: os.ring %.4g msg/s, independent ring %.4g msg/s, ratio %.2f\n", $$1, $$2, $$3, ($$3 > 0) ? $$2 / $$3 : 0}'; \
	done

# The tutorial's C examples are timed whole by hyperfine.  One that does not
# build (yet) is skipped by the driver ("unsupported"), so it must not stop
# the benchmark: build them best-effort.
.PHONY: bench-examples bench-peers
bench-examples:
ifeq ($(IMPL),)
	@$(MAKE) -k --no-print-directory $(addprefix $(B)/examples/,$(BENCH_TUT)) >/dev/null 2>&1 || \
	  echo "bench: some tutorial examples do not build; hyperfine skips them"
else
	@mkdir -p $(BENCH_EXDIR)
	@for t in $(BENCH_TUT); do \
	  $(CC) $(STD) $(OPT) -Iref/include ref/examples/$$t.c -o $(BENCH_EXDIR)/$$t $(BENCH_LINK) $(LIBS) \
	    2>/dev/null || echo "bench: $$t does not build against $(IMPL); hyperfine skips it"; done
endif

# IMPL_B=NAME=path/to/lib.so|.a: a second C library (another implementation,
# or an older ref: bench/README.md), measured as side NAME beside IMPL on the
# headline and target figures.  Its mpbench takes the calls that came later
# (Listener/Client, wait) as weak references, so an older library links (its
# figures for them: "unsupported"); a static archive is linked whole.
IMPL_B ?=
IMPL_B_NAME := $(firstword $(subst =, ,$(IMPL_B)))
IMPL_B_LIB := $(patsubst $(IMPL_B_NAME)=%,%,$(IMPL_B))
BENCH_MPB_B := $(if $(IMPL_B),$(B)/bench/mpbench-b-$(IMPL_B_NAME))
BENCH_LIBDIR_B := $(abspath $(B)/bench/lib-b-$(IMPL_B_NAME))
BENCH_COMMA := ,
BENCH_LINK_B := $(if $(filter %.a,$(IMPL_B_LIB)),\
  -Wl$(BENCH_COMMA)--whole-archive $(abspath $(IMPL_B_LIB)) -Wl$(BENCH_COMMA)--no-whole-archive,\
  $(abspath $(IMPL_B_LIB)) -Wl$(BENCH_COMMA)-rpath$(BENCH_COMMA)$(BENCH_LIBDIR_B))

ifneq ($(IMPL_B),)
$(BENCH_MPB_B): bench/c/mpbench.c $(BENCH_COMMON) ref/include/mp.h $(IMPL_B_LIB) | $(DEPS_STAMP)
	@mkdir -p $(@D) $(BENCH_LIBDIR_B)
	@so=$$(readelf -d $(IMPL_B_LIB) 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'); \
	[ -z "$$so" ] || ln -sf $(abspath $(IMPL_B_LIB)) $(BENCH_LIBDIR_B)/$$so
	$(CC) $(BENCH_CFLAGS) -DMPB_WEAK_LATE_APIS bench/c/mpbench.c bench/common/bench.c -o $@ \
	  $(BENCH_LINK_B) $(LIBS)
endif

BENCH_RUN = $(PYTHON) bench/run.py --impl $(IMPL_NAME) --mpbench $(BENCH_MPB) \
	--osfloor $(BENCH_OSF) --ringcheck $(B)/bench/ringcheck --examples $(BENCH_EXDIR) \
	--cc '$(CC)' --cflags '$(BENCH_CFLAGS)' \
	$(if $(IMPL_B),--impl-b $(IMPL_B_NAME)=$(BENCH_MPB_B))

bench: $(BENCH_MPB) $(BENCH_OSF) $(B)/bench/ringcheck $(BENCH_MPB_B) bench-examples
	$(BENCH_RUN) --kind full --samples $(BENCH_SAMPLES) --seconds $(BENCH_SECONDS) \
	  --out $(BENCH_DATA) $(BENCH_ARGS)

# The headline figures also under every Python peer of conformance/impls/
# (PyPy, billiard, multiprocess, Debian's CPython), in the same interleaved
# groups: real peers beside CPython, ref and the OS floors.
bench-peers: $(BENCH_MPB) $(BENCH_OSF) $(B)/bench/ringcheck $(BENCH_MPB_B) bench-examples deps-matrix
	$(BENCH_RUN) --kind full --samples $(BENCH_SAMPLES) --seconds $(BENCH_SECONDS) \
	  --out $(BENCH_DATA) --peers all $(BENCH_ARGS)

bench-targets: $(BENCH_MPB) $(BENCH_OSF) $(B)/bench/ringcheck $(BENCH_MPB_B)
	$(BENCH_RUN) --kind full --targets --samples $(TARGET_SAMPLES) --seconds $(BENCH_SECONDS) --budget 0 \
	  --out $(BENCH_DATA) $(BENCH_ARGS)

bench-quick: $(BENCH_MPB) $(BENCH_OSF) $(B)/bench/ringcheck $(BENCH_MPB_B) bench-examples
	$(BENCH_RUN) --kind quick --out $(BENCH_QUICK_DATA) $(BENCH_ARGS)
