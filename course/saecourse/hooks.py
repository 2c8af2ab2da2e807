"""Forward hooks that edit the residual stream, removed again even when the forward pass fails.

The original exercise left steering as a stub ("full implementation requires hooks"). Here one
context manager does it: inside ``with patch_residual(model, layer, fn):`` every forward pass
replaces the output of block ``layer`` (the residual stream after it) with ``fn(output)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from saecourse.models import get_blocks


@contextmanager
def patch_residual(model: nn.Module, layer: int, fn: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Replace the residual stream after block ``layer`` by ``fn(resid)`` in every forward pass.

    resid: [batch, seq, d_model]; ``fn`` must return the same shape. The hook is removed on exit,
    also when the body raises.
    """

    def hook(module: nn.Module, inputs: tuple, output: Tensor | tuple) -> Tensor | tuple:
        if isinstance(output, tuple):
            return (fn(output[0]), *output[1:])
        return fn(output)

    handle = get_blocks(model)[layer].register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _ours(hook: Callable) -> bool:
    """False for the hooks transformers installs itself (to capture hidden states when they are
    asked for, then left in place and inert); True for everything else."""
    return not getattr(getattr(hook, "func", hook), "__module__", "").startswith("transformers.")


def registered_hooks(model: nn.Module) -> dict[str, int]:
    """How many forward hooks, forward pre-hooks and backward hooks each submodule of ``model`` still
    has, for the submodules that have any (an empty dict: no hook left behind). Hooks that
    transformers installs itself are not counted."""
    counts = {}
    for name, module in model.named_modules():
        hooks = [*module._forward_hooks.values(), *module._forward_pre_hooks.values(), *module._backward_hooks.values()]
        if n := sum(map(_ours, hooks)):
            counts[name or "<model>"] = n
    return counts


def assert_no_hooks(model: nn.Module) -> None:
    """Raise if any submodule of ``model`` still has a hook: a hook left behind silently edits every
    later forward pass."""
    if left := registered_hooks(model):
        raise AssertionError(f"hooks left registered on {left}: remove them (handle.remove()) in a finally block")


@torch.no_grad()
def next_token_losses(model: nn.Module, tokens: Tensor) -> Tensor:
    """Cross-entropy of predicting each next token: tokens [batch, seq] -> losses [batch, seq - 1]."""
    logits = model(input_ids=tokens, use_cache=False).logits
    return nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="none"
    ).view(tokens.shape[0], -1)
