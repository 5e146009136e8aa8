"""jitprop's estimators side by side with scikit-learn's MLP: score and fit time.

    python benchmarks/compare_sklearn.py [--repeats 3] [--folds 5] [--threads N] [--dtype float32] [--solver lbfgs]

For each data set, both models get the same hyper-parameters (scikit-learn's
defaults, ``random_state`` varying by repeat) inside the same pipeline
(standardised features; for the regression, a standardised target too) and
are cross-validated on the same stratified folds. One repeat is a full
cross-validation of one model, in a fresh process of its own (as users run
them: OpenMP's and the BLAS's thread pools never share a process); repeats
alternate between the two (A B A B …) so that a change in the machine's load
hits both. The score is the mean over folds (accuracy, or R² for the
regression), the fit time the sum over folds; the table gives the median of
each over the repeats, and the speed-up is the median over repeats of the
ratio of the two fit times of the same repeat. Both compute in the data's
dtype, float64 as the data sets come or float32 with ``--dtype float32``
(both libraries keep the input's precision). ``--solver`` picks the solver
of both (default scikit-learn's, ``"adam"``). In each
process, one untimed fit on the data comes first: jitprop's kernels are
compiled (or loaded from the cache) and the libraries' imports are paid before
anything is timed.

``--threads N`` gives both libraries N threads: jitprop's ``n_threads`` and,
through threadpoolctl, scikit-learn's BLAS. By default each uses its own
default (Numba's and the BLAS's thread counts, usually one per core).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import warnings
from contextlib import nullcontext

import numba
import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import jitprop as jp
from jitprop.cli.bench_timing import engine_environment

DATA_SETS = {
    "digits": (load_digits, "classification"),
    "breast_cancer": (load_breast_cancer, "classification"),
    "wine": (load_wine, "classification"),
    "diabetes": (load_diabetes, "regression"),
}


def model(library, task, random_state, n_threads, solver):
    """The pipeline for one library: scaled features into the MLP with scikit-learn's default hyper-parameters."""
    if task == "classification":
        mlp = (
            MLPClassifier(solver=solver, random_state=random_state)
            if library == "sklearn"
            else jp.Classifier(solver=solver, random_state=random_state, n_threads=n_threads)
        )
        return make_pipeline(StandardScaler(), mlp)
    mlp = (
        MLPRegressor(solver=solver, random_state=random_state)
        if library == "sklearn"
        else jp.Regressor(solver=solver, random_state=random_state, n_threads=n_threads)
    )
    return TransformedTargetRegressor(make_pipeline(StandardScaler(), mlp), transformer=StandardScaler())


def run(library, name, folds, random_state, n_threads, dtype="float64", solver="adam"):
    """Mean score over the folds and total fit time of one cross-validation, in this process."""
    loader, task = DATA_SETS[name]
    X, y = loader(return_X_y=True)
    X = X.astype(dtype)
    if task == "regression":
        y = y.astype(dtype)
    splitter = (StratifiedKFold if task == "classification" else KFold)(folds, shuffle=True, random_state=0)
    limit = nullcontext()
    if library == "sklearn" and n_threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(n_threads)
    with limit:
        model(library, task, random_state, n_threads, solver).fit(X, y)  # untimed: compiling, imports, first touches
        result = cross_validate(model(library, task, random_state, n_threads, solver), X, y, cv=splitter)
    return float(np.mean(result["test_score"])), float(np.sum(result["fit_time"]))


def run_in_process(library, name, folds, random_state, n_threads, dtype, solver):
    """:func:`run` in a fresh Python process."""
    command = [sys.executable, __file__, "--one", library, name, str(random_state), "--folds", str(folds)]
    command += ["--dtype", dtype, "--solver", solver]
    if n_threads is not None:
        command += ["--threads", str(n_threads)]
    env = engine_environment("scikit-learn" if library == "sklearn" else "jitprop")  # (see bench.PEER_UNSET)
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return tuple(json.loads(output.strip().splitlines()[-1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cross-validations per library and data set (>= 3)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="threads of both libraries (default: their own)")
    parser.add_argument("--data-sets", nargs="+", default=list(DATA_SETS), choices=list(DATA_SETS))
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"], help="the data's precision")
    parser.add_argument("--solver", default="adam", choices=["adam", "sgd", "lbfgs"], help="both libraries' solver")
    parser.add_argument("--one", nargs=3, metavar=("LIBRARY", "DATA_SET", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.one:  # a child process: one cross-validation, its result as JSON
        library, name, seed = args.one
        print(json.dumps(run(library, name, args.folds, int(seed), args.threads, args.dtype, args.solver)))
        return

    from threadpoolctl import threadpool_info

    pools = threadpool_info()
    blas = sorted({f"{info['internal_api']} {args.threads or info['num_threads']} threads" for info in pools})
    threads = args.threads or numba.get_num_threads()
    print(
        f"scikit-learn {sklearn.__version__} ({', '.join(blas)}); jitprop {jp.__version__} "
        f"({threads} Numba threads); {args.dtype}, solver {args.solver}; {os.cpu_count()} CPUs; "
        f"{args.folds}-fold cross-validation, median of {args.repeats} repeats, each in a process of its own\n"
    )
    print("| data set | scikit-learn score | jitprop score | scikit-learn fit (s) | jitprop fit (s) | speed-up |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.data_sets:
        loader, task = DATA_SETS[name]
        X, _ = loader(return_X_y=True)
        records = {"sklearn": [], "jitprop": []}
        for repeat in range(args.repeats):
            order = ("sklearn", "jitprop") if repeat % 2 == 0 else ("jitprop", "sklearn")
            for library in order:
                result = run_in_process(library, name, args.folds, repeat, args.threads, args.dtype, args.solver)
                records[library].append(result)
            print(f"{name} repeat {repeat}: " + ", ".join(f"{k} {v[-1]}" for k, v in records.items()), file=sys.stderr)
        sk_score, jp_score = (statistics.median(score for score, _ in records[lib]) for lib in ("sklearn", "jitprop"))
        sk_time, jp_time = (statistics.median(seconds for _, seconds in records[lib]) for lib in ("sklearn", "jitprop"))
        speedup = statistics.median(sk[1] / ours[1] for sk, ours in zip(records["sklearn"], records["jitprop"]))
        metric = "accuracy" if task == "classification" else "R²"
        print(
            f"| {name} ({X.shape[0]}×{X.shape[1]}, {metric}) | {sk_score:.4f} | {jp_score:.4f} | "
            f"{sk_time:.2f} | {jp_time:.2f} | {speedup:.1f}× |",
            flush=True,
        )


if __name__ == "__main__":
    main()
