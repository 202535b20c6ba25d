"""The synthesize stage: img2img from each image prototype, conditioned on its text prototype.

Uses the stock ``StableDiffusionImg2ImgPipeline``: the prototype latents are passed as ``image``
(4-channel latents go straight to noising), the prompts as ``prompt_embeds`` from the model's text
encoder, with a negative prompt for classifier-free guidance and a DDIM scheduler derived from the
model's training schedule. Prototypes are batched; each image has its own seeded generator
(seed = ``seed`` + global prototype number), and a batch holds only prompts of one context length
(CLIP's long-prompt chunk count, ``batch_groups``): a shorter prompt is never extended with
empty-prompt chunks because of a longer neighbour, so batching does not change the images.
Images are saved at the dataset's resolution as ``<out>/<class>/<n>.png`` with ``metadata.jsonl`` (Hugging Face imagefolder format)
(per-process parts, appended as batches finish, live in the hidden ``<out>/.parts/``).
``candidates > 1`` (beyond the paper, off by default) keeps the best of several seeds per prototype
under a classifier trained on the training split (``vlcp.samplers.selection``).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from vlcp.files.tensors import load_centres as load_file  # prototypes checked: readable, (k, C, H, W), finite

from vlcp.run.progress import progress_bar as tqdm  # a bar on a terminal, plain lines otherwise
from vlcp.settings.config import check, check_choices, save_config
from vlcp.errors import VlcpError
from vlcp.files.images import save_png
from vlcp.files.atomic import IMAGE_RECORDS, append_jsonl, atomic_write_text, read_json, read_jsonl
from vlcp.models.generator import LatentDiffusion, PixelAdapter
from vlcp.samplers import SAMPLERS
from vlcp.samplers.selection import PICKS
from vlcp.samplers.base import is_quiet_default, sampler_fields, sampler_setting_names, settings_of
from vlcp.run.shards import Shard, barrier


STARTS = ("centre", "medoid", "mix")  # where a prototype's sampling starts (SynthesizeConfig.start)
SELECTORS = ("classifier", "teacher")  # who scores the candidates (SynthesizeConfig.selector)


@dataclass(frozen=True)
class SharedSynthesizeSettings:
    """The settings every sampler shares; :data:`SynthesizeConfig` adds each registered sampler's own."""

    guidance_scale: float = field(default=10.0, metadata={"help": "classifier-free guidance scale (paper: 10)"})
    steps: int = field(default=50, metadata={"help": "DDIM steps over the full schedule"})
    negative_prompt: str = field(default="cartoon, anime, painting", metadata={"help": "negative prompt"})
    batch_size: int = field(default=32, metadata={"help": "prototypes per pipeline call"})
    seed: int = field(default=0, metadata={"help": "base seed; image i uses seed + i"})
    image_size: int = field(default=0, metadata={"help": "saved image side (0: the dataset's resolution)"})
    candidates: int = field(default=1, metadata={
        "help": "images generated per prototype (different seeds); >1 keeps the one a ConvNet trained on the "
                "training split finds most representative of its class (beyond the paper; 1: the paper's method)"})
    selector_epochs: int = field(default=3, metadata={"help": "candidates > 1: training epochs of that ConvNet"})
    selector: str = field(default="classifier", metadata={
        "help": "candidates > 1: who picks the candidate: classifier (that ConvNet) or teacher (the soft-label "
                "teacher of [evaluate], under rded: the lowest teacher cross-entropy, RDED's realism score)",
        "choices": list(SELECTORS), "quiet": True})
    pick: str = field(default="confident", metadata={
        "help": "candidates > 1: which candidate is kept: confident (the highest class probability) or hard "
                "(CaO2's high-IPC rule: the least confident of those the selector classifies right)",
        "choices": list(PICKS), "quiet": True})
    diversity: float = field(default=0.0, metadata={
        "help": "candidates > 1: weight μ of staying apart from the images already kept for the class (the "
                "selector's features; the score minus μ × the largest cosine similarity; 0: off; one process)",
        "quiet": True})
    sampler: str = field(default="img2img", metadata={
        "help": "how a prototype becomes an image (vlcp.samplers): img2img (the paper: noised to strength, "
                "denoised), mode_guided (beyond the paper, MGD³: from pure noise, pulled towards the prototype), "
                "influence_guided (beyond the paper, IGD: mode_guided climbing a surrogate's training influence) "
                "or any other registered sampler", "choices": SAMPLERS.names})
    start: str = field(default="centre", metadata={
        "help": "the latent each prototype starts from: centre (the paper: the k-means centre), medoid (beyond the "
                "paper: the latent of the real image nearest the centre) or mix (start_mix × medoid + "
                "(1 − start_mix) × centre)", "choices": list(STARTS)})
    start_mix: float = field(default=0.5, metadata={"help": "start = mix: the medoid's weight, in [0, 1]"})

    def __post_init__(self) -> None:
        check_choices(self)  # sampler, selector, start
        for name in SAMPLERS.names():  # each sampler checks its own settings (those this config carries)
            settings = SAMPLERS.get(name).Settings
            if all(hasattr(self, f.name) for f in dataclasses.fields(settings)):
                settings.from_config(self)
        check(math.isfinite(self.guidance_scale) and self.guidance_scale >= 0, "guidance_scale",
              "must be a finite number >= 0")
        check(self.steps >= 1, "steps", "must be >= 1")
        settings_of(self).check_steps(self.steps)
        check(0 <= self.start_mix <= 1, "start_mix", "must be in [0, 1]")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.image_size >= 0, "image_size", "must be >= 0")
        check(self.candidates >= 1, "candidates", "must be >= 1")
        check(self.selector_epochs >= 1, "selector_epochs", "must be >= 1")
        check(math.isfinite(self.diversity) and self.diversity >= 0, "diversity", "must be a finite number >= 0")
        check(self.diversity == 0 or self.candidates > 1, "diversity", "needs candidates > 1 to choose from")


