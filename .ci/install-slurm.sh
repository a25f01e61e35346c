#!/usr/bin/env bash
# Install what tests/test_slurm_profile.py needs for a one-node SLURM cluster on localhost:
# munge, slurmctld, slurmd and the client commands (sbatch, squeue, sinfo, scontrol).
# No slurmdbd/MariaDB: profiles/slurm uses the executor plugin's squeue-based status
# queries (see the comment there), so no accounting database is needed.
#
# Idempotent: does nothing when the binaries are already there. Needs root and apt-get
# (Debian/Ubuntu). Never starts a daemon: tests/slurm_cluster.py starts and stops them.
# Usage: sudo .ci/install-slurm.sh          (exit 0: installed or already present)
set -euo pipefail

PACKAGES=(munge slurmctld slurmd slurm-client)
BINARIES=(munged munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel srun)

# `sinfo --version` needs a slurm.conf, so ask the package database (or slurmd -V) instead.
slurm_version() {
  dpkg-query -W -f='slurm ${Version}' slurmctld 2>/dev/null || slurmd -V 2>/dev/null || echo "slurm"
}

missing=()
for bin in "${BINARIES[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-slurm: already installed ($(slurm_version))"
  exit 0
fi
echo "install-slurm: missing ${missing[*]}; installing ${PACKAGES[*]}"

if [ "$(id -u)" -ne 0 ]; then
  echo "install-slurm: must run as root (apt-get install)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-slurm: apt-get not found; install ${PACKAGES[*]} with your package manager" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep maintainer scripts from starting the daemons (containers have no init system, and
# the test starts them with its own configuration). Only add a policy if none is present.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
cleanup() { if [ "$added_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

# Bounded: a stuck mirror or dpkg lock must not hang CI forever.
apt_opts=(-o Acquire::Retries=3 -o Acquire::http::Timeout=30 -o DPkg::Lock::Timeout=120)
timeout 600 apt-get "${apt_opts[@]}" update -qq
timeout 900 apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${PACKAGES[@]}"

for bin in "${BINARIES[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || {
    echo "install-slurm: $bin still missing after install" >&2; exit 1; }
done
echo "install-slurm: installed ($(slurm_version))"
