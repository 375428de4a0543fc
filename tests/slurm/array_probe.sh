#!/usr/bin/env bash
# Whether snakemake-executor-plugin-slurm 2.8.0's array jobs (`--slurm-array-jobs RULE`) fit
# the sample shards, on the two-node fixture:
#   flock /tmp/fdiff-slurm.lock bash tests/slurm/array_probe.sh
# Four jobs of one rule, each asking its own wall time (1-4 min) and memory (100-400 MB) as the
# shards do (a model's cost, the last shard's size); job 2 fails on its first attempt and has
# one retry. Prints the sbatch calls, what squeue shows while they run (id, time limit,
# memory) and how Snakemake ended.
set -u
here=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d)
cat >"$d/Snakefile" <<'SMK'
rule all:
    input: expand("out/{i}.txt", i=range(4))
rule work:
    output: "out/{i}.txt"
    resources: slurm_partition="cpu", runtime=lambda w: 1 + int(w.i), mem_mb=lambda w: 100 * (1 + int(w.i))
    retries: 1
    shell:
        "if [ {wildcards.i} = 2 ] && [ ! -e out/2.failed ]; then touch out/2.failed; exit 1; fi;"
        " sleep 20; echo {wildcards.i} > {output}"
SMK
bash "$here/cluster.sh" start
cd "$d" || exit 1
mkdir -p out
timeout -s INT 240 snakemake --executor slurm --profile "$here/profile" -j 10 \
  --slurm-array-jobs work --verbose >smk.log 2>&1 &
smk=$!
for i in $(seq 12); do
  # array tasks only (id_task): the fixture keeps earlier jobs for MinJobAge
  echo "t=$((i * 5))s squeue: $(squeue -h -t all -o '%i:%T:%l:%m' | grep _ | tr '\n' ' ')"
  sleep 5
done
wait $smk
status=$?
echo "sbatch calls: $(grep -c -e '^sbatch call:' -e 'Submitting array job with sbatch call' smk.log)"
grep -h -e 'Submitting array job with sbatch call' -e '^sbatch call:' smk.log |
  sed -E 's/ --wrap=.*//; s/--job-name [^ ]+/--job-name UUID/'
grep -h -e "submitted with SLURM" -e "Error in rule" -e "Trying to restart" -e "steps (100%) done" \
  smk.log
echo "job 2 failed once: $(ls out/2.failed 2>/dev/null || echo no)"
echo "snakemake exit status $status; outputs: $(cat out/*.txt 2>/dev/null | tr '\n' ' ')"
cd / && rm -rf "$d"
