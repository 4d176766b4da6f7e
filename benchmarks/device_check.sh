#!/usr/bin/env bash
# One prepared check of ablate on a lent GPU machine (H100/H200): about 8 minutes, at most
# DEVICE_CHECK_BUDGET seconds (default 480) however the steps go.
#
#   1. environment: GPU name, driver, torch, whether torchattacks came along;
#   2. correctness on CUDA: the figure5 recipe at its smoke scale with --device cuda
#      (five runs: training, mix-up, BatchNorm, PGD, the probe every epoch, report, plots);
#   3. ablate.spectral.frequency.split on CUDA: equal to the CPU split, and its throughput
#      (images/s at radii 4/8/12/16); a Prober on CUDA agrees with one on the CPU;
#   4. benchmarks/train.py: ResNet18 (width 1) epochs on 50,000 synthetic CIFAR-shaped
#      uint8 images at batch 100 and 512, ablate's GPU path (bf16 autocast, channels_last,
#      data on the device) against the same loop written by hand (ratio, goal >= 0.95) and
#      against a plain float32 DataLoader loop (speed-up, goal >= 3x; epoch goal < 4 s on
#      an H100 at batch 100), then the cost of the probe on 10,000 test images;
#   5. benchmarks/paper_scale.py figure5 --jobs 5: two epochs of each of figure5's runs at paper
#      settings (ResNet18, batch 100, the probe every epoch, PGD-10) on 20,000 synthetic training
#      and 10,000 test images, the concurrency slowdown of 5 runs side by side, and the projected
#      wall time of the whole paper-scale recipe against the 90-minute goal;
#   6. the same as 4 with torch.compile (batch 100, mode DEVICE_CHECK_COMPILE_MODE), when time is left;
#   7. (tf32) one ResNet18 epoch at the tf32 precision, beside the bf16 figure of step 4;
#   8. (attack) benchmarks/attack_precision.py: how often bf16 autocast flips the sign of PGD's input
#      gradient on a briefly trained ResNet18, and the attack step's time fp32/bf16/compiled;
#   9. (minimal) benchmarks/minimal_search.py: Table 2's minimal-perturbation searches on 100 test
#      images, foolbox's official FGSM/PGD against ablate's bisection;
#  10. (zoo) benchmarks/probe.py's zoo case: three small torchvision models streamed through a folder
#      of PNGs at 224 px, images/s per model, decoding's share, the gain of DataLoader workers.
# A step that fails or times out is reported and the next one still runs; the exit status
# is non-zero if any step failed. With OUT set, everything is also written to
# $OUT/device_check.log (the device tool brings $OUT back).
#
# Preparing the wheels (the GPU image has torch, torchvision, numpy, scipy, tqdm, requests,
# pandas, matplotlib, click, pluggy and rich, but not torchattacks, which the PGD run and the
# attacks plugin need). Once, here, in the repository root (/.whl/ is in .gitignore):
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux2014_x86_64 -d .whl torchattacks==3.5.1
#
# torchattacks is pure Python; its other needs (scipy, tqdm, requests, numpy, torchvision)
# are in the image, so carry nothing else: an old requests (torchattacks pins ~=2.25.1)
# would shadow the image's and does not match its urllib3. Without .whl the check still
# runs, without the adversarial run. Then, with the device tool:
#
#   run(command="bash benchmarks/device_check.sh", carry=[".whl"], timeout_s=560)
#
# On this CPU, DEVICE_CHECK_SMOKE=1 runs every step with tiny sizes on the CPU, to catch
# mistakes in the script before device time is spent:
#
#   DEVICE_CHECK_SMOKE=1 PYTHON=/work/venv/bin/python bash benchmarks/device_check.sh
#
# Variables: PYTHON (default python3), DEVICE_CHECK_STEPS (some of smoke,split,throughput,
# projection,compile,tf32,attack,minimal,zoo, comma-separated; default all), DEVICE_CHECK_COMPILE_MODE (default,
# reduce-overhead or max-autotune; default default), DEVICE_CHECK_BUDGET (seconds, default 480),
# DEVICE_CHECK_COMPILE (1/0: step 5; default 1 on CUDA, 0 in smoke mode),
# DEVICE_CHECK_IMAGES / _BATCHES / _ROUNDS (override the benchmark's sizes), DEVICE_CHECK_PAPER_JOBS
# (workers of the projection, default 5) / _PAPER_IMAGES (its training images, default 20000).
# DEVICE_CHECK_PRECISION: the throughput step's precision (default bf16, the opt-in fast path; the
# projection trains at the recipe's own fp32).

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PY="${PYTHON:-python3}"
SMOKE="${DEVICE_CHECK_SMOKE:-0}"
BUDGET="${DEVICE_CHECK_BUDGET:-480}"
export PYTHONUNBUFFERED=1

