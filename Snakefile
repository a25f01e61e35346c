# BEAM-Net: Bayesian Event-driven Attentional Memory network, end to end.
# Stages (workflow/rules/): data -> encode -> train -> evaluate -> energy/loihi -> figures -> paper.
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# the folder of this Snakefile: code, notebooks and manuscript sources are found from it
WORKFLOW_ROOT = Path(str(workflow.current_basedir)).resolve()
sys.path.insert(0, str(WORKFLOW_ROOT / "src"))
from beamnet.config import ConfigError, check_known_keys, coerce_command_line

# --config seeds=[0,1,2] arrives as strings: read them as the schema's integers; then refuse a
# misspelt key by name (and the nearest valid one) before the schema check
coerce_command_line(config)
try:
    check_known_keys(config)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/encode.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/energy.smk"
include: "workflow/rules/loihi.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/paper.smk"


# Small aggregate, plot and paper steps run in the main Snakemake process, not as cluster jobs.
localrules:
    all,
    download_nmnist,
    tune,
    summarise_results,
    build_catalog,
    record_tuning,
    plot_pareto,
    energy_tables,
    loihi_report,
    plot_prop_3_3,
    plot_training_dynamics,
    plot_comparison,
    plot_calibration,
    plot_sparsity,
    plot_energy_scaling,
    plot_loihi,
    collect_paper_values,
    collect_energy_values,
    collect_loihi_values,
    render_paper,


rule all:
    default_target: True
    input:
        final_targets(),
