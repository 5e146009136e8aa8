"""Power laws fitted by least squares on log-log axes, with a 95% confidence interval."""

import math
from dataclasses import dataclass

import numpy as np

# Two-sided 95% quantiles of Student's t (t_{0.975, df}) for df = 1..30.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959963984540054


def t_quantile_975(df):
    """``t_{0.975}`` of Student's t with ``df`` degrees of freedom.

    A table up to 30, then the Cornish-Fisher expansion in ``1/df`` about the
    normal quantile (error below 1e-5 there).
    """
    if df < 1:
        raise ValueError(f"df must be at least 1, got {df!r}.")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class PowerLawFit:
    """``y ≈ c · x^slope``, fitted as ``log y = log c + slope · log x``.

    ``ci95`` is the 95% confidence interval of the slope:
    ``slope ± t_{0.975, n−2} · se``, with ``se`` from the residuals.
    """

    slope: float
    intercept: float  # log c (natural log)
    ci95: tuple
    n: int

    def __call__(self, x):
        """The fitted ``c · x^slope``."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope

    def as_dict(self):
        return {"slope": self.slope, "ci95": list(self.ci95), "intercept": self.intercept, "points": self.n}


def fit_power_law(x, y):
    """Least-squares slope of ``log y`` on ``log x`` with its 95% confidence interval.

    Parameters
    ----------
    x, y : array-like of shape (n,)
        Positive values, at least 3 points with at least 2 distinct ``x``.

    Returns
    -------
    PowerLawFit
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.shape[0] < 3:
        raise ValueError(f"x and y must be 1-D of the same length >= 3, got shapes {x.shape} and {y.shape}.")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("x and y must be positive for a log-log fit.")
    lx, ly = np.log(x), np.log(y)
    sxx = float(((lx - lx.mean()) ** 2).sum())
    if sxx == 0.0:
        raise ValueError("x needs at least two distinct values.")
    slope = float(((lx - lx.mean()) * (ly - ly.mean())).sum() / sxx)
    intercept = float(ly.mean() - slope * lx.mean())
    residuals = ly - (intercept + slope * lx)
    n = x.shape[0]
    se = math.sqrt(float((residuals**2).sum()) / (n - 2) / sxx)
    half = t_quantile_975(n - 2) * se
    return PowerLawFit(slope, intercept, (slope - half, slope + half), n)
