#!/usr/bin/env bash
# Installs the packages of the two-node SLURM test cluster (Debian/Ubuntu, run as root).
# Idempotent: does nothing when slurmctld, slurmd, sbatch and munged are already there.
# Called by .ci/run; tests/slurm/cluster.sh starts and stops the cluster.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
  && command -v sbatch >/dev/null && command -v munged >/dev/null; then
  echo "slurm fixture: packages already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "slurm fixture: need root to apt-get install slurmctld slurmd slurm-client munge" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
echo "slurm fixture: installed $(slurmctld -V)"
