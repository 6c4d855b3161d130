"""pyengine.save / pyengine.load: checkpoints that execute no code when loaded.

A checkpoint holds nested dicts, lists and tuples of tensors, NumPy arrays,
numbers, strings, bools and None (a model's or an optimizer's state_dict, or a
dict of both). The file is a fixed header, a JSON manifest describing the
structure, and the raw little-endian bytes of every array, each with a CRC32;
docs/serialization.md specifies it. Nothing is unpickled, so loading a file from
an untrusted source cannot run code.

save() writes to a temporary file in the destination's directory, flushes and
fsyncs it, renames it over the destination (os.replace, atomic on POSIX and
Windows) and fsyncs the directory: an interrupted save leaves the previous
file intact. load() checks the magic, the version, the manifest's CRC32, every
array's size and CRC32 and the file's length, and raises CheckpointError (a
ValueError) naming the problem.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import struct
import zlib
from collections import OrderedDict

import numpy as np

from pyengine.tensor import Tensor

__all__ = ["save", "load", "CheckpointError", "FORMAT_VERSION"]

MAGIC = b"\x89PYENG\r\n"   # a non-ASCII first byte and a CRLF catch text-mode transfers, as in PNG
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIQ")   # magic, version, manifest length in bytes
_CRC = struct.Struct("<I")
# Array dtypes a checkpoint may hold: booleans, integers, floats, complex (never objects).
_ALLOWED_KINDS = "biufc"


class CheckpointError(ValueError):
    """A file that is not a valid pyengine checkpoint: wrong magic, unsupported
    version, truncated, or corrupted (a CRC32 mismatch)."""


# ---- encoding: Python objects <-> JSON manifest + list of arrays ---------------------


def _encode(obj, arrays, where):
    """The JSON form of obj; arrays it holds are appended to `arrays` and
    referred to by index. `where` names the position for error messages."""
    if isinstance(obj, np.generic):  # before float: np.float64 subclasses it
        arrays.append(_checked_array(np.asarray(obj), where))
        return {"__scalar__": len(arrays) - 1}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, Tensor):
        arrays.append(_checked_array(obj.data, where))
        return {"__tensor__": len(arrays) - 1, "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, np.ndarray):
        arrays.append(_checked_array(obj, where))
        return {"__ndarray__": len(arrays) - 1}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if not isinstance(key, (str, int, float, bool, tuple)) and key is not None:
                raise TypeError(f"save: dict key {key!r} at {where} has type {type(key).__name__}; keys must be "
                                "strings, numbers, bools, None or tuples of them")
            items.append([_encode(key, arrays, f"{where} key"), _encode(value, arrays, f"{where}[{key!r}]")])
        return {"__dict__": items, "ordered": isinstance(obj, OrderedDict)}
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__} at {where}; a checkpoint holds "
                    "tensors, NumPy arrays, numbers, strings, bools, None and dicts/lists/tuples of them")


def _checked_array(array, where):
    if array.dtype.kind not in _ALLOWED_KINDS:
        raise TypeError(f"save: the array at {where} has dtype {array.dtype}; only bool, integer, float and "
                        "complex arrays can be stored")
    return array


def _decode(node, arrays):
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if "__tensor__" in node:
        return Tensor(arrays[node["__tensor__"]], requires_grad=node.get("requires_grad", False))
    if "__ndarray__" in node:
        return arrays[node["__ndarray__"]]
    if "__scalar__" in node:
        return arrays[node["__scalar__"]][()]
    if "__float__" in node:
        return float(node["__float__"])
    if "__tuple__" in node:
        return tuple(_decode(v, arrays) for v in node["__tuple__"])
    if "__dict__" in node:
        cls = OrderedDict if node.get("ordered") else dict
        return cls((_decode(k, arrays), _decode(v, arrays)) for k, v in node["__dict__"])
    raise CheckpointError(f"load: unknown manifest entry {sorted(node)}")


# ---- save ---------------------------------------------------------------------------


def _payload_bytes(array):
    """The array's bytes in C order, little-endian, as a flat uint8 array."""
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    return np.ascontiguousarray(array, dtype=dtype).reshape(-1).view(np.uint8)


def _write_array(f, data):
    f.write(data.data)


