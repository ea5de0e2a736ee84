#!/usr/bin/env bash
# Measure wall time and peak memory (whole process tree) of a run.
# Usage: bench/run_default.sh [params file]   (default: params/default.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
params=${1:-params/default.yaml}
python3 tasks.py setup
run_id="bench-$(date -u +%Y%m%d-%H%M%S)"
.venv/bin/python bench/peak_memory.py -- \
    .venv/bin/roomrec run --params "$params" --run-id "$run_id" --no-progress
.venv/bin/python - "$run_id" <<'PY'
import json, sys
manifest = json.load(open(f"runs/{sys.argv[1]}/manifest.json"))
for entry in manifest["notebooks"]:
    print(f"{entry['notebook']}: {entry['seconds']} s")
print("headline:", json.dumps(manifest.get("headline_metrics", {})))
PY