def _config_type(fields: list, base: type = SharedSynthesizeSettings) -> type:
    """The synthesize config: ``base``'s settings plus ``fields`` (samplers' own), frozen."""
    return dataclasses.make_dataclass("SynthesizeConfig", fields, bases=(base,), frozen=True,
                                      namespace={"__module__": __name__, "__doc__": _CONFIG_DOC})


_CONFIG_DOC = """The synthesize stage's settings: those of :class:`SharedSynthesizeSettings` plus every registered
sampler's own (``vlcp.samplers``: ``strength`` of img2img, ``mode_guidance``, ``guidance_stop``, ``repulsion``
of mode_guided, ``influence…`` of influence_guided), each under its own name as a ``[synthesize]`` key and a
flag. A sampler registered later (a plug-in) is taken by :func:`synthesize_config_type`."""

#: the config with the built-in samplers' settings (what ``SynthesizeConfig(strength=0.4)`` builds)
SynthesizeConfig = _config_type(sampler_fields())
_EXTENDED: dict[tuple, type] = {}


def synthesize_config_type() -> type:
    """The synthesize config for the samplers registered now: :data:`SynthesizeConfig`, or a subclass with
    the settings of samplers registered after it (the CLI, TOML checks and ``vlcp run`` build this one)."""
    extra = [f for f in sampler_fields() if f[0] not in {x.name for x in dataclasses.fields(SynthesizeConfig)}]
    if not extra:
        return SynthesizeConfig
    key = tuple((name, f.default, repr(dict(f.metadata))) for name, _, f in extra)
    if key not in _EXTENDED:
        _EXTENDED[key] = _config_type(extra, base=SynthesizeConfig)
    return _EXTENDED[key]


@dataclass(frozen=True)
class Prototype:
    """One image to synthesize: ``number`` (global order), class id, cluster, latent (C, h, w), prompt, and
    ``sibling``: the latent of the nearest other prototype of its class (its own latent when it is alone)."""

    number: int
    class_id: str
    cluster: int
    latent: torch.Tensor
    prompt: str
    sibling: torch.Tensor | None = None


def nearest_siblings(latents: torch.Tensor) -> torch.Tensor:
    """(k, C, h, w) latents of one class → (k, C, h, w): for each, the nearest other one (Euclidean; the
    first on ties; itself when k = 1)."""
    if len(latents) == 1:
        return latents.clone()
    flat = latents.flatten(1).double()
    dist = torch.cdist(flat, flat)
    dist.fill_diagonal_(float("inf"))
    return latents[dist.argmin(dim=1)]


METADATA = IMAGE_RECORDS[0]  # Hugging Face imagefolder's metadata file name


