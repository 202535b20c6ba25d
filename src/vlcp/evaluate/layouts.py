"""State dicts of the reference implementations, renamed to vlcp's network layout.

Teachers trained elsewhere come with the reference code's parameter names; the tensors are the same,
only the names differ. ``to_vlcp_layout(network, state)`` renames them (a state dict already in vlcp's
layout is returned unchanged):

- torchvision ResNet-18 (``conv1``, ``bn1``, ``layer1.0.conv1`` …, ``fc``) — also RDED's
  ``resnet18_modified`` and its ImageNet observers;
- Minimax / IDC ResNetAP (``layer0.conv1``, ``layer0.bn1``, ``layer1.0`` …, ``fc``);
- the DC / DSA / DM ConvNet (``features.<i>``, ``classifier``; without normalisation layers the DC code
  leaves them out of ``features``);
- RDED's ConvNet (``layers.conv.<d>``, ``layers.norm.<d>``, ``classifier``).

Wrappers' prefixes (``module.`` from DataParallel / DDP, ``_orig_mod.`` from ``torch.compile``) are
removed first.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

PREFIXES = ("module.", "_orig_mod.")
RESNET_BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet18_modified": (2, 2, 2, 2), "resnet_ap10": (1, 1, 1, 1)}


def strip_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without DataParallel / ``torch.compile`` prefixes on its keys."""
    out = {}
    for k, v in state.items():
        changed = True
        while changed:
            changed = False
            for p in PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p):], True
        out[k] = v
    return out


def _rename(state: Mapping[str, torch.Tensor], rules: list[tuple[re.Pattern, object]]) -> dict[str, torch.Tensor]:
    """Apply the first matching (pattern, replacement) rule to every key; unmatched keys stay as they are."""
    out = {}
    for k, v in state.items():
        for pattern, repl in rules:
            new, n = pattern.subn(repl, k, count=1)
            if n:
                k = new
                break
        out[k] = v
    return out


def _block_index(layers: tuple[int, ...]):
    """``layer<i>.<j>.`` (1-based stage i, block j) → ``blocks.<flat index>.``."""
    offsets = [sum(layers[:i]) for i in range(len(layers))]
    return lambda m: f"blocks.{offsets[int(m.group(1)) - 1] + int(m.group(2))}."


def from_resnet(state: Mapping[str, torch.Tensor], network: str) -> dict[str, torch.Tensor]:
    """torchvision ResNet-18 or Minimax ResNetAP names → vlcp's ``stem`` / ``blocks`` / ``head``."""
    rules = [(re.compile(r"^(?:layer0\.)?conv1\."), "stem.0."), (re.compile(r"^(?:layer0\.)?bn1\."), "stem.1."),
             (re.compile(r"^layer([1-4])\.(\d+)\."), _block_index(RESNET_BLOCKS[network])),
             (re.compile(r"^fc\."), "head.")]
    return _rename(state, rules)


def from_dc_convnet(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """DC's ``features.<i>`` / ``classifier`` → ``body.<i>`` / ``head``.

    With normalisation layers each DC block is conv, norm, act, pool (vlcp's order); without them the
    DC code has conv, act, pool, so conv ``3d`` becomes vlcp's ``4d``.
    """
    idx = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")})
    per_block = 4 if 1 in idx or not idx else 3  # the first norm layer (parameters) sits at index 1

    def body(m: re.Match) -> str:
        i = int(m.group(1))
        return f"body.{4 * (i // per_block) + i % per_block}."

    return _rename(state, [(re.compile(r"^features\.(\d+)\."), body), (re.compile(r"^classifier\."), "head.")])


def from_rded_convnet(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """RDED's ``layers.conv.<d>`` / ``layers.norm.<d>`` / ``classifier`` → ``body.<4d>`` / ``body.<4d+1>`` / ``head``."""
    return _rename(state, [(re.compile(r"^layers\.conv\.(\d+)\."), lambda m: f"body.{4 * int(m.group(1))}."),
                           (re.compile(r"^layers\.norm\.(\d+)\."), lambda m: f"body.{4 * int(m.group(1)) + 1}."),
                           (re.compile(r"^classifier\."), "head.")])


def to_vlcp_layout(network: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` (any of the layouts in the module docstring) with vlcp's parameter names for ``network``."""
    state = strip_prefixes(state)
    keys = set(state)
    if network in RESNET_BLOCKS and any(k.startswith(("layer1.", "fc.")) for k in keys):
        return from_resnet(state, network)
    if network.startswith("convnet") and any(k.startswith("layers.conv.") for k in keys):
        return from_rded_convnet(state)
    if network.startswith("convnet") and any(k.startswith("features.") for k in keys):
        return from_dc_convnet(state)
    return dict(state)
