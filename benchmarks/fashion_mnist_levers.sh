#!/usr/bin/env bash
# The validation rows of issue 29's levers (benchmarks/results/fashion_mnist_tuning.{md,json}), in the order they
# were queued: each call of benchmarks/fashion_mnist_tuning.py skips the settings already in the results file, so
# this script can be stopped and rerun, and it only adds what is missing. One process at a time: each call rewrites
# the whole results file. The reference rows (herding, medoid, random) are already measured (--references with no
# names). Several hours on 2 CPU cores; the bench's caches (captions, latents, prototypes, teacher, selector,
# surrogates) go to runs/bench and are reused. Extra arguments go to every call.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
T="$PY benchmarks/fashion_mnist_tuning.py --model embedded --tag v1.0 $* --references"
IMG2IMG_MEDOID="start=medoid strength=0.7 guidance_scale=3.0 steps=50"
# where the IPC 50 ceiling is: one denoising step from the medoid, i.e. the VAE's round trip of the real medoid
$T --ipc 50 --grid start=medoid strength=0.02 guidance_scale=3.0 steps=50
# 5. under rded, the teacher that labels the images picks the best of 4 candidates (RDED's realism score)
$T --ipc 10 --protocol rded --grid $IMG2IMG_MEDOID candidates=4 selector=teacher
# 5. ... kept apart from the images already kept for the class (diversity μ: class probability − μ × likeness)
$T --ipc 10 --protocol rded --grid $IMG2IMG_MEDOID candidates=4 selector=teacher diversity=0.5
# 4. influence guidance (IGD) on mode_guided λ 0.2, over the first half of the steps
$T --ipc 50 --grid sampler=influence_guided mode_guidance=0.2 guidance_stop=1.0 influence=0.05,0.2 \
   guidance_scale=3.0 steps=50
# 5. CaO2's high-IPC rule: of 2 candidates the selector classifies right, the least confident (and the most)
$T --ipc 50 --grid $IMG2IMG_MEDOID candidates=2 pick=hard,confident
$T --ipc 50 --grid $IMG2IMG_MEDOID candidates=2 pick=hard diversity=0.5
# LOF contamination under rded (0 = LOF off) and once more at IPC 50
$T --ipc 10 --protocol rded --grid $IMG2IMG_MEDOID contamination=0.0
$T --ipc 50 --grid $IMG2IMG_MEDOID contamination=0.05
