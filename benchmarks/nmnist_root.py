"""Write an N-MNIST root of any size from a smaller one (the scale benchmark's fixture).

    .venv/bin/python benchmarks/nmnist_root.py --source ../shared/data/nmnist_small \
        --dest /tmp/nmnist_70000 --train 60000 --test 10000 [--seed 0]

Recording k of a class is a copy of the source recording k mod n_c of that class and split,
moved by a random spatial shift of up to ``--shift`` pixels (events that leave the 34 x 34
sensor are dropped) and a Gaussian time jitter of ``--jitter-us`` microseconds (times kept
non-negative, within the 23-bit field and in order); the first copy of every recording is
unchanged. Train recordings come only from the source's Train recordings and test ones only
from its Test recordings, so the test split never holds a copy of a training recording. Files
are written in N-MNIST's own 40-bit event format (x, y, polarity, 23-bit timestamp), which
tonic's ``read_mnist_file`` reads, and ``sources.csv`` beside them says where each came from.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from beamnet.data.nmnist import FOLDERS, N_CLASSES, SENSOR_SIZE, NMNISTFolder, read_recording  # noqa: E402

MAX_TIMESTAMP_US = (1 << 23) - 1


def encode_events(x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> bytes:
    """N-MNIST's 5-byte events: x, y, then polarity in bit 7 and the timestamp's bits 22-16,
    then its bits 15-8 and 7-0."""
    t = t.astype(np.int64)
    out = np.empty((len(x), 5), dtype=np.uint8)
    out[:, 0], out[:, 1] = x, y
    out[:, 2] = ((p.astype(np.int64) & 1) << 7) | ((t >> 16) & 0x7F)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return out.tobytes()


def perturbed(events: np.ndarray, rng: np.random.Generator, shift: int, jitter_us: float) -> np.ndarray:
    """``events`` shifted by up to ``shift`` pixels and jittered by ``jitter_us`` (see above)."""
    dx, dy = rng.integers(-shift, shift + 1, size=2)
    x, y = events["x"].astype(np.int64) + dx, events["y"].astype(np.int64) + dy
    t = np.clip(np.rint(events["t"] + rng.normal(0.0, jitter_us, len(events))), 0, MAX_TIMESTAMP_US).astype(np.int64)
    width, height, _ = SENSOR_SIZE
    keep = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    if not keep.any():  # a shift that empties a recording would make it unreadable: keep it in place
        return events
    order = np.argsort(t[keep], kind="stable")
    moved = events[keep][order].copy()
    moved["x"], moved["y"], moved["t"] = x[keep][order], y[keep][order], t[keep][order]
    return moved


def write_root(source: Path, dest: Path, n_train: int, n_test: int, seed: int, shift: int, jitter_us: float) -> int:
    """Write ``n_train`` + ``n_test`` recordings under ``dest`` (see the module docstring);
    returns the number written. Classes get equal shares (the first ones one more)."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, total in (("train", n_train), ("test", n_test)):
        folder = NMNISTFolder(source, split)
        by_class = {
            c: [f for f, label in zip(folder.files, folder.targets, strict=True) if label == c]
            for c in range(N_CLASSES)
        }
        for digit in range(N_CLASSES):
            count = total // N_CLASSES + (digit < total % N_CLASSES)
            out_dir = dest / FOLDERS[split] / str(digit)
            out_dir.mkdir(parents=True, exist_ok=True)
            originals = by_class[digit]
            for k in range(count):
                original = originals[k % len(originals)]
                events = read_recording(original)
                if k >= len(originals):
                    events = perturbed(events, rng, shift, jitter_us)
                target = out_dir / f"{k:05d}.bin"
                target.write_bytes(encode_events(events["x"], events["y"], events["p"], events["t"]))
                rows.append((str(target.relative_to(dest)), str(original.relative_to(source)), k >= len(originals)))
    with open(dest / "sources.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "source", "perturbed"])
        writer.writerows(rows)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="an N-MNIST root (Train/, Test/) to copy from")
    parser.add_argument("--dest", type=Path, required=True, help="the root to write (must not exist)")
    parser.add_argument("--train", type=int, required=True, help="training recordings to write")
    parser.add_argument("--test", type=int, required=True, help="test recordings to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shifts and jitter")
    parser.add_argument("--shift", type=int, default=2, help="largest spatial shift in pixels")
    parser.add_argument("--jitter-us", type=float, default=1000.0, help="time jitter (standard deviation, us)")
    args = parser.parse_args()
    if args.dest.exists():
        parser.error(f"--dest '{args.dest}' exists: choose a new folder")
    written = write_root(args.source, args.dest, args.train, args.test, args.seed, args.shift, args.jitter_us)
    print(f"wrote {written} recordings under {args.dest}")


if __name__ == "__main__":
    main()
