#!/usr/bin/env bash
# What Snakemake 9.27.1 and snakemake-executor-plugin-slurm 2.8.0 do when SLURM preempts a job
# (PreemptType=preempt/partition_prio), on the two-node fixture:
#   flock /tmp/fdiff-slurm.lock bash tests/slurm/preempt_probe.sh CANCEL|REQUEUE|SUSPEND
# A one-rule workflow (sleep 45) runs on partition gpu; a job on partition `high` preempts it.
# Prints the jobs' states every 5 s for 2 minutes and how Snakemake ended (killed with SIGINT
# after 150 s if it is still waiting). The cluster is restarted without preemption at the end.
set -u
mode=$1
here=$(cd "$(dirname "$0")" && pwd)
d=$(mktemp -d)
cat >"$d/Snakefile" <<'EOF'
rule work:
    output: "out.txt"
    resources: slurm_partition="gpu", runtime=10, mem_mb=500
    shell: "sleep 45; echo done > {output}"
EOF
bash "$here/cluster.sh" stop
FDIFF_SLURM_PREEMPT=$mode bash "$here/cluster.sh" start
cd "$d" || exit 1
timeout -s INT 150 snakemake --executor slurm --profile "$here/profile" -j 1 >smk.log 2>&1 &
smk=$!
for _ in $(seq 60); do squeue -h -o "%P %T" | grep -q "gpu RUNNING" && break; sleep 1; done
sbatch --parsable -p high -N2 --exclusive -t 1 --wrap "sleep 15" >/dev/null
for i in $(seq 24); do
  echo "t=$((i * 5))s $(squeue -h -t all -o '%i:%P:%T:%r' | tr '\n' ' ')"
  sleep 5
done
wait $smk
echo "snakemake exit status $? (124: still waiting, stopped by timeout); out.txt: $(cat out.txt 2>/dev/null || echo missing)"
grep -i "preempt" smk.log | head -3
bash "$here/cluster.sh" stop
bash "$here/cluster.sh" start
rm -rf "$d"
