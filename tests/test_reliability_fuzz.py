"""Fuzzing ``jitprop.load``: thousands of corrupted model files, each rejected or loaded whole.

Every file is one of a few valid model files (float32 and float64; with and
without optimizer state, dropout and a seed) damaged in one of the ways a
file gets damaged or forged: truncated, bit-flipped, overwritten with random
bytes, its header length forged, its tensors' dtypes, shapes and byte ranges
changed, NaN and infinity written into its weights, its JSON values replaced.
Each must raise ``ModelFileError`` or load a valid, finite network — no other
exception, no crash, no hang, and no allocation beyond a small multiple of
the file's size.

Sizes: ``FUZZ_CASES`` files per run (3,000; with ``JITPROP_STRESS=1``
50,000, or ``JITPROP_FUZZ_CASES=N``). Run with ``-s`` to see the figures.
"""

import json
import math
import os
import struct
import time
import tracemalloc

import numpy as np
import pytest

import jitprop as jp
from jitprop.errors import ModelFileError
from jitprop.io.model_file import MAX_HEADER_BYTES

STRESS = os.environ.get("JITPROP_STRESS") == "1"
FUZZ_CASES = int(os.environ.get("JITPROP_FUZZ_CASES", "50000" if STRESS else "3000"))
#: Longest one load may take (seconds): far above the ~1 ms a load takes.
SLOWEST_LOAD = 2.0
#: Most memory one load may allocate: a multiple of the file's size plus a constant.
MEMORY_PER_BYTE, MEMORY_FLOOR = 64, 4 << 20


# ------------------------------------------------------------- the files
def _originals(directory):
    """Bytes of valid model files with different features, by name."""
    rng = np.random.default_rng(21)
    X, y = rng.normal(size=(40, 6)), rng.integers(0, 3, 40)
    specs = {
        "f32-sgd-plateau": (
            "float32",
            None,
            jp.SGD(lr=jp.schedules.ReduceLROnPlateau(0.05, monitor="loss", patience=1), momentum=0.9),
            [jp.Dense(5, "tanh"), jp.Dropout(0.25), jp.Dense(4, "relu"), jp.Dense(3, "softmax")],
        ),
        "f64-adam-amsgrad": ("float64", 7, jp.Adam(0.01, amsgrad=True), [jp.Dense(4, "elu"), jp.Dense(3, "softmax")]),
        "f32-untrained": ("float32", 3, None, [jp.Dropout(0.1), jp.Dense(3, "softmax")]),
        "f64-cosine": (
            "float64",
            None,
            jp.RMSprop(jp.schedules.CosineDecay(0.01, 50, warmup_steps=3)),
            [jp.Dense(3, "softmax")],
        ),
    }
    blobs = {}
    for name, (dtype, seed, optimizer, layers) in specs.items():
        net = jp.Network(layers, input_dim=6, loss="cross_entropy", dtype=dtype, seed=seed)
        if optimizer is not None:
            net.fit(X, y, epochs=2, batch_size=8, optimizer=optimizer, verbose=0)
        path = directory / f"{name}.safetensors"
        jp.save(net, path, training={"batch_size": 8}, extra={"name": name})
        blobs[name] = path.read_bytes()
    return blobs


def _split(raw):
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(header, data):
    text = header if isinstance(header, str) else json.dumps(header)
    encoded = text.encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(encoded)) + encoded + data


def _leaves(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, prefix + (i,))
    if prefix:
        yield prefix


def _set(document, keys, value):
    target = document
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


ODD_JSON = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2,
    7,
    2**31,
    2**63,
    2**64,
    2**128,
    10**30,
    -(10**30),
    0.5,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    "",
    "x",
    "F32",
    "F64",
    "SGD",
    "relu",
    "\u0000",
    "\ud800",
    [],
    [0],
    [1, 2],
    [-1],
    [10**12],
    {},
    {"a": 1},
    {"state": 1, "inc": 1},
]
DTYPE_CODES = ["F16", "BF16", "F32", "F64", "I8", "I32", "I64", "U8", "BOOL", "f32", "F32 ", "", "F8_E4M3"]


