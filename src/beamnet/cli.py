"""Command line: ``python -m beamnet <step> ...``. Snakemake rules call only this.

Every step receives its configuration either as ``--config FILE`` (a full config.yaml) or as
``--config-json TEXT`` (the sections the rule passes), and validates it before any work.
Errors in input data or configuration end the step with exit code 2 and a one-line message
naming the file, key or value at fault; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from beamnet.config import DATASETS, MODELS, ConfigError, config_from_json, load_config
from beamnet.memory import fix_mmap_threshold
from beamnet.progress import LOG_LEVELS, configure_logging

log = logging.getLogger("beamnet")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    if args.config_json is not None:
        return config_from_json(args.config_json)
    return load_config(args.config)


def cmd_prepare(args: argparse.Namespace) -> None:
    from beamnet.data import prepare

    config = _config(args)
    if args.dataset == "digits":
        prepare.prepare_digits(config, Path(args.manifest), Path(args.output))
    elif args.dataset == "digits_saccade":
        if not args.digits_manifest or not args.digits_images:
            raise ConfigError("prepare digits_saccade needs --digits-manifest and --digits-images")
        prepare.prepare_digits_saccade(
            config, Path(args.digits_manifest), Path(args.digits_images), Path(args.manifest), Path(args.output)
        )
    elif args.dataset == "dvs_gesture":
        prepare.prepare_dvs_gesture(config, Path(args.manifest), Path(args.output))
    else:
        raw = Path(args.raw_manifest) if args.raw_manifest else None
        prepare.prepare_nmnist(config, Path(args.manifest), Path(args.output), raw_manifest=raw)
    log.info("prepared %s -> %s, %s", args.dataset, args.manifest, args.output)


def cmd_download_nmnist(args: argparse.Namespace) -> None:
    from beamnet.data.download import fetch_nmnist

    root = fetch_nmnist(args.download_dir, Path(args.output), offline=args.offline)
    log.info("N-MNIST archives verified and extracted under %s -> %s", root, args.output)


def cmd_raw_manifest(args: argparse.Namespace) -> None:
    from beamnet.data.raw_manifest import iter_nmnist_raw_files, write_raw_manifest

    count = write_raw_manifest(args.root, iter_nmnist_raw_files(args.root), Path(args.output))
    log.info("checksummed %d recordings under %s -> %s", count, args.root, args.output)


def cmd_encode(args: argparse.Namespace) -> None:
    from beamnet.encoding import encode_dataset

    config = _config(args)
    encode_dataset(
        config,
        args.dataset,
        args.encoding,
        Path(args.source),
        Path(args.manifest),
        [Path(p) for p in args.outputs],
        args.chunk_samples,
    )
    log.info("encoded %s/%s -> %s", args.dataset, args.encoding, ", ".join(args.outputs))


def cmd_train(args: argparse.Namespace) -> None:
    from beamnet.train import train_model

    config = _config(args)
    train_model(
        config,
        args.dataset,
        args.model,
        args.seed,
        Path(args.train_cache),
        Path(args.val_cache),
        Path(args.checkpoint),
        Path(args.history),
        threads=args.threads,
        stop_after_epochs=args.stop_after_epochs,
        mlflow_store=Path(args.mlflow_store) if args.mlflow_store else None,
    )
    log.info("trained %s on %s, seed %d -> %s", args.model, args.dataset, args.seed, args.checkpoint)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from beamnet.evaluate import evaluate_checkpoint

    config = _config(args)
    evaluate_checkpoint(
        config, args.dataset, args.model, args.seed, Path(args.checkpoint), Path(args.test_cache), Path(args.output)
    )
    log.info("evaluated %s -> %s", args.checkpoint, args.output)


def cmd_summarise(args: argparse.Namespace) -> None:
    from beamnet.config import theory_bound_iterations
    from beamnet.summarise import write_tables

    config = _config(args)
    out = Path(args.out_dir)
    outputs = {
        "per_seed_parquet": out / "metrics_per_seed.parquet",
        "per_seed_csv": out / "metrics_per_seed.csv",
        "summary_parquet": out / "summary.parquet",
        "summary_csv": out / "summary.csv",
        "summary_md": out / "summary.md",
        "claims_csv": out / "claims.csv",
        "quality_parquet": out / "uncertainty_quality.parquet",
        "quality_csv": out / "uncertainty_quality.csv",
        "targets_parquet": out / "training_targets.parquet",
        "targets_csv": out / "training_targets.csv",
        "reliability_parquet": out / "reliability.parquet",
    }
    write_tables(
        config,
        [Path(p) for p in args.predictions],
        [Path(p) for p in args.histories],
        theory_bound_iterations(config),
        outputs,
    )
    log.info("wrote tables under %s", out)


def cmd_tune_fold(args: argparse.Namespace) -> None:
    from beamnet.tuning import TuningJob, run_fold

    job = TuningJob(args.dataset, args.model, args.variant, args.fold, args.seed)
    run_fold(
        _config(args),
        job,
        args.folds,
        args.split_seed,
        Path(args.train_cache),
        Path(args.val_cache),
        Path(args.output),
        threads=args.threads,
    )
    log.info("tuned %s -> %s", job, args.output)


def cmd_tune_record(args: argparse.Namespace) -> None:
    from beamnet.tuning import write_record

    out = Path(args.out_dir)
    outputs = {
        "folds_parquet": out / "folds.parquet",
        "folds_csv": out / "folds.csv",
        "summary_parquet": out / "summary.parquet",
        "summary_csv": out / "summary.csv",
        "winners_csv": out / "winners.csv",
        "markdown": out / "tuning.md",
        "comparison_csv": out / "comparison.csv",
        "pareto_parquet": out / "pareto.parquet",
    }
    write_record(_config(args), [Path(p) for p in args.folds], outputs)
    log.info("wrote the tuning record under %s", out)


def cmd_prop_3_3(args: argparse.Namespace) -> None:
    from beamnet.theory import write_sweep

    table = write_sweep(_config(args), Path(args.output), Path(args.output_csv))
    log.info("wrote the Prop. 3.3 sweep (%d rows) to %s", table.height, args.output)


def cmd_catalog(args: argparse.Namespace) -> None:
    from beamnet.catalog import build_catalog

    build_catalog([Path(p) for p in args.sql], Path(args.output))
    log.info("built catalog %s", args.output)


def cmd_readme(args: argparse.Namespace) -> None:
    from beamnet.readme import record_tuning, update_readme

    if args.record_tuning:
        log.info("kept the tuning record as %s", record_tuning(Path(args.root)))
    if args.record_confirmation:
        log.info("kept the confirmation record as %s", record_tuning(Path(args.root), args.record_confirmation))
    names = update_readme(Path(args.readme), Path(args.root), args.only)
    log.info("regenerated %d README blocks from %s: %s", len(names), args.root, ", ".join(names))


def cmd_paper_values(args: argparse.Namespace) -> None:
    from beamnet.paper import write_paper_inputs

    manifests = {Path(p).parent.name: Path(p) for p in args.manifests}
    write_paper_inputs(
        _config(args),
        Path(args.tables_dir),
        manifests,
        Path(args.values),
        Path(args.tables_out),
        Path(args.tuning_dir) if args.tuning_dir else None,
    )
    log.info("wrote %s and tables under %s", args.values, args.tables_out)


def cmd_section_values(args: argparse.Namespace) -> None:
    import polars as pl

    from beamnet.paper import energy_values, loihi_values, write_section_values

    if args.family == "energy_scaling":
        missing = [name for name in ("sweep", "crossings", "summary") if getattr(args, name) is None]
        if missing:
            raise SystemExit(f"section-values energy_scaling needs --{' --'.join(missing)}")
        values = energy_values(
            pl.read_parquet(args.sweep),
            pl.read_parquet(args.crossings),
            args.lif_steps,
            summary=pl.read_parquet(args.summary),
            n_patterns=args.n_patterns,
        )
    else:
        if args.summary is None:
            raise SystemExit("section-values loihi needs --summary (results/loihi/summary.parquet)")
        values = loihi_values(pl.read_parquet(args.summary).sort("dataset", "model"))
    write_section_values(values, args.output)
    log.info("wrote %d named values of the %s section -> %s", len(values), args.family, args.output)


def cmd_paper_render(args: argparse.Namespace) -> None:
    from beamnet.paper import render_report

    renderer = render_report(
        Path(args.source),
        Path(args.values),
        Path(args.tables_dir),
        Path(args.captions_dir),
        args.sections,
        Path(args.lua_filter),
        Path(args.output),
        Path(args.build_dir),
        renderer=args.renderer,
    )
    log.info("rendered %s with %s", args.output, renderer)


def build_parser() -> argparse.ArgumentParser:
    from beamnet import __version__

    parser = argparse.ArgumentParser(prog="beamnet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("BEAMNET_LOG_LEVEL", "INFO"),
        type=str.upper,
        choices=LOG_LEVELS,
        help="log lines at or above this level (default INFO, or $BEAMNET_LOG_LEVEL); above INFO hides progress bars",
    )
    sub = parser.add_subparsers(dest="step", required=True)

    def add_config(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--config", default="config.yaml", help="full config YAML")
        group.add_argument("--config-json", default=None, help="config sections as JSON")

    def add_run(p: argparse.ArgumentParser) -> None:
        """Config plus the dataset x model x seed a training or evaluation run is for."""
        add_config(p)
        p.add_argument("--dataset", required=True, choices=DATASETS, help="dataset name (datasets: in config.yaml)")
        p.add_argument("--model", required=True, choices=MODELS, help="model name (models: in config.yaml)")
        p.add_argument("--seed", required=True, type=int, help="training seed (seeds: in config.yaml)")

    p = sub.add_parser("prepare", help="raw data -> manifest + images/events archive")
    add_config(p)
    p.add_argument("--dataset", required=True, choices=DATASETS, help="dataset name (datasets: in config.yaml)")
    p.add_argument(
        "--manifest", required=True, help="manifest CSV to write: one row per sample with its split and label"
    )
    p.add_argument("--output", required=True, help="images.npz or events.npz")
    p.add_argument("--digits-manifest", help="digits_saccade only: the digits manifest whose images the sensor sees")
    p.add_argument("--digits-images", help="digits_saccade only: the digits images.npz")
    p.add_argument("--raw-manifest", help="nmnist only: the raw-manifest step's checksums of the recordings")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("download-nmnist", help="fetch, verify and extract N-MNIST's archives (tonic)")
    p.add_argument("--download-dir", required=True, help="data.nmnist.download_dir: the archives go to <it>/NMNIST")
    p.add_argument("--output", required=True, help="the marker JSON to write once both splits are extracted")
    p.add_argument(
        "--offline", action="store_true", help="never use the network: the archives must already be in the folder"
    )
    p.set_defaults(func=cmd_download_nmnist)

    p = sub.add_parser("raw-manifest", help="N-MNIST recordings -> size and SHA-256 of each (CSV)")
    p.add_argument("--root", required=True, help="the N-MNIST root (Train/ and Test/)")
    p.add_argument("--output", required=True, help="CSV to write: path, bytes, sha256")
    p.set_defaults(func=cmd_raw_manifest)

    p = sub.add_parser("encode", help="archive -> encoded spike caches (train, val, test)")
    add_config(p)
    p.add_argument("--dataset", required=True, choices=DATASETS, help="dataset name (datasets: in config.yaml)")
    p.add_argument("--encoding", required=True, help="spike code to write: latency, population or rate")
    p.add_argument("--source", required=True, help="the prepare step's images.npz or events.npz")
    p.add_argument("--manifest", required=True, help="the prepare step's manifest CSV (splits and labels)")
    p.add_argument(
        "--outputs",
        required=True,
        nargs=3,
        metavar=("TRAIN", "VAL", "TEST"),
        help="the train, val and test cache files (.npz) to write",
    )
    p.add_argument(
        "--chunk-samples",
        type=int,
        default=256,
        help="samples encoded per chunk (config streaming.chunk_samples): bounds memory, never changes the caches",
    )
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("train", help="spike caches -> checkpoint + per-epoch history")
    add_run(p)
    p.add_argument("--train-cache", required=True, help="encoded training split (.npz)")
    p.add_argument(
        "--val-cache", required=True, help="encoded validation split (.npz): epoch selection and calibration"
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint to write (.pt; tensors and plain types only)")
    p.add_argument("--history", required=True, help="per-epoch history CSV to write")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the rule's threads)")
    p.add_argument(
        "--stop-after-epochs",
        type=int,
        default=None,
        help="stop early leaving the resume state (for testing resumption)",
    )
    p.add_argument("--mlflow-store", help="also log the run to this local MLflow store (tracking.mlflow)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="checkpoint + test cache -> per-sample predictions (Parquet)")
    add_run(p)
    p.add_argument("--checkpoint", required=True, help="the train step's checkpoint")
    p.add_argument("--test-cache", required=True, help="encoded test split (.npz)")
    p.add_argument("--output", required=True, help="per-sample predictions Parquet file to write")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "summarise",
        help="predictions + histories -> metric, summary, uncertainty-quality, "
        "training-target and claims tables (with bootstrap intervals)",
    )
    add_config(p)
    p.add_argument("--predictions", required=True, nargs="+", help="every evaluate step's predictions Parquet file")
    p.add_argument("--histories", required=True, nargs="+", help="every train step's history CSV")
    p.add_argument("--out-dir", required=True, help="folder for the tables (results/tables)")
    p.set_defaults(func=cmd_summarise)

    p = sub.add_parser("tune-fold", help="train a variant without one fold of the training split; score that fold")
    add_run(p)
    p.add_argument("--variant", required=True, help="the variant's name (its overrides are in the config given)")
    p.add_argument("--fold", required=True, type=int, help="the held-out fold, 0 <= fold < --folds")
    p.add_argument("--folds", required=True, type=int, help="tuning.folds: folds of the training split")
    p.add_argument("--split-seed", required=True, type=int, help="tuning.split_seed: seed of the fold assignment")
    p.add_argument("--train-cache", required=True, help="the train split's cache (joined with val)")
    p.add_argument("--val-cache", required=True, help="the val split's cache (joined with train)")
    p.add_argument("--output", required=True, help="one-row Parquet file")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.set_defaults(func=cmd_tune_fold)

    p = sub.add_parser("tune-record", help="per-fold rows -> folds, summary, winners and Markdown record")
    add_config(p)
    p.add_argument("--folds", required=True, nargs="+", help="tune-fold outputs")
    p.add_argument("--out-dir", required=True, help="results/tuning")
    p.set_defaults(func=cmd_tune_record)

    p = sub.add_parser("prop-3-3", help="rate-posterior distance of the Bayesian LIF neurons against w_inh")
    add_config(p)
    p.add_argument("--output", required=True, help="results/tables/prop_3_3_sweep.parquet")
    p.add_argument("--output-csv", required=True, help="the same table as CSV")
    p.set_defaults(func=cmd_prop_3_3)

    p = sub.add_parser("catalog", help="versioned SQL -> DuckDB catalog over the Parquet files")
    p.add_argument(
        "--sql", required=True, nargs="+", help="versioned SQL files (workflow/sql/V*.sql), applied in order"
    )
    p.add_argument("--output", required=True, help="DuckDB file to write")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("readme", help="rewrite README.md's generated blocks from results/ and benchmarks/out/")
    p.add_argument("--readme", default="README.md", help="the README to rewrite in place (default: README.md)")
    p.add_argument("--root", default=".", help="the folder holding results/ and benchmarks/out/ (default: .)")
    p.add_argument(
        "--record-tuning",
        action="store_true",
        help="first copy results/tuning/tuning.md into workflow/records/ (the record behind dataset_settings)",
    )
    p.add_argument(
        "--record-confirmation",
        metavar="GRID",
        help="first copy results/tuning/tuning.md, built with tuning.grid: GRID, into workflow/records/GRID.md",
    )
    p.add_argument("--only", nargs="+", metavar="BLOCK", help="rewrite only these blocks (default: every block)")
    p.set_defaults(func=cmd_readme)

    p = sub.add_parser("section-values", help="an optional section's tables -> its named values (JSON)")
    p.add_argument("family", choices=["energy_scaling", "loihi"], help="the optional section")
    p.add_argument("--sweep", help="energy_scaling: results/energy/sweep.parquet")
    p.add_argument("--crossings", help="energy_scaling: results/energy/crossings.parquet")
    p.add_argument(
        "--summary", help="energy_scaling: results/tables/summary.parquet; loihi: results/loihi/summary.parquet"
    )
    p.add_argument("--lif-steps", type=int, default=None, help="energy_scaling: the trained T (model.beam_net)")
    p.add_argument("--n-patterns", type=int, default=None, help="energy_scaling: the trained N (model.beam_net)")
    p.add_argument("--output", required=True, help="results/paper/values/{family}.json to write")
    p.set_defaults(func=cmd_section_values)

    p = sub.add_parser("paper-values", help="results tables -> named values (JSON) + Markdown tables")
    add_config(p)
    p.add_argument("--tables-dir", required=True, help="the summarise step's tables (results/tables)")
    p.add_argument("--manifests", required=True, nargs="+", help="results/datasets/{dataset}/manifest.csv")
    p.add_argument("--values", required=True, help="named values JSON to write")
    p.add_argument("--tables-out", required=True, help="folder for the manuscript's Markdown tables")
    p.add_argument("--tuning-dir", help="results/tuning (the cross-validation record), where the build has one")
    p.set_defaults(func=cmd_paper_values)

    p = sub.add_parser("paper-render", help="paper/report.qmd -> PDF (Quarto, else pandoc + typst)")
    p.add_argument("--source", required=True, help="the Quarto manuscript (paper/report.qmd)")
    p.add_argument("--values", required=True, help="the paper-values step's JSON")
    p.add_argument("--tables-dir", required=True, help="the paper-values step's Markdown tables")
    p.add_argument("--captions-dir", required=True, help="figure captions (paper/captions/*.rst)")
    p.add_argument("--sections", nargs="*", default=[], help="registered figure families (has-{family})")
    p.add_argument("--lua-filter", required=True, help="cross-reference filter for the pandoc + typst path")
    p.add_argument("--build-dir", required=True, help="scratch folder for the rendered sources")
    p.add_argument("--output", required=True, help="PDF to write")
    p.add_argument(
        "--renderer",
        choices=["auto", "quarto", "pandoc+typst"],
        default="auto",
        help="quarto, pandoc+typst, or auto (Quarto where installed)",
    )
    p.set_defaults(func=cmd_paper_render)
    add_energy_loihi_commands(sub, add_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    fix_mmap_threshold()
    try:
        args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"beamnet {args.step}: error: {err}", file=sys.stderr)
        return 2
    return 0


# --- energy sweep (Eq. 25) and Loihi -----------------------------------------------


def cmd_energy_point(args: argparse.Namespace) -> None:
    from beamnet.energy_sweep import write_point

    config = _config(args)
    write_point(
        config,
        args.dataset,
        args.n_patterns,
        Path(args.train_cache),
        Path(args.val_cache),
        Path(args.test_cache),
        Path(args.output),
        threads=args.threads,
    )
    log.info("energy point %s N=%d -> %s", args.dataset, args.n_patterns, args.output)


def cmd_energy_tables(args: argparse.Namespace) -> None:
    from beamnet.energy_sweep import write_tables

    write_tables([Path(p) for p in args.points], Path(args.out_dir))
    log.info("energy tables -> %s", args.out_dir)


def cmd_loihi_export(args: argparse.Namespace) -> None:
    from beamnet.loihi.export import EXPORTERS

    config = _config(args)
    info = EXPORTERS[args.model](
        config,
        args.dataset,
        args.seed,
        Path(args.checkpoint),
        Path(args.test_cache),
        Path(args.network),
        Path(args.inputs),
    )
    log.info("exported %s -> %s, %s (%s)", args.checkpoint, args.network, args.inputs, info)


def cmd_loihi_report(args: argparse.Namespace) -> None:
    from beamnet.loihi.report import convert_predictions, write_summary

    for csv_path, parquet_path in zip(args.predictions_csv, args.predictions_parquet, strict=True):
        convert_predictions(Path(csv_path), Path(parquet_path))
    write_summary([Path(p) for p in args.summaries], Path(args.summary_parquet), Path(args.summary_csv))
    log.info("Loihi tables -> %s", args.summary_parquet)


def add_energy_loihi_commands(sub, add_config) -> None:
    p = sub.add_parser("energy-point", help="train a small BEAM-Net with N patterns; price its activity")
    add_config(p)
    p.add_argument("--dataset", required=True, choices=DATASETS, help="dataset name (datasets: in config.yaml)")
    p.add_argument("--n-patterns", required=True, type=int, help="N stored patterns of this sweep point")
    p.add_argument("--train-cache", required=True, help="latency-coded training split (.npz)")
    p.add_argument("--val-cache", required=True, help="latency-coded validation split (.npz)")
    p.add_argument("--test-cache", required=True, help="latency-coded test split (.npz): the activity priced")
    p.add_argument("--output", required=True, help="one-point Parquet file to write")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the rule's threads)")
    p.set_defaults(func=cmd_energy_point)

    p = sub.add_parser("energy-tables", help="sweep points -> sweep and crossing tables")
    p.add_argument("--points", required=True, nargs="+", help="every energy-point output")
    p.add_argument("--out-dir", required=True, help="folder for sweep.parquet and crossings.parquet")
    p.set_defaults(func=cmd_energy_tables)

    p = sub.add_parser("loihi-export", help="BEAM-Net or rate-SNN checkpoint -> fixed-point network + inputs archives")
    add_config(p)
    p.add_argument("--dataset", required=True, choices=DATASETS, help="dataset name (datasets: in config.yaml)")
    p.add_argument("--model", default="beam_net", choices=["beam_net", "rate_snn"], help="beam_net or rate_snn")
    p.add_argument("--seed", required=True, type=int, help="training seed (seeds: in config.yaml)")
    p.add_argument("--checkpoint", required=True, help="the train step's checkpoint")
    p.add_argument("--test-cache", required=True, help="encoded test split (.npz)")
    p.add_argument("--network", required=True, help="fixed-point network archive (.npz) to write")
    p.add_argument("--inputs", required=True, help="spike-input archive (.npz) to write")
    p.set_defaults(func=cmd_loihi_export)

    p = sub.add_parser("loihi-report", help="lava runner CSV/JSON -> Parquet predictions and summary")
    p.add_argument("--predictions-csv", required=True, nargs="+", help="the lava runner's per-sample CSV files")
    p.add_argument(
        "--predictions-parquet", required=True, nargs="+", help="Parquet files to write, one per CSV, in the same order"
    )
    p.add_argument("--summaries", required=True, nargs="+", help="the lava runner's summary JSON files")
    p.add_argument("--summary-parquet", required=True, help="summary Parquet file to write")
    p.add_argument("--summary-csv", required=True, help="the same summary as CSV")
    p.set_defaults(func=cmd_loihi_report)
