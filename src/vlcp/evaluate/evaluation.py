"""Score a distilled set: train ``repeats`` fresh networks on it under a protocol, test each on the real test set."""
from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vlcp.run.progress import progress_bar as tqdm  # a bar on a terminal, plain lines otherwise
from vlcp.settings.config import check, check_choices, to_dict
from vlcp.data import ImageDataset, ImageFolderDataset
from vlcp.settings.devices import is_device_name, resolve_device  # resolve_device: vlcp.evaluate re-exports it
from vlcp.errors import VlcpError
from vlcp.evaluate.baseline_folder import read_baseline_info
from vlcp.evaluate.networks import NETWORKS, NORMS, build_network, count_parameters
from vlcp.evaluate.protocols import PROTOCOLS
from vlcp.evaluate.results import ResultRow
from vlcp.evaluate.tensors import channel_stats, class_subset, images_uint8, split_tensors, tensor_stats
from vlcp.evaluate.trainer import Rng, train_and_test
from vlcp.files.atomic import image_records



@dataclass(frozen=True)
class EvalConfig:
    """Settings of ``vlcp evaluate`` (TOML section ``[evaluate]``)."""

    model: str = field(default="convnet3", metadata={
        "help": "network trained on the distilled set", "choices": NETWORKS.names})
    protocol: str = field(default="dc", metadata={
        "help": "evaluation protocol: dc, dsa (DSA/DM), minimax (hard labels, ImageNet subsets), rded (soft labels), "
                "ddranking (DD-Ranking 0.2.0; _noaug, _best)",
        "choices": PROTOCOLS.names})
    repeats: int = field(default=3, metadata={
        "help": "networks trained per distilled set, with seeds seed … seed+repeats-1"})
    seed: int = field(default=0, metadata={"help": "seed of the first network (initialisation, batch order, augmentation)"})
    epochs: int | None = field(default=None, metadata={
        "help": "training epochs (default: the protocol's: dc 300, dsa 1000, minimax by IPC, rded 300, ddranking 1000)"})
    batch_size: int | None = field(default=None, metadata={
        "help": "training batch size (default: the protocol's: dc/dsa 256, minimax 64, rded by IPC)"})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, cuda:N, mps or auto (cuda when available)"})
    resolution: int | None = field(default=None, metadata={
        "help": "image side the networks see (default: the test set's; ImageFolder test sets load at 224 px "
                "for minimax/rded)"})
    norm: str = field(default="auto", metadata={
        "help": "normalisation layers of the network; auto: the protocol's (rded: batch, as RDED; else instance)",
        "choices": NORMS + ("auto",)})
    classes: str = field(default="auto", metadata={
        "help": "test classes: all of the test set's (every one must be distilled), or only the distilled set's "
                "(ImageNet subsets); auto: distilled for minimax/rded, all for dc/dsa",
        "choices": ("auto", "all", "distilled")})
    dc_augment: bool = field(default=False, metadata={
        "help": "DC's crop/scale/rotate augmentation in the dc protocol (the DC code uses it for MNIST only)"})
    mean: tuple[float, ...] | None = field(default=None, metadata={
        "help": "per-channel input mean (default: computed from the real training split)"})
    std: tuple[float, ...] | None = field(default=None, metadata={
        "help": "per-channel input std (default: computed from the real training split)"})
    teacher: str | None = field(default=None, metadata={
        "help": "rded: teacher weights (.safetensors, or a torch state dict read with weights_only; torchvision / "
                "RDED / DC / Minimax parameter names work); default: a teacher trained by vlcp on the full real "
                "training set (cached)"})
    teacher_model: str | None = field(default=None, metadata={
        "help": "rded: the teacher's network (default: the evaluated network, model)", "choices": NETWORKS.names})
    teacher_epochs: int = field(default=10, metadata={
        "help": "rded: epochs to train the teacher on the full real training set when no teacher is given (cached)"})
    test_batch_size: int | None = field(default=None, metadata={
        "help": "batch size for scoring the test set (default: by image size and device)"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the network for training"})
    amp: bool = field(default=False, metadata={
        "help": "bf16 autocast on CUDA (faster; the published protocols train in fp32)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})

    def __post_init__(self) -> None:
        check_choices(self)  # model, protocol, norm, classes, teacher_model
        check(isinstance(self.repeats, int) and self.repeats >= 1, "repeats", "must be an integer ≥ 1")
        check(isinstance(self.seed, int) and self.seed >= 0, "seed", "must be an integer ≥ 0")
        for name in ("epochs", "batch_size", "test_batch_size", "resolution"):
            v = getattr(self, name)
            check(v is None or (isinstance(v, int) and v >= 1), name, "must be a positive integer (or unset)")
        check(is_device_name(self.device), "device",
              f"{self.device!r} is not cpu, cuda, cuda:N, mps or auto")
        check(self.teacher is None or (isinstance(self.teacher, str) and bool(self.teacher)), "teacher",
              "must be the path of a weights file")
        check(isinstance(self.teacher_epochs, int) and self.teacher_epochs >= 1, "teacher_epochs", "must be ≥ 1")
        check((self.mean is None) == (self.std is None), "mean", "give both mean and std, or neither")
        if self.mean is not None:
            check(len(self.mean) == len(self.std) and len(self.mean) in (1, 3), "mean",
                  "mean and std need one value per channel (1 or 3), the same count")
            check(all(s > 0 for s in self.std), "std", "values must be > 0")

    def resolved_device(self) -> torch.device:
        return torch.device(resolve_device(self.device))

    def resolved_norm(self) -> str:
        """The networks' normalisation layers: ``norm``, or for auto the protocol's default."""
        return PROTOCOLS.get(self.protocol).default_norm if self.norm == "auto" else self.norm


@contextlib.contextmanager
def _cudnn_autotune(device: torch.device):
    """cuDNN autotuning while evaluating on CUDA (shapes are fixed), restored afterwards."""
    if device.type != "cuda":
        yield
        return
    prev = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = prev


def _test_batch(config: EvalConfig, shape, device: torch.device) -> int:
    if config.test_batch_size:
        return config.test_batch_size
    budget = (1 << 32) if device.type == "cuda" else (1 << 28)  # bytes for a 128-channel first activation
    per_image = 128 * shape[-1] * shape[-2] * 4
    return int(max(16, min(2048, budget // per_image)))


def _resize(x: torch.Tensor, side: int) -> torch.Tensor:
    if x.shape[-1] == side and x.shape[-2] == side:
        return x
    was_u8 = x.dtype == torch.uint8
    y = F.interpolate(x.float() / (255.0 if was_u8 else 1.0), size=(side, side), mode="bilinear",
                      antialias=True, align_corners=False).clamp_(0, 1)
    return y.mul(255).round_().to(torch.uint8) if was_u8 else y


def evaluate_tensors(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                     config: EvalConfig, *, method: str, ipc: int, num_classes: int, mean=None, std=None,
                     teacher: torch.nn.Module | None = None, settings: dict | None = None,
                     resume_dir: str | Path | None = None) -> ResultRow:
    """Train ``config.repeats`` networks on (train_x, train_y) and score them on (test_x, test_y).

    ``train_x``: (n, C, H, W) float in [0, 1] (or uint8); ``test_x`` likewise, same C, H, W; labels int.
    ``mean``/``std``: the real training set's per-channel statistics (default: ``config.mean``/``std``,
    else the training tensors' own, recorded as such). ``teacher``: for soft-label protocols (rded).
    ``resume_dir``: each finished network is stored there, and a rerun trains only the missing seeds
    (``vlcp.evaluate.resume``).
    Returns the row: mean ± population std of the final test accuracies (%) over the runs.
    """
    if train_x.ndim != 4 or test_x.ndim != 4:
        raise VlcpError("train_x and test_x must be (n, C, H, W) image tensors")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise VlcpError(f"distilled images {tuple(train_x.shape[1:])} and test images {tuple(test_x.shape[1:])} "
                        "differ in channels or size")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y) or len(train_x) == 0 or len(test_x) == 0:
        raise VlcpError("images and labels differ in count (or a set is empty)")
    train_y = torch.as_tensor(train_y, dtype=torch.int64)
    test_y = torch.as_tensor(test_y, dtype=torch.int64)
    for name, y in (("train", train_y), ("test", test_y)):
        if int(y.min()) < 0 or int(y.max()) >= num_classes:
            raise VlcpError(f"{name} labels outside 0..{num_classes - 1}")
    protocol = PROTOCOLS.get(config.protocol).for_classes(num_classes).for_method(method)
    if mean is None and config.mean is not None:
        mean, std, stats_source = config.mean, config.std, "given (config)"
    elif mean is None:
        mean, std = tensor_stats(train_x)
        stats_source = "the distilled images themselves (no training-set statistics given)"
    else:
        stats_source = (settings or {}).get("normalisation_source", "given")
    if len(mean) != train_x.shape[1]:
        raise VlcpError(f"setting 'mean': {len(mean)} values for {train_x.shape[1]}-channel images")
    if protocol.needs_teacher and teacher is None:
        raise VlcpError(f"protocol {protocol.name!r} needs a teacher trained on the full training set: "
                        "use evaluate_folder(..., train=<training split>) or pass teacher=")
    dc_augment = config.dc_augment and protocol.name == "dc"  # DSA replaces it, as in the DSA code
    # DC trains 1000 epochs with its MNIST augmentation (300 without)
    epochs = config.epochs or (1000 if dc_augment else protocol.default_epochs(ipc, num_classes))
    batch = config.batch_size or protocol.default_batch_size(ipc, num_classes)
    device = config.resolved_device()
    runs = _run_store(resume_dir, train_x, train_y, test_x, test_y, config, method, ipc, mean, std, settings, teacher)
    plan = _Plan(protocol, epochs, batch, mean, std, dc_augment, device, _test_batch(config, train_x.shape, device))
    outcomes, n_params = _train_runs(train_x, train_y, test_x, test_y, config, plan, method, ipc, num_classes,
                                     teacher, runs)
    s = _row_settings(plan, config, train_x, train_y, test_x, num_classes, n_params, outcomes, stats_source)
    for k, v in (settings or {}).items():
        if k != "normalisation_source":
            s[k] = v
    if teacher is not None:
        s["teacher"] = teacher_record(teacher, (settings or {}).get("teacher"), test_x.to(device), test_y.to(device),
                                      mean, std, plan.test_batch, device)
        s["teacher_accuracy"] = s["teacher"]["accuracy"]
    best = [o.best for o in outcomes] if protocol.test_points != "last" else None
    final = [o.best if protocol.report == "best" else o.final for o in outcomes]
    return ResultRow.from_accuracies(method, ipc, config.model, config.protocol, final, s, best)


@dataclass(frozen=True)
class _Plan:
    """How every network of one evaluation trains (the protocol as it runs for this set)."""

    protocol: object
    epochs: int
    batch: int
    mean: tuple
    std: tuple
    dc_augment: bool
    device: torch.device
    test_batch: int


def _train_runs(train_x, train_y, test_x, test_y, config: EvalConfig, plan: _Plan, method: str, ipc: int,
                num_classes: int, teacher, runs) -> tuple[list, int | None]:
    """Train ``config.repeats`` networks (seeds seed … seed+repeats-1), reusing finished ones from ``runs``.
    With an lr grid (``ddranking_best``) each seed trains once per lr and keeps the best-testing network."""
    device = plan.device
    xs, ys, xt, yt = train_x.to(device), train_y.to(device), test_x.to(device), test_y.to(device)
    channels, side = train_x.shape[1], train_x.shape[-1]
    outcomes, n_params = [], None
    with _cudnn_autotune(device):
        for i in tqdm(range(config.repeats), desc=f"{method} ipc={ipc} {config.model}/{plan.protocol.name}",
                      unit="net", disable=not config.progress):
            done = runs.get(config.seed + i)
            tried = []
            for lr in plan.protocol.lr_grid or (plan.protocol.lr,):
                rng = Rng(config.seed + i)
                net = build_network(config.model, channels, num_classes, side, norm=config.resolved_norm(),
                                    generator=rng.torch)
                n_params = count_parameters(net)
                if done is not None:  # finished before an interruption
                    break
                tried.append(train_and_test(
                    net, xs, ys, xt, yt, replace(plan.protocol, lr=lr), epochs=plan.epochs, batch_size=plan.batch,
                    rng=rng, mean=plan.mean, std=plan.std, device=device, teacher=teacher, dc_augment=plan.dc_augment,
                    test_batch_size=plan.test_batch, compile=config.compile, amp=config.amp, progress=config.progress,
                    desc=f"evaluate {method} (ipc {ipc}): network {i + 1}/{config.repeats}"
                         + (f", lr {lr:g}" if plan.protocol.lr_grid else "")))
                if plan.protocol.lr_grid:
                    tried[-1].lr = lr
            if done is None:
                done = max(tried, key=lambda o: o.best) if len(tried) > 1 else tried[0]
                runs.put(done)
            outcomes.append(done)
    return outcomes, n_params


def _row_settings(plan: _Plan, config: EvalConfig, train_x, train_y, test_x, num_classes: int, n_params,
                  outcomes, stats_source: str) -> dict:
    """The row's settings: the protocol as it ran, the data's shape and every run's detail."""
    counts = np.bincount(train_y.cpu().numpy(), minlength=num_classes)
    device = plan.device
    s = plan.protocol.settings(plan.epochs, plan.batch)
    s.update({"model": config.model, "parameters": n_params, "norm": config.resolved_norm(),
              "channels": train_x.shape[1], "resolution": train_x.shape[-1], "num_classes": num_classes,
              "train_images": len(train_x),
              "images_per_class": counts.tolist() if counts.min() != counts.max() else int(counts[0]),
              "test_images": len(test_x), "dc_augment": plan.dc_augment,
              "normalisation": {"mean": [float(m) for m in plan.mean], "std": [float(v) for v in plan.std],
                                "source": stats_source},
              "seeds": [o.seed for o in outcomes], "runs_detail": [o.to_dict() for o in outcomes],
              "device": str(device), "compile": config.compile, "amp": config.amp and device.type == "cuda",
              "torch": torch.__version__, "python": platform.python_version(), "config": to_dict(config)})
    if plan.protocol.report == "best":
        s["reported"] = ("best test check over training and the lr grid, selected on the test set (ddranking "
                         "0.2.0's number); not a final-epoch accuracy")
    return s


def teacher_record(teacher: torch.nn.Module, meta: dict | None, test_x: torch.Tensor, test_y: torch.Tensor, mean,
                   std, batch_size: int, device: torch.device) -> dict:
    """What identifies a teacher in the results (source, weights digest) and its own top-1 test accuracy (%)
    on the same test images, normalised as the students' inputs."""
    from vlcp.evaluate.teacher import weights_digest
    from vlcp.evaluate.trainer import Normalizer, test_accuracy

    record = dict(meta or {"source": "given (teacher=)"})
    record["digest"] = weights_digest(teacher.state_dict())
    acc = test_accuracy(teacher.to(device).eval(), test_x, test_y, Normalizer(mean, std, device), batch_size, device)
    record["accuracy"] = round(acc, 4)
    return record


def _folder_method(folder: Path) -> tuple[str, dict]:
    """Default method name: baseline.json's method; ``vlcp`` for a synthesize output (it has image records,
    ``vlcp.files.atomic.image_records``); else the folder name."""
    info = read_baseline_info(folder)
    if info.get("method"):
        return info["method"], info
    if image_records(folder) is not None:
        return "vlcp", {}
    return folder.name, info


def distilled_classes(folder: str | Path, test: ImageDataset) -> list[str]:
    """The distilled folder's classes, in the test set's order; every one must be a test class."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VlcpError(f"{folder}: image folder not found")
    found = {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}  # .parts: synthesis shards
    test_classes = list(test.classes)
    unknown = sorted(found - set(test_classes))
    if unknown:
        raise VlcpError(f"{folder}: class folder(s) not in the test set: {', '.join(unknown[:10])} "
                        f"(test classes: {', '.join(test_classes[:10])}{' …' if len(test_classes) > 10 else ''})")
    return [c for c in test_classes if c in found]


def check_test_classes(test: ImageDataset, train: ImageDataset) -> None:
    """Stop when the test split holds classes the training split lacks (an extra ``val/`` class folder):
    no distilled set can hold them, so the advice is about the data, not the distilled folder."""
    known = set(train.classes)
    extra = [c for c in test.classes if c not in known]
    if not extra:
        return
    where = getattr(getattr(test, "parent", test), "root", None) or "the test split"
    source = getattr(getattr(train, "parent", train), "root", None) or "the training split"
    raise VlcpError(f"{where}: test class(es) {', '.join(extra[:10])}{' …' if len(extra) > 10 else ''} are not in "
                    f"the training split ({source}), so no distilled set holds them; remove them from the test "
                    "split, or pass --classes distilled to test on the distilled set's classes only")


def load_distilled(folder: str | Path, test: ImageDataset) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """A distilled ImageFolder as (uint8 images at the test set's size, labels in the test set's class order,
    per-class counts). Class folders are matched to the test set's classes by name."""
    folder = Path(folder)
    distilled_classes(folder, test)
    ds = ImageFolderDataset(folder, resolution=test.resolution, channels=test.channels)
    test_classes = list(test.classes)
    missing = [c for c in test_classes if c not in ds.classes]
    if missing:
        raise VlcpError(f"{folder}: no images for test class(es): {', '.join(missing[:10])}"
                        f"{' …' if len(missing) > 10 else ''}; remake it with every class, or pass --classes "
                        f"distilled to test on its classes only (outside a run: --run RUN tests on the run's "
                        f"recorded subset)")
    remap = np.array([test_classes.index(c) for c in ds.classes], dtype=np.int64)
    labels = torch.from_numpy(remap[np.asarray(ds.labels)])
    x = images_uint8(ds)
    counts = np.bincount(labels.numpy(), minlength=len(test_classes)).tolist()
    return x, labels, counts


def _run_store(folder, train_x, train_y, test_x, test_y, config: EvalConfig, method, ipc, mean, std, settings,
               teacher):
    """Where finished networks of this evaluation are kept (``vlcp.evaluate.resume``)."""
    from vlcp.evaluate.resume import RunStore, tensor_digest

    if folder is None:
        return RunStore(None, {})
    # the teacher counts by its weights (below), not its path; norm as resolved (auto = the protocol's)
    settings_ = {k: v for k, v in to_dict(config).items() if k not in ("repeats", "progress", "teacher", "teacher_model")}
    settings_["norm"] = config.resolved_norm()
    teacher_ = tensor_digest(*teacher.state_dict().values()) if teacher is not None else None
    return RunStore(folder, {"data": tensor_digest(train_x, torch.as_tensor(train_y), test_x, torch.as_tensor(test_y)),
                             "config": settings_, "method": method, "ipc": ipc,
                             "mean": [float(m) for m in mean], "std": [float(s) for s in std],
                             "settings": settings, "teacher": teacher_})


def default_side(config: EvalConfig, native: int) -> int:
    """The side the networks see: ``config.resolution``, else the protocol's for this network and a dataset
    of side ``native`` (rded: RDED's input size; minimax: 224), else ``native``."""
    protocol = PROTOCOLS.get(config.protocol)
    return config.resolution or protocol.input_side(config.model, native) or native


def center_crop(x: torch.Tensor, side: int) -> torch.Tensor:
    """The central ``side`` × ``side`` window of (n, C, H, W) images."""
    top, left = (x.shape[-2] - side) // 2, (x.shape[-1] - side) // 2
    return x[..., top:top + side, left:left + side]


def scaled_test_images(x: torch.Tensor, side: int, crop: bool) -> tuple[torch.Tensor, str]:
    """Test images at ``side`` and how they got there. ``crop`` (RDED): short side resized to side·8/7 (when
    the images are at least that large), then the central ``side`` crop; else resized to ``side``."""
    have, load = x.shape[-1], side // 7 * 8
    if crop and load != side and have >= load:
        return center_crop(_resize(x, load), side), f"short side {load} px, centre crop {side} px (RDED's test transform)"
    return _resize(x, side), f"{side} px (short side resized, centre square)"


def _normalisation(config: EvalConfig, protocol, channels: int, train: ImageDataset | None, x: torch.Tensor):
    """(mean, std, source): the config's, the protocol's published values (rded: ImageNet's, colour images),
    the real training split's, else the distilled images' own — never the test split's (a leak)."""
    if config.mean is not None:
        return config.mean, config.std, "given (config)"
    if protocol.default_stats is not None and channels == len(protocol.default_stats[0]):
        mean, std = protocol.default_stats
        return mean, std, f"ImageNet's published mean / std ({protocol.name} protocol default, as RDED)"
    if train is not None:
        mean, std = channel_stats(train)
        return mean, std, f"real training split ({len(train)} images)"
    mean, std = tensor_stats(x)
    return mean, std, "the distilled images themselves (no training split given)"


def _teacher(config: EvalConfig, train: ImageDataset | None, channels: int, num_classes: int, side: int, mean, std,
             cache_dir) -> tuple[torch.nn.Module, dict]:
    """The rded teacher: ``config.teacher``'s weights, else a network trained on the real training split (cached)."""
    from vlcp.evaluate.teacher import describe, load_teacher, train_on_full

    model = config.teacher_model or config.model
    if config.teacher is not None:
        net, meta = load_teacher(config.teacher, model, channels, num_classes, side, norm=config.resolved_norm())
        return net, {"description": f"{model} weights from {config.teacher}", **meta}
    if train is None:
        raise VlcpError(f"protocol {config.protocol!r} needs a teacher: give --teacher PATH (setting 'teacher'), or "
                        "the real training split to train one on (evaluate_folder(..., train=))")
    if train.resolution != side:
        raise VlcpError(f"the training split is {train.resolution} px but the networks see {side} px: "
                        "load it at the same resolution")
    cache = Path(cache_dir) / f"teacher_{model}.safetensors" if cache_dir is not None else None
    net, meta = train_on_full(train, model=model, epochs=config.teacher_epochs, seed=config.seed,
                              device=config.resolved_device(), norm=config.resolved_norm(), mean=mean, std=std,
                              cache=cache, progress=config.progress, compile=config.compile)
    return net, {"description": describe(model, config.teacher_epochs), "model": model,
                 **{k: v for k, v in meta.items() if k in ("epochs", "seed", "cached")}}


def soft_label_teacher(config: EvalConfig, train: ImageDataset, cache_dir: str | Path | None = None):
    """(teacher, mean, std): the network ``evaluate_folder`` labels images with under the soft-label protocol
    ``config.protocol`` (``config.teacher``'s weights, else trained on ``train`` and cached in ``cache_dir``, the
    same file), with the normalisation it sees those images under."""
    protocol = PROTOCOLS.get(config.protocol)
    if not protocol.needs_teacher:
        raise VlcpError(f"protocol {config.protocol!r} has no teacher (hard labels); a teacher needs a soft-label "
                        "protocol such as rded")
    mean, std, _ = _normalisation(config, protocol, train.channels, train, None)
    side = config.resolution or train.resolution
    teacher, _ = _teacher(config, train, train.channels, len(train.classes), side, mean, std, cache_dir)
    return teacher, mean, std


def repeat_grey(protocol, x: torch.Tensor, test_x: torch.Tensor, mean, std):
    """(x, test_x, mean, std, note): one-channel images repeated to the protocol's ``default_channels`` (ddranking
    builds 3-channel networks only), the statistics with them; unchanged (note '') otherwise."""
    want = protocol.default_channels
    if not want or want == x.shape[1] or x.shape[1] != 1:
        return x, test_x, mean, std, ""
    note = f"grey images repeated to {want} channels ({protocol.name}'s networks take {want}-channel input)"
    return (x.repeat(1, want, 1, 1), test_x.repeat(1, want, 1, 1), tuple(mean) * want, tuple(std) * want, note)


def evaluate_folder(folder: str | Path, test: ImageDataset, config: EvalConfig, *, method: str | None = None,
                    ipc: int | None = None, train: ImageDataset | None = None, mean=None, std=None,
                    cache_dir: str | Path | None = None, side: int | None = None) -> ResultRow:
    """Score the distilled ImageFolder ``folder`` (``<folder>/<class>/*.png``) against ``test``.

    ``method``: the table column (default: ``baseline.json``'s method, ``vlcp`` for a folder written by the
    synthesize stage (it holds ``metadata.jsonl``), else the folder name); ``ipc``:
    default the largest per-class count. ``train``: the real training split, for the normalisation
    statistics and the rded teacher when ``config.teacher`` is not given (cached as safetensors in
    ``cache_dir`` when given, with each finished network, so that an interrupted evaluation resumes). With
    ``config.classes`` "distilled" (auto for minimax / rded) the test and training splits are cut to the
    distilled set's classes (an ImageNet subset); otherwise every test class must be distilled.
    ``side``: the side the networks see (default: ``config.resolution``, else ``train``'s, else ``test``'s;
    ``vlcp evaluate`` passes ``default_side``); larger test images are resized to it, or for rded resized to
    side·8/7 and centre-cropped (RDED's test transform).
    """
    folder = Path(folder)
    protocol = PROTOCOLS.get(config.protocol)
    subset = config.classes == "distilled" or (config.classes == "auto" and protocol.name in ("minimax", "rded"))
    if subset:  # an ImageNet subset: the test set is the real val images of the distilled classes
        chosen = distilled_classes(folder, test)
        test = class_subset(test, chosen)
        train = class_subset(train, chosen) if train is not None else None
    elif train is not None:
        check_test_classes(test, train)
    x, y, counts = load_distilled(folder, test)
    default_method, info = _folder_method(folder)
    method = method or default_method
    ipc = int(ipc if ipc is not None else max(counts))
    side = side or config.resolution or (train.resolution if train is not None else test.resolution)
    test_x, test_y = split_tensors(test)
    x = _resize(x, side)
    test_x, test_transform = scaled_test_images(test_x, side, protocol.test_crop)
    if mean is None:
        mean, std, source = _normalisation(config, protocol, x.shape[1], train, x)
    else:
        source = "given"
    x, test_x, mean, std, grey = repeat_grey(protocol, x, test_x, mean, std)
    teacher, teacher_meta = None, None
    if protocol.needs_teacher:
        teacher, teacher_meta = _teacher(config, train, x.shape[1], len(test.classes), side, mean, std, cache_dir)
    extra = {"source": str(folder), "normalisation_source": source, "test_transform": test_transform,
             "test_classes": "the distilled set's classes" if subset else "all of the test set's",
             "dataset_classes": len(getattr(test, "parent", test).classes)}
    if grey:
        extra["channels_note"] = grey
    if min(counts) != max(counts):
        extra["class_counts"] = counts
    if info.get("description"):
        extra["selection"] = info["description"]
    if teacher_meta:
        extra["teacher"] = teacher_meta
    return evaluate_tensors(x, y, test_x, test_y, config, method=method, ipc=ipc, num_classes=len(test.classes),
                            mean=mean, std=std, teacher=teacher, settings=extra, resume_dir=cache_dir)