def _fsync_directory(directory):
    """Makes the rename durable: on POSIX a directory entry reaches the disk
    only when the directory itself is fsynced."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(obj, f):
    """Writes obj to the path f atomically (see the module docstring)."""
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"save: f must be a path (str or os.PathLike), got {type(f).__name__}; the file is "
                        "written to a temporary name and renamed, which needs a path")
    path = os.path.abspath(os.fspath(f))
    arrays = []
    root = _encode(obj, arrays, "the root")
    payload = [_payload_bytes(a) for a in arrays]
    entries, offset = [], 0
    for original, data in zip(arrays, payload):
        entries.append({"dtype": original.dtype.newbyteorder("<").str if original.dtype.byteorder != "|"
                        else original.dtype.str, "shape": list(original.shape), "offset": offset,
                        "nbytes": data.nbytes, "crc32": zlib.crc32(data.data)})
        offset += data.nbytes
    manifest = json.dumps({"format": "pyengine-checkpoint", "version": FORMAT_VERSION, "root": root,
                           "arrays": entries}, separators=(",", ":")).encode("utf-8")

    directory = os.path.dirname(path)
    # Created like any new file (mode 0o666 less the umask), beside the
    # destination so that the rename never crosses file systems.
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_HEADER.pack(MAGIC, FORMAT_VERSION, len(manifest)))
            out.write(manifest)
            out.write(_CRC.pack(zlib.crc32(manifest)))
            for data in payload:
                _write_array(out, data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


# ---- load ---------------------------------------------------------------------------


def _read_exact(f, n, what, path):
    data = f.read(n)
    if len(data) != n:
        raise CheckpointError(f"load: {path} is truncated: {what} needs {n} bytes but only {len(data)} remain")
    return data


def load(f, map_location=None, weights_only=True):
    """Reads a checkpoint written by save(). map_location and weights_only are
    accepted for PyTorch compatibility: there is only the CPU, and a checkpoint
    never holds code."""
    path = os.fspath(f)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEADER.size)
        if head[:len(MAGIC)] != MAGIC[:len(head)]:
            raise CheckpointError(f"load: {path} is not a pyengine checkpoint (its first bytes are "
                                  f"{head[:len(MAGIC)]!r}, expected {MAGIC!r})")
        if len(head) < _HEADER.size:
            raise CheckpointError(f"load: {path} is truncated: the header needs {_HEADER.size} bytes but the "
                                  f"file has {len(head)}")
        _, version, manifest_len = _HEADER.unpack(head)
        if version != FORMAT_VERSION:
            raise CheckpointError(f"load: {path} has format version {version}; this pyengine reads version "
                                  f"{FORMAT_VERSION}")
        if manifest_len > size:
            raise CheckpointError(f"load: {path} is truncated or corrupted: the header announces a manifest of "
                                  f"{manifest_len} bytes in a file of {size} bytes")
        manifest_bytes = _read_exact(fh, manifest_len, "the manifest", path)
        (crc,) = _CRC.unpack(_read_exact(fh, _CRC.size, "the manifest checksum", path))
        if zlib.crc32(manifest_bytes) != crc:
            raise CheckpointError(f"load: {path} is corrupted: the manifest's CRC32 does not match")
        try:
            manifest = json.loads(manifest_bytes.decode("utf-8"))
            entries = manifest["arrays"]
            root = manifest["root"]
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            raise CheckpointError(f"load: {path} has an unreadable manifest ({error})") from None
        _check_layout(entries, path)
        payload_start = fh.tell()
        expected_end = payload_start + sum(e["nbytes"] for e in entries)
        if size < expected_end:
            raise CheckpointError(f"load: {path} is truncated: the arrays need {expected_end} bytes in all but "
                                  f"the file has {size}")
        if size > expected_end:
            raise CheckpointError(f"load: {path} is corrupted: {size - expected_end} unexpected bytes after the "
                                  "last array")
        arrays = [_read_array(fh, i, e, payload_start, path) for i, e in enumerate(entries)]
    try:
        return _decode(root, arrays)
    except (RecursionError, IndexError, KeyError, TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"load: {path} has a malformed manifest ({type(error).__name__}: {error})") from None


def _check_layout(entries, path):
    """The array entries must tile the payload in order: offset k = the sum of the
    sizes before it, sizes and dimensions non-negative integers, a known dtype."""
    offset = 0
    for i, e in enumerate(entries):
        try:
            dtype = np.dtype(e["dtype"])
            shape = [int(d) for d in e["shape"]]
            ok = (isinstance(e["nbytes"], int) and e["offset"] == offset and dtype.kind in _ALLOWED_KINDS
                  and all(d >= 0 for d in shape) and math.prod(shape) * dtype.itemsize == e["nbytes"])
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise CheckpointError(f"load: {path} has a malformed manifest: array entry {i} is inconsistent ({e})")
        offset += e["nbytes"]


def _read_array(fh, index, entry, payload_start, path):
    dtype = np.dtype(entry["dtype"])
    shape = tuple(entry["shape"])
    buffer = bytearray(entry["nbytes"])
    fh.seek(payload_start + entry["offset"])
    if fh.readinto(buffer) != entry["nbytes"]:
        raise CheckpointError(f"load: {path} is truncated inside array {index} (dtype {dtype}, shape {shape})")
    if zlib.crc32(buffer) != entry["crc32"]:
        raise CheckpointError(f"load: {path} is corrupted: array {index} (dtype {dtype}, shape {shape}) fails its "
                              "CRC32 check")
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)
