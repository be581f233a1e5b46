# Mutation testing of the conformance suite (conformance/mutants/README.md).
#   make mutants [MUTANTS="name ..."]   every mutant (or these): exit 1 on a survivor
#   make mutants-quick                  the few marked "quick: yes" (CI, < 2 min)
#   make mutants-check                  every .mut parses and still applies to ref/src
# Results: reports/out/mutants.{json,md} (mutants-quick.{json,md} for the quick set).

MUT_DIR   := $(B)/mutants
MUT_LIB   := $(MUT_DIR)/base/libmpmutant.so
MUT_SUITE := $(B)/conformance/suite-libmpmutant
MUTANTS   ?=
MUT_JOBS  ?= 2
MUT_ARGS  ?=
MUT_FLAGS  = --suite $(MUT_SUITE) --base-lib $(MUT_LIB) --objdir $(B)/obj \
             --cc '$(CC)' --cflags '$(CFLAGS_LIB)' --libs '$(LIBS)' \
             --work $(MUT_DIR) --out reports/out --jobs $(MUT_JOBS)

.PHONY: mutants mutants-quick mutants-check

# Only at the top level: the sub-make below (IMPL=...) has its own rule for
# the suite binary.
ifeq ($(IMPL),)
# The unmutated library under the name every mutant's copy carries; the suite
# is linked to it and finds a mutant instead through LD_LIBRARY_PATH.
$(MUT_LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libmpmutant.so -o $@ $^ $(LIBS)

# Built by the Makefile's IMPL= rule: the suite sees mp.h and a shared object,
# as for any other implementation.
$(MUT_SUITE): $(MUT_LIB) $(T_SRC) $(T_HDR)
	@$(MAKE) --no-print-directory IMPL=$(MUT_LIB) $@

mutants: $(MUT_SUITE)
	$(PYTHON) conformance/mutants/mutate.py $(MUT_FLAGS) $(MUT_ARGS) $(MUTANTS)

mutants-quick: $(MUT_SUITE)
	$(PYTHON) conformance/mutants/mutate.py $(MUT_FLAGS) --quick --no-baseline $(MUT_ARGS)
endif

mutants-check:
	$(PYTHON) conformance/mutants/mutate.py --check --work $(MUT_DIR)
