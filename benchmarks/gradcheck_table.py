"""Relative gradient error of jitprop.gradcheck for every activation x loss (float64).

Run: python benchmarks/gradcheck_table.py
"""

import numpy as np, jitprop as jp

rng = np.random.default_rng(0)
X = rng.normal(size=(13, 5))
acts = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
rows = []
outputs = [
    ("mse", "identity"),
    ("mse", "sigmoid"),
    ("mse", "softmax"),
    ("cross_entropy", "softmax"),
    ("binary_cross_entropy", "sigmoid"),
]
for loss, out in outputs:
    for act in acts:
        layers = [jp.Dense(6, act), jp.Dense(4, act), jp.Dense(3, out)]
        net = jp.Network(layers, input_dim=5, loss=loss, dtype="float64", seed=1)
        if loss == "cross_entropy":
            y = rng.integers(0, 3, 13)
        elif loss == "binary_cross_entropy":
            y = rng.random((13, 3))
        else:
            y = rng.normal(size=(13, 3))
        rows.append((act, loss, out, jp.gradcheck(net, X, y)))
for r in rows:
    print("%-11s %-21s %-9s %.2e" % r)
print("max", max(r[3] for r in rows))
