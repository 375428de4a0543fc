#!/usr/bin/env bash
# A real two-node SLURM cluster on this one machine for the tests: `cluster.sh start|stop`.
#
# - slurm.conf and gres.conf are written to /etc/slurm/ (the jobstep executor strips SLURM_CONF,
#   so the configuration must sit at the default place); everything else (state, spool, logs,
#   pid files) lives in $FDIFF_SLURM_DIR (default /tmp/fdiff-slurm).
# - Two nodes, n1 and n2: two slurmd on this machine with their own ports (17001, 17002) and
#   spool directories (spool/n1, spool/n2), each with this machine's CPUs and two fake GPUs
#   (gres File=/dev/null and File=/dev/zero: jobs asking --gpus are scheduled and see
#   CUDA_VISIBLE_DEVICES, but there is no GPU behind them, so code must fall back to CPU);
#   partitions `cpu` (default) and `gpu` over both; no accounting (use
#   `slurm-status-command: squeue`); KillWait=10 (seconds between SIGTERM and SIGKILL at a
#   time limit).
# - FDIFF_SLURM_PREEMPT=REQUEUE|CANCEL|SUSPEND (SUSPEND,GANG), read when `start` starts the cluster (not when it
#   reuses a running one): preemption as clusters do it, PreemptType=preempt/partition_prio
#   with that PreemptMode, `gpu` at PriorityTier 1 and a partition `high` (PriorityTier 10,
#   not preemptible) whose jobs preempt those of `gpu`.
# - `start` is idempotent (an already running cluster is reused); `stop` cancels the jobs and
#   kills each daemon that `start` launched, by the PID in its pid file.
# Needs root and the packages of tests/slurm/install.sh.
set -euo pipefail

DIR=${FDIFF_SLURM_DIR:-/tmp/fdiff-slurm}
HOST=$(hostname -s)
CONF=/etc/slurm

log() { echo "slurm fixture: $*" >&2; }

wait_for() { # wait_for SECONDS CMD...: run CMD until it succeeds or SECONDS pass
  local limit=$1 i=0
  shift
  until "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -ge $((limit * 2)) ]; then
      return 1
    fi
    sleep 0.5
  done
}

# The daemons must not inherit the caller's open files: started under `flock LOCK cluster.sh
# start`, munged would otherwise hold the lock for as long as it runs.
daemon() { (
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
  done
  exec "$@"
); }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

NODES="n1 n2"

node_state() { sinfo -h -N -n "$1" -o %t 2>/dev/null | head -n1; }

node_idle() { case "$(node_state "$1")" in idle* | mix* | alloc*) return 0 ;; *) return 1 ;; esac; }

all_up() { # the controller and both slurmd run, both nodes take jobs
  alive "$DIR/slurmctld.pid" || return 1
  for n in $NODES; do
    alive "$DIR/slurmd-$n.pid" && node_idle "$n" || return 1
  done
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0 # a munged is already running (ours or the system's)
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile /etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 755 /run/munge
  daemon runuser -u munge -- munged --pid-file=/run/munge/munged.pid --force
  wait_for 10 sh -c 'munge -n | unmunge' || {
    log "munged did not start"
    exit 1
  }
  cp /run/munge/munged.pid "$DIR/munged.pid" # ours: stop kills it
}

preempt_conf() { # the slurm.conf lines of FDIFF_SLURM_PREEMPT
  case "${FDIFF_SLURM_PREEMPT:-}" in
    "") ;;
    REQUEUE | CANCEL | SUSPEND)
      echo "PreemptType=preempt/partition_prio"
      # SUSPEND needs the gang scheduler to resume the suspended jobs (slurm.conf(5))
      if [ "$FDIFF_SLURM_PREEMPT" = SUSPEND ]; then echo "PreemptMode=SUSPEND,GANG"; else
        echo "PreemptMode=$FDIFF_SLURM_PREEMPT"
      fi
      echo "PartitionName=high Nodes=n1,n2 Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF"
      # A requeued job waits for its credential to expire before it starts again (slurm.conf(5),
      # AuthInfo cred_expire, default 120 s): 30 s keeps the preemption scenarios short.
      if [ "$FDIFF_SLURM_PREEMPT" = REQUEUE ]; then echo "AuthInfo=cred_expire=30"; fi
      ;;
    *)
      log "FDIFF_SLURM_PREEMPT=$FDIFF_SLURM_PREEMPT: expected REQUEUE, CANCEL or SUSPEND"
      exit 2
      ;;
  esac
}

