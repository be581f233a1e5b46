# Reports: included by the top Makefile.  Outputs go to reports/out/ (git-ignored);
# baselines to reports/baseline/<impl>.json (commit them).  See reports/README.md.
#
#   make report                      conformance + benchmarks if not fresh, then the report
#   make compare A=run1 B=run2       A, B: a file, a run id, latest, previous or baseline
#                [AIMPL=cpython BIMPL=ref]   two implementations (one file or two)
#   make baseline [RUN=latest]       save a run as reports/baseline/$(IMPL_NAME).json
#   make regress [RUN=...]           the baseline's code beside today's in one run:
#                                    exit 0 ok, 1 regression, 2 unusable inputs
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

.PHONY: report compare baseline regress regress-smoke matrix report-check report-browser-check

# '+': the report may run `make conformance` and `make bench` (jobserver shared).
report: | $(DEPS_STAMP)
	+@$(REPORT_PY) make --make "$(MAKE)" --bench-target $(REPORT_BENCH)

compare:
	@$(COMPARE_PY) compare "$(CMP_A)" "$(CMP_B)" $(if $(AIMPL),--a-impl $(AIMPL)) \
	  $(if $(BIMPL),--b-impl $(BIMPL)) --out reports/out/compare --plot reports/out/compare

baseline:
	@$(COMPARE_PY) baseline --run "$(RUN)"

# make regress: the baseline's code (the commit reports/baseline/<impl>.json
# was measured at, built here from git; another IMPL: BASE_LIB=its library)
# measured beside today's in ONE interleaved run (bench/run.py --kind
# regress), judged side against side: the machine's drift between runs,
# which moves a figure of the same code by up to 3.5x on a shared VM, cancels.
# RUN=... judges an existing regress run instead of measuring.
REGRESS_DATA ?= reports/data/regress
REGRESS_SAMPLES ?= 10
REGRESS_BASELINE ?= reports/baseline/$(IMPL_NAME).json
BASE_LIB ?=
REGRESS_PY = $(COMPARE_PY) --data-dir $(REGRESS_DATA) regress --baseline $(REGRESS_BASELINE) \
	--out reports/out/regress $(if $(STRICT_MACHINE),--strict-machine)

ifeq ($(origin RUN),command line)
regress:
	@$(REGRESS_PY) --latest "$(RUN)"
else
regress: $(BENCH_MPB) $(BENCH_OSF) bench-examples | $(DEPS_STAMP)
	+@set -e; rm -f reports/out/regress.json; \
	commit=$$($(PYTHON) reports/compare.py base-commit --baseline $(REGRESS_BASELINE)) || exit 2; \
	c7=$$(printf %.7s "$$commit"); name=base-$$c7; dir=$(B)/regress/$$c7; \
	if [ -n "$(BASE_LIB)" ]; then lib=$(BASE_LIB); name=base; dir=$(B)/regress/base; \
	elif [ -n "$(IMPL)" ]; then \
	  echo "regress: IMPL=$(IMPL): give BASE_LIB=<the library the baseline measured>" >&2; exit 2; \
	else lib=$$dir/src/build/libmpref.a; \
	  if [ ! -f $$lib ]; then \
	    git cat-file -e "$$commit^{commit}" 2>/dev/null || { echo "regress: the baseline's" \
	      "commit $$commit is not in this clone (a shallow clone? git fetch --unshallow)" >&2; exit 2; }; \
	    echo "regress: building the baseline's code ($$c7) in $$dir/src"; \
	    rm -rf $$dir/src; mkdir -p $$dir/src; git archive "$$commit" | tar -x -C $$dir/src; \
	    $(MAKE) --no-print-directory -C $$dir/src build/libmpref.a >$$dir/build.log 2>&1 || \
	      { tail -20 $$dir/build.log >&2; echo "regress: the baseline's code does not build" \
	        "(log: $$dir/build.log)" >&2; exit 2; }; \
	  fi; \
	fi; \
	mkdir -p $$dir/ex; for t in $(BENCH_TUT); do \
	  $(CC) $(STD) $(OPT) -Iref/include ref/examples/$$t.c -o $$dir/ex/$$t \
	    $$(case $$lib in *.a) echo $$lib;; *) echo $$lib -Wl,-rpath,$$(dirname $$(realpath $$lib));; esac) \
	    $(LIBS) 2>/dev/null || echo "regress: $$t does not build against $$lib; its figure is skipped"; \
	done; \
	$(MAKE) --no-print-directory IMPL_B=$$name=$$lib $(B)/bench/mpbench-b-$$name >/dev/null; \
	rm -f $$dir/run-path; rrc=0; \
	$(PYTHON) bench/run.py --kind regress --impl $(IMPL_NAME) --mpbench $(BENCH_MPB) \
	  --osfloor $(BENCH_OSF) --examples $(BENCH_EXDIR) --cc '$(CC)' --cflags '$(BENCH_CFLAGS)' \
	  --impl-b $$name=$(B)/bench/mpbench-b-$$name --examples-b $$name=$$dir/ex \
	  --base-commit "$$([ -n "$(BASE_LIB)" ] || echo $$commit)" --samples $(REGRESS_SAMPLES) --seconds $(BENCH_SECONDS) \
	  --out $(REGRESS_DATA) --path-file $$dir/run-path $(BENCH_ARGS) || rrc=$$?; \
	[ -s $$dir/run-path ] || { echo "regress: the run wrote no result (exit $$rrc): unjudged" >&2; \
	  rm -f reports/out/regress.json; exit 2; }; \
	vrc=0; $(REGRESS_PY) --latest "$$(cat $$dir/run-path)" || vrc=$$?; \
	[ $$rrc -eq 0 ] || [ $$vrc -ne 0 ] || { rm -f reports/out/regress.json; echo "regress: a benchmark program failed" \
	  "(exit $$rrc): unjudged" >&2; exit 2; }; \
	exit $$vrc
endif

# CI's check of the regress pipeline itself (base built from git, the regress
# run, the verdict) on one figure: exit 0 or 1 is a verdict, anything else a
# broken pipeline.  Speed is not gated here: a verdict of 1 is printed, not failed.
regress-smoke:
	@rm -f reports/out/regress.json; \
	$(MAKE) --no-print-directory regress BENCH_ARGS='--only process.start_join' || true; \
	v=$$($(PYTHON) -c 'import json; print(json.load(open("reports/out/regress.json"))["verdict"])' \
	  2>/dev/null); \
	case "$$v" in \
	  ok|regressed) echo "regress-smoke: ok: the pipeline built the baseline's code, ran and" \
	                  "judged (verdict: $$v)";; \
	  *) echo "regress-smoke: FAIL: the run was not judged (verdict: $${v:-none})"; exit 1;; \
	esac

matrix:
	@$(REPORT_PY) matrix

report-check: | $(DEPS_STAMP)
	@$(PYTHON) reports/check.py

report-browser-check:
	@$(PYTHON) reports/browser_check.py
