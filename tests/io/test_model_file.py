"""Model files: bitwise round trips, atomic writes, and every kind of broken file.

A model file must give back a network that trains on exactly as the saved one
would have, must never be half-written, and must turn any defect of an
untrusted file into a ModelFileError (a ValueError) — never another
exception, a crash, a hang or a huge allocation.
"""

import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy

import jitprop as jp
from helpers import DTYPES
from jitprop.errors import ModelFileError
from jitprop.io.model_file import MAX_HEADER_BYTES, Checkpoint, load_checkpoint


# ------------------------------------------------------------------ helpers
def make_data(rng, n=40, d=6, k=3):
    return rng.normal(size=(n, d)), rng.integers(0, k, size=n)


def trained_network(rng, dtype="float32", seed=None, optimizer=None, epochs=2):
    """A small network trained for ``epochs`` epochs: dropout, momentum and a stateful schedule in play."""
    X, y = make_data(rng)
    net = jp.Network(
        [jp.Dense(5, "tanh"), jp.Dropout(0.25), jp.Dense(4, "relu"), jp.Dense(3, "softmax")],
        input_dim=6,
        loss="cross_entropy",
        dtype=dtype,
        seed=seed,
    )
    if optimizer is None:
        optimizer = jp.SGD(lr=jp.schedules.ReduceLROnPlateau(0.05, monitor="loss", patience=1), momentum=0.9)
    net.fit(X, y, epochs=epochs, batch_size=8, optimizer=optimizer, verbose=0)
    return net, X, y


def split(raw):
    """``(header dict, tensor data bytes)`` of a safetensors file's bytes."""
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def join(header, data):
    """The bytes of a safetensors file with ``header`` (dict or str) and tensor ``data``."""
    text = header if isinstance(header, str) else json.dumps(header)
    encoded = text.encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def document_of(header):
    return json.loads(header["__metadata__"]["jitprop"])


def with_document(raw, edit):
    """``raw`` with its jitprop metadata replaced by ``edit(document)`` (which may also edit in place)."""
    header, data = split(raw)
    document = document_of(header)
    document = edit(document) or document
    header["__metadata__"]["jitprop"] = document if isinstance(document, str) else json.dumps(document)
    return join(header, data)


