"""Shared artifacts of the Fashion-MNIST benchmarks (quality grid, tuning): splits, captions, latents,
the generator, per-IPC prototypes and the image folder of every method, each built once in a run folder."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

BASELINES = {"random": "random", "herding": "herding", "k-center": "kcenter", "medoid": "medoid",
             "k-means centroids": "kmeans"}
STRATEGIES = {"vlcp (label)": "label", "vlcp (label+keywords)": "label+keywords", "vlcp (dcs)": "dcs"}
SELECTED = "vlcp (dcs) + selection [beyond paper]"
MODE_GUIDED = "vlcp (dcs) + mode_guided [beyond paper]"  # MGD³'s sampler from noise, dcs prompts
LATENT_BASELINES = ("medoid", "k-means centroids")  # prototypes in the generator's VAE latent space
METHODS = [*BASELINES, *STRATEGIES, SELECTED, MODE_GUIDED]


CHOSEN_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "fashion_mnist.toml"


def chosen_synthesis(config: Path = CHOSEN_CONFIG):
    """The synthesis settings chosen on the validation split (``configs/fashion_mnist.toml [synthesize]``, the
    one place they are written; its plain keys, the IPC 10 ``dc`` choice, without the keyed tables): the
    benchmarks' defaults."""
    from vlcp.settings.config import from_dict, load_toml
    from vlcp.settings.keyed import resolve_keyed
    from vlcp.synthesize import SynthesizeConfig

    table = resolve_keyed(load_toml(config).get("synthesize", {}))[0]
    return from_dict(SynthesizeConfig, table, source=f"{config} [synthesize]")


def chosen_overrides(ipc: int, protocol: str, config: Path = CHOSEN_CONFIG) -> dict:
    """The synthesis settings ``configs/fashion_mnist.toml`` sets for ``ipc`` and ``protocol`` beyond its plain keys
    (its ``[synthesize.ipc.N]`` / ``[synthesize.protocol.P]`` tables, chosen on validation for that cell): only the
    values that differ from the plain ones, so {} for IPC 10 ``dc``."""
    from vlcp.settings.config import load_toml
    from vlcp.settings.keyed import resolve_keyed

    table = load_toml(config).get("synthesize", {})
    plain, keyed = resolve_keyed(table)[0], resolve_keyed(table, ipc, protocol)[0]
    return {k: v for k, v in keyed.items() if plain.get(k) != v}


def mode_guided_defaults() -> dict:
    """The mode_guided row's λ and stop, as chosen on the validation split (:func:`chosen_synthesis`)."""
    c = chosen_synthesis()
    return {"mode_guidance": c.mode_guidance, "guidance_stop": c.guidance_stop}


def generator_free(method: str) -> bool:
    """True for the baselines made without the generator (real images chosen without its VAE)."""
    return method in BASELINES and method not in LATENT_BASELINES


def has_text_prototypes(method: str) -> bool:
    """True for the vlcp rows (a text strategy, the selection, mode_guided): the rows whose images use text
    prototypes."""
    return method in STRATEGIES or method in (SELECTED, MODE_GUIDED)


def takes_keyed_settings(method: str) -> bool:
    """True for the img2img rows (the vlcp strategies and the selection): the rows the config's keyed
    [synthesize.ipc.N] / [synthesize.protocol.P] settings were chosen for."""
    return method in STRATEGIES or method == SELECTED


def variant_name(name: str, text: dict) -> str:
    """``name`` with the non-default text-prototype settings appended (``dcs_beta1.0``); ``name`` alone for {}."""
    name = "".join(ch if ch.isalnum() else "_" for ch in name)
    return "_".join([name, *(f"{k}{v}" for k, v in sorted(text.items()))])


def _finished(folder: Path) -> bool:
    """A synthesized folder is finished when its image records (``vlcp.files.atomic.image_records``) exist."""
    from vlcp.files.atomic import image_records

    return image_records(folder) is not None


