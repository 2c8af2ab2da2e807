"""The data that crosses between the judge and a submission's process, and how it is framed.

A message is a JSON header plus the bytes of a safetensors file holding its tensors: both formats
are safe to parse whatever the sender put in them (no pickle anywhere), so the judge can read a
hostile submission's answers without running any of its code. A tensor arrives as a plain
``torch.Tensor`` (a subclass with a lying ``__eq__`` is flattened on the way out); an object that
is not data (a model, a function, a generator) stays where it lives and crosses as a *handle*.

Values: None, bool, int, float, str, tensors, numpy arrays and scalars, lists, tuples, dicts
(any encodable keys), paths, ``torch.Size`` and handles, nested at most ``MAX_DEPTH`` deep.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from pathlib import Path, PurePath
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

MAX_DEPTH = 32
MAX_MESSAGE = 2**31  # bytes; a claimed length beyond this is a broken or hostile sender
HEADER = struct.Struct("<QQ")  # JSON length, safetensors length
ALIGN = 64  # the header is padded so that the tensors' bytes start at a multiple of this
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool, **{name: getattr(torch, attr) for name, attr in (
              ("U16", "uint16"), ("U32", "uint32"), ("U64", "uint64"), ("F8_E4M3", "float8_e4m3fn"),
              ("F8_E5M2", "float8_e5m2")) if hasattr(torch, attr)}}


class WireError(Exception):
    """A value that cannot be sent, or bytes that are not a message."""


class TooLarge(WireError):
    """A message longer than the reader accepts: nothing of it was read (or it was skipped)."""

    def __init__(self, size: int, limit: int, part: str = "message"):
        super().__init__(f"{part} of {size} bytes exceeds the limit of {limit} bytes")
        self.size, self.limit, self.part = size, limit, part


class Handle:
    """A reference to an object that stays in the process that owns it."""

    __slots__ = ("id", "type")

    def __init__(self, id: int, type: str = "object"):
        self.id, self.type = id, type


def _plain(t: torch.Tensor) -> torch.Tensor:
    """A contiguous CPU ``torch.Tensor`` (not a subclass) with its own storage."""
    if t.layout != torch.strided:
        raise WireError(f"cannot send a {t.layout} tensor; convert it with .to_dense()")
    if t.device.type != "cpu":
        raise WireError(f"cannot send a tensor on device '{t.device}'; return CPU tensors")
    return torch.Tensor.as_subclass(t.detach(), torch.Tensor).contiguous().clone()


def encode(value: Any, as_handle: Callable[[Any], Handle] | None = None, limit: int | None = None) -> bytes:
    """Serialise ``value``. Objects that are not data become handles via ``as_handle``
    (the submission's side); without it (the judge's side) they are an error. Tensors of more
    than ``limit`` bytes in all raise ``TooLarge`` before any is copied."""
    tensors: dict[str, torch.Tensor] = {}
    total = 0

    def walk(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise WireError(f"value nested more than {MAX_DEPTH} levels deep")
        if v is None or isinstance(v, (bool, str)) or type(v) in (int, float):
            return v
        if isinstance(v, Handle):
            return {"$handle": v.id, "type": v.type}
        if isinstance(v, torch.Tensor):
            nonlocal total
            total += v.numel() * v.element_size()
            if limit is not None and total > limit:
                raise TooLarge(total, limit, "reply")
            tensors[str(len(tensors))] = _plain(v)
            return {"$tensor": str(len(tensors) - 1)}
        if isinstance(v, np.ndarray) and v.dtype != object:
            return walk(torch.from_numpy(np.ascontiguousarray(v)), depth)
        if isinstance(v, np.generic):
            return walk(v.item(), depth)
        if isinstance(v, (int, float)):  # bool and exact types handled above; subclasses flattened
            return int(v) if isinstance(v, int) else float(v)
        if isinstance(v, PurePath):
            return {"$path": str(v)}
        if isinstance(v, torch.Size):
            return {"$tuple": [int(n) for n in v]}
        if type(v) in (list, tuple):
            return {"$" + type(v).__name__: [walk(x, depth + 1) for x in v]}
        if isinstance(v, dict) and type(v).__module__ in ("builtins", "collections"):
            return {"$dict": [[walk(k, depth + 1), walk(x, depth + 1)] for k, x in v.items()]}
        if as_handle is None:
            raise WireError(f"cannot send a {type(v).__name__}: only data (tensors, numbers, lists, dicts) or handles")
        return walk(as_handle(v), depth)

    header = json.dumps(walk(value, 0)).encode()
    blob = save_tensors(tensors) if tensors else b""
    header += b" " * (-(HEADER.size + len(header)) % ALIGN)  # so the tensors' bytes are aligned in decode
    return HEADER.pack(len(header), len(blob)) + header + blob


def decode(message: bytes | bytearray, from_handle: Callable[[Handle], Any] = lambda h: h,
           json_limit: int | None = None) -> Any:
    """The value ``encode`` wrote; handles are passed through ``from_handle``. The tensors share
    the memory of ``message`` where it is writable and aligned (no copy: the judge holds a reply
    once); ``json_limit`` bounds the part that becomes Python objects."""
    if len(message) < HEADER.size:
        raise WireError("truncated message")
    n_json, n_blob = HEADER.unpack_from(message)
    if HEADER.size + n_json + n_blob != len(message):
        raise WireError("message length does not match its header")
    if json_limit is not None and n_json > json_limit:
        raise TooLarge(n_json, json_limit, "the non-tensor part of a message")
    view = memoryview(message)
    try:
        tree = json.loads(bytes(view[HEADER.size : HEADER.size + n_json]))
        tensors = _tensors(view[HEADER.size + n_json :]) if n_blob else {}
    except WireError:
        raise
    except Exception as err:  # noqa: BLE001 - any parse failure means the bytes are not a message
        raise WireError(f"not a message: {err}") from None

    def walk(node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise WireError("message nested too deep")
        if not isinstance(node, dict):
            if isinstance(node, list):
                raise WireError("bare list in message")
            return node
        if "$tensor" in node:
            return tensors[node["$tensor"]]
        if "$handle" in node:
            return from_handle(Handle(int(node["$handle"]), str(node.get("type", "object"))))
        if "$path" in node:
            return Path(node["$path"])
        if "$list" in node:
            return [walk(x, depth + 1) for x in node["$list"]]
        if "$tuple" in node:
            return tuple(walk(x, depth + 1) for x in node["$tuple"])
        if "$dict" in node:
            return {walk(k, depth + 1): walk(v, depth + 1) for k, v in node["$dict"]}
        raise WireError(f"unknown node {list(node)[:3]}")

    try:
        return walk(tree, 0)
    except (KeyError, TypeError, ValueError) as err:
        raise WireError(f"malformed message: {err!r}") from None


def _tensors(blob: memoryview) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, parsed here (every offset checked), as views of ``blob``
    where it can be (writable, aligned), else as copies."""
    if blob.readonly:
        return load_tensors(bytes(blob))
    if len(blob) < 8:
        raise WireError("truncated tensors")
    (n,) = struct.unpack_from("<Q", blob)
    if 8 + n > len(blob):
        raise WireError("tensor header longer than the tensors")
    header = json.loads(bytes(blob[8 : 8 + n]))
    data = blob[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(info.get("dtype")) if isinstance(info, dict) else None
        shape, (begin, end) = info["shape"], info["data_offsets"]
        if dtype is None or not all(type(d) is int and d >= 0 for d in [*shape, begin, end]):
            raise WireError(f"tensor {name!r}: bad header {str(info)[:100]}")
        count = 1
        for d in shape:
            count *= d
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not begin <= end <= len(data) or (end - begin) != count * itemsize:
            raise WireError(f"tensor {name!r}: offsets do not match its shape")
        if count == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
            continue
        flat = torch.frombuffer(data, dtype=torch.uint8, count=end - begin, offset=begin)
        if flat.data_ptr() % 8 or flat.storage_offset() % 8:  # misaligned for its type: a copy
            flat = flat.clone()
        tensors[name] = flat.view(dtype).reshape(shape)
    return tensors


# ------------------------------------------------------------------------------------------------
# Framing over file descriptors (pipes)


def send(fd: int, payload: bytes) -> None:
    """Write one length-prefixed message to ``fd``."""
    prefix, view = memoryview(struct.pack("<Q", len(payload))), memoryview(payload)
    while prefix or view:  # no copy of the payload
        sent = os.writev(fd, [prefix, view] if prefix else [view])
        taken = min(sent, len(prefix))
        prefix, view = prefix[taken:], view[sent - taken:]


def _read_exactly(fd: int, n: int, deadline: float | None, into: bytearray | None = None) -> bytearray:
    """``n`` bytes from ``fd``, read straight into one buffer (``into``: read and dropped, 1 MiB at
    a time, to skip a message)."""
    buffer = bytearray(n) if into is None else into
    view, done = memoryview(buffer), 0
    while done < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        start = done if into is None else 0
        got = os.readv(fd, [view[start : start + min(n - done, 1 << 20)]])
        if not got:
            raise EOFError("the other side closed the connection")
        done += got
    return buffer


def receive(fd: int, deadline: float | None = None, limit: int = MAX_MESSAGE, skip: bool = False) -> bytearray:
    """Read one message from ``fd``; ``TimeoutError`` past ``deadline`` (``time.monotonic()``).
    A message longer than ``limit`` raises ``TooLarge`` from its length prefix, before any of it is
    read; with ``skip``, after reading and dropping it, so the next message can be read."""
    (size,) = struct.unpack("<Q", _read_exactly(fd, 8, deadline))
    if size > min(limit, MAX_MESSAGE):
        if skip and size <= MAX_MESSAGE:
            _read_exactly(fd, size, deadline, into=bytearray(1 << 20))
        raise TooLarge(size, min(limit, MAX_MESSAGE), "reply")
    return _read_exactly(fd, size, deadline)
