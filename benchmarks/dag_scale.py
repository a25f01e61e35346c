"""How long Snakemake takes to build the DAG of `all` as the number of seeds grows.

    .venv/bin/python benchmarks/dag_scale.py [--seeds 3 10 30] [--repeats 3]

Each point is a dry run (`snakemake -n all --nolock`, 3 datasets x 3 models x S seeds) timed
end to end, the best of --repeats. Prints a Markdown table (the README's) and writes
benchmarks/out/dag_scale.csv. Floor from the project's issue: 3 x 3 x 10 under 5 s.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def dry_run_seconds(seeds: int) -> tuple[float, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(f"seeds: {list(range(seeds))}\ndatasets: [digits, digits_saccade, nmnist]\n")
    began = time.perf_counter()
    done = subprocess.run(
        [str(SNAKEMAKE), "-n", "all", "--nolock", "--quiet", "rules", "--configfile", "config.yaml", handle.name],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    Path(handle.name).unlink()
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])
    total = re.search(r"^total\s+(\d+)", done.stdout + done.stderr, flags=re.M)
    return elapsed, int(total.group(1)) if total else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[3, 10, 30])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for seeds in args.seeds:
        runs = [dry_run_seconds(seeds) for _ in range(args.repeats)]
        rows.append((seeds, min(r[0] for r in runs), runs[0][1]))
    lines = [
        f"| Seeds | Jobs to run (3 datasets x 3 models x seeds) | Dry-run DAG build (s, best of {args.repeats}) |",
        "|---|---|---|",
    ]
    lines += [f"| {seeds} | {jobs} | {seconds:.2f} |" for seeds, seconds, jobs in rows]
    print("\n".join(lines))
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "dag_scale.md").write_text("\n".join(lines) + "\n")  # the README's table (make readme)
    (out / "dag_scale.csv").write_text("seeds,seconds,jobs\n" + "".join(f"{s},{t},{j}\n" for s, t, j in rows))


if __name__ == "__main__":
    main()
