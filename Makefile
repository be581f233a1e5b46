# mp: multiprocessing in C -- reference implementation, conformance suite,
# benchmarks and reports.  `make help` lists the targets.

CC      ?= cc
PREFIX  ?= /usr/local
B       := build
PYTHON  ?= python3

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
STD     := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
CFLAGS_LIB := $(STD) $(WARN) $(OPT) -fPIC -fvisibility=hidden -pthread \
              -Iref/include -Iref/src
MSGPACK_LIBS := -lmsgpackc
# libcrypto: the manager's HMAC-SHA256 and constant-time digest comparison
# (auth.c), HMAC-MD5 of multiprocessing.connection's handshake (listener.c).
CRYPTO_LIBS := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)
# libsodium: SipHash-2-4, the keyed hash of the dicts' keys (value_dict.c).
SODIUM_LIBS := $(shell pkg-config --libs libsodium 2>/dev/null || echo -lsodium)
LIBS    := $(MSGPACK_LIBS) $(CRYPTO_LIBS) $(SODIUM_LIBS) -pthread -lm

SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC := $(wildcard ref/src/*.c)
LIB_HDR := ref/include/mp.h $(wildcard ref/src/*.h)
LIB_OBJ := $(LIB_SRC:ref/src/%.c=$(B)/obj/%.o)
ASAN_OBJ := $(LIB_SRC:ref/src/%.c=$(B)/asan/obj/%.o)

EX_SRC  := $(wildcard ref/examples/*.c)
EX_BIN  := $(EX_SRC:ref/examples/%.c=$(B)/examples/%)

T_SRC   := $(wildcard conformance/tests/*.c) conformance/mpt.c
T_HDR   := conformance/mpt.h $(wildcard conformance/tests/*.h) ref/include/mp.h
CFLAGS_T := $(STD) -Wall -Wextra -Werror $(OPT) -pthread -Iref/include -Iconformance
CRIT_ARGS ?= --jobs=1
# Components run at once.  Most rows wait (time-outs, sleeping peers), so
# the plain suite keeps 2 CPUs busy with 4 runners (42 -> 28 s); the ASan
# suite is CPU-bound (exec + sanitizer start per row), 3 is its best (95 ->
# 80 s).  Both give the same verdicts with two CPU hogs beside them.
RUNNERS ?= 4
RUNNERS_ASAN ?= 3
DEPS_STAMP := $(B)/.deps-ok

# IMPL: the library the conformance suite (and benchmarks) run against.
IMPL    ?=
IMPL_NAME = $(if $(IMPL),$(basename $(notdir $(IMPL))),ref)

.PHONY: all lib examples check conformance conformance-asan conformance-cpython catalogue-check \
        runner-selftest examples-check deps install clean help bench bench-quick bench-targets report \
        format format-check

all: lib examples $(B)/conformance/suite-ref

help:
	@echo "make            build libmpref.a/.so, mpref.pc, examples and the suite"
	@echo "make check      THE test command: build, conformance (plain + ASan/UBSan), examples"
	@echo "make conformance [IMPL=path/to/lib.so|.a]   run the suite against a library"
	@echo "make runner-selftest   the conformance runner fails closed (part of check)"
	@echo "make install PREFIX=/usr/local"
	@echo "make deps       install missing Debian packages (root) or print the command"
	@echo "make report     the main job: conformance + benchmarks -> reports/out/index.html"
	@echo "make conformance-cpython   the Python twins against CPython"
	@echo "make bench [IMPL=...] | bench-quick | bench-targets   benchmarks (reports/data/<run>.json)"
	@echo "make compare A=run1.json B=run2.json | baseline | regress | matrix"
	@echo "make check-deep TSan drivers, valgrind on examples, leak checker, fuzz-quick"
	@echo "make fuzz [FUZZ_SECONDS=60] | mutants | mutants-quick"

# ---------------------------------------------------------------- deps
# clang, libclang-rt-14-dev (libFuzzer, TSan) and valgrind serve check-deep.
DEB_PKGS := libcriterion-dev libmsgpack-dev libssl-dev libsodium-dev hyperfine gnuplot-nox pkg-config \
            clang clang-format libclang-rt-14-dev valgrind
deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	command -v $(PYTHON) >/dev/null || missing="$$missing python3"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; } || exit 1; \
	  else echo "deps: missing:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi
	@mkdir -p $(B) && touch $@

# ---------------------------------------------------------------- library
lib: $(B)/libmpref.a $(B)/libmpref.so $(B)/mpref.pc

$(B)/obj/%.o: ref/src/%.c $(LIB_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

$(B)/libmpref.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libmpref.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libmpref.so.0 -o $@ $^ $(LIBS)
	ln -sf libmpref.so $(B)/libmpref.so.0

$(B)/mpref.pc: Makefile
	@mkdir -p $(@D)
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: mpref\nDescription: multiprocessing-style process concurrency in C (reference)\nVersion: 0.1.0\nLibs: -L$${libdir} -lmpref\nLibs.private: $(LIBS)\nCflags: -I$${includedir}\n' '$(PREFIX)' > $@

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 ref/include/mp.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(B)/libmpref.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libmpref.so $(DESTDIR)$(PREFIX)/lib/libmpref.so.0
	ln -sf libmpref.so.0 $(DESTDIR)$(PREFIX)/lib/libmpref.so
	sed 's|^prefix=.*|prefix=$(PREFIX)|' $(B)/mpref.pc > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mpref.pc

# ---------------------------------------------------------------- examples
examples: $(EX_BIN)
$(B)/examples/%: ref/examples/%.c $(B)/libmpref.a ref/include/mp.h
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(OPT) -Iref/include $< -o $@ $(B)/libmpref.a $(LIBS)

examples-check: examples
	@bash ref/examples/check.sh $(B)/examples

# ---------------------------------------------------------------- conformance
# The suite sees mp.h only.  Against ref it links the static library; against
# IMPL=x.so it links that shared object (rpath set), or IMPL=x.a statically.
# The test files compile one object each (make -j spreads them over the CPUs),
# plain and under ASan+UBSan.
T_OBJ      := $(patsubst %.c,$(B)/t/%.o,$(notdir $(T_SRC)))
T_OBJ_ASAN := $(patsubst %.c,$(B)/asan/t/%.o,$(notdir $(T_SRC)))
$(B)/t/%.o: conformance/tests/%.c $(T_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) -c $< -o $@
$(B)/t/mpt.o: conformance/mpt.c $(T_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) -c $< -o $@
$(B)/asan/t/%.o: conformance/tests/%.c $(T_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) $(SAN) -c $< -o $@
$(B)/asan/t/mpt.o: conformance/mpt.c $(T_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) $(SAN) -c $< -o $@

$(B)/conformance/suite-ref: $(T_OBJ) $(B)/libmpref.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) $(T_OBJ) -o $@ $(B)/libmpref.a -lcriterion $(LIBS)

$(B)/conformance/suite-asan: $(T_OBJ_ASAN) $(B)/asan/libmpref.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) $(SAN) $(T_OBJ_ASAN) -o $@ $(B)/asan/libmpref.a -lcriterion $(LIBS)

$(B)/asan/obj/%.o: ref/src/%.c $(LIB_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_LIB) $(SAN) -c $< -o $@
$(B)/asan/libmpref.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

ifneq ($(IMPL),)
$(B)/conformance/suite-$(IMPL_NAME): $(T_OBJ) $(IMPL) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) $(T_OBJ) -o $@ $(abspath $(IMPL)) -Wl,-rpath,$(abspath $(dir $(IMPL))) -lcriterion $(LIBS)
endif

# One result per catalogue row: reports/out/conformance-<name>.json and .md
# (conformance/FORMAT.md).  Exit 1 if any row fails, crashes or times out,
# 2 if the harness could not run a row (`error`).  RUNNERS components run at
# once, one Criterion runner each, with CRIT_ARGS.
# IMPL naming a Python entry of conformance/impls/ runs the twins (matrix.mk).
ifneq ($(shell grep -ls '"kind": *"python"' conformance/impls/$(IMPL).json 2>/dev/null),)
conformance: conformance-twins
else
conformance: $(B)/conformance/suite-$(IMPL_NAME) catalogue-check
	$(PYTHON) conformance/run.py --suite $(B)/conformance/suite-$(IMPL_NAME) \
	  --name $(IMPL_NAME) --path $(if $(IMPL),$(IMPL),$(B)/libmpref.a) \
	  --runners $(RUNNERS) $(if $(IMPL),,--strict) -- $(CRIT_ARGS)
endif

conformance-asan: $(B)/conformance/suite-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 $(PYTHON) conformance/run.py \
	  --suite $(B)/conformance/suite-asan --name ref-asan --path $(B)/asan/libmpref.a --strict \
	  --out $(B)/conformance --runners $(RUNNERS_ASAN) -- $(CRIT_ARGS)

# The runner's own tests: it fails closed (conformance/selftest/selftest.py).
# Fixture tests misbehave on purpose; a copy of the library aborts on load.
ST      := $(B)/selftest
ST_OBJ  := $(ST)/fixtures.o $(ST)/test_status.o $(ST)/mpt.o
$(ST)/%.o: conformance/selftest/%.c $(T_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) -fPIC -Wno-override-init -c $< -o $@
$(ST)/%.o: conformance/tests/%.c $(T_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) -c $< -o $@
$(ST)/mpt.o: conformance/mpt.c $(T_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_T) -c $< -o $@
$(ST)/suite-ok: $(ST_OBJ) $(B)/libmpref.a
	$(CC) $(CFLAGS_T) $(ST_OBJ) -o $@ $(B)/libmpref.a -lcriterion $(LIBS)
$(ST)/abort/libmpabort.so: $(LIB_OBJ) $(ST)/abort_ctor.o
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libmpabort.so -o $@ $^ $(LIBS)
$(ST)/suite-abort: $(ST_OBJ) $(ST)/abort/libmpabort.so
	$(CC) $(CFLAGS_T) $(ST_OBJ) -o $@ $(abspath $(ST)/abort/libmpabort.so) \
	  -Wl,-rpath,$(abspath $(ST)/abort) -lcriterion $(LIBS)

runner-selftest: $(ST)/suite-ok $(ST)/suite-abort
	$(PYTHON) conformance/selftest/selftest.py --ok $(ST)/suite-ok --abort $(ST)/suite-abort \
	  --work $(ST)/out

# The same rows checked against CPython itself by the Python twins.
conformance-cpython: | $(DEPS_STAMP)
	$(PYTHON) conformance/python/run_twins.py --out reports/out

catalogue-check: $(B)/conformance/suite-ref
	@$(PYTHON) conformance/catalogue.py check --suite $(B)/conformance/suite-ref
	@$(PYTHON) conformance/badinput_coverage.py
	@$(PYTHON) conformance/coverage.py
	@$(PYTHON) conformance/mutants/mutate.py --check --work $(B)/mutants
	@mkdir -p $(B)/expect && $(PYTHON) conformance/python/run_twins.py --gen-expect \
	  --expect-dir $(B)/expect >/dev/null && cmp -s $(B)/expect/cpython.tsv conformance/expect/cpython.tsv || \
	  { echo "conformance/expect/cpython.tsv is out of date: run conformance/python/run_twins.py --gen-expect"; exit 1; }

# ---------------------------------------------------------------- format
# The C sources follow .clang-format; format-check (part of check) fails on
# any line that does not.  `make format` rewrites them (run
# conformance/mutants/reformat.py first: it carries the mutants across).
FORMAT_SRC := $(wildcard ref/src/*.[ch] ref/include/*.h ref/examples/*.c ref/fuzz/*.c \
                ref/fuzz/tsan/*.c conformance/*.[ch] conformance/tests/*.c \
                conformance/selftest/*.c bench/c/*.c bench/os/*.c bench/common/*.[ch] \
                torture/*.[ch])
CLANG_FORMAT ?= clang-format

format: | $(DEPS_STAMP)
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

format-check: | $(DEPS_STAMP)
	@$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_SRC) && \
	  echo "format-check: $(words $(FORMAT_SRC)) files follow .clang-format"

# ---------------------------------------------------------------- check
# THE test command (README, .ci/run): every step fails the whole on failure.
# Everything it runs is built first, one job per CPU (the steps themselves run
# one after another: their timing rows must not compete with a compiler).
NPROC := $(shell nproc 2>/dev/null || echo 2)
check: | $(DEPS_STAMP)
	$(MAKE) --no-print-directory -j$(NPROC) all $(B)/conformance/suite-asan \
	  $(ST)/suite-ok $(ST)/suite-abort examples $(BENCH_MPB) $(BENCH_OSF) $(B)/bench/ringcheck
	$(MAKE) --no-print-directory catalogue-check
	$(MAKE) --no-print-directory format-check
	$(MAKE) --no-print-directory runner-selftest
	$(MAKE) --no-print-directory conformance
	$(MAKE) --no-print-directory conformance-asan
	$(MAKE) --no-print-directory examples-check
	$(MAKE) --no-print-directory twins-selftest
	$(MAKE) --no-print-directory bench-quick
	$(MAKE) --no-print-directory report-check

clean:
	rm -rf $(B) reports/out


# Benchmarks and reports keep their rules beside their code.
-include bench/bench.mk
-include reports/reports.mk
-include conformance/mutants/mutants.mk
-include ref/fuzz/fuzz.mk
-include conformance/matrix.mk
-include torture/torture.mk
