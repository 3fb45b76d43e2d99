#!/bin/sh
# Retrains every model shipped in models/ with the exact commands of their cards, and rewrites
# the held-out sets, the cards and models/README.md. Run from the repository root:
#   sh examples/train/train_all.sh            (all models)
#   sh examples/train/train_all.sh ring moons (some of them)
# Each model takes 2 to 4 minutes of CPU (wall times in the cards: the machine was shared).
set -eu
cd "$(dirname "$0")/../.."
PY="nice -n 10 /usr/bin/python3"
T=examples/train
models="${*:-ring moons swissroll checkerboard digits_classifier digits digits_noisy_classifier diffusion_lm}"

$PY $T/datasets.py --out models

for m in $models; do
  case $m in
    ring) $PY $T/train.py --dataset ring --prediction noise --sde vp \
        --time-input scaled_t --time-scale 999 --embedding sinusoidal \
        --steps 10000 --eval-steps 100 --seed 0 --threads 1 --out models/ring ;;
    moons) $PY $T/train.py --dataset moons --prediction data --sde vp \
        --time-input t --embedding fourier --fourier-scale 16 \
        --steps 10000 --eval-steps 100 --seed 0 --threads 2 --out models/moons ;;
    swissroll) $PY $T/train.py --dataset swissroll --prediction velocity --sde cosine \
        --time-input log_sigma --embedding sinusoidal \
        --steps 4000 --eval-steps 100 --seed 0 --threads 1 --out models/swissroll ;;
    checkerboard) $PY $T/train.py --dataset checkerboard --prediction data --sde edm \
        --time-input sigma --preconditioning edm --sigma-data 1.15 --embedding fourier --fourier-scale 2 \
        --time-sampling lognormal --weighting edm \
        --steps 4000 --eval-steps 100 --seed 0 --threads 1 --out models/checkerboard ;;
    digits) $PY $T/train.py --dataset digits --prediction noise --sde vp \
        --time-input scaled_t --time-scale 999 --embedding sinusoidal --embedding-dim 64 \
        --width 128 --hidden 256 --blocks 2 --time-mlp 128 --norm \
        --label-dropout 0.15 --batch 128 --lr 1e-3 --steps 6000 --warmup 200 --eval-steps 100 \
        --seed 0 --threads 2 --out models/digits ;;
    diffusion_lm) $PY $T/train.py --dataset sentences --prediction data --sde vp \
        --time-input scaled_t --time-scale 999 --embedding sinusoidal --embedding-dim 64 \
        --width 128 --hidden 256 --blocks 2 --time-mlp 128 --norm \
        --batch 128 --lr 1e-3 --steps 6000 --warmup 200 --eval-steps 100 \
        --seed 0 --threads 1 --out models/diffusion_lm ;;
    digits_noisy_classifier) $PY $T/train.py --objective classifier --dataset digits --sde vp \
        --time-input scaled_t --time-scale 999 --embedding sinusoidal --embedding-dim 32 \
        --width 64 --hidden 128 --blocks 2 --time-mlp 64 --norm \
        --batch 128 --lr 2e-3 --steps 3000 --warmup 100 --seed 0 --threads 1 --out models/digits_noisy_classifier ;;
    digits_classifier) $PY $T/classifier.py --steps 3000 --seed 0 --threads 1 --out models/digits_classifier ;;
    *) echo "unknown model $m" >&2; exit 2 ;;
  esac
done

$PY $T/cards.py models
