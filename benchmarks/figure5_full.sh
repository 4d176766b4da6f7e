#!/usr/bin/env bash
# Figure 5 on all of CIFAR-10 (issue 34): figure5 at its `short` scale (all 50 000 / 10 000 images, the
# full-width ResNet18, the paper's Adam at 1e-4, batch 100, the probe every epoch) on a lent GPU, and the
# fidelity runs (vanilla and adversarial at tf32 and bf16, beside the fp32 ones figure5 trains). What a
# reader needs comes back under $OUT/figure5-short/ (results.csv, claims.csv, recipe.json, each run's
# config.json, metrics.csv and done.json, the report's text and figure; no checkpoints), with run.json:
# the command, the GPU, the versions and each step's wall time. Copy it into docs/results/figure5-short/.
#
# The images: a public JPEG copy of CIFAR-10 (quality about 75; it damps the highest frequencies, so HFC
# accuracies understate those of the original images). A GPU machine receives the repository only, so
# first, here, put the archive and its decoder in data-local/ (ignored through .git/info/exclude):
#
#   mkdir -p data-local && cp ../shared/data/cifar10-jpeg-full.npz ../shared/tools/cifar10_jpeg.py data-local/
#
# then, with the device tool (two calls: each command may run 10 minutes at most):
#
#   run(command="FIGURE5_STEPS=figure5 bash benchmarks/figure5_full.sh", carry=["data-local"], timeout_s=590)
#   run(command="FIGURE5_STEPS=fidelity bash benchmarks/figure5_full.sh", carry=["data-local"], timeout_s=400)
#
# On this CPU, FIGURE5_SMOKE=1 runs the same steps on 500 training and 200 test images of the decoded data
# (or synthetic images when data-local/ is missing), one epoch, width 0.125, to catch mistakes before
# device time is spent:
#
#   FIGURE5_SMOKE=1 OUT=/tmp/f5 PYTHON=.venv/bin/python bash benchmarks/figure5_full.sh
#
# Variables: PYTHON (default python3), FIGURE5_STEPS (figure5,fidelity; default both), OUT (where results
# go; default a temporary folder, printed), FIGURE5_EPOCHS (override the scale's epochs, for the fidelity
# runs too).

set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PY="${PYTHON:-python3}"
SMOKE="${FIGURE5_SMOKE:-0}"
OUT="${OUT:-$(mktemp -d)}"
RESULT="$OUT/figure5-short"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/figure5-full.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$RESULT"
export PYTHONUNBUFFERED=1

# ablate without installing it: its three packages under the names setup.cfg gives them
mkdir -p "$WORK/path"
ln -s "$REPO/ablate" "$WORK/path/ablate"
ln -s "$REPO/plugins" "$WORK/path/ablate_plugins"
ln -s "$REPO/recipes" "$WORK/path/ablate_recipes"
export PYTHONPATH="$WORK/path${PYTHONPATH:+:$PYTHONPATH}"
ablate() { "$PY" -c 'import sys; sys.argv[0] = "ablate"; from ablate.cli import main; main()' "$@"; }

if [ "$SMOKE" = "1" ]; then
    DEVICE=cpu
    SIZES=(--set epochs=1 --set train_size=500 --set test_size=200 --set width=0.125)
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
else
    DEVICE=cuda
    SIZES=()
fi
[ -n "${FIGURE5_EPOCHS:-}" ] && SIZES+=(--set "epochs=$FIGURE5_EPOCHS")

# The data: decoded here from the JPEG bytes (about 15 s)
DATASET=synthetic
if [ -f data-local/cifar10-jpeg-full.npz ] && [ -f data-local/cifar10_jpeg.py ]; then
    "$PY" data-local/cifar10_jpeg.py "$WORK/cifar10-full.npz" data-local/cifar10-jpeg-full.npz
    DATASET="npz:$WORK/cifar10-full.npz"
elif [ "$SMOKE" != "1" ]; then
    echo "figure5_full: data-local/cifar10-jpeg-full.npz and data-local/cifar10_jpeg.py are missing; copy them" \
         "there and carry data-local (see the top of this script)" >&2
    exit 2
fi

"$PY" - "$RESULT/environment.json" "$DATASET" <<'EOF'
import json, platform, subprocess, sys, time
import torch
import ablate
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
info = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "gpu": gpu, "torch": torch.__version__,
        "cuda": torch.version.cuda, "python": platform.python_version(), "ablate": ablate.__version__,
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or None,
        "dataset": sys.argv[2].split("/")[-1]}
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(info)
EOF

wanted() { [ -z "${FIGURE5_STEPS:-}" ] || [[ ",$FIGURE5_STEPS," == *",$1,"* ]]; }

# timed NAME COMMAND...: run it, append its wall time and exit status to steps.jsonl
timed() {
    local name="$1" started=$SECONDS rc=0
    shift
    echo "=== $name: $* ==="
    "$@" || rc=$?
    printf '{"step": "%s", "seconds": %d, "exit": %d, "command": "%s"}\n' "$name" $((SECONDS - started)) "$rc" \
        "$(printf '%q ' "$@" | sed 's/"/\\"/g')" >> "$RESULT/steps.jsonl"
    return 0
}

# keep NAME: what a reader needs of the study OUT/runs/NAME, into RESULT/NAME (no checkpoint)
keep() {
    local study="$WORK/runs/$1" into="$RESULT/$1"
    [ -d "$study" ] || return 0
    mkdir -p "$into"
    (cd "$study" && find . -maxdepth 2 -type f \( -name '*.csv' -o -name '*.json' -o -name '*.png' \
        -o -name '*.txt' \) ! -name '*.tmp' -print0 | xargs -0 -I{} cp --parents {} "$into/")
}

if wanted figure5; then
    timed figure5 ablate recipe figure5 --scale short --dataset "$DATASET" --device "$DEVICE" \
        --out "$WORK/runs" --quiet "${SIZES[@]}"
    ablate report "$WORK/runs/figure5" > "$WORK/runs/figure5/report.txt" 2>&1 || true
    cat "$WORK/runs/figure5/report.txt"
    keep figure5
fi

if wanted fidelity; then
    # vanilla and adversarial at the fast precisions; their fp32 twins are figure5's own runs
    for precision in tf32 bf16; do
        timed "fidelity-$precision" ablate recipe figure5 --scale short --dataset "$DATASET" --device "$DEVICE" \
            --run vanilla --run adversarial --set "precision=$precision" --out "$WORK/runs/fidelity-$precision" \
            --quiet "${SIZES[@]}"
        mv "$WORK/runs/fidelity-$precision/figure5" "$WORK/runs/figure5-$precision" 2>/dev/null || true
        keep "figure5-$precision"
    done
fi

du -sh "$RESULT"
echo "figure5_full: results in $RESULT"
