"""Optional check that the published dashboard renders in headless Chromium.

Not part of the test suite (``tests/``) or CI: it needs Chromium, npm (for
the dashboard's JavaScript libraries, see ``check_dashboard.py``) and a
dashboard built by ``asv publish``. Run it with::

    JITPROP_BROWSER_TEST=1 python -m pytest asv_benchmarks/test_dashboard.py
"""

import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("JITPROP_BROWSER_TEST") != "1",
    reason="set JITPROP_BROWSER_TEST=1 to load the published dashboard in headless Chromium",
)


def test_dashboard_shows_the_benchmark_list():
    spec = importlib.util.spec_from_file_location("check_dashboard", Path(__file__).with_name("check_dashboard.py"))
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.main(["--offline"]) == 0