class Bench:
    """Shared artifacts of the grid: splits, captions, latents, model, per-IPC prototypes and sets."""

    def __init__(self, run: Path, model: str = "embedded", holdout: int = 500, device: str = "cpu",
                 synthesis: dict | None = None, candidates: int = 4, text: dict | None = None,
                 mode_guided: dict | None = None) -> None:
        from vlcp.data.config import DataConfig

        self.run, self.model_spec, self.device = Path(run), model, device
        self.synthesis, self.candidates, self.text = dict(synthesis or {}), candidates, dict(text or {})
        self.mode_guided = dict(mode_guided or mode_guided_defaults())  # the mode_guided row's sampler settings
        self.data = DataConfig(holdout_per_class=holdout)
        self.train, self.test = self.data.load("train"), self.data.load("test")
        slug = variant_name(str(model), {}).strip("_")
        self.model_run = self.run / "models" / slug  # latents, prototypes and sets that depend on the generator

    @cached_property
    def captions(self) -> dict[str, str]:
        from vlcp.caption import CaptionConfig, caption, read_captions
        from vlcp.captioners import CAPTIONERS

        meta = caption(self.train, CAPTIONERS.get("attributes")(), self.run / "captions", CaptionConfig(),
                       progress=False)
        return read_captions(meta)

    @cached_property
    def model(self):
        from vlcp.models import load_model

        return load_model(self.model_spec, device=self.device)

    @cached_property
    def store(self):
        from vlcp.encode import EncodeConfig, encode

        return encode(self.model, self.train, self.model_run / "latents", EncodeConfig(), progress=False)

    def prototypes(self, ipc: int, strategy: str, text: dict | None = None) -> Path:
        """The run folder of the ``strategy`` prototypes at ``ipc``; ``text``: PrototypesConfig fields of the
        text prototypes or the LOF filter (``beta``, ``top_k``, ``contamination``; None: this bench's ``text``; {}:
        the config's defaults)."""
        from vlcp.prototypes import PrototypesConfig, run_prototypes

        text = self.text if text is None else text
        pdir = self.model_run / f"ipc{ipc}" / variant_name(strategy, text)
        if not (pdir / "prototypes" / "medoids.safetensors").exists():  # (prototypes of vlcp 0.x lack the medoids)
            config = PrototypesConfig(ipc=ipc, strategy=strategy, **text)
            run_prototypes(self.store, self.captions, pdir / "prototypes", config)
        return pdir

    def synthesize(self, strategy: str, ipc: int, folder: Path, selector=None, text: dict | None = None,
                   guide=None, **settings) -> Path:
        """Img2img of the ``strategy`` prototypes at ``ipc`` into ``folder`` (settings: SynthesizeConfig fields,
        default this bench's ``synthesis``; ``text``: see ``prototypes``); an existing finished folder is kept."""
        from vlcp.synthesize import SynthesizeConfig, synthesize

        if not _finished(folder):
            config = SynthesizeConfig(**{"negative_prompt": "", **self.synthesis, **settings})
            extra = {k: v for k, v in (("selector", selector), ("guide", guide)) if v is not None}
            synthesize(self.model, self.prototypes(ipc, strategy, text) / "prototypes", folder, config,
                       self.train.resolution, self.train.channels, progress=False, **extra)
        return folder

    def folder(self, method: str, ipc: int, overrides: dict | None = None) -> Path:
        """Build (once) and return the image folder of ``method`` at ``ipc``; ``overrides``: synthesis settings
        of the img2img rows (the vlcp strategies and the selection) beyond this bench's ``synthesis``, named in the
        folder (ignored by the other rows)."""
        from vlcp.evaluate.baselines import make_baseline
        from vlcp.synthesize import decode_prototypes

        root = self.run if generator_free(method) else self.model_run
        text = self.text if has_text_prototypes(method) else {}
        overrides = dict(overrides or {}) if takes_keyed_settings(method) else {}
        named = {**text, **self.mode_guided} if method == MODE_GUIDED else {**text, **overrides}  # new settings: new folder
        folder = root / f"ipc{ipc}" / "sets" / variant_name(method, named)
        if (folder / "baseline.json").exists() or _finished(folder):
            return folder
        res, ch = self.train.resolution, self.train.channels
        if method in STRATEGIES:
            self.synthesize(STRATEGIES[method], ipc, folder, **overrides)
        elif method == SELECTED:
            from vlcp.samplers.selection import train_selector

            selector = train_selector(self.train, cache_dir=self.run, device=self.device, progress=False)
            self.synthesize("dcs", ipc, folder, selector=selector, candidates=self.candidates, **overrides)
        elif method == MODE_GUIDED:
            self.synthesize("dcs", ipc, folder, sampler="mode_guided", **self.mode_guided)
        elif method == "k-means centroids":
            from vlcp.files.atomic import atomic_write_json

            decode_prototypes(self.model, self.prototypes(ipc, "dcs", {}) / "prototypes", folder, res, ch)
            atomic_write_json(folder / "baseline.json", {"method": "kmeans", "description": "k-means centroid "
                                                         "latents decoded by the VAE without diffusion"})
        elif method == "medoid":
            make_baseline("medoid", self.train, folder, ipc=ipc, run_dir=self.prototypes(ipc, "dcs", {}),
                          progress=False)
        else:
            make_baseline(BASELINES[method], self.train, folder, ipc=ipc, seed=0, cache_dir=self.run,
                          progress=False)
        return folder
