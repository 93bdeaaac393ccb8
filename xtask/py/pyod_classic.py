"""PyOD side of `cargo xtask classic --vs-pyod`.

Reads the z-scored float32 matrices that the xtask wrote (<stem>.f32 raw
little-endian, <stem>.y one byte per label, <stem>.json with the shape), runs
each PyOD detector with its defaults transductively (fit on all rows, AUROC of
decision_scores_), and writes {stem: {detector: {auroc, seconds} | {error} |
{skipped}}} as JSON. Timing covers fit, which includes scoring the rows; with
--repeat R it is the fastest of R fits (fewer once a fit takes over 1 s; with
R > 1, more while the fits add up to less than --min-timed-seconds, at most
--max-runs, as on the Rust side; each detector is first fitted once, untimed, on
the first --warm-up-rows rows). With --iforest-seeds S, IForest runs
with random_state 0..S-1: `auroc` is their mean and `aurocs` lists them.
With --row-orders R, every other detector is also fitted (untimed) on R seeded
permutations of the rows, and `row_order_aurocs` lists those AUROCs: a
deterministic detector whose tie-breaking follows the row order (scikit-learn's
KD-tree sums for KDE) shows how far its own AUROC moves with the order alone.
"""

import argparse
import json
import pathlib
import time
import warnings

import numpy as np
from sklearn.metrics import roc_auc_score


def make(name, seed=0):
    if name == "knn":
        from pyod.models.knn import KNN
        return KNN()
    if name == "lof":
        from pyod.models.lof import LOF
        return LOF()
    if name == "iforest":
        from pyod.models.iforest import IForest
        return IForest(random_state=seed)
    if name == "ocsvm":
        from pyod.models.ocsvm import OCSVM
        return OCSVM()
    if name == "pca":
        from pyod.models.pca import PCA
        return PCA()
    if name == "kde":
        from pyod.models.kde import KDE
        return KDE()
    if name == "ecod":
        from pyod.models.ecod import ECOD
        return ECOD()
    if name == "copod":
        from pyod.models.copod import COPOD
        return COPOD()
    if name == "hbos":
        from pyod.models.hbos import HBOS
        return HBOS()
    raise ValueError(name)


def row_order_auroc(name, x, y, seed):
    order = np.random.RandomState(seed).permutation(len(y))
    det = make(name, 0).fit(x[order])
    return float(roc_auc_score(y[order], np.asarray(det.decision_scores_, dtype=np.float64)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--input-dir", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--detectors", required=True)
    p.add_argument("--quadratic-limit", type=int, default=60000)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--iforest-seeds", type=int, default=1)
    p.add_argument("--min-timed-seconds", type=float, default=0.0)
    p.add_argument("--max-runs", type=int, default=1)
    p.add_argument("--warm-up-rows", type=int, default=64)
    p.add_argument("--row-orders", type=int, default=0)
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    src = pathlib.Path(a.input_dir)
    out = {}
    for meta_path in sorted(src.glob("*.json")):
        if meta_path.name == "pyod.json":
            continue
        stem = meta_path.stem
        meta = json.loads(meta_path.read_text())
        x = np.fromfile(src / f"{stem}.f32", dtype="<f4").reshape(meta["rows"], meta["cols"])
        x = x.astype(np.float64)
        y = np.fromfile(src / f"{stem}.y", dtype=np.uint8)
        res = {}
        for name in a.detectors.split(","):
            if name in ("ocsvm", "kde") and x.shape[0] > a.quadratic_limit:
                res[name] = {"skipped": f"n > {a.quadratic_limit}"}
                continue
            try:
                # Untimed warm-up on the first rows (imports, numba JIT), as the
                # Rust side warms up its thread pool.
                make(name, 0).fit(x[: min(len(x), a.warm_up_rows)])
                seeds = range(a.iforest_seeds) if name == "iforest" else [0]
                aurocs = []
                seconds = float("inf")
                for seed in seeds:
                    # Timed on seed 0 only (repeats refit the same model).
                    runs = a.repeat if seed == 0 else 1
                    done, spent = 0, 0.0
                    while done < runs or (
                        runs > 1 and spent < a.min_timed_seconds and done < a.max_runs
                    ):
                        det = make(name, seed)
                        t0 = time.perf_counter()
                        det.fit(x)
                        took = time.perf_counter() - t0
                        if seed == 0:
                            seconds = min(seconds, took)
                        done, spent = done + 1, spent + took
                        if took > 1.0:
                            break  # as the Rust side: a slow fit's time is stable
                    scores = np.asarray(det.decision_scores_, dtype=np.float64)
                    aurocs.append(float(roc_auc_score(y, scores)))
                res[name] = {"auroc": float(np.mean(aurocs)), "seconds": seconds}
                if len(aurocs) > 1:
                    res[name]["aurocs"] = aurocs
                if name != "iforest" and a.row_orders > 0:
                    res[name]["row_order_aurocs"] = [
                        row_order_auroc(name, x, y, s) for s in range(1, a.row_orders + 1)
                    ]
            except Exception as e:  # noqa: BLE001 - report, keep going
                res[name] = {"error": f"{type(e).__name__}: {e}"}
        out[stem] = res
        print(f"pyod {stem}: " + " ".join(
            f"{k}={v.get('auroc', v.get('error', v.get('skipped')))!s:.6}" for k, v in res.items()
        ), flush=True)
    pathlib.Path(a.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
