"""What jitprop reports about the machine: one description, for info, the complexity results and bench."""

import json
import platform

import numba
import numpy as np

from jitprop import _machine


def test_describe_reports_the_machine_and_the_software():
    described = _machine.describe(packages=("numba", "numpy", "no-such-package"))
    json.dumps(described)  # JSON-compatible throughout
    assert described["machine"] == platform.machine() and described["python"] == platform.python_version()
    assert described["threads"] == numba.get_num_threads()
    assert described["max_threads"] == numba.config.NUMBA_NUM_THREADS
    assert described["cpus"] >= 1 and described["cpu"]
    assert set(described["cpu_features"]) <= set(_machine.VECTOR_FEATURES)
    assert described["versions"] == {"numba": numba.__version__, "numpy": np.__version__, "no-such-package": None}


def test_the_complexity_results_and_the_bench_report_take_it_from_there(monkeypatch):
    from jitprop.complexity import timing

    fake = {
        "cpu": "testcpu", "cpu_features": [], "machine": "m", "cpus": 3, "threads": 2, "max_threads": 2,
        "threading_layer": "omp", "python": "3.x", "versions": {"numba": "n", "numpy": "p"},
    }  # fmt: skip
    monkeypatch.setattr(timing, "describe", lambda: fake)
    described = timing.machine(load_before=None)
    assert {key: described[key] for key in ("cpu", "machine", "cpus", "threads", "threading_layer")} == {
        "cpu": "testcpu", "machine": "m", "cpus": 3, "threads": 2, "threading_layer": "omp"
    }  # fmt: skip
    assert (described["numba"], described["numpy"], described["python"]) == ("n", "p", "3.x")
