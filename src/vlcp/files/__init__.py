"""Files on disk: how vlcp writes and reads what its stages leave behind.

- ``atomic`` — atomic writes (a killed writer's temporary file is swept by the next write), UTF-8 text
  and JSON reads naming the file, append-as-you-go JSONL (a torn last line is dropped), image records.
- ``images`` — image tensors as PNG files, atomically.
- ``tensors`` — safetensors files: byte-reproducible atomic writes, finite checks, prototype centres,
  weights-only ``torch.load``.
- ``latents`` — the latents store: per-class shards of VAE latents.
- ``checkpoint`` — training checkpoints that resume exactly.
"""