write_conf() {
  local total mem node tier=""
  preempt_conf >/dev/null # an unknown mode stops here
  [ -n "${FDIFF_SLURM_PREEMPT:-}" ] && tier=" PriorityTier=1"
  total=$(free -m | awk '/^Mem:/ {print $2}')
  mem=$((total * 85 / 100))
  # this machine's CPU layout, without its NodeName (each slurmd gets its own)
  node=$(slurmd -C | head -n1 | sed -E "s/^NodeName=[^ ]+ //; s/RealMemory=[0-9]+/RealMemory=$mem/")
  mkdir -p "$CONF" "$DIR/state" "$DIR/spool/n1" "$DIR/spool/n2" "$DIR/log"
  cat >"$CONF/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh (fdiff test fixture): two nodes on one machine.
ClusterName=fdiff-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
GresTypes=gpu
MinJobAge=600
ReturnToService=2
KillWait=10
SchedulerParameters=defer_batch
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
NodeName=n1 NodeHostname=$HOST NodeAddr=127.0.0.1 Port=17001 $node Gres=gpu:2 State=UNKNOWN
NodeName=n2 NodeHostname=$HOST NodeAddr=127.0.0.1 Port=17002 $node Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=n1,n2 Default=NO MaxTime=INFINITE State=UP$tier
$(preempt_conf)
EOF
  cat >"$CONF/gres.conf" <<EOF
# Written by tests/slurm/cluster.sh: two fake GPUs per node (no device behind them; one File=
# per GPU, as slurmd requires).
AutoDetect=off
NodeName=n1,n2 Name=gpu File=/dev/null
NodeName=n1,n2 Name=gpu File=/dev/zero
EOF
}

start() {
  mkdir -p "$DIR"
  if all_up; then
    log "already running"
    return 0
  fi
  command -v slurmctld >/dev/null || {
    log "slurmctld is not installed (bash tests/slurm/install.sh)"
    exit 1
  }
  start_munge
  write_conf
  if ! alive "$DIR/slurmctld.pid"; then
    daemon slurmctld -c
  fi
  wait_for 30 scontrol ping || {
    log "slurmctld does not answer; see $DIR/log/slurmctld.log"
    exit 1
  }
  for n in $NODES; do
    if ! alive "$DIR/slurmd-$n.pid"; then
      daemon slurmd -N "$n"
    fi
  done
  for _ in $(seq 60); do
    all_up && break
    for n in $NODES; do
      case "$(node_state "$n")" in
        drain* | drng* | down*) scontrol update NodeName="$n" State=RESUME 2>/dev/null || true ;;
      esac
    done
    sleep 1
  done
  all_up || {
    log "nodes not idle ($(sinfo -h -N -o '%N %t' | tr '\n' ' ')); see $DIR/log/"
    exit 1
  }
  log "up: $(sinfo -h -o '%P %t %N %G' | tr '\n' ' ')"
}

stop() {
  scancel --user "$(id -un)" 2>/dev/null || true
  for d in slurmd-n1 slurmd-n2 slurmctld munged; do
    if alive "$DIR/$d.pid"; then
      kill "$(cat "$DIR/$d.pid")"
      for _ in $(seq 40); do
        alive "$DIR/$d.pid" || break
        sleep 0.25
      done
    fi
    rm -f "$DIR/$d.pid"
  done
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo && squeue ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