if [ "$SMOKE" = "1" ]; then
    DEVICE=cpu; WIDTH=0.125; IMAGES=256; BATCHES=64,128; ROUNDS=1; PROBE_IMAGES=64; SPLIT_IMAGES=512
    PAPER=(--smoke --epochs-timed 1 --jobs 2)
    ATTACK=(--device cpu --width 0.125 --train-images 200 --images 50 --epochs 1 --batch-size 25 --rounds 2)
    MINIMAL=(--device cpu --width 0.125 --train-images 200 --images 10)
    ZOO=(--device cpu --zoo-images 8 --zoo-workers 2 --batch-size 8)
    SKIP_PGD=""
    COMPILE="${DEVICE_CHECK_COMPILE:-0}"
    # one thread: two multi-threaded torch processes on a small shared CPU stall each other badly
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
else
    # batch 100 only (the goals' batch size): 512 costs time the paper-scale projection needs
    DEVICE=cuda; WIDTH=1; IMAGES=50000; BATCHES=100; ROUNDS=2; PROBE_IMAGES=10000; SPLIT_IMAGES=50000
    # 10,000 training images: the five side-by-side copies that measure the slowdown took over
    # 100 s at 20,000 on an H200 (2026-12-04), past the step's share
    PAPER=(--epochs-timed 2 --jobs "${DEVICE_CHECK_PAPER_JOBS:-5}" --train-images "${DEVICE_CHECK_PAPER_IMAGES:-10000}")
    SKIP_PGD="--skip adversarial"
    COMPILE="${DEVICE_CHECK_COMPILE:-1}"
    # width 0.25: at width 1 two epochs on 5000 images left the model at chance (H200, 2026-12-04), and
    # the sign figures of an untrained model say little
    ATTACK=(--device cuda --width 0.25 --train-images 5000 --images 1000 --epochs 3 --rounds 10)
    MINIMAL=(--device cuda --width 1 --train-images 2000 --images 100)
    ZOO=(--device cuda --zoo-images 512 --zoo-workers 8 --batch-size 128)
fi
IMAGES="${DEVICE_CHECK_IMAGES:-$IMAGES}"
BATCHES="${DEVICE_CHECK_BATCHES:-$BATCHES}"
ROUNDS="${DEVICE_CHECK_ROUNDS:-$ROUNDS}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/device-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SUMMARY=()
FAILED=0

# step NAME SECONDS COMMAND...: run COMMAND under a timeout cut to what is left of the budget.
step() {
    local name="$1" seconds="$2"
    shift 2
    local left=$((BUDGET - SECONDS))
    if [ "$left" -lt 30 ]; then
        FAILED=1
        SUMMARY+=("SKIPPED $name: only ${left}s of the ${BUDGET}s budget left")
        return 0
    fi
    [ "$seconds" -gt "$left" ] && seconds="$left"
    echo
    echo "=== $name (timeout ${seconds}s, at ${SECONDS}s of ${BUDGET}s) ==="
    local started=$SECONDS rc
    # functions run in a child bash (timeout runs programs), with this script's strictness
    set +e
    timeout -k 10 "$seconds" bash -euo pipefail -c '"$@"' "$name" "$@" 2>&1 | tee -a "$WORK/steps.out"
    rc=${PIPESTATUS[0]}
    set -e
    local took=$((SECONDS - started))
    if [ "$rc" -eq 0 ]; then
        SUMMARY+=("ok      $name (${took}s)")
    else
        FAILED=1
        local why="exit $rc"
        [ "$rc" -eq 124 ] && why="timed out after ${seconds}s"
        SUMMARY+=("FAILED  $name: $why (${took}s)")
    fi
}

