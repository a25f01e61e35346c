# Helpers shared by the rule files. No rules here.
import json
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.settings.types import DeploymentMethod

from beamnet.config import (
    DATASETS,
    EVENT_DATASETS,
    IMAGE_ENCODINGS,
    MODELS,
    SPLITS,
    ConfigError,
    check_theory,
    encodings_for,
    tuning_view,
)
from beamnet.config import model_encoding as beamnet_model_encoding
from beamnet.data.download import MARKER as NMNIST_DOWNLOAD_MARKER
from beamnet.data.download import download_root
from beamnet.data.dvs_gesture import gesture_recordings, has_gesture_layout
from beamnet.data.nmnist import has_nmnist_layout, nmnist_available

# The theory constraints (Prop. 3.3, Thm. 3.6, Eqs. 7, 9, 12) fail the DAG before any job runs.
try:
    check_theory(config)
    from beamnet.config import dataset_config

    for _dataset in config.get("dataset_settings") or {}:
        dataset_config(config, _dataset)
    # the configuration the tuning record compares against (tuning.baseline; beamnet.config.tuning_view)
    TUNING_CONFIG = tuning_view(config)
    for _dataset in TUNING_CONFIG.get("dataset_settings") or {}:
        dataset_config(TUNING_CONFIG, _dataset)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None


# Rules call `python -m beamnet`: under --sdm conda the rule's own environment provides python;
# otherwise the interpreter running Snakemake (the project venv) is put first on PATH for jobs.
envvars:
    "PATH",


if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def workflow_path(relative):
    """A file of this workflow (code, notebooks, SQL, manuscript sources), found from the folder
    of its Snakefile (WORKFLOW_ROOT), not from the working directory, so that the workflow also
    runs as a Snakemake `module` of another project. Where it runs from its own folder (the
    usual case) the path stays relative, as Snakemake's records of earlier runs have it."""
    path = WORKFLOW_ROOT / relative
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


SRC = Path(workflow_path("src/beamnet"))
DATASET_PATTERN = "|".join(DATASETS)
ENCODING_PATTERN = "|".join(IMAGE_ENCODINGS)
MODEL_PATTERN = "|".join(MODELS)

# The src/beamnet modules each model's training and evaluation really run.
SHARED_MODEL_CODE = [
    "models/__init__.py",
    "models/encoder.py",
    "models/device.py",
    "train.py",
    "augment.py",
    "metrics.py",
    "encoding.py",
]
MODEL_CODE = {
    "beam_net": [
        "models/beam_net.py",
        "models/coincidence.py",
        "models/bayesian_lif.py",
        "models/dirichlet.py",
        "models/bidirectional.py",
    ],
    "ann_mlp": ["models/baselines.py"],
    "rate_snn": ["models/baselines.py"],
}


def memory_mb(base_mb):
    """A rule's mem_mb: its measured need on the first attempt, that many times more on each retry
    (`retries:` in the profiles), so that a job killed for memory on a cluster is resubmitted with more."""
    return lambda wildcards, attempt: base_mb * attempt


def step_config(*sections):
    """The config sections a step uses, as canonical JSON; passed as params, so a change reruns the step."""
    return json.dumps({name: config[name] for name in sections}, sort_keys=True)


def mlflow_option():
    """train's --mlflow-store option where tracking.mlflow is on (a param: switching it reruns training,
    so that every tracked run is the run that wrote its checkpoint)."""
    tracking = config.get("tracking", {})
    return f"--mlflow-store {shlex.quote(tracking['store'])}" if tracking.get("mlflow") else ""


def dataset_step_config(*sections):
    """As step_config, for the {dataset} (and {model}) wildcards of a job: the sections of that
    dataset's configuration (config.yaml's dataset_settings applied; beamnet.config.dataset_config),
    with the model's own training settings over train (train_by_model; beamnet.config.model_config)."""

    def sections_of(wildcards):
        from beamnet.config import dataset_config, model_config

        try:
            if hasattr(wildcards, "model"):
                chosen = model_config(config, wildcards.dataset, wildcards.model)
            else:
                chosen = dataset_config(config, wildcards.dataset)
        except ConfigError as error:
            raise WorkflowError(f"invalid configuration: {error}") from None
        return json.dumps({name: chosen[name] for name in sections}, sort_keys=True)

    return sections_of


def source_files(*modules):
    """src/beamnet modules a rule depends on, so that editing them reruns it."""
    return [str(SRC / module) for module in modules]


