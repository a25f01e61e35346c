#!/usr/bin/env bash
# Debian packages used by the test suite beyond the Python environments (idempotent).
set -euo pipefail
here="$(dirname "$0")"
bash "$here/install-slurm.sh"
if ! command -v pdftotext >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq poppler-utils >/dev/null
fi