setup() {
    echo "=== environment ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), smoke=$SMOKE, device=$DEVICE) ==="
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
    fi
    local site="${DEVICE_CHECK_SITE:-/tmp/site}"
    [ "$SMOKE" = "1" ] && site="$WORK/site"
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
        echo "installed into $site: $(cd .whl && ls -- *.whl | tr '\n' ' ')"
    else
        echo "no .whl folder: torchattacks must already be installed, else the adversarial run is left out"
    fi
    # ablate without installing it: its three packages under the names setup.cfg gives them.
    mkdir -p "$WORK/path"
    ln -s "$REPO/ablate" "$WORK/path/ablate"
    ln -s "$REPO/plugins" "$WORK/path/ablate_plugins"
    ln -s "$REPO/recipes" "$WORK/path/ablate_recipes"
    export PYTHONPATH="$site:$WORK/path${PYTHONPATH:+:$PYTHONPATH}"
    "$PY" - <<'EOF'
import importlib.util, os, platform, sys
import torch
import ablate
print(f"python {platform.python_version()} ({sys.executable}), torch {torch.__version__}, "
      f"ablate {ablate.__version__} from {os.path.dirname(ablate.__file__)}")
print(f"CPUs: {os.cpu_count()}, torch threads: {torch.get_num_threads()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"GPU: {p.name}, {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, "
          f"capability {p.major}.{p.minor}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
else:
    print("GPU: none visible to torch")
print("torchattacks:", "present" if importlib.util.find_spec("torchattacks") else "MISSING")
EOF
    if [ "$DEVICE" = "cuda" ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "device_check: PyTorch sees no CUDA device; run on a GPU machine or set DEVICE_CHECK_SMOKE=1" >&2
        exit 1
    fi
}

smoke_recipe() {
    local runs=()
    if ! "$PY" -c "import torchattacks" 2>/dev/null; then
        echo "torchattacks missing: leaving out the adversarial run (see the top of this script for .whl)"
        runs=(--run vanilla --run dropout --run mixup --run batchnorm)
    fi
    "$PY" -c 'import sys; sys.argv[0] = "ablate"; from ablate.cli import main; main()' \
        recipe figure5 --scale smoke --device "$DEVICE" --out "$WORK/runs" --quiet "${runs[@]}"
    "$PY" -c 'import sys; sys.argv[0] = "ablate"; from ablate.cli import main; main()' status "$WORK/runs/figure5"
    local finished
    finished=$(find "$WORK/runs/figure5" -name metrics.csv | wc -l)
    echo "runs with metrics: $finished"
    [ "$finished" -ge 4 ]
}

split_check() {
    DC_DEVICE="$DEVICE" DC_SPLIT_IMAGES="$SPLIT_IMAGES" DC_WIDTH="$WIDTH" "$PY" - <<'EOF'
import os, time
import torch
from ablate.study.settings import Settings
from ablate.spectral.frequency import split
from ablate.train.models import build_model
from ablate.spectral.prober import Prober, split_probe

device = torch.device(os.environ["DC_DEVICE"])
n, radii = int(os.environ["DC_SPLIT_IMAGES"]), [4, 8, 12, 16]
x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

# the same numbers as on the CPU
low_cpu, high_cpu = split(x[:256], radii)
low_dev, high_dev = split(x[:256].to(device), radii)
assert low_dev.device.type == device.type and low_dev.dtype == torch.float32
error = max((low_dev.cpu() - low_cpu).abs().max().item(), (high_dev.cpu() - high_cpu).abs().max().item()) / 255
print(f"split on {device} vs CPU: max |difference| {error:.1e} of the pixel range")
assert error < 1e-5, error
assert torch.allclose(low_dev + high_dev, x[:256].to(device).float().expand_as(low_dev), atol=1e-3)

# throughput: all radii from one forward transform
on_device = x.to(device)
def sync():
    if device.type == "cuda":
        torch.cuda.synchronize(device)
split(on_device, radii); sync()
times = []
for _ in range(3):
    start = time.perf_counter(); split(on_device, radii); sync(); times.append(time.perf_counter() - start)
best = min(times)
print(f"split throughput on {device}: {n} images x radii {radii} in {best:.3f} s (best of 3): "
      f"{n / best:,.0f} images/s, {n * len(radii) / best:,.0f} images x radii/s")
print(f"RESULT split_images={n} split_s={best:.4f} split_images_per_s={n / best:.0f}")
del low_dev, high_dev, on_device

# a Prober on the device agrees with one on the CPU (true float32, same weights)
torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
settings = Settings(width=float(os.environ["DC_WIDTH"]) / 4)
torch.manual_seed(0)
model = build_model(settings, 10).eval()
xs, ys = x[:300], torch.arange(300) % 10
cpu_result = Prober(xs, ys, split_probe(radii))(model)
dev_result = Prober(xs.to(device), ys.to(device), split_probe(radii))(model.to(device))
agree = min((cpu_result.correct[k] == dev_result.correct[k]).float().mean().item() for k in cpu_result.correct)
print(f"Prober on {device} vs CPU: per-image agreement >= {agree:.3f} over {len(cpu_result.correct)} components")
assert agree >= 0.98, agree
if device.type == "cuda":
    bf16 = Prober(xs.to(device), ys.to(device), split_probe(radii))(model, torch.bfloat16)
    assert all(r["value"] == r["value"] for r in bf16.rows), "NaN under bf16 autocast"
    print(f"Prober under bf16 autocast: {len(bf16.rows)} finite rows")
EOF
}

# (c), the PGD epoch, is left out on CUDA: on 50,000 images it took 54 s a contender on an H200
# (2026-12-04) and timed the step out; the projection below times figure5's PGD run anyway.
benchmark() {
    "$PY" benchmarks/train.py --data synthetic --device "$DEVICE" --model resnet18 --width "$WIDTH" \
        --images "$IMAGES" --batch-size "$BATCHES" --rounds "$ROUNDS" --baseline plain,dataloader \
        --probe-images "$PROBE_IMAGES" --probe-rounds 2 --precision "${DEVICE_CHECK_PRECISION:-bf16}" $SKIP_PGD
}

paper_projection() {
    "$PY" benchmarks/paper_scale.py figure5 --device "$DEVICE" --goal-min 90 $PAPER_ARGS
}

benchmark_compiled() {
    "$PY" benchmarks/train.py --data synthetic --device "$DEVICE" --model resnet18 --width "$WIDTH" \
        --images "$IMAGES" --batch-size "${BATCHES%%,*}" --rounds "$ROUNDS" --baseline none \
        --probe-images 0 --compile --compile-mode "${DEVICE_CHECK_COMPILE_MODE:-default}" $SKIP_PGD
}

benchmark_tf32() {
    "$PY" benchmarks/train.py --data synthetic --device "$DEVICE" --model resnet18 --width "$WIDTH" \
        --images "$IMAGES" --batch-size "${BATCHES%%,*}" --rounds "$ROUNDS" --baseline none \
        --probe-images 0 --precision tf32 $SKIP_PGD
}

minimal_search() {
    "$PY" benchmarks/minimal_search.py $MINIMAL_ARGS
}

zoo_probe() {
    "$PY" benchmarks/probe.py --skip split --skip probe --skip heatmap --skip large $ZOO_ARGS
}

attack_precision() {
    if ! "$PY" -c "import torchattacks" 2>/dev/null; then
        echo "torchattacks missing: PGD's precision check needs it (see the top of this script for .whl)"
        return 1
    fi
    "$PY" benchmarks/attack_precision.py $ATTACK_ARGS
}

# The issue's goals, read off the RESULT lines (informative: a missed goal does not fail the check).
goals() {
    "$PY" - "$WORK/steps.out" <<'EOF'
import sys
results = [dict(field.split("=", 1) for field in line.split()[1:])
           for line in open(sys.argv[1]) if line.startswith("RESULT ")]
def verdict(ok):
    return "met" if ok else "MISSED"
for r in results:
    if "ablate_s" not in r:
        continue
    label = f"batch {r['batch']} {r.get('precision', '')}{' compiled' if r['compile'] == '1' else ''}"
    seconds = float(r["ablate_s"])
    print(f"{label:<20} epoch {seconds:7.3f} s for {r['images']} images "
          f"({int(r['images']) / seconds:,.0f} images/s)"
          + (f"; epoch < 4 s: {verdict(seconds < 4)}" if r["batch"] == "100" else ""))
    if "ablate_over_plain" in r:
        value = float(r["ablate_over_plain"])
        print(f"{'':<20} ablate / hand-written same-path loop {value:.3f}; >= 0.95: {verdict(value >= 0.95)}")
    if "ablate_over_dataloader" in r:
        value = float(r["ablate_over_dataloader"])
        print(f"{'':<20} speed-up over the fp32 DataLoader loop {value:.2f}x; >= 3x: {verdict(value >= 3)}")
for r in results:
    if "projected_min" in r:
        print(f"{r['paper_recipe']} at paper scale with --jobs {r['jobs']} (slowdown {float(r['slowdown']):.2f}): "
              f"projected {float(r['projected_min']):.1f} min (one run after another "
              f"{float(r['sequential_min']):.1f} min); < {r['goal_min']} min: {verdict(r['met'] == '1')}")
    if "split_images_per_s" in r:
        print(f"split throughput: {float(r['split_images_per_s']):,.0f} images/s at radii 4/8/12/16")
    if "sign_disagreement_pgd" in r:
        print(f"PGD gradient signs, fp32 vs bf16: {100 * float(r['sign_disagreement_clean']):.3f} % differ at the "
              f"clean images, {100 * float(r['sign_disagreement_pgd']):.3f} % along the trajectory")
    if "probe_epoch_ratio" in r:
        print(f"probe cost: an epoch with the probe on {r['probe_images']} test images takes "
              f"{float(r['probe_epoch_ratio']):.2f}x one without")
EOF
}

# wanted STEP: whether DEVICE_CHECK_STEPS (default: all) names STEP
wanted() {
    [ -z "${DEVICE_CHECK_STEPS:-}" ] || [[ ",$DEVICE_CHECK_STEPS," == *",$1,"* ]]
}

main() {
    setup
    # shares of the 480 s, from the H200 runs of 2026-12-04 (smoke 27-42 s, split 6-11 s, throughput
    # without PGD 60-90 s: its warm-up took 13 s in the second run and the step timed out at a 90 s
    # share just after printing its figures; tf32 47 s, attack 70 s, reduce-overhead compile 58 s):
    # setup ~15, 60 + 30 + 120 + 60 + 120 + 220 = 610 when every step uses its
    # whole share, so a run of all steps may skip the last; name a subset with DEVICE_CHECK_STEPS
    wanted smoke && step "figure5 smoke recipe on $DEVICE" 60 smoke_recipe
    wanted split && step "split and probe on $DEVICE" 30 split_check
    wanted throughput && step "training throughput on $DEVICE" 120 benchmark
    wanted tf32 && step "training throughput at tf32 on $DEVICE" 60 benchmark_tf32
    wanted attack && step "PGD gradient signs, fp32 vs bf16, on $DEVICE" 120 attack_precision
    wanted minimal && step "minimal-perturbation searches on $DEVICE" 150 minimal_search
    wanted zoo && step "a zoo of three models on $DEVICE" 120 zoo_probe
    wanted projection && step "figure5 paper-scale projection on $DEVICE" 220 paper_projection
    if [ "$COMPILE" = "1" ] && wanted compile; then
        step "training throughput, torch.compile ${DEVICE_CHECK_COMPILE_MODE:-default}" 160 benchmark_compiled
    fi
    echo
    echo "=== summary (${SECONDS}s) ==="
    printf '%s\n' "${SUMMARY[@]}"
    grep -h "^RESULT" "$WORK/steps.out" 2>/dev/null || true
    echo
    echo "=== goals ==="
    goals || true
    return "$FAILED"
}

PAPER_ARGS="${PAPER[*]}"
ATTACK_ARGS="${ATTACK[*]}"
MINIMAL_ARGS="${MINIMAL[*]}"
ZOO_ARGS="${ZOO[*]}"
export -f smoke_recipe split_check benchmark paper_projection benchmark_compiled benchmark_tf32 attack_precision \
    minimal_search zoo_probe
export PY DEVICE WORK WIDTH IMAGES BATCHES ROUNDS PROBE_IMAGES SPLIT_IMAGES PAPER_ARGS ATTACK_ARGS MINIMAL_ARGS \
    ZOO_ARGS SKIP_PGD

if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    main 2>&1 | tee "$OUT/device_check.log"
    exit "${PIPESTATUS[0]}"
fi
main
