"""Do two weight files hold the same tensors, bit for bit? For checking that a training run reproduced
committed weights (for example `bash tools/tiny_wan/train_textures_curriculum.sh` against
models/tiny_wan21_t2v_textures.safetensors).

    python tools/tiny_wan/same_weights.py A.safetensors B.safetensors

Comparing the files' sha256 is not enough: train.py stores its metadata (timings among it) in the
safetensors header, so two runs that reach the same weights give different files. This compares the
tensors only. Exit status 0: the same names, shapes, dtypes and values; 1: not, with what differs;
2: a file that is not a readable safetensors file.
"""
from __future__ import annotations

import argparse
import sys


def differences(a: dict, b: dict, limit: int = 10) -> list[str]:
    """What differs between two name -> tensor dicts (at most `limit` tensor lines); [] when none."""
    out = [f"only in the first: {name}" for name in sorted(a.keys() - b.keys())]
    out += [f"only in the second: {name}" for name in sorted(b.keys() - a.keys())]
    differing = []
    for name in sorted(a.keys() & b.keys()):
        x, y = a[name], b[name]
        if x.shape != y.shape or x.dtype != y.dtype:
            differing.append(f"{name}: {tuple(x.shape)} {x.dtype} against {tuple(y.shape)} {y.dtype}")
        elif not bool((x == y).all()):
            gap = (x.double() - y.double()).abs().max().item()
            differing.append(f"{name}: values differ (largest gap {gap:.3g})")
    if len(differing) > limit:
        differing = differing[:limit] + [f"... and {len(differing) - limit} more tensors"]
    return out + differing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("first")
    ap.add_argument("second")
    a = ap.parse_args(argv)
    from safetensors.torch import load_file
    loaded = []
    for path in (a.first, a.second):
        try:
            loaded.append(load_file(path))
        except Exception as e:  # a missing file (OSError) or a bad header (safetensors' own error type)
            print(f"same_weights: {path}: not a readable safetensors file ({e})", file=sys.stderr)
            return 2
    first, second = loaded
    diff = differences(first, second)
    if diff:
        print(f"{a.first} and {a.second} differ:")
        print("\n".join("  " + line for line in diff))
        return 1
    print(f"{a.first} and {a.second}: the same {len(first)} tensors, bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
