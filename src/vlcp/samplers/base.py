"""The sampler interface, its settings base and the registry (see ``vlcp.samplers``)."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Protocol

import torch

from vlcp.settings.registry import Registry


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """A sampler's own settings: one frozen dataclass per sampler, fields documented with ``metadata["help"]``,
    checked in ``__post_init__``. The synthesize config exposes each field under the same name (a
    ``[synthesize]`` key and a flag, declared from here by :func:`sampler_field`); only the active sampler's
    settings are recorded in the images' rows and enter the resume fingerprint."""

    describe_as: ClassVar[str] = ""  # a format string over the fields: the sentence a summary shows

    @classmethod
    def from_config(cls, config: Any) -> "SamplerSettings":
        """The settings of this sampler read from a config that carries its fields (``SynthesizeConfig``)."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})

    def record(self) -> dict:
        """The settings as the row of an image records them (field name: value)."""
        return dataclasses.asdict(self)

    def check_steps(self, steps: int) -> None:
        """Raise a ``VlcpError`` when these settings give no sampling step at ``steps`` (default: any works)."""

    def describe(self) -> str:
        """One sentence for a summary or report."""
        return self.describe_as.format(**self.record())


def sampler_field(settings: type[SamplerSettings], name: str) -> Any:
    """A config field that mirrors the sampler setting ``name`` of ``settings`` (same default and metadata):
    the rule is declared once, in the sampler."""
    f = {f.name: f for f in dataclasses.fields(settings)}[name]
    return dataclasses.field(default=f.default, metadata=f.metadata)


class Sampler(Protocol):
    """``uses_context = True``: the sampler is also called with ``siblings=`` (b, C, h, w), per image the start
    latent of the nearest other prototype of its class (``vlcp.synthesize.Prototype.sibling``), and
    ``class_ids=`` (the images' class ids). ``needs_guide = True``: built as ``Sampler(model, guide=...)``, a
    model passed into ``synthesize(..., guide=)``."""

    name: str
    Settings: type[SamplerSettings]

    def __call__(self, latents: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor,
                 generators: list[torch.Generator], config) -> torch.Tensor: ...


SAMPLERS: Registry[Callable[..., Sampler]] = Registry("sampler")


def settings_of(config: Any) -> SamplerSettings:
    """The active sampler's settings (``config.sampler``) read from ``config``."""
    return SAMPLERS.get(config.sampler).Settings.from_config(config)


def sampler_setting_names() -> set[str]:
    """Every field some registered sampler owns (the config's sampler-specific keys)."""
    return {f.name for name in SAMPLERS.names() for f in dataclasses.fields(SAMPLERS.get(name).Settings)}
