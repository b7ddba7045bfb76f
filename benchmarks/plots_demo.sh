#!/usr/bin/env bash
# The plots and run reports of one NB201 and one DARTS search (docs/plots.md).
#
# Run from the repository root after installing (README):  bash benchmarks/plots_demo.sh
# Writes into benchmarks/out/ (git-ignored). The runs resume or are reused when their
# files exist, so a second call only redraws. Cost on 2 CPU cores: the NB201 search
# about 5 min, the ranking 1-2 min; the DARTS search is cut to one repeat and an NTK
# batch of 8 (a full one, default settings, takes about 14 min).
set -euo pipefail
cd "$(dirname "$0")/.."
TENASKIT=${TENASKIT:-.venv/bin/tenaskit}
DATA=../shared/data/cifar10-jpg-mini/train
TABLE=../shared/data/nb201_cifar10_accuracy.csv
OUT=benchmarks/out

"$TENASKIT" run --space nb201 --proxies ntk,regions --data "$DATA" --seed 0 --out "$OUT/nb201-seed0.h5" --benchmark "$TABLE"
"$TENASKIT" plot trajectory "$OUT/nb201-seed0.h5" -o "$OUT/nb201-seed0-trajectory.png" --benchmark "$TABLE"
"$TENASKIT" report "$OUT/nb201-seed0.h5" -o "$OUT/nb201-seed0-report.html" --benchmark "$TABLE"

"$TENASKIT" rank --space nb201 --proxies ntk,regions --sample 50 --seed 0 --data "$DATA" --out "$OUT/rank50.csv" \
    --store "$OUT/plots_demo_scores.h5"
"$TENASKIT" plot correlation "$OUT/rank50.csv" --benchmark "$TABLE" -o "$OUT/rank50-correlation.png"

# No benchmark table exists for DARTS: the report shows the genotype and its cells without an accuracy.
"$TENASKIT" run --space darts --proxies ntk,regions --data "$DATA" --seed 0 --repeats 1 --batch-size 8 \
    --out "$OUT/darts-seed0-r1b8.h5"
"$TENASKIT" plot trajectory "$OUT/darts-seed0-r1b8.h5" -o "$OUT/darts-seed0-r1b8-trajectory.png"
"$TENASKIT" report "$OUT/darts-seed0-r1b8.h5" -o "$OUT/darts-seed0-r1b8-report.html"
