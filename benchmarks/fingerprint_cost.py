"""What a dataset digest over every input image costs: sha256 of every file's bytes against one
``os.stat`` per file (size, mtime, ctime, inode), on

* Fashion-MNIST's 60,000 training images as Debian ships them (IDX: one 47 MB array in memory),
* the same 60,000 images as an ImageFolder of PNG files,
* a synthetic large ImageFolder tree (``--files`` files of ``--kb`` KB of random bytes, 100 class
  folders; the default 110 KB is ImageNet-1k's mean JPEG size), read warm (page cache) and cold
  (each file evicted with ``posix_fadvise(DONTNEED)`` first), extrapolated to ImageNet-1k's
  1,281,167 training files.

    nice python benchmarks/fingerprint_cost.py            # writes benchmarks/results/fingerprint_cost.md
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

IMAGENET_FILES = 1_281_167


def stat_digest(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        s = os.stat(p)
        h.update(f"{s.st_size} {s.st_mtime_ns} {s.st_ctime_ns} {s.st_ino}\n".encode())
    return h.hexdigest()


def bytes_digest(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def evict(paths) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(fn, *a, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*a)
        best = min(best, time.perf_counter() - t)
    return best


def cold(paths) -> float:
    evict(paths)
    t = time.perf_counter()
    bytes_digest(paths)
    return time.perf_counter() - t


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def write_fmnist_folder(root: Path) -> None:
    from PIL import Image

    from vlcp.data import load_dataset

    ds = load_dataset(None, "train")
    for i in range(len(ds)):
        folder = root / ds.classes[int(ds.labels[i])]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ds.data[i, 0]).save(folder / f"{i:05d}.png")


def write_synthetic(root: Path, n: int, kb: int) -> None:
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, kb * 1024 + 4096, dtype=np.uint8).tobytes()
    for i in range(n):
        folder = root / f"c{i % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        off = i % 4096
        (folder / f"{i:07d}.jpg").write_bytes(i.to_bytes(8, "little") + block[off:off + kb * 1024 - 8])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/vlcp-fingerprint-cost"))
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--kb", type=int, default=110)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "fingerprint_cost.md")
    a = ap.parse_args()
    from vlcp.data import load_dataset

    rows = []
    ds = load_dataset(None, "train")
    t = timed(lambda: hashlib.sha256(np.ascontiguousarray(ds.data).tobytes()).hexdigest())
    rows.append(("Fashion-MNIST, IDX (60,000 images, one array)", f"{ds.data.nbytes / 1e6:.0f} MB", "—", f"{t:.3f}", "—"))

    fm = a.work / "fmnist"
    if not (fm / "bag").exists():
        write_fmnist_folder(fm)
    paths = files(fm)
    size = sum(p.stat().st_size for p in paths)
    rows.append((f"Fashion-MNIST as PNG ImageFolder ({len(paths):,} files)", f"{size / 1e6:.0f} MB",
                 f"{timed(stat_digest, paths):.2f}", f"{timed(bytes_digest, paths):.2f}", f"{cold(paths):.2f}"))

    big = a.work / "synthetic"
    if not (big / "c099").exists():
        write_synthetic(big, a.files, a.kb)
    paths = files(big)
    size = sum(p.stat().st_size for p in paths)
    st, warm, cd = timed(stat_digest, paths), timed(bytes_digest, paths, repeat=1), cold(paths)
    rows.append((f"synthetic ImageFolder ({len(paths):,} files of {a.kb} KB)", f"{size / 1e9:.2f} GB",
                 f"{st:.2f}", f"{warm:.2f}", f"{cd:.2f}"))
    k = IMAGENET_FILES / len(paths)
    rows.append((f"→ extrapolated to ImageNet-1k train ({IMAGENET_FILES:,} files)", f"{size * k / 1e9:.0f} GB",
                 f"{st * k:.0f}", f"{warm * k:.0f}", f"{cd * k:.0f}"))

    lines = ["# Cost of a dataset digest over every input image", "",
             f"    nice {Path(sys.executable).name} benchmarks/fingerprint_cost.py " + " ".join(sys.argv[1:]), "",
             "Seconds, best of 3 (cold: once, after evicting every file from the page cache). "
             f"Machine: {os.cpu_count()} CPU cores shared with other jobs.", "",
             "| dataset | size | stat per file (s) | sha256 of bytes, warm (s) | sha256 of bytes, cold (s) |",
             "|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