def start_latents(prototypes_dir: str | Path, start: str = "centre", start_mix: float = 0.5) -> dict:
    """Per class the (k, C, h, w) latents sampling starts from: the k-means centres (``centre``, the paper),
    the latents of the real images nearest them (``medoid``, ``medoids.safetensors``) or
    ``start_mix × medoid + (1 − start_mix) × centre`` (``mix``)."""
    d = Path(prototypes_dir)
    centres = load_file(str(d / "prototypes.safetensors"))
    if start == "centre":
        return centres
    path = d / "medoids.safetensors"
    if not path.exists():
        raise VlcpError(f"{path}: not found (made by vlcp 0.x before setting 'start'); rerun "
                        "`vlcp prototypes --force` to add it, or use start = \"centre\"")
    medoids = load_file(str(path), fix="rerun `vlcp prototypes --force` to remake it")
    if {c: tuple(v.shape) for c, v in medoids.items()} != {c: tuple(v.shape) for c, v in centres.items()}:
        raise VlcpError(f"{path}: does not match {d / 'prototypes.safetensors'} (classes or shapes differ); "
                        "rerun `vlcp prototypes --force`")
    if start == "medoid":
        return medoids
    return {c: start_mix * medoids[c].float() + (1 - start_mix) * centres[c].float() for c in centres}


def prototype_classes(d: Path, centres: dict, texts: dict, classes=None) -> list[str]:
    """The classes to synthesize, in label order: ``classes`` (the run's dataset), else those
    ``prototypes.safetensors`` records, else the files' own; a class missing from either file, or one not
    among the run's, stops naming it (every class of the run gets its images, or none do)."""
    from vlcp.files.tensors import recorded_classes

    wanted = list(classes or recorded_classes(d / "prototypes.safetensors") or dict.fromkeys([*texts, *centres]))
    for name, held, what in (("text_prototypes.json", texts, "prompts"), ("prototypes.safetensors", centres, "centres")):
        missing = [c for c in wanted if c not in held]
        if missing:
            raise VlcpError(f"{d / name}: no {what} for class(es) {', '.join(map(repr, missing[:5]))} of the run; "
                            "rerun `vlcp prototypes --force`")
    extra = [c for c in dict.fromkeys([*texts, *centres]) if c not in wanted]
    if extra:
        raise VlcpError(f"{d}: prototypes of class(es) {', '.join(map(repr, extra[:5]))} that are not among the "
                        f"run's classes ({', '.join(wanted[:5])}{', …' if len(wanted) > 5 else ''}); rerun "
                        "`vlcp prototypes --force` or give the matching --prototypes")
    return wanted


def load_prototypes(prototypes_dir: str | Path, start: str = "centre", start_mix: float = 0.5,
                    classes=None) -> list[Prototype]:
    """Read ``prototypes.safetensors`` + ``text_prototypes.json`` into a list in class/cluster order
    (``prototype_classes``: every class of the run, ``classes`` when given); each latent is the start
    ``start`` (:func:`start_latents`)."""
    d = Path(prototypes_dir)
    for name in ("prototypes.safetensors", "text_prototypes.json"):
        if not (d / name).exists():
            raise VlcpError(f"{d / name}: not found (run `vlcp prototypes` first)")
    centres = start_latents(d, start, start_mix)
    texts = read_json(d / "text_prototypes.json")["classes"]
    out = []
    for class_id in prototype_classes(d, centres, texts, classes):
        prompts = texts[class_id]
        lat = centres[class_id].float()
        if len(prompts) != len(lat):
            raise VlcpError(f"{d}: class {class_id!r} has {len(lat)} centres but {len(prompts)} prompts")
        siblings = nearest_siblings(lat)
        for p in prompts:
            if not isinstance(p.get("text"), str):
                raise VlcpError(f"{d / 'text_prototypes.json'}: class {class_id!r} cluster {p.get('cluster')}: "
                                f"'text' must be a string, got {type(p.get('text')).__name__}")
            k = int(p["cluster"])
            out.append(Prototype(len(out), class_id, k, lat[k], p["text"], siblings[k]))
    return out


def prototypes_ipc(prototypes_dir: str | Path) -> int:
    """The IPC the prototypes were built for: ``prototypes.toml``'s ``ipc``, else the most prototypes of a class."""
    d = Path(prototypes_dir)
    if (d / "prototypes.toml").exists():
        from vlcp.settings.config import load_toml

        ipc = load_toml(d / "prototypes.toml").get("prototypes", {}).get("ipc")
        if isinstance(ipc, int):
            return ipc
    return max(len(v) for v in read_json(d / "text_prototypes.json")["classes"].values())


