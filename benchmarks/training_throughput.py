"""Training and inference throughput, and peak memory, per model and dataset.

Each (dataset, model) runs in its own process (so peak RSS is that model's own), on one
thread as the workflow's train_model rule does, over the workflow's spike caches
(results/cache/...; build them first with `snakemake --cores 2 results/cache/...` or `make all`).
One untimed warm-up batch comes first: BEAM-Net's compiled kernels load from numba's cache
there (or compile, on a fresh checkout).

    .venv/bin/python benchmarks/training_throughput.py [--datasets digits nmnist] [--epochs 2]

Prints a Markdown table (the README's) and writes benchmarks/out/training_throughput.csv.
Floors from the project's issue: BEAM-Net training costs at most 4x the ANN-MLP's time per
sample; a training job's peak memory stays under 4 GiB on nmnist.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = ("beam_net", "ann_mlp", "rate_snn")

WORKER = r"""
import json, resource, sys, time
import torch
from beamnet.config import load_config, model_encoding
from beamnet.models.encoder import load_cache
from beamnet.train import (evaluate_split, kl_weight_at, model_inputs, run_batch, seed_everything)
from beamnet.models import build_model, count_parameters
from beamnet.models.beam_net import BEAMNet

dataset, model_name, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = load_config("config.yaml")
generator = seed_everything(0, threads=1)
encoding = model_encoding(config, model_name, dataset)
train = load_cache(f"results/cache/{dataset}/{encoding}/train.npz")
test = load_cache(f"results/cache/{dataset}/{encoding}/test.npz")
model = build_model(model_name, train.n_inputs, 10, config, dataset)
if isinstance(model, BEAMNet):
    model.initialise_from_samples(train.spike_times, train.active, train.labels, generator)
optimiser = torch.optim.Adam(model.parameters(), lr=config["train"]["learning_rate"])
batch = config["train"]["batch_size"]
settings = config["train"]
warm = torch.arange(min(batch, len(train)))   # one untimed batch: compiled kernels load or compile here
run_batch(model, model_inputs(model, train, warm), train.labels[warm], settings, 0.0).loss.backward()
optimiser.zero_grad()
seen, began = 0, time.perf_counter()
for epoch in range(epochs):
    order = torch.randperm(len(train), generator=generator)
    for start in range(0, len(order), batch):
        index = order[start:start + batch]
        inputs = model_inputs(model, train, index)
        result = run_batch(model, inputs, train.labels[index], settings, kl_weight_at(epoch, settings))
        optimiser.zero_grad(); result.loss.backward(); optimiser.step()
        seen += len(index)
train_rate = seen / (time.perf_counter() - began)
model.eval()
began = time.perf_counter()
with torch.no_grad():
    for start in range(0, len(test), 256):
        index = torch.arange(start, min(start + 256, len(test)))
        if isinstance(model, BEAMNet):
            model(*model_inputs(model, test, index), stochastic=True, generator=generator)
        else:
            model(*model_inputs(model, test, index))
infer_rate = len(test) / (time.perf_counter() - began)
print(json.dumps({"dataset": dataset, "model": model_name, "inputs": train.n_inputs,
                  "parameters": count_parameters(model), "train_samples_per_s": train_rate,
                  "inference_samples_per_s": infer_rate,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "nmnist"])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for dataset in args.datasets:
        for model in MODELS:
            done = subprocess.run(
                [sys.executable, "-c", WORKER, dataset, model, str(args.epochs)],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    ann = {row["dataset"]: row["train_samples_per_s"] for row in rows if row["model"] == "ann_mlp"}
    lines = [
        "| Dataset | Model | Inputs D | Parameters | Train samples/s | Inference samples/s | "
        "Train time vs ANN-MLP | Peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        row["train_cost_vs_ann"] = ann[row["dataset"]] / row["train_samples_per_s"]
        lines.append(
            f"| {row['dataset']} | {row['model']} | {row['inputs']} | {row['parameters']:,} | "
            f"{row['train_samples_per_s']:,.0f} | {row['inference_samples_per_s']:,.0f} | "
            f"{row['train_cost_vs_ann']:.2f}x | {row['peak_rss_mib']:,.0f} |"
        )
    print("\n".join(lines))
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "training_throughput.md").write_text("\n".join(lines) + "\n")  # the README's table (make readme)
    header = list(rows[0])
    with open(out / "training_throughput.csv", "w") as handle:
        handle.write(",".join(header) + "\n")
        for row in rows:
            handle.write(",".join(str(row[key]) for key in header) + "\n")


if __name__ == "__main__":
    main()
