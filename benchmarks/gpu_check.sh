#!/usr/bin/env bash
# GPU check for the local backends (issue 7): at most 8 minutes on one H100.
#
# Run on the lent GPU machine from the repository root:
#   bash benchmarks/gpu_check.sh [MODEL_DIR]
# It installs what it needs (wheels carried along in ./wheels if present, else the package
# index), checks that vLLM sees the GPU, runs the vLLM benchmark with the tiny scripted model
# (always) and with MODEL_DIR (a real small model such as Qwen3-0.6B) when its weights are
# there, and prints a summary. Results go to $OUT (or ./gpu-check) as JSON. CI never runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-check}"
mkdir -p "$OUT"
MODEL="${1:-${LRM_GPU_MODEL:-}}"
deadline=$((SECONDS + 460))

python3 -m venv .venv-gpu
. .venv-gpu/bin/activate
pip install --quiet --upgrade pip
if [ -d wheels ]; then
  pip install --quiet --no-index --find-links wheels vllm -e ".[vllm]" || pip install --quiet vllm -e .
else
  pip install --quiet vllm -e .
fi
python - <<'PY' | tee "$OUT/env.txt"
import torch, vllm
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
print("vllm", vllm.__version__)
PY

echo "== tiny scripted model, offline vs raw, offline vs server"
timeout $((deadline - SECONDS)) python benchmarks/vllm_bench.py --n 2000 --max-tokens 128 \
  --json "$OUT/tiny.json" > "$OUT/tiny.log" 2>&1 || echo "tiny benchmark failed (see $OUT/tiny.log)"

if [ -n "$MODEL" ] && [ -d "$MODEL" ] && [ $((deadline - SECONDS)) -gt 120 ]; then
  echo "== $MODEL"
  timeout $((deadline - SECONDS)) python benchmarks/vllm_bench.py --model "$MODEL" --n 512 \
    --max-tokens 256 --engine-arg max_model_len=4096 --json "$OUT/real.json" \
    > "$OUT/real.log" 2>&1 || echo "real-model benchmark failed (see $OUT/real.log)"
else
  echo "== no real model weights given or no time left: skipped"
fi

echo "== summary"
for f in "$OUT"/tiny.json "$OUT"/real.json; do
  [ -f "$f" ] && { echo "$f"; cat "$f"; }
done
echo "seconds used: $SECONDS"
