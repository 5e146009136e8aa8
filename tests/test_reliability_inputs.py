"""Bad input, end to end: every case of ``bad_inputs.py``, and properties of the validation layer.

``bad_inputs.py`` lists each bad input tried against the API with the answer
it must get; here each is one test. The property-based tests below draw
shapes, dtypes, memory layouts and values and check what ``jitprop._checks``
— the one validation layer every entry point uses — makes of them.
"""

import re
import tempfile
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bad_inputs
import jitprop as jp
from jitprop import _checks, training
from jitprop.losses import get_loss

PROPERTIES = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples every run, like the suite's seeded fixtures
    suppress_health_check=[HealthCheck.too_slow],
)


def _case_ids():
    with tempfile.TemporaryDirectory() as tmp:
        return [f"{case.entry}: {case.what}" for case in bad_inputs.cases(tmp)]


CASE_IDS = _case_ids()


@pytest.fixture(scope="module")
def all_cases(tmp_path_factory):
    return list(bad_inputs.cases(str(tmp_path_factory.mktemp("bad_inputs"))))


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_bad_input_gets_a_clear_error(all_cases, index):
    problem = bad_inputs.check(all_cases[index])
    assert problem is None, problem


def test_bad_input_catalogue_is_large_and_covers_every_entry_point():
    entries = {name.split(":")[0] for name in CASE_IDS}
    for entry in (
        "Network.fit",
        "Network.predict",
        "Network.evaluate",
        "Network.loss_and_grads",
        "Network",
        "Dense",
        "Dropout",
        "SGD",
        "jitprop.load",
        "jitprop.save",
    ):
        assert entry in entries
    assert len(CASE_IDS) >= 200
    assert len(set(CASE_IDS)) == len(CASE_IDS)  # each case is tried once


# ------------------------------------------------------ validation layer
DTYPES = [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64, np.float16, np.float32, np.float64]
LAYOUTS = ["C", "F", "strided"]


def _laid_out(a, layout):
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        wide = np.repeat(a, 2, axis=1)
        return wide[:, ::2]
    return np.ascontiguousarray(a)


@PROPERTIES
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 6)),
    source=st.sampled_from(DTYPES),
    target=st.sampled_from([np.float32, np.float64]),
    layout=st.sampled_from(LAYOUTS),
    data=st.data(),
)
def test_any_real_matrix_is_converted_once_and_exactly(shape, source, target, layout, data):
    elements = hnp.from_dtype(np.dtype(source), allow_nan=False, allow_infinity=False)
    if np.dtype(source).kind == "f":
        elements = st.floats(-1e4, 1e4, width=np.dtype(source).itemsize * 8)
    X = _laid_out(data.draw(hnp.arrays(source, shape, elements=elements)), layout)
    out = _checks.as_float_matrix(X, np.dtype(target), "X", shape[1])
    assert out.dtype == target and out.flags.c_contiguous and out.shape == shape
    np.testing.assert_array_equal(out, X.astype(target))
    # No copy exactly when the input already is what the kernels read.
    already = X.dtype == target and X.flags.c_contiguous
    assert np.shares_memory(out, X) == already


@PROPERTIES
@given(
    shape=st.tuples(st.integers(1, 30), st.integers(1, 6)),
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
    data=st.data(),
)
def test_nan_and_inf_are_reported_at_their_first_position(shape, dtype, bad, data):
    X = np.zeros(shape, dtype=dtype)
    cells = data.draw(
        st.lists(st.tuples(st.integers(0, shape[0] - 1), st.integers(0, shape[1] - 1)), min_size=1, max_size=4)
    )
    for cell in cells:
        X[cell] = bad
    row, col = min(cells)
    word = "NaN" if np.isnan(bad) else "infinity"
    for target in (np.float32, np.float64):
        with pytest.raises(ValueError, match=rf"^Input X contains {word} \(first at row {row}, column {col}\)\.$"):
            _checks.as_float_matrix(X, np.dtype(target), "X", shape[1])


@PROPERTIES
@given(n=st.integers(1, 200_000), row=st.data())
def test_nan_is_found_across_chunk_boundaries(n, row):
    # The scan goes 2^20 elements at a time; a NaN anywhere must be found at its own row.
    at = row.draw(st.integers(0, n - 1))
    y = np.zeros(n)
    y[at] = np.nan
    with pytest.raises(ValueError, match=rf"first at row {at}\)"):
        _checks.check_finite(y, "y")


