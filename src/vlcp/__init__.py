"""vlcp: dataset distillation via vision-language category prototypes.

The stage functions and their configs are importable from here::

    from vlcp import DataConfig, caption, encode, load_model, run_prototypes, synthesize

Functions named like their module (``caption``, ``train``, ``encode``, ``synthesize``, ``report``,
``export``) are imported eagerly — importing a submodule would otherwise put the module in their place;
the rest load on first use (``dir(vlcp)`` lists them too). Importing vlcp quiets the libraries'
informational logs and loading bars as the CLI does (``vlcp.run.progress.quiet_third_party``; their own
``*_VERBOSITY`` variables still win).
"""

__version__ = "0.1.0"

from vlcp.run.progress import quiet_third_party  # noqa: E402

quiet_third_party()  # the libraries' loading chatter stays quiet from Python as on the command line

from vlcp.caption import caption  # noqa: E402
from vlcp.encode import encode  # noqa: E402
from vlcp.export import export  # noqa: E402
from vlcp.report import report  # noqa: E402
from vlcp.synthesize import synthesize  # noqa: E402
from vlcp.train import train  # noqa: E402

_API = {
    "DataConfig": "vlcp.data.config", "load_model": "vlcp.models",
    "CaptionConfig": "vlcp.caption", "CAPTIONERS": "vlcp.captioners",
    "read_captions": "vlcp.caption",
    "TrainConfig": "vlcp.train",
    "EncodeConfig": "vlcp.encode", "LatentStore": "vlcp.files.latents",
    "run_prototypes": "vlcp.prototypes", "PrototypesConfig": "vlcp.prototypes",
    "SynthesizeConfig": "vlcp.synthesize",
    "evaluate_folder": "vlcp.evaluate", "EvalConfig": "vlcp.evaluate", "make_baseline": "vlcp.evaluate.baselines",
}
__all__ = ["__version__", "caption", "encode", "export", "report", "synthesize", "train", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'vlcp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
