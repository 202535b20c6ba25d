"""Settings: stage configs, where their values come from and how they are checked.

- ``config`` — frozen config dataclasses ↔ TOML (exact type checks, errors naming the setting).
- ``tomlcheck`` — section and key names of a TOML config file, checked before anything runs.
- ``options`` — a config dataclass as command-line options (``--field-name``) and back.
- ``devices`` — ``--device`` (cpu, cuda, cuda:N, mps, auto): one argparse type and one machine check.
- ``registry`` — name → factory registries of swappable parts (the names a setting may take).
"""
