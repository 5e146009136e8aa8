"""jitprop.complexity.fitting: Student's t quantiles and power laws fitted on log-log axes."""

import numpy as np
import pytest

from jitprop import complexity
from jitprop.complexity.fitting import t_quantile_975


def test_t_quantiles():
    assert t_quantile_975(1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile_975(5) == pytest.approx(2.5706, abs=1e-4)
    assert t_quantile_975(30) == pytest.approx(2.0423, abs=1e-4)
    assert t_quantile_975(40) == pytest.approx(2.0211, abs=1e-4)
    assert t_quantile_975(120) == pytest.approx(1.9799, abs=1e-4)
    assert t_quantile_975(10**6) == pytest.approx(1.96, abs=1e-4)


def test_power_law_fit(rng):
    x = np.geomspace(100, 1000, 7)
    exact = complexity.fit_power_law(x, 3e-6 * x**1.5)
    assert exact.slope == pytest.approx(1.5)
    assert exact.ci95[0] == pytest.approx(1.5) and exact.ci95[1] == pytest.approx(1.5)
    assert exact(200.0) == pytest.approx(3e-6 * 200**1.5)

    noisy = complexity.fit_power_law(x, 2.0 * x * np.exp(rng.normal(0, 0.05, x.shape)))
    low, high = noisy.ci95
    assert low < noisy.slope < high
    assert low < 1.0 < high
    with pytest.raises(ValueError, match="positive"):
        complexity.fit_power_law([1, 2, 3], [1, 0, 1])
