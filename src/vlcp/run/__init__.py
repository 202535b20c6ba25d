"""Running the stages, around their computations: the run folder's record, resume, the processes and
what they print.

- ``stages`` — the one table of stages: what each reads, writes and takes, its arguments and its ``run``.
- ``context`` — ``RunContext``: a stage's options and the run's data, model and device, resolved once.
- ``state`` — the run folder's recorded settings (``settings.toml``) and stage times, checked against later flags.
- ``fingerprint`` — resume that is never stale: fingerprints of a stage's inputs and settings beside its outputs.
- ``plan`` — what ``vlcp run`` will do (``--set``, every stage's resolved settings, the inputs ``--dry-run`` checks).
- ``shards`` — per-image stages split over the processes of a launch; rank 0 merges in dataset order.
- ``progress`` — ``--progress``, progress bars or plain lines, third-party logs quieted.
"""
