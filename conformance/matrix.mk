# The conformance matrix: the C suite against ref and the Python twins under
# every Python implementation of multiprocessing listed in conformance/impls/
# (conformance/impls/README.md).  Included from the Makefile.
#
#   make matrix                     every implementation, judged against
#                                   conformance/expect/*.tsv, then the matrix page
#   make conformance IMPL=pypy      one Python implementation (an impls/ entry)
#   make twins-selftest             the runner's own tests (fast, no real twins)
#
# Each twin is forked from one interpreter per implementation that imported
# the module once (run_twins.py --mode zygote, the default); TWINS_ARGS='--jobs 4
# --mode fresh' starts a fresh interpreter per twin instead.
#   make expect-cpython             regenerate expect/cpython.tsv from the catalogue

MATRIX_IMPLS ?= cpython cpython-debian pypy billiard multiprocess
MATRIX_PKGS  := pypy3 python3-billiard python3-multiprocess
DEPS_MATRIX  := $(B)/.deps-matrix-ok
TWINS        := $(PYTHON) conformance/python/run_twins.py
TWINS_ARGS   ?= --jobs 4

.PHONY: deps-matrix conformance-matrix conformance-twins twins-selftest expect-cpython

# The alternative interpreters and modules only the matrix needs (not `make check`).
deps-matrix: $(DEPS_MATRIX)
$(DEPS_MATRIX): | $(DEPS_STAMP)
	@missing=""; for p in $(MATRIX_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps-matrix: installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; } || exit 1; \
	  else echo "deps-matrix: missing:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi
	@mkdir -p $(B) && touch $@

# `make conformance IMPL=<name of a Python entry of conformance/impls/>` lands here.
conformance-twins: | $(DEPS_STAMP) $(if $(filter cpython,$(IMPL)),,$(DEPS_MATRIX))
	$(TWINS) --impl $(IMPL) $(TWINS_ARGS)

# ref's results are reused when reports/out/conformance-ref.json is newer than
# an up-to-date suite-ref and records no failure; every Python implementation
# runs even if one before it has new failures; the status is the worst one.
conformance-matrix: $(DEPS_MATRIX) $(B)/conformance/suite-ref
	@st=0; t0=$$(date +%s); \
	if [ reports/out/conformance-ref.json -nt $(B)/conformance/suite-ref ] && \
	   $(PYTHON) -c 'import json,sys; s=json.load(open("reports/out/conformance-ref.json"))["summary"]; sys.exit(s["fail"]+s["crash"]+s["timeout"]>0)'; then \
	  echo "matrix: ref: reusing reports/out/conformance-ref.json (newer than suite-ref)"; \
	else $(MAKE) --no-print-directory conformance IMPL= || st=1; fi; \
	for i in $(MATRIX_IMPLS); do \
	  $(TWINS) --impl $$i $(TWINS_ARGS); r=$$?; [ $$r -gt $$st ] && st=$$r; \
	done; \
	echo "matrix: $$(( $$(date +%s) - t0 )) s, status $$st (0 as expected, 1 new failures, 2 harness errors)"; \
	exit $$st

# reports/reports.mk's `matrix` renders the page; the runs come first.
matrix: conformance-matrix

twins-selftest:
	$(PYTHON) conformance/python/test_run_twins.py

expect-cpython:
	$(TWINS) --gen-expect
