#!/usr/bin/env bash
# The sbatch calls of the paper plan's largest jobs as the slurm profile submits them, to the
# two-node fixture:
#   flock /tmp/fdiff-slurm.lock bash tests/slurm/sbatch_lines.sh
# the largest GPU job (cub-128/unshared training: 4 nodes x 8 GPUs), the GPU jobs asking the
# most memory (FID of imagenet-64 against 1.28M reference images) and the longest time (a
# 64 px hierarchical sample shard), and the largest CPU job (prepare).
# Their inputs stand in as empty files. Prints each call without its --wrap payload (once: a
# rule with retries resubmits a refused job), then the job id or sbatch's error. The fixture's
# nodes have 2 CPUs, 20,489 MB and GPUs of no type: it accepts the training and prepare jobs
# (they stay pending and are cancelled) but refuses a one-GPU job that asks for 8 CPUs per
# GPU, more memory than a node or an a100 (each alone, by `sbatch --test-only`).
set -u
cd "$(dirname "$0")/../.."
P=$(mktemp -d)
mkdir -p "$P/data" "$P/raw/.ready" "$P/imagenet-64/factorized" "$P/flowers-64/hierarchical"
touch "$P/raw/.ready/flowers" "$P/data/cub-128.h5" "$P/data/imagenet-64.h5" "$P/inception.pth"
touch "$P/imagenet-64/factorized/samples.h5" "$P/flowers-64/hierarchical/model.pt"
bash tests/slurm/cluster.sh start
for job in "$P/cub-128/unshared/model.pt|train run_config" \
  "$P/imagenet-64/factorized/fid.json|fid" \
  "$P/flowers-64/hierarchical/samples/shard-9.h5|sample_shard" \
  "$P/data/flowers-64.h5|prepare"; do
  target=${job%%|*}
  # shellcheck disable=SC2086 # the allowed rules, one word each
  timeout -s INT 60 snakemake "$target" --profile workflow/profiles/slurm \
    --profile tests/slurm/profile --config "results=$P" "raw=$P/raw" gpu_model=a100 \
    "inception_weights=$P/inception.pth" --allowed-rules ${job#*|} --verbose >"$P/log" 2>&1
  grep -h "^sbatch call:" "$P/log" | sed -E 's/ --wrap=.*//; s/--job-name [^ ]+/--job-name UUID/' |
    awk '!seen[$0]++'
  grep -h -o -e "has been submitted with SLURM jobid [0-9]*" -e "sbatch: error: [^'.]*" "$P/log" |
    awk '!seen[$0]++'

  scancel --user "$(id -un)" 2>/dev/null
done
rm -rf "$P"