def _mutate(raw, rng):
    """One corrupted variant of ``raw``: ``(kind, bytes)``."""
    header, data = _split(raw)
    n = len(raw)
    kind = KINDS[int(rng.integers(len(KINDS)))]
    blob = bytearray(raw)
    if kind == "truncated":
        return kind, raw[: int(rng.integers(0, n))]
    if kind == "bit flips":
        for _ in range(int(rng.integers(1, 9))):
            at = int(rng.integers(0, n))
            blob[at] ^= 1 << int(rng.integers(0, 8))
        return kind, bytes(blob)
    if kind == "random bytes":
        return kind, rng.bytes(int(rng.integers(0, 4096)))
    if kind == "random bytes after a plausible length":
        body = rng.bytes(int(rng.integers(0, 4096)))
        return kind, struct.pack("<Q", int(rng.integers(0, len(body) + 8))) + body
    if kind == "overwritten span":
        at = int(rng.integers(0, n))
        blob[at : at + int(rng.integers(1, 64))] = rng.bytes(int(rng.integers(1, 64)))
        return kind, bytes(blob)
    if kind == "inserted or deleted bytes":
        at = int(rng.integers(0, n))
        if rng.random() < 0.5:
            del blob[at : at + int(rng.integers(1, 32))]
        else:
            blob[at:at] = rng.bytes(int(rng.integers(1, 32)))
        return kind, bytes(blob)
    if kind == "forged header length":
        length = len(raw) - 8 - len(data)
        choices = [
            0,
            1,
            2,
            length - 1,
            length + 1,
            n - 8,
            n - 7,
            n,
            MAX_HEADER_BYTES,
            MAX_HEADER_BYTES + 1,
            2**32,
            2**63 - 1,
            2**63,
            2**64 - 1,
            int(rng.integers(0, 2**63)),
        ]
        blob[:8] = struct.pack("<Q", choices[int(rng.integers(len(choices)))])
        return kind, bytes(blob)
    tensors = [name for name in header if name != "__metadata__"]
    name = tensors[int(rng.integers(len(tensors)))]
    if kind == "tensor dtype":
        header[name]["dtype"] = DTYPE_CODES[int(rng.integers(len(DTYPE_CODES)))]
        return kind, _join(header, data)
    if kind == "tensor shape":
        shapes = [
            [],
            [0],
            [-1],
            [1],
            [10**12],
            [2**63],
            [1.5],
            ["3"],
            [None],
            [[3]],
            [int(rng.integers(0, 10**4))],
            [int(rng.integers(0, 50)), int(rng.integers(0, 50))],
            list(reversed(header[name]["shape"])),
            header[name]["shape"] + [1],
            5,
            None,
        ]
        header[name]["shape"] = shapes[int(rng.integers(len(shapes)))]
        return kind, _join(header, data)
    if kind == "tensor byte range":
        begin, end = header[name]["data_offsets"]
        ranges = [
            [0, 0],
            [begin, end + 4],
            [begin - 4, end],
            [begin + 4, end + 4],
            [end, begin],
            [0, 2**64],
            [-8, end],
            [begin, 10**30],
            [begin],
            [begin, end, 0],
            [float(begin), end],
            [str(begin), end],
            [0, len(data)],
            [begin + 2, end + 2],
        ]
        header[name]["data_offsets"] = ranges[int(rng.integers(len(ranges)))]
        return kind, _join(header, data)
    if kind == "non-finite or odd weights":
        itemsize = 4 if header[name]["dtype"] == "F32" else 8
        begin, end = header[name]["data_offsets"]
        count = (end - begin) // itemsize
        if count == 0:
            return kind, raw
        values = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1e-45, 1e38, -1e308]
        value = values[int(rng.integers(len(values)))]
        with np.errstate(over="ignore"):  # -1e308 in a float32 file is -inf: one more non-finite value
            element = np.array([value], dtype="<f4" if itemsize == 4 else "<f8").tobytes()
        data = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            at = begin + itemsize * int(rng.integers(count))
            data[at : at + itemsize] = element
        return kind, _join(header, bytes(data))
    if kind == "metadata value":
        document = json.loads(header["__metadata__"]["jitprop"])
        for _ in range(int(rng.integers(1, 3))):
            paths = list(_leaves(document))
            if paths:
                _set(document, paths[int(rng.integers(len(paths)))], ODD_JSON[int(rng.integers(len(ODD_JSON)))])
        header["__metadata__"]["jitprop"] = json.dumps(document)
        return kind, _join(header, data)
    if kind == "metadata text":
        text = header["__metadata__"]["jitprop"]
        forms = [
            text.replace('"epoch":', '"epoch":1e999,"x":', 1),
            text.replace("{", '{"format_version":1,', 1),  # a duplicate key
            text[: int(rng.integers(0, len(text)))],
            "[" * 50_000 + "]" * 50_000,
            '{"a":' + "9" * 5000 + "}",  # beyond Python's int digits limit
            text.replace(":", ':NaN,"y":', 1),
            "\ufeff" + text,
            text.encode("utf-8").decode("latin-1"),
        ]
        header["__metadata__"]["jitprop"] = forms[int(rng.integers(len(forms)))]
        return kind, _join(header, data)
    # "header text": the safetensors header itself, bytes edited inside the JSON
    length = len(raw) - 8 - len(data)
    at = 8 + int(rng.integers(0, length))
    blob[at] = int(rng.choice(list(b'{}[]":,0123456789-e.\\ ')))
    return kind, bytes(blob)


KINDS = [
    "truncated",
    "bit flips",
    "random bytes",
    "random bytes after a plausible length",
    "overwritten span",
    "inserted or deleted bytes",
    "forged header length",
    "tensor dtype",
    "tensor shape",
    "tensor byte range",
    "non-finite or odd weights",
    "metadata value",
    "metadata text",
    "header text",
]


