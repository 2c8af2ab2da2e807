"""The reference as a recording: how the student release checks visible tests without the reference.

The release (``python -m grader.release``) ships the visible tests but not the reference solution.
Instead, each part's *visible key* holds what the reference answered to every call a visible test
made of it while grading the reference notebook (``grader.release.record_visible_key``). In the release, ``ref`` is a
``Replay``: a call whose arguments (and the judge's random state) match a recorded one returns the
recorded answer, so ``expected = ref.f(x)`` on seeded inputs works exactly as with the reference.

A test that measures what the student *trained* (a loss, a geometry) calls the reference on
the student's parameters, which no recording can anticipate. There, and only in tests the key
marks as ``measuring``, the call goes to the student's own function of the same name (the
student's ``ToyModel`` measures the student's trained ``ToyModel``); the full grader uses the
reference. In any other test such a call is an error, never a silent pass.

Objects the reference returns (a model) are recorded by the chain of calls made on them, so
``m = ref.ToyModel(3, 5, 2); m.load_state_dict(p); m(x)`` replays call by call. A reference
computation that changes its arguments in place (``ref.remove_parallel_gradient(sae)``) goes in a
judge function marked ``@recorded``, recorded and replayed as one call returning data.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from gradebox import wire

MEASURED_ANSWER_BYTES = 2**20  # keeps the visible keys small: measuring tests replay only small answers
RECORDED = object()  # marks "this reference value was not data, so it is replayed as an object"


class ReplayMiss(AssertionError):
    """A visible test asked the recorded reference something it was not recorded answering."""


# --------------------------------------------------------------------------------------------------
# Fingerprints: equal for equal arguments in the recording and the replay


def fingerprint(*parts: Any) -> str:
    """A SHA-256 of ``parts`` (tensors by dtype, shape and bytes; modules by state; objects by fields)."""
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()


def _feed(digest: "hashlib._Hash", value: Any) -> None:
    tag = lambda *items: digest.update(repr(items).encode())  # noqa: E731
    if isinstance(value, (Recorded, Replayed)):
        tag("object", value._state)
    elif isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1)
        tag("tensor", str(value.dtype), tuple(value.shape))
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    elif value is None or isinstance(value, (bool, int, float, str, bytes)):
        tag(type(value).__name__, value)
    elif isinstance(value, (list, tuple)):
        tag(type(value).__name__, len(value))
        for item in value:
            _feed(digest, item)
    elif isinstance(value, dict):
        tag("dict", len(value))
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, nn.Module):
        tag("module", type(value).__qualname__)
        _feed(digest, dict(value.state_dict()))
    elif dataclasses.is_dataclass(value):
        tag("dataclass", type(value).__qualname__)
        _feed(digest, dataclasses.asdict(value))
    elif hasattr(value, "__dict__"):
        tag("object", type(value).__qualname__)
        _feed(digest, vars(value))
    else:
        tag("other", type(value).__qualname__, repr(value))


def _call_id(state: str, name: str, args: tuple, kwargs: dict) -> str:
    """Which call this is: on what (``state``), of what, with what, from which random state."""
    return fingerprint(state, name, list(args), kwargs, torch.get_rng_state())


def _as_data(value: Any) -> Any:
    """``value`` as wire data (dataclasses as tagged dicts), or ``RECORDED`` if it is not data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": type(value).__name__, "fields": dataclasses.asdict(value)}
    try:
        wire.encode(value)
    except (wire.WireError, TypeError, ValueError):
        return RECORDED
    return value


def _from_data(value: Any) -> Any:
    """A fresh copy of a recorded value (a test may change what it gets in place)."""
    value = wire.decode(wire.encode(value))
    if isinstance(value, dict) and "__dataclass__" in value:
        fields = value["fields"]
        cls = dataclasses.make_dataclass(value["__dataclass__"], list(fields))
        return cls(**fields)
    return value


def recorded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``fn(ref, *args) -> data``, a multi-step reference computation, as one recorded call."""

    @functools.wraps(fn)
    def run(ref: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(ref, Recorded):
            call = _call_id("recorded", fn.__qualname__, args, kwargs)
            return ref._recorder.note(call, fn(ref._target, *map(_unwrap, args), **kwargs))
        if isinstance(ref, Replayed):
            return _ReplayedMethod(ref._replay.root(), fn.__qualname__, state="recorded")(*args, **kwargs)
        return fn(ref, *args, **kwargs)

    return run


# --------------------------------------------------------------------------------------------------
# Recording (trusted: the reference is here)


class Recorder:
    """Collects the reference's answers: ``{call id: {"value": data or None, "object": bool, "rng": state}}``."""

    def __init__(self):
        self.calls: dict[str, dict] = {}
        self.max_bytes: int | None = None  # in a measuring test, larger answers are left to the fallback

    def wrap(self, module: Any) -> "Recorded":
        return Recorded(self, module, "ref")

    def note(self, call: str, value: Any) -> Any:
        data = _as_data(value)
        if data is not RECORDED and self.max_bytes is not None and len(wire.encode(data)) > self.max_bytes:
            return value  # e.g. a 20k-sample evaluation batch: the student's generate_batch makes its own
        self.calls[call] = {"object": data is RECORDED, "value": None if data is RECORDED else data,
                            "rng": torch.get_rng_state()}
        return value


