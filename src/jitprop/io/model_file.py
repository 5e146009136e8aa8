"""Model files: a network, its optimizer and its random state in one safetensors file.

:func:`save` writes a `safetensors <https://github.com/huggingface/safetensors>`_
file; :func:`load` and :func:`load_checkpoint` read it back. Nothing is
pickled: a model file holds numbers and JSON, so loading one never runs code.
Everything training depends on is saved, so :meth:`Network.fit` after
:func:`load` gives bitwise the weights it would have given without saving.

Layout of a model file (format version 1)
-----------------------------------------
Tensors, little-endian, of the network's dtype (``F32`` or ``F64``):

===================  =========================  ===================================
name                 shape                      content
===================  =========================  ===================================
``params``           (n_params,)                :attr:`Network.params`, bit for bit
``optimizer.state``  (n_slots, n_params)        :attr:`Optimizer.state`; only when
                                                the optimizer has state
===================  =========================  ===================================

``n_params`` is the sum of the layers' parameter counts (each layer kind
counts its own, :meth:`jitprop.layers.Layer.parameter_count`): for dense
layers Σ units·(fan_in + 1); dense layer ``i``'s block starts at ``layout.weight_offsets[i]`` and holds its weights
transposed, (fan_out, fan_in) row-major, then its biases.

The safetensors metadata has one entry, ``"jitprop"``, a JSON object::

    {
      "format_version": 1,
      "jitprop_version": "0.1.0",          # the jitprop that wrote the file
      "architecture": {...},               # Network.config()
      "epoch": 12,                         # epochs trained (Network.epoch)
      "rng": {"entropy": int,              # the seed, or the entropy drawn without one
              "bit_generator": {...}},     # Network.rng.bit_generator.state (PCG64)
      "optimizer": null | {
          "name": "SGD",                   # a key of jitprop.optimizers.OPTIMIZERS
          "config": {...},                 # Optimizer.config()
          "step": 120,                     # Optimizer.step
          "schedule_state": {...}},        # Optimizer.schedule.state()
      "training": null | {...},            # as passed to save
      "extra": null | any JSON value       # as passed to save
    }

Reading untrusted files
-----------------------
The reader checks the whole header before it reads a tensor or builds
anything: the header length against the file size (and 100 MB), the header
and metadata as strict JSON (no NaN, no duplicate keys), the format version,
every key, every tensor's dtype, shape and byte range against the
architecture (packed, no gaps, nothing after the last), the optimizer and the
random state. Only then does it read the tensors, check that they are finite
and build the network, so every allocation is bounded by the size of the
file. The reader is its own, rather than ``safetensors.numpy.load``, so that
these checks come first and no file is memory-mapped (a file truncated while
mapped would crash the process). Every defect raises :class:`ModelFileError`
naming it.
"""

import json
import math
import os
import stat
from dataclasses import dataclass
from typing import Any

import numpy as np
import safetensors.numpy

from ..errors import ModelFileError
from ..layers import LAYER_KINDS, layer_from_config
from ..network import Network
from ..optimizers import OPTIMIZERS, optimizer_from_config
from ._atomic import write_atomically

#: Version of the layout above; :func:`load` reads this version only.
FORMAT_VERSION = 1

#: Largest header accepted, in bytes (the limit of the safetensors library).
MAX_HEADER_BYTES = 100_000_000

