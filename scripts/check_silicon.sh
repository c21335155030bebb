#!/usr/bin/env bash
# Predicted vs measured TTFT and TPOT for the H100 serving results in data/
# (aiconfigurator's silicon_h100_sxm.csv.gz), all rows and the held-out half; the roofline's
# calibration from the kernel tables; the splitwise-sim check. Writes results/check_silicon/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build/servesim"
[ -x "$bin" ] || "$root/scripts/build.sh"
data="$root/data"
out="$root/results/check_silicon"
mkdir -p "$out"
"$bin" check-silicon "$data/aiconfigurator/silicon_h100_sxm.csv.gz" -o "$out/all.h5" | tee "$out/all.txt"
models='model_path=meta-llama/Llama-3.1-70B|Qwen/Qwen3-32B|meta-llama/Llama-3.1-8B-Instruct|MiniMaxAI/MiniMax-M2.5|Qwen/Qwen3-235B-A22B-FP8|openai/gpt-oss-120b'
# each row on its own backend's kernel tables (the default), then every row on vLLM's
"$bin" check-silicon "$data/aiconfigurator/silicon_h100_sxm.csv.gz" --filter half=even --filter "$models" \
  -o "$out/held_out.h5" | sed -n '/^backend /,$p' | tee "$out/held_out.txt"
"$bin" check-silicon "$data/aiconfigurator/silicon_h100_sxm.csv.gz" --filter half=even --filter "$models" \
  --tables "$data/aiconfigurator/h100_sxm" --kernel-backend vllm \
  -o "$out/held_out_vllm_tables.h5" | sed -n '/^backend /,$p' | tee "$out/held_out_vllm_tables.txt"
for p in bf16 fp8 fp8_block; do
  "$bin" calibrate --system h100_sxm --backend vllm --precision $p -o "$out/efficiency_$p.yaml" \
    --name h100_sxm_vllm_$p | tee "$out/calibrate_$p.txt"
done
# B200's NVFP4 GEMMs (vLLM's tables), fitted on B200's own peaks (README: 16.8%)
"$bin" calibrate --system b200_sxm --backend vllm --precision nvfp4 -o "$out/efficiency_b200_nvfp4.yaml" \
  --name b200_sxm_vllm_nvfp4 | tee "$out/calibrate_b200_nvfp4.txt"
"$bin" calibrate --splitwise "$data/splitwise_sim/perf_model.csv.gz" --model llama-2-70b \
  -o "$out/efficiency_splitwise.yaml" --name splitwise_llama2_70b_h100 | tee "$out/calibrate_splitwise.txt"
# TensorRT-LLM Llama-3.1-8B (README: TTFT under closed-loop clients): its held-out rows (in
# held_out.txt as the table runs them) with the engine limited to the row's batch_size and one
# request more in flight, started as a burst that drifts apart
l8=(--filter backend=trtllm --filter model_path=meta-llama/Llama-3.1-8B-Instruct --filter mode=agg --filter half=even)
"$bin" check-silicon "$data/aiconfigurator/silicon_h100_sxm.csv.gz" "${l8[@]}" --max-batch row --extra-clients 1 \
  --start burst -o "$out/trtllm_llama8b_one_waiting.h5" | sed -n '/^backend /,$p' | tee "$out/trtllm_llama8b_one_waiting.txt"
# TTFT under closed-loop clients (README): the held-out rows of two groups that fit better with a
# token budget of 4,096 than with their framework's 8,192 (vLLM 0.12 as a burst, TensorRT-LLM's
# Qwen3-235B-A22B in lockstep, each its framework's client start)
"$bin" check-silicon "$data/aiconfigurator/silicon_h100_sxm.csv.gz" --filter backend=vllm --filter backend_version=0.12.0 \
  --filter mode=agg --filter half=even --max-num-batched-tokens 4096 -o "$out/vllm012_budget4096.h5" \
  | sed -n '/^backend /,$p' | tee "$out/vllm012_budget4096.txt"
"$bin" check-silicon "$data/aiconfigurator/silicon_h100_sxm.csv.gz" --filter model_path=Qwen/Qwen3-235B-A22B-FP8 \
  --filter mode=agg --filter half=even --max-num-batched-tokens 4096 -o "$out/trtllm_qwen235b_budget4096.h5" \
  | sed -n '/^backend /,$p' | tee "$out/trtllm_qwen235b_budget4096.txt"