# the manuscript package (src/beamnet/paper/): every module, so that editing one reruns its readers
PAPER_CODE = tuple(f"paper/{module}.py" for module in ("__init__", "style", "tables", "values", "render"))


def nmnist_downloads():
    """Whether the recordings come from the download step: download on and data.nmnist.root
    without them."""
    nmnist = config["data"]["nmnist"]
    return bool(nmnist["download"]) and not has_nmnist_layout(nmnist["root"])


def nmnist_root():
    """The folder prepare reads: data.nmnist.root, or the download step's folder."""
    nmnist = config["data"]["nmnist"]
    return str(download_root(nmnist["download_dir"])) if nmnist_downloads() else nmnist["root"]


def nmnist_recordings():
    """The recordings under the N-MNIST root, as the checksum step's inputs (none where the root
    lacks them, as before the download step has run)."""
    from beamnet.data.raw_manifest import nmnist_raw_files

    root = nmnist_root()
    return [str(path) for path in nmnist_raw_files(root)] if has_nmnist_layout(root) else []


def nmnist_download_marker(wildcards):
    """The download step's marker, where the checksum step waits for it."""
    return {"download": rules.download_nmnist.output.marker} if nmnist_downloads() else {}


def dataset_unavailable(dataset):
    """Why ``dataset``'s raw data cannot be read (None where it can)."""
    if dataset == "nmnist":
        nmnist = config["data"]["nmnist"]
        if not nmnist_available(nmnist["root"], nmnist["download"]):
            return f"data.nmnist.root '{nmnist['root']}' has no Train/ and Test/ and data.nmnist.download is false"
    if dataset == "dvs_gesture":
        root = config["data"]["dvs_gesture"]["root"]
        if not has_gesture_layout(root):
            return f"data.dvs_gesture.root '{root}' has no ibmGestureTrain/ and ibmGestureTest/"
    return None


def dataset_available(dataset):
    return dataset_unavailable(dataset) is None


def active_datasets():
    """Datasets `all` runs: config['datasets'], less those whose raw data is unavailable."""
    chosen = []
    for dataset in config["datasets"]:
        reason = dataset_unavailable(dataset)
        if reason is None:
            chosen.append(dataset)
        elif config.get("skip_unavailable_datasets", True):
            print(f"warning: dataset '{dataset}' left out: {reason}", file=sys.stderr)
        else:
            raise WorkflowError(f"dataset '{dataset}' is unavailable: {reason}")
    return chosen


def dataset_archive(dataset):
    kind = "events" if dataset in EVENT_DATASETS else "images"
    return f"results/datasets/{dataset}/{kind}.npz"


def cache_paths(dataset, encoding):
    return expand("results/cache/{dataset}/{encoding}/{split}.npz", dataset=dataset, encoding=encoding, split=SPLITS)


def model_encoding(model, dataset):
    """The cache ``model`` reads on ``dataset`` (``auto``: population for images, else latency)."""
    try:
        from beamnet.config import dataset_config

        return beamnet_model_encoding(dataset_config(config, dataset), model, dataset)
    except ConfigError as error:
        raise WorkflowError(str(error)) from None


def checkpoint_paths(datasets=None):
    return expand(
        "results/checkpoints/{dataset}/{model}/seed={seed}.pt",
        dataset=datasets if datasets is not None else active_datasets(),
        model=config["models"],
        seed=config["seeds"],
    )


def prediction_paths(datasets=None):
    return expand(
        "results/predictions/dataset={dataset}/model={model}/seed={seed}/predictions.parquet",
        dataset=datasets if datasets is not None else active_datasets(),
        model=config["models"],
        seed=config["seeds"],
    )


def history_paths(datasets=None):
    return [path.replace(".pt", "_history.csv") for path in checkpoint_paths(datasets)]


def core_targets(datasets):
    targets = []
    for dataset in datasets:
        for encoding in encodings_for(dataset):
            targets += cache_paths(dataset, encoding)
    targets += checkpoint_paths(datasets)
    targets += prediction_paths(datasets)
    targets += ["results/tables/summary.parquet", "results/tables/claims.csv", "results/beamnet.duckdb"]
    return targets


def final_targets():
    """What the target `all` builds, in one place. Every dataset's caches, checkpoints, predictions and
    tables; the tuning record, energy sweep and Loihi runs where config.yaml makes them part of
    the run (each *_targets function is empty otherwise); the figures; the manuscript."""
    datasets = active_datasets()
    return [
        *core_targets(datasets),
        *tuning_targets(datasets),
        *energy_targets(datasets),
        *loihi_targets(datasets),
        *paper_figures(),
        "paper/report.pdf",
    ]


