"""Minimax-protocol training speed: vlcp's tensor pipeline against a straightforward reference loop.

Trains ConvNet-6 and ResNetAP-10 under ``minimax`` (SGD, batch 64, RandomResizedCrop 0.5-1 + flip +
ColorJitter 0.4 + PCA lighting, CutMix on every batch) on 100 images (10 classes × 10) at 224 px:

- vlcp: ``vlcp.evaluate.trainer.train_and_test`` — images held as one tensor on the device, whole
  batches augmented with ``grid_sample`` etc., no per-step host sync;
- reference: what the Minimax code does — PIL images in a ``Dataset`` whose ``__getitem__`` applies the
  transforms per sample, a ``DataLoader`` with workers (persistent, pinned), CutMix on the GPU batch,
  ``loss.item()`` every step.

Both run in the same process, on the same images, after an untimed warm-up; the training epochs are
timed (target: vlcp ≥ 3× faster), and one pass over a synthetic test set is timed each way.

    python benchmarks/gpu/eval_minimax.py --amp           # on a GPU machine
    python benchmarks/gpu/eval_minimax.py --tiny --out /tmp/x   # CPU smoke configuration (tests use it)

No dataset is needed: images are synthetic (smooth random colour fields), which costs the same to
augment and train on as real ones.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vlcp.evaluate.networks import build_network
from vlcp.evaluate.protocols import PROTOCOLS
from vlcp.evaluate.transforms import IMAGENET_EIGVAL, IMAGENET_EIGVEC
from vlcp.evaluate.trainer import Normalizer, Rng, test_accuracy, train_and_test

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def synthetic_images(n: int, side: int, seed: int) -> np.ndarray:
    """(n, side, side, 3) uint8 smooth random images."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 7, 7, generator=g)
    img = F.interpolate(low, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)
    img = (img + 0.1 * torch.rand(n, 3, side, side, generator=g)).clamp(0, 1)
    return (img * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


# ---- the reference: per-sample transforms in DataLoader workers ----------------------------------


def pil_random_resized_crop(img: Image.Image, size: int, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3)) -> Image.Image:
    w, h = img.size
    for _ in range(10):
        area = w * h * random.uniform(*scale)
        ar = math.exp(random.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(area * ar))), int(round(math.sqrt(area / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            top, left = random.randint(0, h - ch), random.randint(0, w - cw)
            return img.resize((size, size), Image.BILINEAR, box=(left, top, left + cw, top + ch))
    return img.resize((size, size), Image.BILINEAR)


def to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def grey(t: torch.Tensor) -> torch.Tensor:
    return (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2]).expand_as(t)


def sample_color_jitter(t: torch.Tensor, v: float = 0.4) -> torch.Tensor:
    ops = ["b", "c", "s"]
    random.shuffle(ops)
    for op in ops:
        a = random.uniform(-v, v)
        target = torch.zeros_like(t) if op == "b" else grey(t).mean().expand_as(t) if op == "c" else grey(t)
        t = t.lerp(target, a)
    return t


EIG = torch.tensor(IMAGENET_EIGVAL)
VEC = torch.tensor(IMAGENET_EIGVEC)


def sample_lighting(t: torch.Tensor, std: float = 0.1) -> torch.Tensor:
    alpha = torch.randn(3) * std
    return t + (VEC @ (alpha * EIG)).view(3, 1, 1)


class ReferenceDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int, train: bool) -> None:
        self.images = [Image.fromarray(a) for a in images]
        self.labels = labels
        self.size, self.train = size, train
        self.mean, self.std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        if self.train:
            img = pil_random_resized_crop(img, self.size)
            if random.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        t = to_tensor(img)
        if self.train:
            t = sample_lighting(sample_color_jitter(t))
        return (t - self.mean) / self.std, int(self.labels[i])


def _worker_init(worker_id: int) -> None:
    random.seed(1234 + worker_id)
    torch.manual_seed(1234 + worker_id)


def reference_loader(images, labels, size, train, batch, workers):
    ds = ReferenceDataset(images, labels, size, train)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=train, num_workers=workers,
                                       pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                                       worker_init_fn=_worker_init)