def with_header(raw, edit):
    header, data = split(raw)
    edit(header)
    return join(header, data)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained float32 network and the bytes of its model file (written outside ``tmp_path``).

    Shared by the tests of this module: they must not change the network.
    """
    net, _, _ = trained_network(np.random.default_rng(20240611))
    path = tmp_path_factory.mktemp("saved") / "net.safetensors"
    jp.save(net, path, training={"batch_size": 8}, extra={"note": "fixture"})
    return net, path.read_bytes()


def load_bytes(tmp_path, raw, name="broken.safetensors"):
    path = tmp_path / name
    path.write_bytes(raw)
    return jp.load(path)


def assert_valid(net):
    """What any network that load returns must be: finite, consistent, usable."""
    assert isinstance(net, jp.Network)
    assert net.params.shape == (net.n_params,) and np.isfinite(net.params).all()
    if net.optimizer is not None and net.optimizer.state is not None:
        assert net.optimizer.state.shape == (max(net.optimizer.n_slots, 1), net.n_params)
        assert np.isfinite(net.optimizer.state).all()


# -------------------------------------------------------------- round trip
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_restores_everything_bit_for_bit(rng, tmp_path, dtype):
    net, X, _ = trained_network(rng, dtype)
    path = tmp_path / "model.safetensors"
    jp.save(net, path)
    twin = jp.load(path)

    assert twin.config() == net.config()
    assert twin.params.dtype == net.params.dtype
    assert twin.params.tobytes() == net.params.tobytes()
    assert twin.predict(X).tobytes() == net.predict(X).tobytes()
    for layer, twin_layer in zip(net.layers[::2], twin.layers[::2], strict=True):  # dense layers are views into params
        np.testing.assert_array_equal(twin_layer.W, layer.W)
    assert twin.epoch == net.epoch == 2
    assert twin.rng.bit_generator.state == net.rng.bit_generator.state
    assert twin.optimizer is not net.optimizer
    assert type(twin.optimizer) is jp.SGD and twin.optimizer.config() == net.optimizer.config()
    assert twin.optimizer.step == net.optimizer.step == 10
    assert twin.optimizer.state.dtype == net.optimizer.state.dtype
    assert twin.optimizer.state.tobytes() == net.optimizer.state.tobytes()
    assert np.any(net.optimizer.state != 0)  # momentum is really being carried over
    assert twin.optimizer.schedule.state() == net.optimizer.schedule.state()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [None, 7])
def test_training_after_load_continues_bitwise(rng, tmp_path, dtype, seed):
    # Shuffling (rng), dropout masks (seed or drawn entropy, epoch), momentum
    # (optimizer state), the schedule's plateau counter and the update count
    # all feed the next epoch; any of them lost changes the weights.
    net, X, y = trained_network(rng, dtype, seed=seed)
    path = tmp_path / "model.safetensors"
    jp.save(net, path)
    twin = jp.load(path)
    net.fit(X, y, epochs=2, batch_size=8, verbose=0)
    twin.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert twin.params.tobytes() == net.params.tobytes()
    assert twin.optimizer.state.tobytes() == net.optimizer.state.tobytes()
    assert twin.optimizer.schedule.state() == net.optimizer.schedule.state()


def test_training_after_load_continues_bitwise_with_adam(rng, tmp_path):
    net, X, y = trained_network(rng, "float64", optimizer=jp.Adam(lr=0.01, amsgrad=True))
    path = tmp_path / "model.safetensors"
    jp.save(net, path)
    twin = jp.load(path)
    assert twin.optimizer.state.shape == (3, net.n_params)
    net.fit(X, y, epochs=1, batch_size=8, verbose=0)
    twin.fit(X, y, epochs=1, batch_size=8, verbose=0)
    assert twin.params.tobytes() == net.params.tobytes()


def test_checkpoint_gives_back_epoch_training_and_extra(saved, tmp_path):
    net, raw = saved
    path = tmp_path / "model.safetensors"
    path.write_bytes(raw)
    checkpoint = load_checkpoint(path)
    assert isinstance(checkpoint, Checkpoint)
    assert checkpoint.epoch == checkpoint.network.epoch == 2
    assert checkpoint.training == {"batch_size": 8}
    assert checkpoint.extra == {"note": "fixture"}
    assert checkpoint.jitprop_version == jp.__version__
    assert checkpoint.network.params.tobytes() == net.params.tobytes()


def test_explicit_epoch_and_json_conversions(rng, tmp_path):
    net = jp.Network([jp.Dense(2, "sigmoid")], input_dim=3, loss="binary_cross_entropy", seed=np.int64(3))
    path = tmp_path / "model.safetensors"
    jp.save(net, path, epoch=np.int64(5), training={"sizes": (4, 2), "lr": np.float32(0.5)}, extra=[1, None])
    checkpoint = load_checkpoint(path)
    assert checkpoint.epoch == checkpoint.network.epoch == 5
    assert checkpoint.training == {"sizes": [4, 2], "lr": 0.5}  # JSON: tuples become lists
    assert checkpoint.extra == [1, None]
    assert checkpoint.network.seed == 3


def test_untrained_network_has_no_optimizer(tmp_path):
    net = jp.Network([jp.Dense(3, "relu"), jp.Dense(1)], input_dim=2, dtype="float64", seed=1)
    path = tmp_path / "model.safetensors"
    jp.save(net, path)
    twin = jp.load(path)
    assert twin.optimizer is None and twin.epoch == 0
    assert twin.params.tobytes() == net.params.tobytes()
    assert set(safetensors.numpy.load_file(path)) == {"params"}


def test_file_is_plain_safetensors(saved, tmp_path):
    net, raw = saved
    path = tmp_path / "model.safetensors"
    path.write_bytes(raw)
    tensors = safetensors.numpy.load_file(path)
    assert set(tensors) == {"params", "optimizer.state"}
    assert tensors["params"].tobytes() == net.params.tobytes()
    assert tensors["optimizer.state"].tobytes() == net.optimizer.state.tobytes()
    document = document_of(split(raw)[0])
    assert document["format_version"] == 1
    assert document["architecture"] == net.config()
    assert document["optimizer"]["name"] == "SGD" and document["optimizer"]["step"] == 10
    assert document["rng"]["bit_generator"] == net.rng.bit_generator.state


def test_foreign_optimizer_state_is_not_saved(rng, tmp_path):
    # An optimizer last used by a bigger network: fit would discard its state, so save does too.
    net, X, y = trained_network(rng)
    other = jp.Network([jp.Dense(9, "relu"), jp.Dense(3, "softmax")], input_dim=6, loss="cross_entropy", seed=0)
    other.fit(X, y, optimizer=net.optimizer, verbose=0)
    path = tmp_path / "model.safetensors"
    jp.save(net, path)
    twin = jp.load(path)
    assert twin.optimizer.state is None and twin.optimizer.step == 0


# ------------------------------------------------------------ save errors
def test_save_rejects_bad_arguments(rng, tmp_path):
    net = jp.Network([jp.Dense(2)], input_dim=2, seed=0)
    path = tmp_path / "model.safetensors"
    with pytest.raises(TypeError, match="Network"):
        jp.save("not a network", path)
    with pytest.raises(ValueError, match="epoch"):
        jp.save(net, path, epoch=-1)
    with pytest.raises(TypeError, match="training must be a dict"):
        jp.save(net, path, training=[1])
    with pytest.raises(TypeError, match="extra must be JSON-compatible"):
        jp.save(net, path, extra=object())
    with pytest.raises(ValueError, match="extra"):
        jp.save(net, path, extra=float("nan"))
    net.params[1] = np.inf
    with pytest.raises(ValueError, match=r"net.params holds NaN or infinity \(first at flat index 1\)"):
        jp.save(net, path)
    assert os.listdir(tmp_path) == []


def test_save_rejects_an_optimizer_load_cannot_rebuild(tmp_path):
    class MySGD(jp.SGD):
        pass

    net = jp.Network([jp.Dense(2)], input_dim=2, seed=0)
    net.optimizer = MySGD()
    with pytest.raises(ValueError, match="MySGD"):
        jp.save(net, tmp_path / "model.safetensors")


# --------------------------------------------------------------- atomicity
def test_save_leaves_only_the_target(saved, tmp_path):
    net, _ = saved
    jp.save(net, tmp_path / "a.safetensors")
    jp.save(net, tmp_path / "a.safetensors")  # overwrite
    assert os.listdir(tmp_path) == ["a.safetensors"]


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_failed_save_keeps_the_old_file(saved, tmp_path, monkeypatch, failing):
    _, old = saved
    path = tmp_path / "model.safetensors"
    path.write_bytes(old)
    net = jp.load(path)
    old_params = net.params.tobytes()
    net.params[0] += 1.0  # so that a successful save would change the file

    def fail(*args, **kwargs):
        raise OSError(f"simulated {failing} failure")

    if failing == "write":  # the writer dies half-way through the data
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, handle):
                self.handle = handle

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

            def write(self, data):
                self.handle.write(data[: len(data) // 2])
                raise OSError("simulated write failure")

        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))
    else:
        monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match="simulated"):
        jp.save(net, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left
    assert jp.load(path).params.tobytes() == old_params


def test_interrupted_save_keeps_the_old_file(saved, tmp_path, monkeypatch):
    net, old = saved
    path = tmp_path / "model.safetensors"
    path.write_bytes(old)

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        jp.save(net, path, extra="new")
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["model.safetensors"]


# ------------------------------------------------------- not a model file
def test_missing_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        jp.load(tmp_path / "nothing.safetensors")


def test_directory_is_rejected(tmp_path):
    with pytest.raises(ModelFileError, match="is a directory"):
        jp.load(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_rejected_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ModelFileError, match="not a regular file"):
        jp.load(tmp_path / "pipe")


def test_model_file_error_is_a_value_error_naming_the_file(tmp_path):
    with pytest.raises(ValueError) as info:
        load_bytes(tmp_path, b"")
    assert isinstance(info.value, ModelFileError)
    assert info.value.path == str(tmp_path / "broken.safetensors")
    assert "broken.safetensors" in str(info.value) and "0 bytes" in info.value.reason


@pytest.mark.parametrize(
    "raw,match",
    [
        (b"", "0 bytes"),
        (b"\x00" * 7, "7 bytes"),
        (b"\x00" * 64, "header length field says 0 bytes"),
        (struct.pack("<Q", 2**64 - 1) + b"{}", "header length field says 18446744073709551615"),
        (struct.pack("<Q", 3) + b"{}", "header length field says 3 bytes"),
        (struct.pack("<Q", MAX_HEADER_BYTES + 1) + b" " * 16, "header length field"),
        (join("not json", b""), "not valid JSON"),
        (join("[1, 2]", b""), "not an object"),
        (struct.pack("<Q", 4) + b'{"\xff}', "not valid JSON"),
        (join("{}", b""), "not a jitprop model file"),
    ],
)
def test_broken_framing_is_rejected(tmp_path, raw, match):
    with pytest.raises(ModelFileError, match=match):
        load_bytes(tmp_path, raw)


def test_other_safetensors_files_are_rejected(tmp_path):
    raw = safetensors.numpy.save({"weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(ModelFileError, match="not a jitprop model file"):
        load_bytes(tmp_path, raw)
    raw = safetensors.numpy.save({"weight": np.zeros(2, np.float32)}, metadata={"format": "pt"})
    with pytest.raises(ModelFileError, match="not a jitprop model file"):
        load_bytes(tmp_path, raw)


def test_random_bytes_are_rejected(tmp_path, rng):
    for size in (1, 8, 9, 100, 5000):
        with pytest.raises(ModelFileError):
            load_bytes(tmp_path, rng.bytes(size))


# ---------------------------------------------------------- broken content
def drop_metadata(header):
    del header["__metadata__"]


def set_params(field, value):
    def edit(header):
        header["params"][field] = value

    return edit


@pytest.mark.parametrize(
    "edit,match",
    [
        (drop_metadata, "not a jitprop model file"),
        (lambda h: h["__metadata__"].update(other="x"), "unknown keys 'other'"),
        (lambda h: h["__metadata__"].update(jitprop=5), "not a string"),
        (set_params("dtype", "F64"), "dtype 'F64', but a float32 architecture needs 'F32'"),
        (set_params("dtype", "I8"), "dtype 'I8'"),
        (set_params("shape", [3, 10]), "shape"),
        (set_params("shape", [-1]), "shape"),
        (set_params("data_offsets", [0]), "not two integers"),
        (set_params("data_offsets", [0, 10**30]), "outside"),
        (set_params("data_offsets", [8, 4]), "outside"),
        (lambda h: h["params"].pop("shape"), "lacks 'shape'"),
        (lambda h: h["params"].update(extra=1), "unknown keys 'extra'"),
        (lambda h: h.update(bias={"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}), "unexpected tensor 'bias'"),
        (lambda h: h.pop("optimizer.state"), "holds no 'optimizer.state'"),
        (lambda h: h.pop("params"), "'params' is missing"),
    ],
)
def test_broken_tensor_header_is_rejected(saved, tmp_path, edit, match):
    _, raw = saved
    with pytest.raises(ModelFileError, match=match):
        load_bytes(tmp_path, with_header(raw, edit))


def test_tensors_must_tile_the_data(saved, tmp_path):
    _, raw = saved
    header, data = split(raw)
    with pytest.raises(ModelFileError, match="after its last tensor"):
        load_bytes(tmp_path, join(header, data + b"\0" * 8))
    header["params"]["data_offsets"], header["optimizer.state"]["data_offsets"] = (
        header["optimizer.state"]["data_offsets"],
        header["params"]["data_offsets"],
    )  # both the same size: swapped ranges are valid, and swap the tensors
    twin = load_bytes(tmp_path, join(header, data))
    assert_valid(twin)
    begin, end = header["params"]["data_offsets"]
    header["params"]["data_offsets"] = [begin + 4, end + 4]
    with pytest.raises(ModelFileError, match="gaps or overlaps|outside"):
        load_bytes(tmp_path, join(header, data))


def set_in(keys, value):
    def edit(document):
        target = document
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def delete(key):
    def edit(document):
        del document[key]

    return edit


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda d: "{not json", "not valid JSON"),
        (lambda d: '{"format_version": 1, "format_version": 1}', "duplicate key 'format_version'"),
        (lambda d: json.dumps(d).replace('"epoch": 2', '"epoch": NaN'), "NaN is not a JSON number"),
        (lambda d: json.dumps(d).replace('"epoch": 2', '"epoch": 1e999'), "overflows"),
        (lambda d: "[" * 100_000 + "]" * 100_000, "not valid JSON"),  # deeper than the parser's recursion
        (lambda d: "[]", "not an object"),
        (set_in(["format_version"], 2), "format_version is 2; this jitprop reads 1. It was written by a newer"),
        (set_in(["format_version"], "1"), "format_version"),
        (set_in(["format_version"], True), "format_version"),
        (delete("rng"), "lacks 'rng'"),
        (set_in(["surprise"], 1), "unknown keys 'surprise'"),
        (set_in(["jitprop_version"], 1), "jitprop_version"),
        (set_in(["epoch"], -1), "epoch"),
        (set_in(["epoch"], 1.5), "epoch"),
        (set_in(["training"], [1]), "training must be an object"),
        (set_in(["architecture"], []), "architecture must be an object"),
        (set_in(["architecture", "dtype"], "float16"), "dtype must be 'float32' or 'float64'"),
        (set_in(["architecture", "dtype"], "float64"), "dtype 'F32', but a float64 architecture needs 'F64'"),
        (set_in(["architecture", "input_dim"], 0), "input_dim"),
        (set_in(["architecture", "input_dim"], 7), "shape"),
        (set_in(["architecture", "layers"], []), "layers must be a non-empty list"),
        (set_in(["architecture", "layers", 0, "units"], True), "units"),
        (set_in(["architecture", "layers", 0, "units"], 10**12), "shape"),  # no 10**13-float allocation
        (set_in(["architecture", "layers", 0, "units"], 6), "shape"),
        (set_in(["architecture", "layers", 1, "type"], "conv"), "unknown type 'conv'"),
        (set_in(["architecture", "layers", 0, "activation"], "swish"), "Unknown activation 'swish'"),
        (set_in(["architecture", "layers", 0, "activation"], ["relu"]), "activation"),
        (set_in(["architecture", "layers", 0, "init"], ["zeros"]), "architecture is not valid"),
        (set_in(["architecture", "layers", 0, "alpha"], 10**400), "architecture is not valid"),
        (set_in(["architecture", "layers", 0, "units_extra"], 1), "not valid|unknown keys"),
        (set_in(["architecture", "layers", 3, "activation"], "tanh"), "softmax"),
        (set_in(["architecture", "loss"], "hinge"), "Unknown loss 'hinge'"),
        (set_in(["architecture", "seed"], -1), "entropy|not valid"),
        (set_in(["architecture", "surprise"], 1), "unknown keys 'surprise'"),
        (lambda d: d["architecture"].pop("loss") and None, "lacks 'loss'"),
        (set_in(["rng", "entropy"], -5), "entropy"),
        (set_in(["rng", "entropy"], 2**128), "entropy"),
        (set_in(["rng", "bit_generator", "bit_generator"], "MT19937"), "PCG64"),
        (set_in(["rng", "bit_generator", "state", "state"], 2**128), "2\\*\\*128"),
        (set_in(["rng", "bit_generator", "state", "inc"], 2), "even"),
        (set_in(["rng", "bit_generator", "state", "inc"], 1.0), "integers"),
        (set_in(["rng", "bit_generator", "has_uint32"], 2), "has_uint32"),
        (set_in(["rng", "bit_generator", "uinteger"], 2**32), "uinteger"),
        (set_in(["rng", "bit_generator", "extra"], 0), "unknown keys 'extra'"),
        (set_in(["optimizer", "name"], "Lion"), "unknown optimizer 'Lion'"),
        (set_in(["optimizer", "name"], ["SGD"]), "unknown optimizer"),
        (set_in(["optimizer", "config", "momentum"], 1.5), "momentum"),
        (set_in(["optimizer", "config", "lr"], -1), "optimizer is not valid"),
        (set_in(["optimizer", "config", "lr"], {"schedule": "Nope", "config": {}}), "Unknown schedule 'Nope'"),
        (set_in(["optimizer", "config", "lr"], 10**400), "optimizer is not valid"),
        (set_in(["optimizer", "config", "betas"], 1), "optimizer is not valid"),
        (set_in(["optimizer", "step"], -1), "step"),
        (set_in(["optimizer", "step"], 2**63), "step"),
        (set_in(["optimizer", "schedule_state"], {}), "schedule_state lacks 'current_lr'"),
        (set_in(["optimizer", "schedule_state", "current_lr"], "nan"), "schedule_state"),
        (set_in(["optimizer", "schedule_state", "current_lr"], -0.5), "learning rate at step 10 is -0.5"),
        (set_in(["optimizer", "schedule_state", "wait"], 1.5), "schedule_state"),
        (set_in(["optimizer"], None), "holds 'optimizer.state' but no optimizer"),
    ],
)
def test_broken_metadata_is_rejected(saved, tmp_path, edit, match):
    _, raw = saved
    with pytest.raises(ModelFileError, match=match):
        load_bytes(tmp_path, with_document(raw, edit))


def test_seeded_network_must_keep_its_seed_as_entropy(rng, tmp_path):
    net = jp.Network([jp.Dense(2)], input_dim=2, seed=11)
    path = tmp_path / "model.safetensors"
    jp.save(net, path)
    with pytest.raises(ModelFileError, match="takes the seed as entropy"):
        load_bytes(tmp_path, with_document(path.read_bytes(), set_in(["rng", "entropy"], 12)))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("tensor", ["params", "optimizer.state"])
def test_non_finite_tensors_are_rejected(saved, tmp_path, tensor, value):
    _, raw = saved
    header, data = split(raw)
    begin = header[tensor]["data_offsets"][0]
    data = bytearray(data)
    data[begin + 8 : begin + 12] = np.float32(value).tobytes()  # the third element
    with pytest.raises(ModelFileError, match=f"tensor '{tensor}' holds NaN or infinity \\(first at flat index 2\\)"):
        load_bytes(tmp_path, join(header, bytes(data)))


# ------------------------------------------------------------ fuzzing
def test_every_truncation_is_rejected(saved, tmp_path):
    _, raw = saved
    path = tmp_path / "cut.safetensors"
    accepted = []
    for length in range(len(raw)):
        path.write_bytes(raw[:length])
        try:
            jp.load(path)
        except ModelFileError:
            continue
        accepted.append(length)
    assert accepted == []


def test_bit_flips_are_rejected_or_harmless(saved, tmp_path, rng):
    # Every bit of the 8-byte length field, then bits spread over the whole file.
    _, raw = saved
    path = tmp_path / "flipped.safetensors"
    positions = [(byte, bit) for byte in range(8) for bit in range(8)]
    spread = zip(rng.integers(8, len(raw), 300), rng.integers(0, 8, 300), strict=True)
    positions += [(int(byte), int(bit)) for byte, bit in spread]
    outcomes = {"rejected": 0, "loaded": 0}
    for byte, bit in positions:
        flipped = bytearray(raw)
        flipped[byte] ^= 1 << bit
        path.write_bytes(bytes(flipped))
        try:
            net = jp.load(path)
        except ModelFileError:
            outcomes["rejected"] += 1
        else:
            assert_valid(net)
            outcomes["loaded"] += 1
    assert outcomes["rejected"] >= 64 and outcomes["loaded"] > 0  # every length-field flip is caught


def mutations(raw, rng):
    """Corrupted variants of ``raw``: byte-level edits, and edits of the metadata's JSON values."""
    header, data = split(raw)
    n = len(raw)
    for _ in range(150):
        kind = rng.integers(0, 5)
        blob = bytearray(raw)
        at = int(rng.integers(0, n))
        if kind == 0:
            blob[at] = int(rng.integers(0, 256))
        elif kind == 1:
            blob[at : at + int(rng.integers(1, 64))] = rng.bytes(int(rng.integers(1, 64)))
        elif kind == 2:
            del blob[at : at + int(rng.integers(1, 16))]
        elif kind == 3:
            blob[at:at] = rng.bytes(int(rng.integers(1, 16)))
        else:
            blob[8:16] = rng.bytes(8)
        yield bytes(blob)
    document = document_of(header)
    paths = list(_leaf_paths(document))
    odd_values = [None, True, 0, -1, 1, 2**64, 2**200, 0.5, -1e308, "", "x", [], {}, [1, 2], {"a": 1}]
    for _ in range(150):
        edited = json.loads(json.dumps(document))
        keys = paths[int(rng.integers(0, len(paths)))]
        set_in(keys, odd_values[int(rng.integers(0, len(odd_values)))])(edited)
        yield with_document(raw, lambda d, edited=edited: edited)


def _leaf_paths(value, prefix=()):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaf_paths(item, prefix + (key,))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _leaf_paths(item, prefix + (i,))
    if prefix:
        yield prefix


def test_fuzzed_files_are_rejected_or_load_valid_models(saved, tmp_path, rng):
    _, raw = saved
    path = tmp_path / "fuzzed.safetensors"
    rejected = 0
    for i, blob in enumerate(mutations(raw, rng)):
        path.write_bytes(blob)
        try:
            net = jp.load(path)
        except ModelFileError:
            rejected += 1
        except Exception as exc:  # anything else is a bug in the reader
            pytest.fail(f"mutation {i} raised {type(exc).__name__}: {exc}")
        else:
            assert_valid(net)
    assert rejected > 150