_METADATA_KEY = "jitprop"
_FIELDS = ("format_version", "jitprop_version", "architecture", "epoch", "rng", "optimizer", "training", "extra")
_OPTIMIZER_FIELDS = ("name", "config", "step", "schedule_state")
_RNG_FIELDS = ("entropy", "bit_generator")
_PCG64_FIELDS = ("bit_generator", "state", "has_uint32", "uinteger")
_TENSOR_FIELDS = ("dtype", "shape", "data_offsets")
_PARAMS = "params"
_OPTIMIZER_STATE = "optimizer.state"
_DTYPE_CODES = {"float32": "F32", "float64": "F64"}
_STORED_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}
_MAX_INT64 = 2**63 - 1  # the kernels count steps and epochs in int64


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns.

    Attributes
    ----------
    network : Network
        With parameters, epoch, optimizer (state, step and schedule state)
        and random state restored.
    epoch : int
        Epochs trained when saved (also ``network.epoch``).
    training : dict or None
        As passed to :func:`save` (after a JSON round trip: tuples come back
        as lists, NumPy scalars as Python numbers).
    extra : Any
        As passed to :func:`save` (likewise).
    jitprop_version : str
        Version of the jitprop that wrote the file.
    """

    network: Network
    epoch: int
    training: dict | None
    extra: Any
    jitprop_version: str


# ------------------------------------------------------------------------ save
def save(net, path, *, epoch=None, training=None, extra=None):
    """Write ``net`` to ``path`` as a model file, atomically.

    The file holds the parameters bit for bit, the architecture, the epoch
    count, the optimizer of the last :meth:`~Network.fit` (state, step and
    schedule state) and the random state, so that training continued after
    :func:`load` gives bitwise the same weights as training continued
    without saving. The bytes go to a temporary file in the same directory,
    which is synced and renamed over ``path``: a failure leaves any previous
    file at ``path`` as it was.

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
        Conventionally ending in ``.safetensors``. Its directory must exist.
    epoch : int, optional
        Epochs trained, >= 0; default ``net.epoch``. :func:`load` sets the
        network's ``epoch`` to it.
    training : dict, optional
        The training configuration (batch size, epochs planned, ...),
        JSON-compatible; given back by :func:`load_checkpoint`.
    extra : optional
        Anything else JSON-compatible; given back by :func:`load_checkpoint`.

    Raises
    ------
    TypeError
        ``net`` is not a Network, ``training`` is not a dict, or ``training``
        or ``extra`` hold values JSON cannot represent.
    ValueError
        ``epoch`` is not an integer >= 0, the parameters or optimizer state
        hold NaN or infinity, or the optimizer is not one :func:`load` can
        rebuild.
    OSError
        The file could not be written.

    Notes
    -----
    Optimizer state that does not fit ``net`` (the optimizer was last used
    by another network) is saved as no state and step 0, which is where the
    next :meth:`~Network.fit` of ``net`` would start it from.
    """
    from .. import __version__

    if not isinstance(net, Network):
        raise TypeError(f"net must be a jitprop Network, got {type(net).__name__}.")
    if epoch is None:
        epoch = net.epoch
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or not 0 <= epoch <= _MAX_INT64:
        raise ValueError(f"epoch must be an integer >= 0 or None, got {epoch!r}.")
    if training is not None and not isinstance(training, dict):
        raise TypeError(f"training must be a dict or None, got {type(training).__name__}.")
    _check_finite_to_save(net.params, "net.params")
    tensors = {_PARAMS: np.ascontiguousarray(net.params)}
    optimizer = None
    if net.optimizer is not None:
        optimizer, state = _optimizer_to_save(net)
        if state is not None:
            tensors[_OPTIMIZER_STATE] = state
    document = {
        "format_version": FORMAT_VERSION,
        "jitprop_version": __version__,
        "architecture": _plain_json(net.config(), "net.config()"),
        "epoch": int(epoch),
        "rng": {"entropy": int(net.entropy), "bit_generator": _plain_json(net.rng.bit_generator.state, "net.rng")},
        "optimizer": optimizer,
        "training": _plain_json(training, "training"),
        "extra": _plain_json(extra, "extra"),
    }
    metadata = {_METADATA_KEY: json.dumps(document, allow_nan=False, separators=(",", ":"))}
    write_atomically(path, safetensors.numpy.save(tensors, metadata=metadata))


def _optimizer_to_save(net):
    """The optimizer's metadata entry, and its state to save (or None)."""
    opt = net.optimizer
    name = type(opt).__name__
    if OPTIMIZERS.get(name) is not type(opt):
        raise ValueError(
            f"Cannot save optimizer {name}: load rebuilds optimizers from jitprop.optimizers.OPTIMIZERS, "
            f"which holds {', '.join(sorted(OPTIMIZERS))}."
        )
    state, step = opt.state, int(opt.step)
    fits = state is not None and state.shape == (max(opt.n_slots, 1), net.n_params) and state.dtype == net.dtype
    if fits:
        _check_finite_to_save(state, "net.optimizer.state")
        state = np.ascontiguousarray(state)
    else:
        state, step = None, 0  # where the next fit would start from
    entry = {
        "name": name,
        "config": _plain_json(opt.config(), f"{name}.config()"),
        "step": step,
        "schedule_state": _plain_json(opt.schedule.state(), "the schedule state"),
    }
    return entry, state