def context_length(encoder, prompt: str, negative: str) -> int:
    """The chunk count a prompt and its negative share in ``encode_pair`` (1 for fixed-length encoders)."""
    count = getattr(encoder, "num_chunks", None)
    return max(count(prompt), count(negative)) if count is not None else 1


def batch_groups(protos: list[Prototype], batch_size: int, key) -> list[list[Prototype]]:
    """Batches of at most ``batch_size`` prototypes with equal ``key(prototype)`` (the context length),
    groups in order of first appearance, prototypes in their global order within a group."""
    groups: dict[int, list[Prototype]] = {}
    for p in protos:
        groups.setdefault(key(p), []).append(p)
    return [g[i:i + batch_size] for g in groups.values() for i in range(0, len(g), batch_size)]


def make_sampler(model: LatentDiffusion, name: str = "img2img", guide=None):
    """The sampler ``name`` (``vlcp.samplers``; a ``SynthesizeConfig.sampler``) around the model's modules;
    ``guide``: the built guide model of a sampler that ``needs_guide`` (influence_guided)."""
    cls = SAMPLERS.get(name)
    return cls(model, guide=guide) if getattr(cls, "needs_guide", False) else cls(model)


@torch.no_grad()
def synthesize_batch(sampler, model: LatentDiffusion, latents: torch.Tensor, prompts: list[str], seeds: list[int],
                     config: SynthesizeConfig, siblings: torch.Tensor | None = None,
                     class_ids: list[str] | None = None) -> torch.Tensor:
    """A batch of prototype latents (b, 4, h, w) through ``sampler`` (``make_sampler``) with their prompts;
    returns model-space images in [-1, 1]. ``siblings`` (b, 4, h, w) and ``class_ids`` go to a sampler that
    ``uses_context``."""
    from vlcp.models.text import encode_pair

    if sampler.name != config.sampler:
        raise ValueError(f"sampler {sampler.name!r} built, but the settings ask for {config.sampler!r}")
    param = next(model.unet.parameters())
    # one length for both (CLIP: the negative prompt gets as many 75-token chunks as the longest prompt)
    cond, uncond = encode_pair(model.text_encoder, prompts, [config.negative_prompt] * len(prompts))
    cond, uncond = cond.to(param.device, param.dtype), uncond.to(param.device, param.dtype)
    gens = [torch.Generator(device=param.device).manual_seed(s) for s in seeds]
    extra = {}
    if getattr(sampler, "uses_context", False):
        extra["siblings"] = None if siblings is None else siblings.to(param.device, param.dtype)
        extra["class_ids"] = class_ids
    return sampler(latents.to(param.device, param.dtype), cond, uncond, gens, config, **extra)


def _start_settings(config: SynthesizeConfig) -> dict:
    """The start as a row and the fingerprint record it: nothing for the paper's centre."""
    if config.start == "centre":
        return {}
    return {"start": config.start, **({"start_mix": config.start_mix} if config.start == "mix" else {})}


def _sampler_settings(config: SynthesizeConfig) -> dict:
    """The settings a row records for its sampler (the active sampler's own, ``settings_of``) and its start."""
    return {**settings_of(config).record(), **_start_settings(config)}


def _settings_parts(config: SynthesizeConfig) -> dict:
    """The settings that determine the images: the shared ones but the batch size (quiet ones at their
    default left out), the active sampler's own, the start when not the paper's."""
    owned = sampler_setting_names() | {"batch_size", "start", "start_mix"}
    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(SharedSynthesizeSettings)
              if f.name not in owned and not is_quiet_default(config, f)}
    return {**shared, **_sampler_settings(config)}


#: the settings part of vlcp 0.x's fingerprint (every then-sampler's settings, no start, no batch size)
V0_SETTINGS = ("strength", "guidance_scale", "steps", "negative_prompt", "seed", "image_size", "candidates",
               "selector_epochs", "sampler", "mode_guidance", "guidance_stop")


