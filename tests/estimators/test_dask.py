"""A grid search of jitprop's estimators on a dask.distributed cluster (joblib's "dask" backend).

The workers are processes of their own (as on a real cluster): each imports
jitprop and loads the kernels from the Numba cache this process shares with
them, fits its share of the candidates and sends the scores back. The
search must choose and score exactly as under joblib's default backend.
"""

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("distributed", reason="the dask tests need dask.distributed (pip install 'jitprop[dask]')")

import joblib  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import jitprop as jp  # noqa: E402


def search(X, y):
    estimator = jp.Classifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0, n_threads=1)
    return GridSearchCV(estimator, {"alpha": [1e-4, 1e-1]}, cv=2).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_grid_search_on_a_local_cluster_matches_the_default_backend(digits):
    X, y = digits[0][:400], digits[1][:400]
    expected = search(X, y)
    # (The workers inherit NUMBA_CACHE_DIR, which conftest.py set, when they are spawned.)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            with joblib.parallel_backend("dask"):
                found = search(X, y)
            # The fits ran in the workers, not here.
            assert sum(len(tasks) for tasks in client.run(lambda dask_worker: dask_worker.state.log).values()) > 0
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(found.cv_results_[key], expected.cv_results_[key])
    assert found.best_params_ == expected.best_params_
    for mine, theirs in zip(found.best_estimator_.coefs_, expected.best_estimator_.coefs_):
        np.testing.assert_array_equal(mine, theirs)