def _check_finite_to_save(a, name):
    bad = np.flatnonzero(~np.isfinite(a.ravel()))
    if bad.size:
        raise ValueError(
            f"{name} holds NaN or infinity (first at flat index {int(bad[0])}); a model file holds finite values only."
        )


def _plain_json(value, name):
    """``value`` as plain JSON values (NumPy scalars become Python numbers)."""
    try:
        text = json.dumps(value, allow_nan=False, default=_numpy_scalar)
    except TypeError as exc:
        raise TypeError(f"{name} must be JSON-compatible (dict, list, str, int, float, bool, None): {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{name} cannot be saved as JSON: {exc}") from None
    return json.loads(text)


def _numpy_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# ------------------------------------------------------------------------ load
def load(path):
    """The network saved in a model file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Network
        With parameters, ``epoch``, optimizer (state, step and schedule
        state) and random state as saved, so that :meth:`~Network.fit`
        continues exactly where the saved network stopped. Use
        :func:`load_checkpoint` for the training configuration and extra
        values saved with it.

    Raises
    ------
    FileNotFoundError
        Nothing exists at ``path`` (as for ``open``).
    ModelFileError
        ``path`` is not a regular file, or the file is not a valid model
        file; the message names the defect. A subclass of ``ValueError``.
    OSError
        The file could not be read.
    """
    return load_checkpoint(path).network


def load_checkpoint(path):
    """The network saved in a model file, with what was saved along with it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Checkpoint
        ``network``, ``epoch``, ``training``, ``extra`` and ``jitprop_version``.

    Raises
    ------
    FileNotFoundError, ModelFileError, OSError
        As for :func:`load`.
    """
    path = os.fspath(path)
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is then rejected as not a regular file.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ModelFileError(path, f"it is {kind}.")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        return _Reader(path, f, info.st_size).read()


