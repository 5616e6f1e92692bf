#!/usr/bin/env bash
# Run a command as if on a slower machine: `bash test/soak/slower-machine.sh CPUS COMMAND…`
# (as root), e.g. `bash test/soak/slower-machine.sh 1 npm run test:soak` on a 2-core machine
# gives the whole run one core's worth of CPU time: the machine at half its speed.
#
# Machines differ 2–4× in speed and CI runs on whichever one a session gets, so a load test must
# pass on a slower one with margin, not only on the machine it was written on. The command and
# everything it starts (workers, rendezvous, peers) run in a CPU cgroup whose quota is CPUS
# cores' worth of time per 10 ms period (cgroup v2 `cpu.max`, else v1 `cpu.cfs_quota_us`); the
# short period spreads the throttling thinly rather than in 100 ms stalls. The cgroup is removed
# on every exit path.
set -euo pipefail

if [[ $# -lt 2 || ! $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "usage: bash test/soak/slower-machine.sh CPUS COMMAND... (CPUS: cores' worth of time, e.g. 1 or 0.5)" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "slower-machine.sh: needs root (it makes a CPU cgroup)" >&2
  exit 2
fi
cpus=$1
shift
period_us=10000
quota_us=$(awk -v c="$cpus" -v p="$period_us" 'BEGIN { q = int(c * p); if (q < 1000) q = 1000; print q }')

name="parley-slower-$$"
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  group="/sys/fs/cgroup/$name" # cgroup v2
  mkdir "$group"
  echo "$quota_us $period_us" > "$group/cpu.max"
elif [[ -d /sys/fs/cgroup/cpu ]]; then
  group="/sys/fs/cgroup/cpu/$name" # cgroup v1
  mkdir "$group"
  echo "$period_us" > "$group/cpu.cfs_period_us"
  echo "$quota_us" > "$group/cpu.cfs_quota_us"
else
  echo "slower-machine.sh: no CPU cgroup controller found under /sys/fs/cgroup" >&2
  exit 1
fi

cleanup () {
  # Move anything left back to the root group, then remove ours.
  if [[ -f "$group/cgroup.procs" ]]; then
    while read -r pid; do echo "$pid" > "$(dirname "$group")/cgroup.procs" 2>/dev/null || true; done < "$group/cgroup.procs"
  fi
  rmdir "$group" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "slower-machine.sh: running with ${cpus} CPU(s) of time (quota ${quota_us} µs per ${period_us} µs): $*" >&2
# The command joins the cgroup before it starts, so all its children do too.
bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$group" "$@"