def encode_inputs(wildcards):
    if wildcards.encoding not in encodings_for(wildcards.dataset):
        raise WorkflowError(
            f"encoding '{wildcards.encoding}' is not available for dataset "
            f"'{wildcards.dataset}': expected one of "
            f"{list(encodings_for(wildcards.dataset))}"
        )
    return {
        "source": dataset_archive(wildcards.dataset),
        "manifest": f"results/datasets/{wildcards.dataset}/manifest.csv",
        "code": source_files("encoding.py", "data/events.py"),
    }


def train_inputs(wildcards):
    encoding = model_encoding(wildcards.model, wildcards.dataset)
    caches = dict(zip(SPLITS, cache_paths(wildcards.dataset, encoding)))
    code = source_files(*SHARED_MODEL_CODE, *MODEL_CODE[wildcards.model])
    return {"train": caches["train"], "val": caches["val"], "code": code}


def evaluate_inputs(wildcards):
    encoding = model_encoding(wildcards.model, wildcards.dataset)
    return {
        "checkpoint": f"results/checkpoints/{wildcards.dataset}/{wildcards.model}/seed={wildcards.seed}.pt",
        "test": cache_paths(wildcards.dataset, encoding)[SPLITS.index("test")],
        "code": source_files("evaluate.py", "energy.py", *SHARED_MODEL_CODE, *MODEL_CODE[wildcards.model]),
    }


# --- figures and paper (figures.smk, paper.smk) ---
from beamnet.config import theory_bound_iterations


def paper_figure_families():
    """The manuscript's figure families: family -> its figures (the plotting rules' own outputs).
    The optional families (energy_scaling, loihi, pareto) are present only where their stage is
    part of the run; paper/report.qmd shows an optional section only where its family is present
    (front matter has-{family}). An optional family also lists its named values
    (results/paper/values/{family}.json), so render_paper needs them. Called once every rule is
    defined (by the target `all` and by render_paper's input)."""
    datasets = active_datasets()
    families = {
        "training_dynamics": [
            rules.plot_training_dynamics.output.loss,
            rules.plot_training_dynamics.output.iterations,
            rules.plot_training_dynamics.output.energy,
        ],
        "comparison": [rules.plot_comparison.output.headline, rules.plot_comparison.output.energy],
        "calibration": [rules.plot_calibration.output.reliability, rules.plot_calibration.output.decomposition],
        "sparsity": [rules.plot_sparsity.output.pareto],
        "prop_3_3": [rules.plot_prop_3_3.output.distance],
    }
    if energy_datasets(datasets):
        families["energy_scaling"] = [
            rules.plot_energy_scaling.output.scaling,
            rules.collect_energy_values.output.values,
        ]
    if loihi_datasets(datasets):
        families["loihi"] = [rules.plot_loihi.output.loihi, rules.collect_loihi_values.output.values]
    if tuning_targets(datasets):  # the ablation section, where a record is built
        families["pareto"] = [rules.plot_pareto.output.pareto]
    return families


def paper_figures():
    families = paper_figure_families()
    return [path for family in sorted(families) for path in families[family]]


def papermill_parameters(**parameters):
    """A notebook's parameters as JSON (which is YAML) for `papermill -y`; Snakemake lists become lists."""
    return json.dumps(
        {
            name: list(value) if isinstance(value, (list, tuple)) or hasattr(value, "_names") else value
            for name, value in parameters.items()
        }
    )


# --- energy sweep and Loihi (energy.smk, loihi.smk) ---
def energy_datasets(datasets):
    return [d for d in config.get("energy", {}).get("datasets", []) if d in datasets]


def energy_point_paths(datasets):
    return expand(
        "results/energy/points/{dataset}/n={n}.parquet",
        dataset=energy_datasets(datasets),
        n=config.get("energy", {}).get("n_patterns", []),
    )


def energy_point_inputs(wildcards):
    caches = dict(zip(SPLITS, cache_paths(wildcards.dataset, "latency")))
    return {
        **caches,
        "code": source_files(
            "energy_sweep.py", "energy.py", "evaluate.py", *SHARED_MODEL_CODE, *MODEL_CODE["beam_net"]
        ),
    }


def energy_targets(datasets):
    if not energy_datasets(datasets):
        return []
    return ["results/energy/sweep.parquet", "results/energy/crossings.parquet"]


def loihi_datasets(datasets=None):
    chosen = datasets if datasets is not None else active_datasets()
    return [d for d in config.get("loihi", {}).get("datasets", []) if d in chosen]


