"""Peak memory and wall time per rule as the N-MNIST root grows (prepare -> encode -> train -> evaluate).

    .venv/bin/python benchmarks/scale.py [--sizes 1000 10000 70000] [--cores 2] [--work DIR]

For each size, benchmarks/nmnist_root.py writes an N-MNIST root of that many recordings (6/7
train, 1/7 test, as N-MNIST's 60,000 / 10,000) from ../shared/data/nmnist_small, and the
workflow runs in a scratch folder up to the test-split predictions of the three models, one
seed, one training epoch. Each rule's peak RSS (``max_rss``) and wall time come from the
benchmark files Snakemake writes for it. Prints a Markdown table (the README's) and writes
benchmarks/out/scale.{md,csv}. Floors: every rule under 2 GiB at 20,000 recordings, and its
peak at 70,000 within 10 % of its peak at 20,000.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SOURCE = REPO.parent / "shared" / "data" / "nmnist_small"
MODELS = ("beam_net", "ann_mlp", "rate_snn")
OVERRIDES = {
    "datasets": ["nmnist"],
    "seeds": [0],
    "train": {"epochs": 1},
    "tuning": {"enabled": False},
}


def run_size(size: int, work: Path, cores: int) -> list[dict[str, object]]:
    """Generate a root of ``size`` recordings, run the workflow on it, read the rule benchmarks."""
    root, run_dir = work / f"nmnist_{size}", work / f"run_{size}"
    for path in (root, run_dir):
        shutil.rmtree(path, ignore_errors=True)
    n_test = size // 7
    subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "nmnist_root.py"),
            "--source",
            str(SOURCE),
            "--dest",
            str(root),
            "--train",
            str(size - n_test),
            "--test",
            str(n_test),
        ],
        check=True,
    )
    run_dir.mkdir(parents=True)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for key, value in OVERRIDES.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    config["data"]["nmnist"]["root"] = str(root)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [f"results/predictions/dataset=nmnist/model={model}/seed=0/predictions.parquet" for model in MODELS]
    began = time.perf_counter()
    subprocess.run(
        [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(run_dir), "--cores", str(cores), *targets],
        check=True,
        cwd=run_dir,
    )
    total = time.perf_counter() - began
    rows = []
    for tsv in sorted((run_dir / "benchmarks" / "rules").rglob("*.tsv")):
        with open(tsv) as handle:
            record = next(csv.DictReader(handle, delimiter="\t"))
        rows.append(
            {
                "recordings": size,
                "rule": str(tsv.relative_to(run_dir / "benchmarks" / "rules").with_suffix("")),
                "max_rss_mb": float(record["max_rss"]),
                "seconds": float(record["s"]),
            }
        )
    rows.append({"recordings": size, "rule": "(whole run)", "max_rss_mb": float("nan"), "seconds": total})
    shutil.rmtree(root)  # the recordings are large and regenerated on demand; the run's results stay
    return rows


def table(rows: list[dict[str, object]], sizes: list[int]) -> str:
    """Rules as rows, sizes as column pairs (peak RSS, wall time)."""
    rules = sorted({str(r["rule"]) for r in rows}, key=lambda name: (name == "(whole run)", name))
    cell = {(str(r["rule"]), int(r["recordings"])): r for r in rows}
    header = "| Rule | " + " | ".join(f"{s:,} rec.: peak RSS (MB) | {s:,} rec.: wall (s)" for s in sizes) + " |"
    lines = [header, "|---|" + "---|---|" * len(sizes)]
    for rule in rules:
        cells = []
        for size in sizes:
            record = cell.get((rule, size))
            if record is None:
                cells += ["—", "—"]
                continue
            rss = float(record["max_rss_mb"])
            cells += ["—" if rss != rss else f"{rss:,.0f}", f"{float(record['seconds']):,.0f}"]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 10000, 70000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="beamnet-scale-"))
    rows = [row for size in args.sizes for row in run_size(size, work, args.cores)]
    text = table(rows, args.sizes)
    print(text)
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.md").write_text(text + "\n")
    with open(out / "scale.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["recordings", "rule", "max_rss_mb", "seconds"])
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
