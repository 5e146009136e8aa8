"""A grid search of jp.Classifier on a two-worker LocalCluster: what each worker compiled, and its threads."""

import os
import shutil
import time

# Set in the environment the workers inherit when they are spawned (and before
# numba is imported anywhere: a spawned worker re-imports this module first).
CACHE = "/tmp/jitprop-dask-session-cache"
os.environ["NUMBA_CACHE_DIR"] = CACHE

import joblib
import numba
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

import jitprop as jp
from jitprop.io.datasets import load_digits


def _threads_of_a_fit():
    from jitprop._threading import thread_count

    with thread_count(1):  # what the estimator does with n_threads=1
        return numba.get_num_threads()


def report(dask_worker):
    from jitprop.kernels.epoch import train_epoch

    return {
        "pid": os.getpid(),
        "numba threads of a fit": _threads_of_a_fit(),
        "train_epoch signatures": len(train_epoch.signatures),
        "cache misses (compiled)": sum(train_epoch.stats.cache_misses.values()),
        "cache hits (loaded)": sum(train_epoch.stats.cache_hits.values()),
    }


def search(X, y):
    estimator = jp.Classifier(hidden_layer_sizes=(64,), max_iter=50, n_threads=1, random_state=0)
    started = time.perf_counter()
    with joblib.parallel_backend("dask"):
        found = GridSearchCV(estimator, {"alpha": [1e-4, 1e-3, 1e-2, 1e-1]}, cv=3).fit(X, y)
    return found, time.perf_counter() - started


if __name__ == "__main__":
    X, y = load_digits()
    shutil.rmtree(CACHE, ignore_errors=True)
    print(f"cluster: 2 worker processes x 1 thread; n_threads=1; an empty Numba cache shared on disk: {CACHE}")
    for cluster_number in (1, 2):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
            with Client(c) as client:
                for run in (1, 2):
                    found, seconds = search(X, y)
                    print(
                        f"cluster {cluster_number}, search {run}: 12 fits + refit in {seconds:.1f} s, "
                        f"best {found.best_params_}, score {found.best_score_:.4f}"
                    )
                    for address, info in sorted(client.run(report).items()):
                        print(f"  worker {info['pid']}: {info}")
