"""The sampler interface, its settings base and the registry (see ``vlcp.samplers``)."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, Protocol

import torch

from vlcp.settings.registry import Registry


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """A sampler's own settings: one frozen dataclass per sampler, every field with a default and documented
    with ``metadata["help"]``, checked in ``__post_init__``. The synthesize config takes each field of every
    registered sampler under the same name (a ``[synthesize]`` key and a flag: :func:`sampler_fields`), so a
    new sampler is one module; only the active sampler's settings are recorded in the images' rows and enter
    the resume fingerprint. A field with ``metadata["quiet"] = True`` (added after runs were fingerprinted)
    is left out of the record at its default, so those runs keep their rows and resume."""

    describe_as: ClassVar[str] = ""  # a format string over the fields: the sentence a summary shows
    guide_help: ClassVar[str] = ""  # with uses_guide(): the error line when no guide model is passed in

    @classmethod
    def from_config(cls, config: Any) -> "SamplerSettings":
        """The settings of this sampler read from a config that carries its fields (``SynthesizeConfig``)."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})

    def record(self) -> dict:
        """The settings as the row of an image records them (field name: value; quiet fields at their
        default left out)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not is_quiet_default(self, f)}

    def uses_guide(self) -> bool:
        """True when these settings use a guide model passed into ``synthesize(..., guide=)`` (default: no);
        the sampler is then built as ``Sampler(model, guide=...)`` (its ``needs_guide = True``)."""
        return False

    def check_steps(self, steps: int) -> None:
        """Raise a ``VlcpError`` when these settings give no sampling step at ``steps`` (default: any works)."""

    def describe(self) -> str:
        """One sentence for a summary or report ('' when the sampler gives none: ``describe_as`` unset)."""
        return self.describe_as.format(**self.record())

    @classmethod
    def describe_settings(cls, settings: dict) -> str:
        """:meth:`describe` of the settings a run recorded (a synthesize settings table: other samplers' keys
        ignored, missing ones at their defaults); a value the checks refuse raises ``VlcpError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in settings.items() if k in names}).describe()


def is_quiet_default(obj: Any, f: dataclasses.Field) -> bool:
    """True for a field marked ``quiet`` (added after runs were fingerprinted) whose value is its default."""
    return bool(f.metadata.get("quiet")) and getattr(obj, f.name) == f.default


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
    return {f.name for f, _ in _declarations()}


def sampler_fields() -> list[tuple[str, Any, dataclasses.Field]]:
    """``(name, type, field)`` of every registered sampler's settings, in registration order, for
    ``dataclasses.make_dataclass``; a name two samplers share (a subclass's inherited field) must be declared
    the same way by both."""
    out: dict[str, tuple[str, Any, dataclasses.Field]] = {}
    for f, owner in _declarations():
        if f.name in out:
            seen = out[f.name][2]
            if (seen.default, dict(seen.metadata)) != (f.default, dict(f.metadata)):
                raise ValueError(f"sampler {owner!r}: setting {f.name!r} is declared differently by another sampler")
            continue
        if f.default is dataclasses.MISSING:
            raise ValueError(f"sampler {owner!r}: setting {f.name!r} needs a default")
        out[f.name] = (f.name, f.type, dataclasses.field(default=f.default, metadata=f.metadata))
    return list(out.values())


def _declarations() -> list[tuple[dataclasses.Field, str]]:
    return [(f, name) for name in SAMPLERS.in_order() for f in dataclasses.fields(SAMPLERS.get(name).Settings)]
