"""The first-run figures in the README and the docs are those of docs/first_run.json (``jitprop bench --first-run``)."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT = json.loads((ROOT / "docs" / "first_run.json").read_text())


def _range(key, digits):
    values = REPORT[key]
    median = REPORT["medians"][key]
    return f"{min(values):.{digits}f} to {max(values):.{digits}f} s (median {median:.{digits}f} s)"


def test_the_report_holds_what_it_says():
    rounds = len(REPORT["train_cold_seconds"])
    assert rounds >= 3 and len(REPORT["train_warm_seconds"]) == len(REPORT["fit_cold_seconds"]) == rounds
    assert REPORT["machine"]["cpus"] == 2
    for key, values in REPORT["medians"].items():
        assert sorted(REPORT[key])[rounds // 2] == values


@pytest.mark.parametrize(
    ("document", "key", "digits"),
    [
        ("README.md", "train_cold_seconds", 1),
        ("README.md", "train_warm_seconds", 2),
        ("docs/cli.md", "train_cold_seconds", 1),
        ("docs/benchmarks.md", "fit_cold_seconds", 1),
    ],
)
def test_a_document_states_the_measured_first_run(document, key, digits):
    text = " ".join((ROOT / document).read_text().split())  # lines rejoined
    expected = _range(key, digits)
    if document == "docs/benchmarks.md":  # "6.9 to 9.6 s each, median 9.0 s"
        values, median = REPORT[key], REPORT["medians"][key]
        expected = f"{min(values):.1f} to {max(values):.1f} s each, median {median:.1f} s"
    assert expected in text