class _Reader:
    """Checks a model file section by section, then builds its network."""

    def __init__(self, path, f, size):
        self.path = path
        self.f = f
        self.size = size

    def error(self, reason):
        return ModelFileError(self.path, reason)

    def read(self):
        header_length = self._header_length()
        header = self._json(self._read_exactly(header_length, "header"), "the safetensors header")
        tensors, document = self._split_header(header)
        architecture, dtype, n_params = self._architecture(document["architecture"])
        epoch = self._epoch(document["epoch"])
        entropy, bit_generator = self._rng(document["rng"], architecture.get("seed"))
        optimizer = self._optimizer(document["optimizer"], _OPTIMIZER_STATE in tensors, epoch)
        expected = {_PARAMS: (n_params,)}
        if optimizer is not None and _OPTIMIZER_STATE in tensors:
            expected[_OPTIMIZER_STATE] = (max(optimizer.n_slots, 1), n_params)
        data_length = self.size - 8 - header_length
        ranges = self._tensors(tensors, expected, dtype, data_length)
        training = document["training"]
        if training is not None and not isinstance(training, dict):
            raise self.error(f"training must be an object or null, got {training!r:.80}.")

        data = self._read_exactly(data_length, "tensor data")
        arrays = {}
        for name, (begin, end) in ranges.items():
            stored = _STORED_DTYPES[dtype]
            arrays[name] = np.frombuffer(data, stored, (end - begin) // stored.itemsize, begin).reshape(expected[name])
            self._check_finite(arrays[name], name)

        net = self._network(architecture, n_params)
        net.params[...] = arrays[_PARAMS]
        net.epoch = epoch
        net.entropy = entropy
        net.rng.bit_generator.state = bit_generator
        if optimizer is not None:
            if _OPTIMIZER_STATE in arrays:
                optimizer.state = np.array(arrays[_OPTIMIZER_STATE], dtype=net.dtype)
            net.optimizer = optimizer
        return Checkpoint(net, epoch, training, document["extra"], document["jitprop_version"])

    # -------------------------------------------------------------- framing
    def _read_exactly(self, n, what):
        chunk = self.f.read(n)
        if len(chunk) != n:
            raise self.error(f"the file ended inside the {what}; it changed while being read.")
        return chunk

    def _header_length(self):
        if self.size < 8:
            raise self.error(f"it has {self.size} bytes, fewer than the 8 of a safetensors header length.")
        n = int.from_bytes(self._read_exactly(8, "header length"), "little")
        if not 2 <= n <= min(MAX_HEADER_BYTES, self.size - 8):
            raise self.error(
                f"its header length field says {n} bytes, but a header has 2 to {MAX_HEADER_BYTES:,} bytes "
                f"and fits in the {self.size - 8} bytes after the field; the file is not a safetensors file, "
                f"or it is truncated or corrupted."
            )
        return n

    def _json(self, raw, what):
        """Strict JSON: UTF-8, no NaN or Infinity, no duplicate keys, no float overflow."""
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_float)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise self.error(f"{what} is not valid JSON: {exc}.") from exc

    def _split_header(self, header):
        """``(tensor entries, jitprop metadata)`` of the safetensors header."""
        if not isinstance(header, dict):
            raise self.error(f"the safetensors header is a JSON {type(header).__name__}, not an object.")
        tensors = dict(header)
        metadata = tensors.pop("__metadata__", None)
        if not isinstance(metadata, dict) or _METADATA_KEY not in metadata:
            raise self.error(
                f"it is not a jitprop model file: its safetensors metadata has no {_METADATA_KEY!r} entry."
            )
        self._exact_keys(metadata, (_METADATA_KEY,), "the safetensors metadata")
        text = metadata[_METADATA_KEY]
        if not isinstance(text, str):
            raise self.error(f"the {_METADATA_KEY!r} metadata is a JSON {type(text).__name__}, not a string.")
        document = self._json(text, f"the {_METADATA_KEY!r} metadata")
        if not isinstance(document, dict):
            raise self.error(f"the {_METADATA_KEY!r} metadata is a JSON {type(document).__name__}, not an object.")
        version = document.get("format_version")
        if not _is_int(version) or version != FORMAT_VERSION:
            newer = _is_int(version) and version > FORMAT_VERSION
            newer = " It was written by a newer jitprop; upgrade to read it." if newer else ""
            raise self.error(f"its format_version is {version!r:.40}; this jitprop reads {FORMAT_VERSION}.{newer}")
        self._exact_keys(document, _FIELDS, f"the {_METADATA_KEY!r} metadata")
        if not isinstance(document["jitprop_version"], str):
            raise self.error(f"jitprop_version must be a string, got {document['jitprop_version']!r:.80}.")
        return tensors, document

    def _exact_keys(self, mapping, keys, what):
        missing = [key for key in keys if key not in mapping]
        if missing:
            raise self.error(f"{what} lacks {', '.join(map(repr, missing))}.")
        unknown = sorted(set(mapping) - set(keys))
        if unknown:
            raise self.error(f"{what} has unknown keys {', '.join(repr(key)[:40] for key in unknown[:5])}.")

    # --------------------------------------------------------- architecture
    def _architecture(self, architecture):
        """``(architecture, dtype name, n_params)``: checked as far as bounding allocations needs.

        The rest of it is checked by building the network (:meth:`_network`).
        """
        if not isinstance(architecture, dict):
            raise self.error(f"architecture must be an object, got {architecture!r:.80}.")
        dtype = architecture.get("dtype")
        if not isinstance(dtype, str) or dtype not in _DTYPE_CODES:
            raise self.error(f"architecture dtype must be 'float32' or 'float64', got {dtype!r:.80}.")
        width = architecture.get("input_dim")
        if not _is_int(width) or width < 1:
            raise self.error(f"architecture input_dim must be a positive integer, got {width!r:.80}.")
        shape = architecture.get("input_shape", [width])
        if not isinstance(shape, list) or not shape or not all(_is_int(size) and size >= 1 for size in shape):
            raise self.error(f"architecture input_shape must be a list of positive integers, got {shape!r:.80}.")
        if math.prod(shape) != width:
            raise self.error(f"architecture input_shape {shape!r:.80} does not hold input_dim={width} features.")
        shape = tuple(shape)
        layers = architecture.get("layers")
        if not isinstance(layers, list) or not layers:
            raise self.error(f"architecture layers must be a non-empty list, got {layers!r:.80}.")
        n_params = 0
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict):
                raise self.error(f"architecture layer {i} must be an object, got {layer!r:.80}.")
            kind = layer.get("type", "dense")
            if not isinstance(kind, str) or kind not in LAYER_KINDS:
                raise self.error(f"architecture layer {i} has unknown type {kind!r:.80}.")
            # The layer on its own (no weights yet): its kind counts its parameters.
            try:
                built = layer_from_config(layer)
                n_params += built.parameter_count(shape)
                shape = built.output_shape(shape)
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise self.error(f"the architecture is not valid: layer {i}: {str(exc):.200}") from exc
        return architecture, dtype, n_params

    def _network(self, architecture, n_params):
        """Build the network (fresh weights), once its size is known to match the file."""
        try:
            net = Network.from_config(architecture)
        except KeyError as exc:
            raise self.error(f"the architecture lacks {exc.args[0]!r}.") from exc
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise self.error(f"the architecture is not valid: {exc}") from exc
        if net.n_params != n_params:  # a layer this module counts wrongly: a bug, not a bad file
            raise RuntimeError(f"The architecture builds {net.n_params} parameters, not the {n_params} counted.")
        built = net.config()
        self._known_keys(architecture, built, "the architecture")
        for i, (layer, built_layer) in enumerate(zip(architecture["layers"], built["layers"], strict=True)):
            self._known_keys(layer, built_layer, f"architecture layer {i}")
        return net

    def _known_keys(self, given, built, what):
        unknown = sorted(set(given) - set(built))
        if unknown:
            raise self.error(f"{what} has unknown keys {', '.join(repr(key)[:40] for key in unknown[:5])}.")

    # -------------------------------------------------------------- tensors
    def _tensors(self, tensors, expected, dtype, data_length):
        """``{name: (begin, end)}`` after checking names, dtypes, shapes and byte ranges."""
        for name in tensors:
            if name not in expected:
                raise self.error(f"unexpected tensor {name!r:.80} (expected {' and '.join(map(repr, expected))}).")
        for name in expected:
            if name not in tensors:
                raise self.error(f"the tensor {name!r} is missing.")
        code, itemsize = _DTYPE_CODES[dtype], _STORED_DTYPES[dtype].itemsize
        ranges = {}
        for name, entry in tensors.items():
            if not isinstance(entry, dict):
                raise self.error(f"the header entry of tensor {name!r} is not an object.")
            self._exact_keys(entry, _TENSOR_FIELDS, f"the header entry of tensor {name!r}")
            if entry["dtype"] != code:
                raise self.error(
                    f"tensor {name!r} has dtype {entry['dtype']!r:.40}, but a {dtype} architecture needs {code!r}."
                )
            shape = entry["shape"]
            if not isinstance(shape, list) or tuple(shape) != expected[name] or not all(map(_is_int, shape)):
                raise self.error(f"tensor {name!r} has shape {shape!r:.80}; the architecture needs {expected[name]}.")
            offsets = entry["data_offsets"]
            if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))):
                raise self.error(f"tensor {name!r} has data_offsets {offsets!r:.80}, not two integers.")
            begin, end = offsets
            if not 0 <= begin <= end <= data_length:
                raise self.error(
                    f"tensor {name!r} has data_offsets [{begin}, {end}], outside the {data_length} bytes of "
                    f"tensor data in the file (truncated?)."
                )
            if end - begin != math.prod(shape) * itemsize:
                raise self.error(
                    f"tensor {name!r} has data_offsets [{begin}, {end}], {end - begin} bytes, but its shape and "
                    f"dtype make {math.prod(shape) * itemsize} bytes."
                )
            ranges[name] = (begin, end)
        position = 0
        for name, (begin, end) in sorted(ranges.items(), key=lambda item: item[1]):
            if begin != position:
                raise self.error(
                    f"tensor {name!r} starts at byte {begin} of the tensor data, not {position}: "
                    f"tensors must be packed without gaps or overlaps."
                )
            position = end
        if position != data_length:
            raise self.error(f"the file has {data_length - position} bytes after its last tensor.")
        return ranges

    def _check_finite(self, array, name):
        bad = np.flatnonzero(~np.isfinite(array.ravel()))
        if bad.size:
            raise self.error(f"tensor {name!r} holds NaN or infinity (first at flat index {int(bad[0])}).")

    # ------------------------------------------------------ training state
    def _epoch(self, epoch):
        if not _is_int(epoch) or not 0 <= epoch <= _MAX_INT64:
            raise self.error(f"epoch must be an integer in [0, 2**63), got {epoch!r:.80}.")
        return epoch

    def _rng(self, rng, seed):
        """``(entropy, bit generator state)``, checked as a well-formed PCG64 state."""
        if not isinstance(rng, dict):
            raise self.error(f"rng must be an object, got {rng!r:.80}.")
        self._exact_keys(rng, _RNG_FIELDS, "the rng entry")
        entropy = rng["entropy"]
        if seed is None and not (_is_int(entropy) and 0 <= entropy < 2**128):
            raise self.error(f"rng entropy must be an integer in [0, 2**128), got {entropy!r:.80}.")
        if seed is not None and not (_is_int(entropy) and entropy == seed):
            raise self.error(f"rng entropy is {entropy!r:.80}, but a network with a seed takes the seed as entropy.")
        state = rng["bit_generator"]
        if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
            raise self.error(f"rng bit_generator must be the state of a PCG64 generator, got {state!r:.120}.")
        self._exact_keys(state, _PCG64_FIELDS, "the rng bit_generator state")
        inner = state["state"]
        if not isinstance(inner, dict):
            raise self.error(f"the PCG64 state must be an object, got {inner!r:.80}.")
        self._exact_keys(inner, ("state", "inc"), "the PCG64 state")
        if not all(_is_int(inner[key]) and 0 <= inner[key] < 2**128 for key in ("state", "inc")):
            raise self.error(f"the PCG64 state and inc must be integers in [0, 2**128), got {inner!r:.120}.")
        if inner["inc"] % 2 == 0:
            raise self.error("the PCG64 increment is even; it is always odd.")
        if not _is_int(state["has_uint32"]) or state["has_uint32"] not in (0, 1):
            raise self.error(f"the PCG64 has_uint32 must be 0 or 1, got {state['has_uint32']!r:.80}.")
        if not _is_int(state["uinteger"]) or not 0 <= state["uinteger"] < 2**32:
            raise self.error(f"the PCG64 uinteger must be an integer in [0, 2**32), got {state['uinteger']!r:.80}.")
        return entropy, state

    def _optimizer(self, entry, has_state, epoch):
        """The optimizer with its step and schedule state (its state comes later), or None."""
        if entry is None:
            if has_state:
                raise self.error(f"the file holds {_OPTIMIZER_STATE!r} but no optimizer.")
            return None
        if not isinstance(entry, dict):
            raise self.error(f"optimizer must be an object or null, got {entry!r:.80}.")
        self._exact_keys(entry, _OPTIMIZER_FIELDS, "the optimizer entry")
        name, config, step, schedule_state = (entry[key] for key in _OPTIMIZER_FIELDS)
        if not isinstance(name, str) or name not in OPTIMIZERS:
            raise self.error(f"unknown optimizer {name!r:.80}; expected one of {', '.join(sorted(OPTIMIZERS))}.")
        if not isinstance(config, dict):
            raise self.error(f"the optimizer config must be an object, got {config!r:.80}.")
        if not _is_int(step) or not 0 <= step <= _MAX_INT64:
            raise self.error(f"the optimizer step must be an integer in [0, 2**63), got {step!r:.80}.")
        if step > 0 and not has_state:
            raise self.error(f"the optimizer has made {step} steps, but the file holds no {_OPTIMIZER_STATE!r}.")
        if not isinstance(schedule_state, dict):
            raise self.error(f"the optimizer schedule_state must be an object, got {schedule_state!r:.80}.")
        try:
            optimizer = optimizer_from_config(name, config)
            optimizer.schedule.load_state(schedule_state)
            restored = optimizer.schedule.state()
            rate = optimizer.learning_rates(step, 1, epoch)
        except KeyError as exc:
            raise self.error(f"the {name} optimizer's schedule_state lacks {exc.args[0]!r:.80}.") from exc
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise self.error(f"the {name} optimizer is not valid: {exc}") from exc
        if restored != schedule_state:
            raise self.error(
                f"the {name} optimizer's schedule_state {schedule_state!r:.120} is not one its schedule "
                f"can have (it reads it as {restored!r:.120})."
            )
        if not (np.isfinite(rate).all() and (rate >= 0).all()):
            raise self.error(f"the {name} optimizer's learning rate at step {step} is {float(rate[0])!r}.")
        optimizer.step = step
        return optimizer


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _unique_keys(pairs):
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r:.40}")
    return result


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text:.40} overflows a float")
    return value