class Recorded:
    """The reference (or an object it returned), answering as itself and recording every answer."""

    def __init__(self, recorder: Recorder, target: Any, state: str):
        self._recorder, self._target, self._state = recorder, target, state

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        call = fingerprint(self._state, "get", name)
        if callable(value):
            self._recorder.calls[call] = {"object": True, "value": None, "rng": None}
            return _RecordedMethod(self, name, value)
        self._recorder.note(call, value)
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _RecordedMethod(self, "__call__", self._target)(*args, **kwargs)


class _RecordedMethod:
    def __init__(self, owner: Recorded, name: str, fn: Any):
        self.owner, self.name, self.fn = owner, name, fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = _call_id(self.owner._state, self.name, args, kwargs)
        real = [_unwrap(a) for a in args], {k: _unwrap(v) for k, v in kwargs.items()}
        value = self.owner._recorder.note(call, self.fn(*real[0], **real[1]))
        if self.owner._state != "ref":
            self.owner._state = call  # later calls on this object follow from this one
        if _as_data(value) is RECORDED:
            return Recorded(self.owner._recorder, value, call)
        return value


def _unwrap(value: Any) -> Any:
    return value._target if isinstance(value, Recorded) else value


# --------------------------------------------------------------------------------------------------
# Replay (in the release: no reference, only its recorded answers)


class Replay:
    """``ref`` in the release: the recorded answers of the reference for one test."""

    def __init__(self, calls: dict[str, dict], sub: Any, test: str, measuring: bool):
        self._calls, self._sub, self._test, self._measuring = calls, sub, test, measuring

    def root(self) -> "Replayed":
        return Replayed(self, "ref", recipe=[])

    def fallback(self, what: str) -> None:
        if not self._measuring:
            raise ReplayMiss(
                f"{self._test} asked the reference something the release did not record ({what}); this "
                "happens when the test's inputs depend on your outputs in a way it does not expect. The course's "
                "full grader checks this test; please report it.")


class Replayed:
    """The recorded reference, or an object it returned (with the calls that made it, ``recipe``)."""

    def __init__(self, replay: Replay, state: str, recipe: list[tuple]):
        self._replay, self._state, self._recipe, self._twin = replay, state, recipe, None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._twin is not None:  # the student's twin stands in for this object from now on
            return getattr(self._twin, name)
        entry = self._replay._calls.get(fingerprint(self._state, "get", name))
        if entry is None:
            self._replay.fallback(f"{self._label()}.{name}")
            return getattr(self._materialise(), name)
        if entry["object"]:
            return _ReplayedMethod(self, name)
        return _from_data(entry["value"])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _ReplayedMethod(self, "__call__")(*args, **kwargs)

    def _label(self) -> str:
        return "ref" if self._state == "ref" else f"an object from ref.{self._recipe[0][1]}"

    def _materialise(self) -> Any:
        """The student's twin of this object: the same calls made on the student's notebook."""
        if self._state == "ref":
            return self._replay._sub
        if self._twin is None:
            (_, maker, args, kwargs), *calls = self._recipe
            self._twin = _call(getattr(self._replay._sub, maker), args, kwargs)
            for _, name, args, kwargs in calls:  # e.g. load_state_dict(params)
                _call(self._twin if name == "__call__" else getattr(self._twin, name), args, kwargs)
        return self._twin


class _ReplayedMethod:
    def __init__(self, owner: Replayed, name: str, state: str | None = None):
        self.owner, self.name, self.state = owner, name, state

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        owner = self.owner
        call = _call_id(self.state or owner._state, self.name, args, kwargs)
        entry = owner._replay._calls.get(call)
        if entry is None and self.state == "recorded":
            raise ReplayMiss(f"the release has no recording of {self.name} for these inputs; the course's full "
                             "grader checks this test")
        if entry is None or owner._twin is not None:
            owner._replay.fallback(f"{owner._label()}.{self.name}(...)")
            target = owner._materialise()
            return _call(target if self.name == "__call__" else getattr(target, self.name), args, kwargs)
        torch.set_rng_state(entry["rng"])
        if owner._state == "ref":
            recipe = [("call", self.name, args, kwargs)]
        else:
            recipe = owner._recipe + [("call", self.name, args, kwargs)]
            owner._state, owner._recipe = call, recipe
        if entry["object"]:
            return Replayed(owner._replay, call, recipe)
        return _from_data(entry["value"])


def _call(fn: Any, args: tuple, kwargs: dict) -> Any:
    """``fn(*args, **kwargs)`` with replayed objects replaced by their student twins."""
    twin = lambda v: v._materialise() if isinstance(v, Replayed) else v  # noqa: E731
    return fn(*[twin(a) for a in args], **{k: twin(v) for k, v in kwargs.items()})


# --------------------------------------------------------------------------------------------------
# The visible key: recorded once per course version, shipped in the release


def key_file(part: str) -> Path:
    """Where the release keeps a part's visible key."""
    from grader.framework import REPO

    return REPO / "grader" / "keys" / f"{part}.visible.key"


@functools.cache
def visible_key(part: str) -> dict:
    """``{"calls": {call id: answer}, "answers": {name: value}}`` of ``part``'s visible tests."""
    return wire.decode(key_file(part).read_bytes())


def replayed(part: str, sub: Any, test: Callable) -> Replayed:
    """``ref`` for one visible test in the release."""
    return Replay(visible_key(part)["calls"], sub, test.__name__, test.measures).root()
