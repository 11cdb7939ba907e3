#!/usr/bin/env bash
# Every GPU figure of the performance section in one go (a few minutes on an
# H100): run from the repository root on a machine with jax[cuda], torch,
# torchvision and pytorch-fid==0.3.0 installed. JSON goes to ${OUT:-bench_gpu}/.
#   bash benchmarks/gpu.sh
set -euo pipefail
out=${OUT:-bench_gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$out/gpu.csv"
# DCGAN-64 at batch 128 and SNGAN's ResNet-32 at batch 64 against PyTorch, float32.
python benchmarks/compare_pytorch.py --image_size=64 --batch_size=128 --steps=20 \
  > "$out/dcgan64.json"
python benchmarks/compare_pytorch.py --model=sngan --batch_size=64 --steps=10 \
  --steps_per_call=2 > "$out/sngan32.json"
# bfloat16 compute (float32 parameters) against the float32 rows above.
python benchmarks/compare_pytorch.py --image_size=64 --batch_size=128 --steps=20 \
  --dtype=bfloat16 > "$out/dcgan64_bf16.json"
python benchmarks/compare_pytorch.py --model=sngan --batch_size=64 --steps=10 \
  --steps_per_call=2 --dtype=bfloat16 > "$out/sngan32_bf16.json"
# FID Inception features: jaxgan against pytorch-fid, images/s.
python benchmarks/fid_features.py --batch_size=200 --calls=10 > "$out/fid.json"
# The vectorised sweep's member-steps/s for 1 to 64 members, and the step
# against batch and resolution.
python benchmarks/scaling.py --members=1,2,4,8,16,32,64 --steps_per_call=10 \
  --calls=5 > "$out/scaling.json"
