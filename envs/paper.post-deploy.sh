#!/usr/bin/env bash
# Run by Snakemake after it creates envs/paper.yaml's environment (--sdm conda): the project
# package (without its torch dependencies) and the Jupyter kernel `beamnet` named by figures.smk.
set -euo pipefail
python -m pip install --no-deps -e "$(dirname "$0")/.."
python -m ipykernel install --sys-prefix --name beamnet --display-name "BEAM-Net (Python 3.11)"