def _legacy_settings_parts(config: SynthesizeConfig) -> list[dict]:
    """The settings part as vlcp 0.x wrote it, so its runs still resume: only for settings 0.x had (the
    paper's start, img2img or mode_guided, every setting added since at its default)."""
    later = [f for f in dataclasses.fields(config) if f.name not in V0_SETTINGS]
    if config.start != "centre" or config.sampler not in ("img2img", "mode_guided") or any(
            f.metadata.get("quiet") and not is_quiet_default(config, f) for f in later):
        return []
    return [{k: getattr(config, k) for k in V0_SETTINGS}]


def _input_parts(model: LatentDiffusion, prototypes_dir: Path, config: SynthesizeConfig, res: int,
                 channels: int) -> dict:
    """What besides the settings determines the images (see ``vlcp.run.fingerprint``): the prototypes' files
    (the medoids' too when the start uses them), the model's weights and schedule, the saved size."""
    from vlcp.run.fingerprint import digest, file_digest, module_digest

    starts = [prototypes_dir / "medoids.safetensors"] if config.start != "centre" else []
    return {"image_size": res, "channels": channels,
            "prototypes": file_digest(prototypes_dir / "prototypes.safetensors",
                                      prototypes_dir / "text_prototypes.json", *starts),
            "model": module_digest(model.unet, model.vae, model.text_encoder),
            "text_encoder": {k: getattr(model.text_encoder, k, None) for k in ("name", "max_length", "max_chunks")},
            "scheduler": digest({k: v for k, v in dict(model.scheduler.config).items()
                                 if not k.startswith("_")})}  # ("_use_default_values": a set, per-process order)


def _check_resume(out_dir: Path, parts: dict, force: bool, rank: int, accept: list[dict] = ()) -> None:
    """Continue only images made from the same prototypes, model and settings; ``force`` deletes them."""
    from vlcp.run.fingerprint import check_resume, remove_paths

    finals = [out_dir / name for name in IMAGE_RECORDS]

    def clear() -> None:
        olds = sorted((out_dir / ".parts").glob("manifest-*.jsonl")) + finals
        files = {out_dir / r["file_name"] for p in olds if p.exists() for r in read_jsonl(p) if "file_name" in r}
        remove_paths(sorted(files) + [out_dir / ".parts", *finals, out_dir / "synthesize.toml"])
        for d in {f.parent for f in files}:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()

    has = any(f.exists() for f in finals) or any((out_dir / ".parts").glob("manifest-*.jsonl"))
    check_resume(out_dir, "synthesize", parts, has, force=force, clear=clear, write=rank == 0, accept=accept)


def synthesize(model: LatentDiffusion, prototypes_dir: str | Path, out_dir: str | Path, config: SynthesizeConfig,
               data_resolution: int, data_channels: int, shard: Shard = Shard(), progress: bool = True,
               force: bool = False, selector=None, guide=None, classes=None) -> Path:
    """Synthesize one image per prototype into the ImageFolder ``out_dir``; returns ``out_dir``.

    Images on disk are kept only when made from the same prototypes, model and settings (else a
    ``VlcpError``; ``force`` deletes them and starts over). ``selector`` (a
    :class:`vlcp.samplers.selection.Selector`) is needed only with ``config.candidates > 1``; ``guide`` (a
    :class:`vlcp.samplers.influence.InfluenceGuide`) only with ``influence_guided`` and ``influence > 0``.
    ``classes``: the run's class ids in label order (default: those the prototypes record), each of which
    must have prototypes."""
    from vlcp.run.lock import stage_lock

    out_dir = Path(out_dir)
    wants_guide = _check_parts(config, selector, guide, shard)
    protos = load_prototypes(prototypes_dir, config.start, config.start_mix, classes)
    model.check_latents([p.latent for p in protos], Path(prototypes_dir) / "prototypes.safetensors")
    res = config.image_size or data_resolution
    adapter = model.adapter(res, data_channels)
    inputs = _input_parts(model, Path(prototypes_dir), config, res, data_channels)  # (the settings' image_size: res)
    if wants_guide:
        inputs["guide"] = guide.digest()
    with stage_lock(out_dir, "synthesize", shard):  # a second process on this folder stops here
        _check_resume(out_dir, {**_settings_parts(config), **inputs}, force, shard.rank,
                      accept=[{**s, **inputs} for s in _legacy_settings_parts(config)])
        barrier()
        if shard.rank == 0:
            save_config(config, out_dir / "synthesize.toml")
        _write_images(model, protos, out_dir, config, adapter, shard, progress, selector, guide)
        barrier()
        if shard.rank == 0:
            _gather(out_dir, protos)
        barrier()
    return out_dir


