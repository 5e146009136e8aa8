"""``jitprop info``: versions, threads, CPU and the compile cache."""

import re

from helpers import run_jitprop
from jitprop.kernels._numba.cache import cache_directory


def test_info_reports_versions_threads_cpu_and_cache(tmp_path):
    info = run_jitprop("info", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    patterns = [r"^jitprop \S+", r"^numba \S+, numpy \S+", r"threads: \d+ in use, at most \d+", r"threading layer: \w+"]
    for pattern in patterns + [r"^cpu: \S+, \S+ \(", r"^compile cache: "]:
        assert re.search(pattern, info.stdout, re.M), info.stdout
    assert f"compile cache: {cache_directory()} (" in info.stdout  # where this process's kernels are, too
