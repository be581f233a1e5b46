# Reliability checks beyond `make check` (ref/fuzz/README.md):
#   make fuzz         replay regressions + corpora, then fuzz each target FUZZ_SECONDS (60)
#   make fuzz-quick   the same, 10 s per target (CI)
#   make check-deep   ThreadSanitizer drivers, valgrind on every example, leak checker
#                     around the conformance suite and the examples, fuzz-quick,
#                     torture (torture/README.md), the HTML report in headless
#                     Chromium (report-browser-check)
#   make fuzz-seeds   regenerate the committed seed corpora (ref/fuzz/corpus)
# Included by the top Makefile; uses its B, CC, CFLAGS_LIB, LIBS, LIB_SRC, EX_BIN,
# DEPS_STAMP, PYTHON.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := value conn manager
FUZZ_DIR     := ref/fuzz
FUZZ_SANF    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# clang warns about things gcc does not: the library is built -Werror by gcc in
# `make`; here another compiler's opinion must not stop the fuzzers.
FUZZ_CFLAGS  := $(filter-out -Werror,$(CFLAGS_LIB)) -Wno-error -g -O1 $(FUZZ_SANF)
FUZZ_OBJ     := $(LIB_SRC:ref/src/%.c=$(B)/fuzz/obj/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)

TSAN_SRC     := $(wildcard $(FUZZ_DIR)/tsan/*.c)
TSAN_BINS    := $(TSAN_SRC:$(FUZZ_DIR)/tsan/%.c=$(B)/tsan/%)
TSAN_OBJ     := $(LIB_SRC:ref/src/%.c=$(B)/tsan/obj/%.o)
TSAN_FLAGS   := -fsanitize=thread -fno-omit-frame-pointer -O1 -g

.PHONY: fuzz fuzz-quick fuzz-build fuzz-seeds tsan valgrind-examples leakcheck-deep check-deep

$(B)/fuzz/obj/%.o: ref/src/%.c $(LIB_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(B)/fuzz/fuzz_value: $(FUZZ_DIR)/fuzz_value.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJ) -o $@ $(LIBS)
$(B)/fuzz/fuzz_conn: $(FUZZ_DIR)/fuzz_conn.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJ) -o $@ $(LIBS)
# fuzz_manager drives the server's own loop (mp__mgr_turn, hidden but linked
# in from the objects, which are built with coverage like the rest).
$(B)/fuzz/fuzz_manager: $(FUZZ_DIR)/fuzz_manager.c $(LIB_HDR) $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJ) -o $@ $(LIBS)

fuzz-build: $(FUZZ_BINS)

$(B)/fuzz/seeds: $(FUZZ_DIR)/seeds.c $(B)/libmpref.a
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(OPT) -Iref/include $< -o $@ $(B)/libmpref.a $(LIBS)
fuzz-seeds: $(B)/fuzz/seeds
	$(B)/fuzz/seeds $(FUZZ_DIR)/corpus

fuzz: $(FUZZ_BINS)
	@bash $(FUZZ_DIR)/run_fuzz.sh $(B)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-quick: $(FUZZ_BINS)
	@bash $(FUZZ_DIR)/run_fuzz.sh $(B)/fuzz 10 $(FUZZ_TARGETS)

# ------------------------------------------------------------ ThreadSanitizer
# Criterion aborts under TSan (Snaipe/Criterion#274): standalone drivers.
$(B)/tsan/obj/%.o: ref/src/%.c $(LIB_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_LIB) $(TSAN_FLAGS) -c $< -o $@
$(B)/tsan/libmpref.a: $(TSAN_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(B)/tsan/%: $(FUZZ_DIR)/tsan/%.c $(FUZZ_DIR)/tsan/tsan_common.h $(B)/tsan/libmpref.a
	$(CC) $(STD) $(WARN) $(TSAN_FLAGS) -pthread -Iref/include $< -o $@ $(B)/tsan/libmpref.a $(LIBS)

tsan: $(TSAN_BINS)
	@bash $(FUZZ_DIR)/run_tsan.sh $(TSAN_BINS)

# ------------------------------------------------------------ valgrind, leaks
valgrind-examples: $(EX_BIN)
	@bash $(FUZZ_DIR)/valgrind_examples.sh $(B)/examples

leakcheck-deep: $(B)/conformance/suite-ref $(EX_BIN)
	$(PYTHON) $(FUZZ_DIR)/leakcheck.py --label conformance -- $(B)/conformance/suite-ref -j2
	$(PYTHON) $(FUZZ_DIR)/leakcheck.py --label examples -- bash ref/examples/check.sh $(B)/examples

check-deep: | $(DEPS_STAMP)
	@start=$$(date +%s); fail=0; \
	for t in tsan valgrind-examples leakcheck-deep fuzz-quick torture report-browser-check; do \
	  s=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$t; then r=ok; else r=FAILED; fail=1; fi; \
	  echo "check-deep: $$t $$r ($$(( $$(date +%s) - s )) s)"; \
	done; \
	echo "check-deep: $$([ $$fail = 0 ] && echo all ok || echo FAILURES) in $$(( $$(date +%s) - start )) s"; \
	exit $$fail
