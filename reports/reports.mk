# Reports: included by the top Makefile.  Outputs go to reports/out/ (git-ignored);
# baselines to reports/baseline/<impl>.json (commit them).  See reports/README.md.
#
#   make report                      conformance + benchmarks if not fresh, then the report
#   make compare A=run1 B=run2       A, B: a file, a run id, latest, previous or baseline
#                [AIMPL=cpython BIMPL=ref]   two implementations (one file or two)
#   make baseline [RUN=latest]       save a run as reports/baseline/$(IMPL_NAME).json
#   make regress [RUN=latest]        exit 0 ok, 1 regression, 2 unusable inputs
#   make matrix                      the conformance matrix alone
#   make report-check                the pipeline on the fixed fixture (part of make check)
#   make report-browser-check        the HTML report in headless Chromium
#
# ALPHA (significance) and NOISE (relative noise threshold) tune every verdict.

ALPHA ?= 0.05
NOISE ?= 0.05
# REPORT_QUICK=1: the report runs `make bench-quick` and reads its data instead.
REPORT_QUICK ?=
REPORT_BENCH ?= $(if $(REPORT_QUICK),bench-quick,bench)
REPORT_DATA ?= $(if $(REPORT_QUICK),$(or $(BENCH_QUICK_DATA),$(B)/bench/data),reports/data)
RUN ?= latest
AIMPL ?=
BIMPL ?=
STRICT_MACHINE ?=

REPORT_PY  = $(PYTHON) reports/report.py --impl $(IMPL_NAME) $(if $(IMPL),--impl-path $(IMPL)) \
             --alpha $(ALPHA) --noise $(NOISE) --data-dir $(REPORT_DATA)
COMPARE_PY = $(PYTHON) reports/compare.py --impl $(IMPL_NAME) --alpha $(ALPHA) --noise $(NOISE) \
             --data-dir $(REPORT_DATA)

# B is also the build directory: only a B given on the command line names a run.
CMP_A = $(if $(filter command line,$(origin A)),$(A),previous)
CMP_B = $(if $(filter command line,$(origin B)),$(B),latest)

.PHONY: report compare baseline regress matrix report-check report-browser-check

# '+': the report may run `make conformance` and `make bench` (jobserver shared).
report: | $(DEPS_STAMP)
	+@$(REPORT_PY) make --make "$(MAKE)" --bench-target $(REPORT_BENCH)

compare:
	@$(COMPARE_PY) compare "$(CMP_A)" "$(CMP_B)" $(if $(AIMPL),--a-impl $(AIMPL)) \
	  $(if $(BIMPL),--b-impl $(BIMPL)) --out reports/out/compare --plot reports/out/compare

baseline:
	@$(COMPARE_PY) baseline --run "$(RUN)"

regress:
	@$(COMPARE_PY) regress --latest "$(RUN)" --out reports/out/regress \
	  $(if $(STRICT_MACHINE),--strict-machine)

matrix:
	@$(REPORT_PY) matrix

report-check: | $(DEPS_STAMP)
	@$(PYTHON) reports/check.py

report-browser-check:
	@$(PYTHON) reports/browser_check.py
