#!/usr/bin/env bash
# Run the EMR run step's command locally, from a wheel, in a new virtualenv.
#
# Usage: [PYTHON=python3] scripts/run-step-from-wheel.sh [PARAMS] [WORK_DIR]
#   PARAMS    params file for a local session, relative to the repository
#             (default: params/tiny.yaml); params/emr.yaml needs YARN and S3
#   WORK_DIR  folder for the wheel, the venv and the project copy (default: a new
#             temporary folder). It must be new or empty.
#   PYTHON    interpreter for the venv (default: python3)
#
# Builds the roomrec wheel from a git archive of the committed HEAD, so neither
# uncommitted changes nor a stale build/ folder end up in it. Installs requirements.txt
# and then the wheel without its dependencies into a new venv, as
# emr-bootstrap/install-roomrec.sh does on each node. Unlike the bootstrap, the venv
# also gets pyspark from requirements.txt, because no cluster provides Spark here. Then
# it copies notebooks/ and the one params file into a project folder, as the prepare
# step syncs them from S3, and runs the command that roomrec.emr.step_command builds,
# with a local Spark session instead of YARN. The run folder ends up in
# WORK_DIR/project/runs/. Generated data goes to $ROOMREC_DATA_DIR or
# ~/.cache/roomrec/generated, because an installed wheel has no repository folder.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PARAMS="${1:-params/tiny.yaml}"
WORK_DIR="${2:-$(mktemp -d -t roomrec-step-XXXXXX)}"
PYTHON="${PYTHON:-python3}"

if [ -n "$(ls -A "$WORK_DIR" 2>/dev/null)" ]; then
  echo "ERROR: work folder '$WORK_DIR' is not empty; pass a new folder" >&2
  exit 2
fi
mkdir -p "$WORK_DIR/src" "$WORK_DIR/dist" "$WORK_DIR/project"
WORK_DIR="$(cd "$WORK_DIR" && pwd)"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

log "creating a virtualenv in $WORK_DIR/venv"
"$PYTHON" -m venv "$WORK_DIR/venv"
pip=("$WORK_DIR/venv/bin/python" -m pip --disable-pip-version-check -q)

log "building the wheel from the committed HEAD of $REPO_ROOT"
SRC="$WORK_DIR/src"
git -C "$REPO_ROOT" archive --format=tar HEAD | tar -x -C "$SRC"
if [ ! -f "$SRC/$PARAMS" ]; then
  echo "ERROR: params file '$PARAMS' not found in the committed HEAD of $REPO_ROOT;" \
    "commit it, or pass a path such as params/tiny.yaml" >&2
  exit 2
fi
"${pip[@]}" wheel --no-deps "$SRC" -w "$WORK_DIR/dist"
wheel="$(find "$WORK_DIR/dist" -name 'roomrec-*.whl' | head -1)"

log "installing requirements.txt, then $(basename "$wheel") without dependencies"
"${pip[@]}" install -r "$SRC/requirements.txt"
"${pip[@]}" install --no-deps "$wheel"

cp -r "$SRC/notebooks" "$WORK_DIR/project/"
mkdir -p "$WORK_DIR/project/$(dirname "$PARAMS")"
cp "$SRC/$PARAMS" "$WORK_DIR/project/$PARAMS"

# The command comes from the installed package, so it is the one the EMR step runs.
step="$("$WORK_DIR/venv/bin/python" -c \
  'import shlex, sys; from roomrec.emr import step_command; print(shlex.join(step_command(sys.argv[1])))' \
  "$PARAMS")"
log "running in $WORK_DIR/project: $step"
cd "$WORK_DIR/project"
PATH="$WORK_DIR/venv/bin:$PATH" bash -c "$step"
log "done; run folder: $WORK_DIR/project/runs"