def reference_train(model, loader, epochs, device, epochs_total):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [2 * epochs_total // 3, 5 * epochs_total // 6], gamma=0.2)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            lam = np.random.beta(1.0, 1.0)
            perm = torch.randperm(len(x), device=device)
            h, w = x.shape[2], x.shape[3]
            cut = math.sqrt(1 - lam)
            cy, cx = np.random.randint(h), np.random.randint(w)
            r0, r1 = np.clip(cy - int(h * cut) // 2, 0, h), np.clip(cy + int(h * cut) // 2, 0, h)
            c0, c1 = np.clip(cx - int(w * cut) // 2, 0, w), np.clip(cx + int(w * cut) // 2, 0, w)
            x[:, :, r0:r1, c0:c1] = x[perm, :, r0:r1, c0:c1]
            ratio = 1 - (r1 - r0) * (c1 - c0) / (h * w)
            out = model(x)
            loss = F.cross_entropy(out, y) * ratio + F.cross_entropy(out, y[perm]) * (1 - ratio)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()  # the reference logs the loss every step
        sched.step()


@torch.inference_mode()
def reference_test(model, loader, device):
    model.eval()
    correct = 0
    for x, y in loader:
        correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
    model.train()
    return correct


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_model(name, args, device, train_np, labels, test_np, test_labels):
    channels, side, k = 3, args.resolution, args.classes
    res = {"model": name}
    # vlcp: tensors on the device
    x = torch.from_numpy(train_np).permute(0, 3, 1, 2).contiguous().to(device)
    y = torch.from_numpy(labels).to(device)
    tx = torch.from_numpy(test_np).permute(0, 3, 1, 2).contiguous().to(device)
    ty = torch.from_numpy(test_labels).to(device)
    proto = PROTOCOLS.get("minimax")

    def ours(epochs, seed, amp=False):
        rng = Rng(seed)
        net = build_network(name, channels, k, side, generator=rng.torch)
        sync(device)
        t = time.perf_counter()
        train_and_test(net, x, y, None, None, proto, epochs=epochs, batch_size=args.batch, rng=rng, mean=MEAN,
                       std=STD, device=device, amp=amp)
        sync(device)
        return time.perf_counter() - t, net

    def ref(epochs, seed, loader):
        net = build_network(name, channels, k, side, seed=seed).to(device)
        sync(device)
        t = time.perf_counter()
        reference_train(net, loader, epochs, device, epochs_total=max(epochs, 3))
        sync(device)
        return time.perf_counter() - t, net

    loader = reference_loader(train_np, labels, side, True, args.batch, args.workers)
    if args.warmup:
        ours(args.warmup, 0)
        ref(args.warmup, 0, loader)
    t_ours, net = ours(args.epochs, 1)
    t_ref, ref_net = ref(args.epochs, 1, loader)
    if args.amp:
        if args.warmup:
            ours(args.warmup, 0, amp=True)
        t_amp, _ = ours(args.epochs, 1, amp=True)
        res.update({"ours_amp_s": round(t_amp, 3), "speedup_amp": round(t_ref / t_amp, 3)})
    res.update({"epochs": args.epochs, "ours_s": round(t_ours, 3), "reference_s": round(t_ref, 3),
                "speedup": round(t_ref / t_ours, 3),
                "ours_step_ms": round(1000 * t_ours / (args.epochs * -(-len(x) // args.batch)), 2),
                "reference_step_ms": round(1000 * t_ref / (args.epochs * -(-len(x) // args.batch)), 2)})
    norm = Normalizer(MEAN, STD, device)
    sync(device)
    t = time.perf_counter()
    test_accuracy(net, tx, ty, norm, args.test_batch, device)
    sync(device)
    res["ours_test_s"] = round(time.perf_counter() - t, 3)
    test_loader = reference_loader(test_np, test_labels, side, False, args.batch, args.workers)
    sync(device)
    t = time.perf_counter()
    reference_test(ref_net, test_loader, device)
    sync(device)
    res["reference_test_s"] = round(time.perf_counter() - t, 3)
    del loader, test_loader
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="CPU smoke configuration: 64 px, 4 images, 1 epoch")
    ap.add_argument("--models", nargs="+", default=["convnet6", "resnet_ap10"])
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=100, help="timed epochs (2 steps each at 100 images, batch 64)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=8, help="reference DataLoader workers (the Minimax default is 8)")
    ap.add_argument("--test-images", type=int, default=500)
    ap.add_argument("--test-batch", type=int, default=500)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--amp", action="store_true", help="also time vlcp with bf16 autocast (EvalConfig.amp)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "results" / "eval_minimax_gpu")
    args = ap.parse_args(argv)
    if args.tiny:
        args.resolution, args.classes, args.ipc, args.epochs, args.warmup = 64, 2, 2, 1, 0
        args.batch, args.workers, args.test_images, args.test_batch = 4, 0, 8, 8
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # both loops alike
    n = args.classes * args.ipc
    train_np = synthetic_images(n, args.resolution, 0)
    labels = np.repeat(np.arange(args.classes), args.ipc).astype(np.int64)
    test_np = synthetic_images(args.test_images, args.resolution, 1)
    test_labels = (np.arange(args.test_images) % args.classes).astype(np.int64)
    results = []
    for name in args.models:
        r = bench_model(name, args, device, train_np, labels, test_np, test_labels)
        print(json.dumps(r), flush=True)
        results.append(r)
    out = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
           "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
           "setting": f"minimax protocol, {n} images ({args.classes} classes × {args.ipc}) at {args.resolution} px, "
                      f"batch {args.batch}, {args.epochs} timed epochs after {args.warmup} warm-up, reference "
                      f"DataLoader with {args.workers} workers", "target": "speedup >= 3",
           "tiny": args.tiny, "torch": torch.__version__, "python": platform.python_version(), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"# minimax training speed: vlcp vs reference loop", "", f"Command: `{out['command']}`", "",
             f"Device: {out['device']}. {out['setting']}.", "",
             "| network | vlcp s | reference s | speedup | vlcp test s | reference test s |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['ours_s']} | {r['reference_s']} | **{r['speedup']}×** | {r['ours_test_s']} | "
              f"{r['reference_test_s']} |" for r in results]
    if args.amp:
        lines += ["", "With bf16 autocast (EvalConfig.amp; the reference stays fp32): "
                  + ", ".join(f"{r['model']} {r['ours_amp_s']} s ({r['speedup_amp']}×)" for r in results)]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