def _assert_valid(net):
    assert isinstance(net, jp.Network)
    assert net.params.shape == (net.n_params,) and np.isfinite(net.params).all()
    assert net.params.dtype in (np.float32, np.float64)
    if net.optimizer is not None and net.optimizer.state is not None:
        assert net.optimizer.state.shape == (max(net.optimizer.n_slots, 1), net.n_params)
        assert np.isfinite(net.optimizer.state).all()
    if net.optimizer is not None:
        assert math.isfinite(float(net.optimizer.learning_rates(net.optimizer.step, 1, net.epoch)[0]))


def _load(path, measure_memory):
    """``(outcome, seconds, peak bytes or None)`` of loading ``path``."""
    if measure_memory:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        net = jp.load(path)
    except ModelFileError:
        outcome = "rejected"
    else:
        _assert_valid(net)
        outcome = "loaded"
    finally:
        seconds = time.perf_counter() - started
        peak = None
        if measure_memory:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return outcome, seconds, peak


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    return _originals(tmp_path_factory.mktemp("originals"))


def test_originals_load(originals, tmp_path):
    path = tmp_path / "model.safetensors"
    for raw in originals.values():
        path.write_bytes(raw)
        _assert_valid(jp.load(path))


def test_fuzzed_model_files_are_rejected_or_load_whole(originals, tmp_path):
    rng = np.random.default_rng(20240611)
    names = sorted(originals)
    path = tmp_path / "fuzzed.safetensors"
    tally = {}
    slowest = (0.0, None)
    failures = []
    for i in range(FUZZ_CASES):
        raw = originals[names[i % len(names)]]
        kind, blob = _mutate(raw, rng)
        path.write_bytes(blob)
        measure = i % 20 == 0  # tracemalloc slows a load down several times: one file in 20
        try:
            outcome, seconds, peak = _load(path, measure)
        except Exception as exc:  # noqa: BLE001 - anything but ModelFileError is a bug in the reader
            failures.append(f"case {i} ({kind}): {type(exc).__name__}: {exc}"[:300])
            continue
        tally.setdefault(kind, {"rejected": 0, "loaded": 0})[outcome] += 1
        slowest = max(slowest, (seconds, kind))
        if peak is not None and peak > MEMORY_PER_BYTE * len(blob) + MEMORY_FLOOR:
            failures.append(f"case {i} ({kind}): {peak} bytes allocated for a {len(blob)}-byte file")
    rejected = sum(t["rejected"] for t in tally.values())
    loaded = sum(t["loaded"] for t in tally.values())
    print(
        f"\nfuzz: {FUZZ_CASES} corrupted model files: {rejected} ModelFileError, {loaded} loaded valid models, "
        f"{len(failures)} other answers; slowest load {slowest[0] * 1e3:.1f} ms ({slowest[1]})"
    )
    for kind in KINDS:
        if kind in tally:
            print(f"  {kind:40s} {tally[kind]['rejected']:6d} rejected {tally[kind]['loaded']:6d} loaded")
    assert not failures, "\n".join(failures[:20])
    assert slowest[0] < SLOWEST_LOAD, slowest
    assert set(tally) == set(KINDS)  # every kind of damage was tried
    assert rejected > 0.8 * FUZZ_CASES


FORGED = {
    "header length 2**63": lambda raw: struct.pack("<Q", 2**63) + raw[8:],
    "header length 2**64 - 1": lambda raw: struct.pack("<Q", 2**64 - 1) + raw[8:],
    "params shape [10**12]": lambda raw: _forged_tensor(raw, "shape", [10**12]),
    "params byte range [0, 2**64]": lambda raw: _forged_tensor(raw, "data_offsets", [0, 2**64]),
    "architecture of 10**9 units": lambda raw: _forged_units(raw, 10**9),
    "JSON nested 100 000 deep": lambda raw: _join("[" * 100_000 + "]" * 100_000, b""),
    "an integer of 100 000 digits": lambda raw: _join('{"a": ' + "7" * 100_000 + "}", b""),
}


def _forged_tensor(raw, field, value):
    header, data = _split(raw)
    header["params"][field] = value
    return _join(header, data)


def _forged_units(raw, units):
    header, data = _split(raw)
    document = json.loads(header["__metadata__"]["jitprop"])
    document["architecture"]["layers"][-1]["units"] = units
    header["__metadata__"]["jitprop"] = json.dumps(document)
    return _join(header, data)


@pytest.mark.parametrize("forgery", list(FORGED))
def test_forged_sizes_allocate_nothing_large(originals, tmp_path, forgery):
    """Files that claim huge sizes are rejected before anything of that size is allocated."""
    blob = FORGED[forgery](originals["f32-sgd-plateau"])
    path = tmp_path / "forged.safetensors"
    path.write_bytes(blob)
    outcome, seconds, peak = _load(path, measure_memory=True)
    assert outcome == "rejected"
    assert peak < MEMORY_PER_BYTE * len(blob) + MEMORY_FLOOR, f"{peak} bytes for a {len(blob)}-byte file"
    assert seconds < SLOWEST_LOAD
