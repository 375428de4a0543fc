#!/usr/bin/env bash
# The sbatch calls of the paper plan's largest GPU job (cub-128/unshared: 4 nodes x 8 GPUs) and
# largest CPU job (prepare) as the slurm profile submits them, to the two-node fixture:
#   flock /tmp/fdiff-slurm.lock bash tests/slurm/sbatch_lines.sh
# Their inputs stand in as empty files; the fixture accepts the jobs (they stay pending: it has
# 2 nodes of 2 CPUs) and they are cancelled. Prints each call without its --wrap payload.
set -u
cd "$(dirname "$0")/../.."
P=$(mktemp -d)
mkdir -p "$P/data" "$P/raw/.ready"
touch "$P/raw/.ready/flowers" "$P/data/cub-128.h5"
bash tests/slurm/cluster.sh start
for target in "$P/cub-128/unshared/model.pt" "$P/data/flowers-64.h5"; do
  timeout -s INT 60 snakemake "$target" --profile workflow/profiles/slurm \
    --profile tests/slurm/profile --config "results=$P" "raw=$P/raw" gpu_model=a100 \
    --allowed-rules train run_config prepare --verbose >"$P/log" 2>&1
  grep -h "sbatch call:" "$P/log" | sed -E 's/ --wrap=.*//; s/--job-name [^ ]+/--job-name UUID/'
  grep -h "has been submitted with SLURM jobid" "$P/log"
  scancel --user "$(id -un)" 2>/dev/null
done
rm -rf "$P"
