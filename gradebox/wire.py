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


class WireError(Exception):
    """A value that cannot be sent, or bytes that are not a message."""


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


def encode(value: Any, as_handle: Callable[[Any], Handle] | None = None) -> bytes:
    """Serialise ``value``. Objects that are not data become handles via ``as_handle``
    (the submission's side); without it (the judge's side) they are an error."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise WireError(f"value nested more than {MAX_DEPTH} levels deep")
        if v is None or isinstance(v, (bool, str)) or type(v) in (int, float):
            return v
        if isinstance(v, Handle):
            return {"$handle": v.id, "type": v.type}
        if isinstance(v, torch.Tensor):
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
    return HEADER.pack(len(header), len(blob)) + header + blob


def decode(message: bytes, from_handle: Callable[[Handle], Any] = lambda h: h) -> Any:
    """The value ``encode`` wrote; handles are passed through ``from_handle``."""
    if len(message) < HEADER.size:
        raise WireError("truncated message")
    n_json, n_blob = HEADER.unpack_from(message)
    if HEADER.size + n_json + n_blob != len(message):
        raise WireError("message length does not match its header")
    try:
        tree = json.loads(message[HEADER.size : HEADER.size + n_json])
        tensors = load_tensors(message[HEADER.size + n_json :]) if n_blob else {}
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


# ------------------------------------------------------------------------------------------------
# Framing over file descriptors (pipes)


def send(fd: int, payload: bytes) -> None:
    """Write one length-prefixed message to ``fd``."""
    data = struct.pack("<Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None) -> bytes:
    """Read one message from ``fd``; ``TimeoutError`` past ``deadline`` (``time.monotonic()``)."""
    (size,) = struct.unpack("<Q", _read_exactly(fd, 8, deadline))
    if size > MAX_MESSAGE:
        raise WireError(f"message of {size} bytes exceeds the limit")
    return _read_exactly(fd, size, deadline)
