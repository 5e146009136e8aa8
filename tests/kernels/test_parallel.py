"""Tasks on Numba's thread pool (jitprop/kernels/_numba/parallel.py)."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from jitprop._threading import thread_count


def _tasks_fixture():
    from numba import njit

    from jitprop.kernels._numba.parallel import run_tasks

    @njit
    def record(visits, threads, work, task):
        if task == work.shape[0]:
            raise ValueError("no work for this task")
        s = 0.0
        for i in range(int(work[task])):  # enough to keep a thread busy
            s += np.sqrt(i + 1.0)
        visits[task] += 1 if s != -1.0 else 2  # (s is used: the loop stays)
        threads[task] = numba.get_thread_id()

    @njit
    def linked(visits, threads, work, n_tasks):
        run_tasks(record, n_tasks, (visits, threads, work))

    return record, linked


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_tasks", [0, 1, 2, 37])
def test_run_tasks_runs_every_task_once(threads, n_tasks):
    record, linked = _tasks_fixture()
    work = np.full(n_tasks, 1000.0)
    with thread_count(min(threads, numba.config.NUMBA_NUM_THREADS)):
        visits = np.zeros(n_tasks, dtype=np.int64)
        on_thread = np.full(n_tasks, -1, dtype=np.int64)
        linked(visits, on_thread, work, n_tasks)
        np.testing.assert_array_equal(visits, 1)
        assert set(on_thread.tolist()) <= set(range(numba.get_num_threads()))


def test_run_tasks_spreads_the_tasks_over_the_threads():
    from jitprop import _threading

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread")
    if _threading.threading_layer() == "tbb":
        pytest.skip("tbb may run every task on one thread")
    record, linked = _tasks_fixture()
    visits = np.zeros(4, dtype=np.int64)
    on_thread = np.full(4, -1, dtype=np.int64)
    with thread_count(2), _threading.parallel_region():
        linked(visits, on_thread, np.full(4, 2e6), 4)
    assert sorted(set(on_thread.tolist())) == [0, 1]
    with thread_count(1):
        linked(visits, on_thread, np.full(4, 10.0), 4)
    assert set(on_thread.tolist()) == {0}  # one thread: all in the caller's


def test_a_thread_busy_with_a_long_task_leaves_the_other_tasks_to_the_free_thread():
    from jitprop import _threading

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread")
    if _threading.threading_layer() != "omp":
        pytest.skip("the threads' shares are those of the omp layer's static schedule")
    record, linked = _tasks_fixture()
    work = np.full(8, 1000.0)
    work[0] = 3e8  # (some tenths of a second: the other thread starts long before it ends)
    visits = np.zeros(8, dtype=np.int64)
    on_thread = np.full(8, -1, dtype=np.int64)
    with thread_count(2), _threading.parallel_region():
        linked(visits, on_thread, work, 8)
    np.testing.assert_array_equal(visits, 1)
    # A fixed share per thread (OpenMP's static schedule) runs tasks 1 to 3 after task 0, on its thread. Now
    # the other thread takes them; or, if it took task 0 itself (its own share done before the first thread
    # started), the first thread runs them.
    assert on_thread[0] not in on_thread[1:4].tolist()


def test_a_task_that_raises_makes_run_tasks_raise_after_the_others_ran():
    record, linked = _tasks_fixture()
    visits = np.zeros(6, dtype=np.int64)
    work = np.full(5, 10.0)  # task 5 has no work: it raises
    with pytest.raises(RuntimeError, match="a task of a parallel kernel raised"):
        linked(visits, np.zeros(6, dtype=np.int64), work, 6)
    np.testing.assert_array_equal(visits, [1, 1, 1, 1, 1, 0])


def test_run_tasks_code_loaded_from_the_cache_starts_the_thread_pool(tmp_path):
    # The compiled code calls into Numba's thread pool by name; a process that
    # loads it from the cache before anything started the pool must still run.
    (tmp_path / "cached_tasks.py").write_text(
        "import numpy as np\n"
        "from numba import njit\n"
        "from jitprop.kernels._numba.parallel import run_tasks\n"
        "@njit(cache=True)\n"
        "def square(x, task):\n"
        "    x[task] = x[task] ** 2\n"
        "@njit(cache=True)\n"
        "def squares(x):\n"
        "    run_tasks(square, x.shape[0], (x,))\n"
        "x = np.arange(5.0)\n"
        "squares(x)\n"
        "print(x.tolist(), squares.stats.cache_hits)\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="2")
    runs = [
        subprocess.run([sys.executable, "cached_tasks.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    compiled_run, cached_run = (r.stdout.split("]")[0] + "]" for r in runs)
    assert compiled_run == cached_run == "[0.0, 1.0, 4.0, 9.0, 16.0]"
    assert runs[1].stdout.split("]")[1].strip() != "Counter()"  # loaded from the cache
