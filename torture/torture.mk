# The "killed at any instant" torture target (torture/README.md).  Included by
# the top Makefile; uses its B, CC, STD, WARN, OPT, SAN, LIBS, IMPL, IMPL_NAME.
#
#   make torture [IMPL=path/to/lib.so|.a] [TORTURE_SECONDS=180]
#                [TORTURE_OPS=lock,pool] [TORTURE_SEED=N] [TORTURE_MAX_FAIL=3]
#   make torture-asan     the same against the ASan+UBSan build of ref

TORTURE_SECONDS  ?= 180
TORTURE_SEED     ?=
TORTURE_OPS      ?=
TORTURE_MAX_FAIL ?= 3
TORTURE_SRC := $(wildcard torture/*.c)
TORTURE_HDR := torture/torture.h ref/include/mp.h
CFLAGS_TORTURE := $(STD) $(WARN) $(OPT) -pthread -Iref/include -Itorture
TORTURE_ENV = TORTURE_SECONDS='$(TORTURE_SECONDS)' TORTURE_SEED='$(TORTURE_SEED)' \
              TORTURE_OPS='$(TORTURE_OPS)' TORTURE_MAX_FAIL='$(TORTURE_MAX_FAIL)'

.PHONY: torture torture-asan

$(B)/torture/torture-ref: $(TORTURE_SRC) $(TORTURE_HDR) $(B)/libmpref.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TORTURE) $(TORTURE_SRC) -o $@ $(B)/libmpref.a $(LIBS)

$(B)/torture/torture-asan: $(TORTURE_SRC) $(TORTURE_HDR) $(B)/asan/libmpref.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TORTURE) $(SAN) $(TORTURE_SRC) -o $@ $(B)/asan/libmpref.a $(LIBS)

ifneq ($(IMPL),)
$(B)/torture/torture-$(IMPL_NAME): $(TORTURE_SRC) $(TORTURE_HDR) $(IMPL) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TORTURE) $(TORTURE_SRC) -o $@ $(abspath $(IMPL)) \
	  -Wl,-rpath,$(abspath $(dir $(IMPL))) $(LIBS)
endif

torture: $(B)/torture/torture-$(IMPL_NAME)
	$(TORTURE_ENV) $<

torture-asan: $(B)/torture/torture-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 $(TORTURE_ENV) $<
