#!/usr/bin/env bash
# The prepared GPU run (issue 25): every section of fdiff.bench.gpu in its own process under its
# own time limit, so that a failure or an overrun loses that section only (rows are written as
# they are measured). The limits add up to 465 s; with each process's start-up, about 8 minutes
# on one H100/H200 if every section ran to its limit.
#
#   bash benchmarks/gpu.sh               # on a GPU machine, in the repository root
#   bash benchmarks/gpu.sh --cpu-smoke   # tiny sizes on the CPU, one process (CI runs it)
#
# Results (gpu.csv, fdiff bench's CSVs, the emergence runs' CSVs and EMA checkpoints, gpu.log:
# 8 files, what the device tool copies back) go to $OUT when it is set, else to
# benchmarks/results/gpu-<UTC date-time>/; scratch files to $GPU_WORK (default: a temporary
# folder).
set -u
smoke=""
if [ "${1:-}" = "--cpu-smoke" ]; then smoke="--cpu-smoke"; fi
out="${OUT:-benchmarks/results/gpu-$(date -u +%Y%m%d-%H%M)}"
work="${GPU_WORK:-$(mktemp -d)}"
mkdir -p "$out" "$work"
python="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee -a "$out/gpu.log") 2>&1
echo "== $(date -u '+%Y-%m-%d %H:%M UTC') $(git rev-parse --short HEAD 2>/dev/null) out=$out"
if [ -n "$smoke" ]; then # one process: the start-up is paid once; each section still guarded
    "$python" -m fdiff.bench.gpu --section all --out "$out" --work "$work" --cpu-smoke
    rc=$?
    echo "== smoke: exit $rc; rows in $out/gpu.csv"
    exit "$rc"
fi
# section:limit in seconds
sections="forward:15 train20:120 speed:60 max_batch:35 data:20 syncs:25 emergence_medium:95 emergence_hard:95"
t_all=$(date +%s)
failed=0
for item in $sections; do
    name="${item%%:*}"
    limit="${item##*:}"
    t0=$(date +%s)
    echo "== $name (limit $limit s)"
    timeout --kill-after=10 "$limit" "$python" -m fdiff.bench.gpu --section "$name" \
        --out "$out" --work "$work"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + 1))
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then # killed: it wrote no row of its own
            "$python" -c 'import sys; from fdiff.bench.gpu import timeout_row; timeout_row(*sys.argv[1:])' \
                "$out" "$name" "$limit"
        fi
    fi
    echo "== $name: $(($(date +%s) - t0)) s, exit $rc"
done
echo "== all sections: $(($(date +%s) - t_all)) s, $failed failed; rows in $out/gpu.csv"
[ "$failed" -eq 0 ]