@PROPERTIES
@given(
    shape=st.tuples(st.integers(1, 300), st.integers(1, 40)),
    chunk=st.integers(1, 100),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
    data=st.data(),
)
def test_the_first_bad_cell_of_a_matrix_is_found_whatever_the_chunking(shape, chunk, bad, data):
    # Chunks hold whole rows, at least one even when a row is longer than a chunk.
    X = np.ones(shape, dtype=np.float32)
    cells = data.draw(
        st.lists(st.tuples(st.integers(0, shape[0] - 1), st.integers(0, shape[1] - 1)), min_size=1, max_size=3)
    )
    for cell in cells:
        X[cell] = bad
    with mock.patch.object(_checks, "_FINITE_CHUNK_ELEMENTS", chunk):
        assert _checks._first_non_finite(X) == min(cells)
        assert _checks._first_non_finite(np.ones(shape, dtype=np.float32)) is None


@PROPERTIES
@given(
    n=st.integers(1, 30),
    k=st.integers(1, 6),
    dtype=st.sampled_from([np.int8, np.int64, np.uint8, np.uint64, np.float32, np.float64, np.bool_]),
    data=st.data(),
)
def test_class_labels_in_range_are_kept_and_others_named(n, k, dtype, data):
    high = 1 if dtype == np.bool_ else min(k + 3, np.iinfo(dtype).max if np.dtype(dtype).kind in "iu" else k + 3)
    low = 0 if np.dtype(dtype).kind in "ub" else -3
    labels = np.array(data.draw(st.lists(st.integers(low, high), min_size=n, max_size=n)), dtype=dtype)
    loss = get_loss("cross_entropy")
    outside = np.flatnonzero((labels.astype(np.int64) < 0) | (labels.astype(np.int64) >= k))
    if outside.size == 0:
        targets, kept = _checks.prepare_targets(labels, loss, k, n, np.float64)
        assert kept.dtype == np.int64 and targets.shape == (0, k)
        np.testing.assert_array_equal(kept, labels.astype(np.int64))
    else:
        row = int(outside[0])
        expected = rf"Class label {int(labels[row])} at row {row} of y is outside the network's {k} outputs"
        with pytest.raises(ValueError, match=expected):
            _checks.prepare_targets(labels, loss, k, n, np.float64)


@PROPERTIES
@given(
    shape=st.tuples(st.integers(1, 20), st.integers(1, 4)),
    values=st.lists(st.floats(-2, 3, allow_nan=False), min_size=80, max_size=80),
)
def test_binary_targets_outside_0_1_are_named_at_their_first_cell(shape, values):
    y = np.array(values[: shape[0] * shape[1]]).reshape(shape)
    loss = get_loss("binary_cross_entropy")
    outside = np.argwhere((y < 0) | (y > 1))
    if outside.size == 0:
        targets, labels = _checks.prepare_targets(y, loss, shape[1], shape[0], np.float32)
        assert targets.dtype == np.float32 and labels.size == 0
        return
    row, col = outside[0]
    with pytest.raises(
        ValueError, match=rf"must lie in \[0, 1\]; y\[{row}, {col}\] = {re.escape(repr(float(y[row, col])))}"
    ):
        _checks.prepare_targets(y, loss, shape[1], shape[0], np.float32)


ODD_VALUES = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.sampled_from([np.int64(3), np.float32(0.5), np.uint8(0), [1], (2,), 1 + 2j]),
)


@PROPERTIES
@given(value=ODD_VALUES)
def test_scalar_checks_accept_exactly_their_domain_and_name_the_value(value):
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    integral = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    checks = [
        (_checks.positive_int, integral and real and value >= 1),
        (_checks.non_negative_int, integral and real and value >= 0),
        (_checks.positive_float, real and np.isfinite(value) and value > 0),
        (_checks.non_negative_float, real and np.isfinite(value) and value >= 0),
        (_checks.fraction, real and 0 <= value < 1),
    ]
    for check, accepted in checks:
        if accepted:
            assert check(value, "arg") == value
        else:
            with pytest.raises(ValueError, match=rf"^arg must be .*, got {re.escape(repr(value))}\.$"):
                check(value, "arg")