def _write_images(model: LatentDiffusion, protos: list[Prototype], out_dir: Path, config: SynthesizeConfig,
                  adapter: PixelAdapter, shard: Shard, progress: bool, selector, guide) -> None:
    """Make this process's share of the images not on disk as written (``intact_images``), appending their
    records (with each file's digest) to its manifest as batches finish."""
    from vlcp.samplers.selection import best_of_candidates

    part = out_dir / ".parts" / f"manifest-{shard.suffix}.jsonl"
    done = intact_images(out_dir, part)
    kept = _kept_so_far(out_dir, part, done, selector, config, adapter)
    sampler = make_sampler(model, config.sampler, guide)
    batches = batch_groups(protos, config.batch_size,
                           lambda p: context_length(model.text_encoder, p.prompt, config.negative_prompt))
    mine = [b for n, b in enumerate(batches) if n % shard.world == shard.rank]
    mine = [[p for p in b if p.number not in done] for b in mine]
    todo = [b for b in mine if b]
    bar = tqdm(total=sum(map(len, todo)), desc="synthesize", unit="image", disable=not progress)
    for batch in todo:
        latents, prompts = torch.stack([p.latent for p in batch]), [p.prompt for p in batch]
        siblings, classes = torch.stack([p.sibling for p in batch]), [p.class_id for p in batch]
        images, seeds, scores = best_of_candidates(
            lambda s: adapter.to_data(synthesize_batch(sampler, model, latents, prompts, s, config, siblings, classes)),
            [config.seed + p.number for p in batch], classes, config.candidates, selector, config.pick,
            config.diversity, kept)
        records = []
        for k, (p, img, seed) in enumerate(zip(batch, images, seeds)):
            rel = f"{p.class_id}/{p.cluster}.png"
            sha = save_png(img, out_dir / rel)
            records.append({**_image_record(p, rel, seed, config, None if scores is None else scores[k]),
                            DIGEST: sha})
        append_jsonl(part, records)
        bar.update(len(batch))
    bar.close()


def _kept_so_far(out_dir: Path, part: Path, done: set[int], selector, config: SynthesizeConfig,
                 adapter: PixelAdapter):
    """diversity > 0: the selector's features of the images this process already made (read back from their
    PNGs, in the order made, as the dataset reader reads them), per class; else None."""
    if config.diversity <= 0:
        return None
    from vlcp.data.imagefolder import open_image, to_tensor
    from vlcp.samplers.selection import kept_features

    side, channels = adapter.data_resolution, adapter.data_channels
    records = {r["number"]: r for r in read_jsonl(part)} if part.exists() else {}
    made = [(r["class"], out_dir / r["file_name"]) for r in records.values() if r["number"] in done]
    return kept_features(selector, [(c, to_tensor(open_image(f, channels), side, channels)) for c, f in made])


DIGEST = "png_sha256"  # a manifest record's digest of the image it wrote (kept out of metadata.jsonl)


def intact_images(out_dir: Path, part: Path) -> set[int]:
    """The prototype numbers this process's manifest ``part`` lists whose image is still there as written
    (``png_intact``: its digest, or readable for older records); an image deleted or overwritten since is
    named in one warning line and made again."""
    from vlcp.errors import warn
    from vlcp.files.images import png_intact

    if not part.exists():
        return set()
    records = {r["number"]: r for r in read_jsonl(part)}  # a redone image's later record wins
    broken = {n for n, r in records.items() if not png_intact(out_dir / r["file_name"], r.get(DIGEST))}
    if broken:
        names = sorted(records[n]["file_name"] for n in broken)
        them = "it" if len(names) == 1 else "them"
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        warn(f"{out_dir / names[0]}{more}: missing or changed since synthesize wrote {them}; making {them} again")
    return set(records) - broken


def needs_guide(config: SynthesizeConfig) -> bool:
    """True when the active sampler's settings use a guide model (``SamplerSettings.uses_guide``)."""
    return settings_of(config).uses_guide()


