"""Image prototypes (paper Secs. 3.2 and 3.3.1): LOF outlier removal, then k-means centres, per class.

:class:`ImagePrototypes` follows the scikit-learn estimator style: set the parameters on
construction, call :meth:`~ImagePrototypes.fit` on one class's flattened latents, read the
fitted attributes (trailing underscore). Everything stays float32.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import LocalOutlierFactor

from vlcp.errors import VlcpError

__all__ = ["ImagePrototypes", "TooFewInliersError", "lof_inliers"]


class TooFewInliersError(VlcpError):
    """Fewer inliers than prototypes; carries the counts so the stage can name the class."""

    def __init__(self, n_inliers: int, n_prototypes: int, n_samples: int, name: str | None = None) -> None:
        self.n_inliers, self.n_prototypes, self.n_samples, self.name = n_inliers, n_prototypes, n_samples, name
        who = f"class {name!r}: " if name is not None else ""
        super().__init__(
            f"{who}only {n_inliers} inliers after outlier removal (of {n_samples} samples), fewer than the "
            f"{n_prototypes} prototypes asked for (ipc = {n_prototypes}); lower ipc or contamination, or pass "
            f"--allow-fewer to use k = number of inliers for such classes")


def lof_inliers(X: np.ndarray, contamination: float, n_neighbors: int) -> np.ndarray:
    """Boolean inlier mask from LocalOutlierFactor; ``contamination == 0`` keeps everything.

    A class with ``n <= n_neighbors`` samples uses ``n - 1`` neighbours; with fewer than 2
    samples there is nothing to compare and every sample is kept.
    """
    n = len(X)
    if contamination == 0 or n < 2:
        return np.ones(n, dtype=bool)
    k = n - 1 if n <= n_neighbors else n_neighbors
    lof = LocalOutlierFactor(n_neighbors=k, contamination=contamination)
    return lof.fit_predict(X) == 1


class ImagePrototypes:
    """LOF + k-means image prototypes for one class.

    Parameters: ``n_prototypes`` (k = IPC), ``contamination`` (LOF's α; 0 turns outlier removal
    off), ``n_neighbors`` (LOF), ``n_init`` and ``random_state`` (k-means), ``allow_fewer``
    (lower k to the number of inliers instead of raising :class:`TooFewInliersError`).

    Fitted attributes after :meth:`fit`:

    * ``k_`` — the number of clusters used;
    * ``centers_`` — (k, d) float32 cluster centres;
    * ``members_`` — list of k arrays of ids, each ordered by distance to its centre, nearest
      first (ties by input order);
    * ``member_distances_`` — the matching Euclidean distances (float32);
    * ``outliers_`` — ids of the LOF outliers, in input order;
    * ``inlier_mask_`` — (n,) bool;
    * ``labels_`` — (n,) int cluster of each sample, -1 for outliers.
    """

    def __init__(self, n_prototypes: int = 10, contamination: float = 0.1, n_neighbors: int = 10,
                 n_init: int = 10, random_state: int = 0, allow_fewer: bool = False) -> None:
        self.n_prototypes = n_prototypes
        self.contamination = contamination
        self.n_neighbors = n_neighbors
        self.n_init = n_init
        self.random_state = random_state
        self.allow_fewer = allow_fewer

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in
                ("n_prototypes", "contamination", "n_neighbors", "n_init", "random_state", "allow_fewer")}

    def fit(self, X: np.ndarray, ids: Sequence | np.ndarray | None = None, name: str | None = None) -> "ImagePrototypes":
        """Fit on ``X`` (n, d) (cast to float32); ``ids`` (n,) label the samples (default 0..n-1).

        ``name`` only labels the error message of :class:`TooFewInliersError`.
        """
        if self.n_prototypes < 1:
            raise ValueError(f"n_prototypes must be >= 1, got {self.n_prototypes}")
        if not 0 <= self.contamination <= 0.5:
            raise ValueError(f"contamination must be in [0, 0.5], got {self.contamination}")
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
        n = len(X)
        ids = np.arange(n) if ids is None else np.asarray(ids)
        if len(ids) != n:
            raise ValueError(f"ids has {len(ids)} entries for {n} samples")

        inliers = lof_inliers(X, self.contamination, self.n_neighbors)
        m = int(inliers.sum())
        k = self.n_prototypes
        if m < k:
            if not self.allow_fewer or m == 0:
                raise TooFewInliersError(m, k, n, name)
            k = m
        Xin = X[inliers]
        with warnings.catch_warnings():
            # duplicate points can leave fewer distinct clusters than k; members_ then has empty lists
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(Xin)
        centers = np.ascontiguousarray(km.cluster_centers_, dtype=np.float32)
        lab = km.labels_.astype(np.int64)
        dist = np.linalg.norm(Xin - centers[lab], axis=1).astype(np.float32)
        pos = np.arange(m)
        order = np.lexsort((pos, dist, lab))  # by cluster, then distance, then input order
        sizes = np.bincount(lab, minlength=k)
        groups = np.split(order, np.cumsum(sizes)[:-1])
        in_ids = ids[inliers]

        self.k_ = k
        self.centers_ = centers
        self.members_ = [in_ids[g] for g in groups]
        self.member_distances_ = [dist[g] for g in groups]
        self.inlier_mask_ = inliers
        self.outliers_ = ids[~inliers]
        labels = np.full(n, -1, dtype=np.int64)
        labels[inliers] = lab
        self.labels_ = labels
        self.n_samples_ = n
        self.n_inliers_ = m
        return self
