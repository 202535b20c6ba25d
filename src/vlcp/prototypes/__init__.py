"""Image prototypes (LOF + k-means), text prototypes (Algorithm 2), text strategies and the stage.

Public API::

    text_prototypes(captions, assignments, class_name, *, beta, top_k, stop_words=None) -> list[TextPrototype]
    ImagePrototypes(n_prototypes, contamination, n_neighbors, n_init, random_state, allow_fewer).fit(X, ids)
    run_prototypes(store, captions, out_dir, config, class_names=None, generator=None) -> PrototypesResult
    read_captions(path) -> dict[file_name, text]
    PrototypesConfig, STRATEGIES (label, label+keywords, dcs, generated), KeywordSentenceGenerator

Names are imported lazily, so ``from vlcp.prototypes import text_prototypes`` loads neither
scikit-learn nor torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from vlcp.settings.registry import lazy_exports

if TYPE_CHECKING:  # static analysers see the real names
    from vlcp.prototypes.config import PrototypesConfig
    from vlcp.prototypes.image import ImagePrototypes, TooFewInliersError, lof_inliers
    from vlcp.prototypes.stage import ARTIFACTS, PrototypesResult, read_captions, run_prototypes
    from vlcp.prototypes.strategies import STRATEGIES, KeywordSentenceGenerator
    from vlcp.prototypes.text import TextPrototype, default_stop_words, text_prototypes, tokenize

_EXPORTS = {
    "text_prototypes": "text", "TextPrototype": "text", "tokenize": "text", "default_stop_words": "text",
    "ImagePrototypes": "image", "TooFewInliersError": "image", "lof_inliers": "image",
    "run_prototypes": "stage", "read_captions": "stage", "PrototypesResult": "stage", "ARTIFACTS": "stage",
    "PrototypesConfig": "config", "STRATEGIES": "strategies", "KeywordSentenceGenerator": "strategies",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