@PROPERTIES
@given(n=st.integers(1, 50), d=st.integers(1, 8), expected=st.integers(1, 8), y_rows=st.integers(0, 50))
def test_shape_mismatches_name_both_sizes(n, d, expected, y_rows):
    assume(d != expected or y_rows != n)
    X = np.zeros((n, d))
    if d != expected:
        with pytest.raises(ValueError, match=rf"^X has {d} features, but the network expects {expected}\.$"):
            _checks.as_float_matrix(X, np.float64, "X", expected)
    if y_rows != n:
        with pytest.raises(ValueError, match=rf"X and y have different numbers of examples: {n} and {y_rows}"):
            _checks.prepare_targets(np.zeros(y_rows), get_loss("mse"), 1, n, np.float64)


# ----------------------------------------------------- conversion, once
def test_fit_converts_its_data_once_not_per_batch(monkeypatch):
    """A Fortran-ordered float64 X for a float32 network: one conversion per fit, whatever the batches."""
    rng = np.random.default_rng(3)
    X = np.asfortranarray(rng.normal(size=(200, 5)))
    y = rng.integers(0, 3, 200)
    calls = []
    original = _checks._converted

    def spy(a, dtype, name):
        calls.append(name)
        return original(a, dtype, name)

    monkeypatch.setattr(_checks, "_converted", spy)
    net = jp.Network([jp.Dense(4, "relu"), jp.Dense(3, "softmax")], 5, "cross_entropy", "float32", seed=0)
    net.fit(X, y, epochs=3, batch_size=7, verbose=0, validation_data=(X[:20], y[:20]))
    assert calls == ["X", "X"]  # the training X and the validation X; labels are not converted


def test_c_contiguous_input_of_the_network_dtype_reaches_the_kernels_without_a_copy(monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    seen = []
    original = training.train_epoch

    def spy(kernels, model, data, *rest):
        seen.append(data.inputs)
        return original(kernels, model, data, *rest)

    monkeypatch.setattr(training, "train_epoch", spy)
    net = jp.Network([jp.Dense(4, "relu"), jp.Dense(3, "softmax")], 5, "cross_entropy", "float32", seed=0)
    net.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert len(seen) == 2 and all(np.shares_memory(inputs, X) for inputs in seen)


def test_single_callback_and_numpy_scalars_are_accepted():
    """Odd but meaningful arguments are accepted, not rejected: the validation layer is not a type police."""
    from jitprop.callbacks import EarlyStopping

    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(30, 5)), rng.integers(0, 3, 30)
    net = jp.Network([jp.Dense(3, "softmax")], np.int64(5), "cross_entropy", seed=np.int32(1))
    history = net.fit(
        X,
        y.astype(np.uint8),
        epochs=np.int64(2),
        batch_size=np.int16(8),
        verbose=0,
        callbacks=[EarlyStopping(monitor="loss", patience=5)],
        shuffle=np.bool_(True),
    )
    assert history.epochs == [0, 1]


@PROPERTIES
@given(
    n=st.integers(1, 40),
    features=st.integers(1, 6),
    outputs=st.integers(1, 4),
    dtype=st.sampled_from([np.float32, np.float64]),
    loss=st.sampled_from(["cross_entropy", "mse"]),
    spoil=st.sampled_from([None, "nan in X", "inf in y", "label below 0", "label too large"]),
    data=st.data(),
)
def test_the_quick_way_gives_what_the_general_checks_give_or_leaves_it_to_them(
    n, features, outputs, dtype, loss, spoil, data
):
    import numba

    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n, features)).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, outputs, n)
    else:
        y = rng.standard_normal((n, outputs)).astype(dtype)
    row = data.draw(st.integers(0, n - 1))
    if spoil == "nan in X":
        X[row, data.draw(st.integers(0, features - 1))] = np.nan
    elif spoil == "inf in y" and loss == "mse":
        y[row, data.draw(st.integers(0, outputs - 1))] = np.inf
    elif spoil == "label below 0" and loss == "cross_entropy":
        y[row] = -1
    elif spoil == "label too large" and loss == "cross_entropy":
        y[row] = outputs
    quick = _checks.plain_training_data(X, y, np.dtype(dtype), (features,), outputs, loss)
    try:
        inputs = _checks.as_float_examples(X, np.dtype(dtype), (features,))
        targets, labels = _checks.prepare_targets(y, get_loss(loss), outputs, n, np.dtype(dtype))
    except ValueError:
        assert quick is None  # (the general checks say what is wrong)
        return
    general = (inputs, targets, labels, _checks.sample_weights(None, n))
    assert quick is not None
    for mine, theirs in zip(quick, general):
        assert numba.typeof(mine) == numba.typeof(theirs) and mine.shape == theirs.shape
        np.testing.assert_array_equal(mine, theirs)