def loihi_models():
    """Models run on Loihi (BEAM-Net and the rate-coded SNN), where they are part of the run."""
    return [m for m in config["loihi"].get("models", ["beam_net"]) if m in config["models"]]


def loihi_runs():
    """One record per Loihi run (dataset, model, seed and its per-sample predictions): what the
    Loihi notebook reads, so that it never parses paths."""
    seed = config["loihi"]["seed"]
    return [
        {
            "dataset": dataset,
            "model": model,
            "seed": seed,
            "predictions": f"results/loihi/{dataset}/{model}/seed={seed}/predictions.parquet",
        }
        for dataset in loihi_datasets()
        for model in loihi_models()
    ]


def loihi_paths(name):
    return expand(
        "results/loihi/{dataset}/{model}/seed={seed}/{name}",
        dataset=loihi_datasets(),
        model=loihi_models(),
        seed=config["loihi"]["seed"],
        name=name,
    )


def loihi_export_inputs(wildcards):
    model = wildcards.model
    return {
        "checkpoint": f"results/checkpoints/{wildcards.dataset}/{model}/seed={wildcards.seed}.pt",
        "test": cache_paths(wildcards.dataset, model_encoding(model, wildcards.dataset))[SPLITS.index("test")],
        "code": source_files(
            "loihi/export.py",
            "loihi/quantise.py",
            "loihi/samples.py",
            f"loihi/export_{model}.py",
            "loihi/fixed_point.py",
            "loihi/rate_snn.py",
            "evaluate.py",
            *SHARED_MODEL_CODE,
            *MODEL_CODE[model],
        ),
    }


def lava_python():
    """The lava-nc interpreter: the rule's own under --sdm conda; else $BEAMNET_LAVA_PYTHON
    where set (a lava venv elsewhere), else the Makefile's .venv-lava beside the Snakefile."""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python"
    return os.environ.get("BEAMNET_LAVA_PYTHON") or str(WORKFLOW_ROOT / ".venv-lava" / "bin" / "python")


def loihi_targets(datasets):
    if not loihi_datasets(datasets) or not loihi_models():
        return []
    return ["results/loihi/summary.parquet"]


def figure_folder(output):
    """The folder of a figure rule's figures (the notebook's output_dir parameter)."""
    return str(Path(output[1]).parent)


# --- tuning by cross-validation on the training split (tune.smk) ---
from beamnet.tuning import tuning_jobs


def _tuning_jobs():
    try:
        return tuning_jobs(TUNING_CONFIG, active_datasets(), config["models"])
    except ConfigError as error:
        raise WorkflowError(f"invalid configuration: {error}") from None


def tuning_fold_paths():
    return [
        f"results/tuning/folds/{job.dataset}/{job.model}/{job.variant}/fold={job.fold}/seed={job.seed}.parquet"
        for job in _tuning_jobs()
    ]


def tuning_targets(datasets):
    if not config["tuning"]["enabled"] or not _tuning_jobs():
        return []
    return ["results/tuning/summary.parquet", "results/tuning/winners.csv"]


def _variant_config(variant, dataset):
    from beamnet.tuning import variant_config

    try:
        return variant_config(TUNING_CONFIG, variant, dataset)
    except ConfigError as error:
        raise WorkflowError(f"invalid configuration: {error}") from None


def tune_fold_config(wildcards):
    """The sections a tuning job trains with, the variant's overrides applied, as JSON; other
    models' settings that the job does not read are the base config's (beamnet.tuning.job_sections),
    so that adopting one model's winner does not rerun the other models' jobs."""
    from beamnet.tuning import job_sections

    try:
        sections = job_sections(TUNING_CONFIG, wildcards.variant, wildcards.dataset, wildcards.model)
    except ConfigError as error:
        raise WorkflowError(f"invalid configuration: {error}") from None
    return json.dumps(sections, sort_keys=True)


def tune_fold_inputs(wildcards):
    """The train and val caches (never test) of the cache the variant's model reads."""
    try:
        encoding = beamnet_model_encoding(
            _variant_config(wildcards.variant, wildcards.dataset), wildcards.model, wildcards.dataset
        )
    except ConfigError as error:
        raise WorkflowError(str(error)) from None
    caches = dict(zip(SPLITS, cache_paths(wildcards.dataset, encoding)))
    code = source_files("tuning.py", "evaluate.py", "energy.py", *SHARED_MODEL_CODE, *MODEL_CODE[wildcards.model])
    return {"train": caches["train"], "val": caches["val"], "code": code}
