#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the end-to-end tests of
# `bench run --executor slurm` (tests/execution/test_slurm.py) and for trying the
# executor by hand.
#
# Idempotent: installs slurmctld, slurmd, the client tools and munge with apt-get where
# they are missing, writes /etc/slurm/slurm.conf for one node ("localhost", every core of
# this machine, a `debug` partition), starts munged, slurmctld and slurmd where they are
# not running (restarting them when the configuration changed), and waits until `sinfo`
# shows the node idle. Needs root; works without systemd (containers, CI).
#
# The node uses proctrack/linuxproc and task/none, so no cgroups are needed, and no
# accounting database: `sacct` is unavailable, which is why the harness follows its jobs
# with `squeue` and its own records rather than with sacct.
#
#   bash scripts/slurm-local.sh          # bring the cluster up (or check it is up)
#   bash scripts/slurm-local.sh stop     # stop the daemons this script starts
set -euo pipefail

CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
NODE=localhost
LOG_DIR=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }
alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

stop_daemon() {  # pidfile name
    if alive "$1"; then
        say "stopping $2"
        kill "$(cat "$1" 2>/dev/null)" 2>/dev/null || true
        for _ in $(seq 50); do alive "$1" || break; sleep 0.2; done
    fi
    rm -f "$1"
}

if [[ "${1:-}" == "stop" ]]; then
    stop_daemon "$SLURMD_PID" slurmd
    stop_daemon "$CTLD_PID" slurmctld
    exit 0
fi

[[ "$(id -u)" == 0 ]] || die "run as root (it installs packages and starts system daemons)"

# --- packages -----------------------------------------------------------------------
missing=()
for pair in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d stops the packages' init scripts from starting daemons with their
    # default configuration; this script starts them itself below.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
fi

# --- munge --------------------------------------------------------------------------
if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock "$MUNGE_PID"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
    munge -n </dev/null | unmunge >/dev/null || die "munged does not answer"
fi

# --- configuration ------------------------------------------------------------------
cpus=$(nproc)
# Leave 1 GiB of the machine's memory to the system, so --mem requests are checked
# against something real (RealMemory defaults to 1 MB otherwise). A job without --mem
# gets its CPUs' share (DefMemPerCPU); without that default, memory being a consumable
# resource, every job would claim the whole node and jobs would run one at a time.
mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 - 1024}' /proc/meminfo)
((mem_mb > 512)) || mem_mb=512
mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
new_conf=$(cat <<EOF
# Written by scripts/slurm-local.sh: a single-node test cluster on localhost.
ClusterName=xmdlocal
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((mem_mb / cpus))
ReturnToService=2
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
MaxArraySize=10001
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)
changed=0
if [[ ! -f "$CONF" ]] || [[ "$(cat "$CONF")" != "$new_conf" ]]; then
    say "writing $CONF ($cpus CPUs, ${mem_mb} MB)"
    printf '%s\n' "$new_conf" >"$CONF"
    changed=1
fi

# --- daemons ------------------------------------------------------------------------
if ((changed)); then
    stop_daemon "$SLURMD_PID" slurmd
    stop_daemon "$CTLD_PID" slurmctld
fi
if ! alive "$CTLD_PID"; then
    # -c: start with an empty queue. Jobs saved by an earlier, dead controller (a finished
    # session's left-overs) are not run again: this cluster exists only for tests.
    say "starting slurmctld"
    slurmctld -c
fi
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
scontrol ping | grep -q UP || die "slurmctld does not answer; see $LOG_DIR/slurmctld.log"
if ! alive "$SLURMD_PID"; then
    say "starting slurmd"
    slurmd -N "$NODE"
fi

# --- wait for the node ----------------------------------------------------------------
state=""
for _ in $(seq 120); do
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
    case "$state" in
        idle | mix | alloc) break ;;
        down* | drain* | drng*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
case "$state" in
    idle | mix | alloc) ;;
    *) die "node $NODE is '$state', not idle; see $LOG_DIR/slurmd.log and $LOG_DIR/slurmctld.log" ;;
esac
sinfo
say "cluster up: partition debug, node $NODE ($cpus CPUs)"
