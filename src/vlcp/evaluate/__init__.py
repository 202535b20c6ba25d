"""Evaluation suite: score distilled ImageFolders (and baselines) under the field's protocols.

Public API::

    EvalConfig                     settings (frozen dataclass; TOML section [evaluate])
    evaluate_tensors(...)          -> ResultRow   train/test tensors in, one table row out
    evaluate_folder(...)           -> ResultRow   a distilled ImageFolder against a real test split
    ResultRow, write_results, merge_results, markdown_table
    NETWORKS, build_network        convnet3, convnet6, resnet_ap10, resnet18
    PROTOCOLS                      dc, dsa, minimax, rded, ddranking (+ _noaug, _best)

Baselines (random, herding, k-center, k-means centroids, whole set) are in ``vlcp.evaluate.baselines``;
the CLI (``vlcp evaluate``, ``vlcp baseline``) in ``vlcp.evaluate.cli``.
"""
from vlcp.evaluate.evaluation import EvalConfig, evaluate_folder, evaluate_tensors, load_distilled, resolve_device
from vlcp.evaluate.networks import NETWORKS, build_network, count_parameters
from vlcp.evaluate.protocols import PROTOCOLS, Protocol
from vlcp.evaluate.results import ResultRow, markdown_table, merge_results, merge_rows, read_results, write_results

__all__ = ["EvalConfig", "evaluate_tensors", "evaluate_folder", "load_distilled", "resolve_device", "ResultRow",
           "write_results", "merge_results", "merge_rows", "read_results", "markdown_table", "NETWORKS",
           "build_network", "count_parameters", "PROTOCOLS", "Protocol"]