def _check_parts(config: SynthesizeConfig, selector, guide, shard: Shard = Shard()) -> bool:
    """Stop before any image when the settings need a part not passed in; True when the guide is used."""
    if config.candidates > 1 and selector is None:
        raise VlcpError("setting 'candidates': more than 1 candidate needs a selector "
                        "(vlcp.samplers.selection.train_selector on the training split; the CLI builds one)")
    if config.diversity > 0 and shard.world > 1:
        raise VlcpError(f"setting 'diversity': it chooses each image after the ones kept before it, so it runs in "
                        f"one process, not {shard.world}; launch synthesize without accelerate")
    wants_guide = needs_guide(config)
    if wants_guide and guide is None:
        raise VlcpError(settings_of(config).guide_help)
    return wants_guide


def _image_record(p: Prototype, rel: str, seed: int, config: SynthesizeConfig, score: float | None) -> dict:
    """The row of one image: its prototype, prompt, seed and the settings that made it (and its selection)."""
    record = {"number": p.number, "file_name": rel, "class": p.class_id, "prototype": p.cluster,
              "prompt": p.prompt, "seed": seed, "sampler": config.sampler, **_sampler_settings(config),
              "guidance_scale": config.guidance_scale, "steps": config.steps,
              "negative_prompt": config.negative_prompt}
    if score is not None:
        record.update(candidates=config.candidates, selector_score=round(score, 6),
                      **({"selector": config.selector} if config.selector != "classifier" else {}),
                      **({"pick": config.pick} if config.pick != "confident" else {}),
                      **({"diversity": config.diversity} if config.diversity else {}))
    return record


def _gather(out_dir: Path, protos: list[Prototype]) -> None:
    """Merge the shards' manifests into ``metadata.jsonl``; stop when a prototype has no image yet."""
    records = {}
    for path in sorted((out_dir / ".parts").glob("manifest-*.jsonl")):
        for r in read_jsonl(path):
            records[r["number"]] = r
    missing = [p.number for p in protos if p.number not in records]
    if missing:
        raise VlcpError(f"{out_dir / '.parts'}: {len(missing)} prototypes not synthesized; rerun to finish")
    write_metadata(out_dir, protos, records)


def write_metadata(out_dir: Path, protos: list[Prototype], records: dict[int, dict]) -> Path:
    """``metadata.jsonl`` in Hugging Face's imagefolder format: ``file_name`` first, ``label`` the class's
    integer in the dataset's order (the prototypes' class order), then the prompt, seed and settings."""
    labels = {c: i for i, c in enumerate(dict.fromkeys(p.class_id for p in protos))}
    rows = [{"file_name": records[p.number]["file_name"], "label": labels[p.class_id],
             **{k: v for k, v in records[p.number].items() if k != DIGEST}} for p in protos]
    path = out_dir / METADATA
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


@torch.no_grad()
def decode_latents(model: LatentDiffusion, latents: torch.Tensor, adapter: PixelAdapter) -> torch.Tensor:
    """Scaled latents (b, 4, h, w) → dataset-space images in [0, 1] (no diffusion)."""
    param = next(model.vae.parameters())
    x = model.vae.decode(latents.to(param.device, param.dtype) / model.latent_scale).sample
    return adapter.to_data(x.float().cpu())


def decode_prototypes(model: LatentDiffusion, prototypes_dir: str | Path, out_dir: str | Path,
                      data_resolution: int, data_channels: int) -> Path:
    """The k-means baseline: each prototype latent decoded by the VAE, saved as ``<out>/<class>/<n>.png``."""
    out_dir = Path(out_dir)
    adapter = model.adapter(data_resolution, data_channels)
    centres = load_file(str(Path(prototypes_dir) / "prototypes.safetensors"))
    for class_id, lat in centres.items():
        for n, img in enumerate(decode_latents(model, lat.float(), adapter)):
            save_png(img, out_dir / class_id / f"{n}.png")
    return out_dir


def decode_centroids(run_dir: str | Path, out_dir: str | Path) -> Path:
    """The k-means baseline of a run folder: loads the run's recorded model (else ``RUN/model`` when
    trained there, else the embedded default) and dataset settings (``vlcp.run.state``), then
    ``decode_prototypes``. A convenience for ``vlcp baseline --method kmeans``."""
    from vlcp.models import load_model
    from vlcp.run.state import read_settings, recorded_data

    run_dir = Path(run_dir)
    spec = read_settings(run_dir)["run"].get("model")
    if spec is None and (run_dir / "model" / "vlcp_model.json").exists():
        spec = str(run_dir / "model")
    data = recorded_data(run_dir)
    train = data.load("train")
    return decode_prototypes(load_model(spec), run_dir / "prototypes", out_dir, train.resolution, train.channels)
