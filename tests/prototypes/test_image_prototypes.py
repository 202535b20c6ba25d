"""ImagePrototypes on constructed latents: blobs plus planted outliers."""
import warnings

import numpy as np
import pytest

from vlcp.errors import VlcpError
from vlcp.prototypes import ImagePrototypes, TooFewInliersError, lof_inliers

D = 16
TRUE_CENTRES = np.array([[10.0] * 8 + [0.0] * 8, [0.0] * 8 + [10.0] * 8, [-10.0] * 16], dtype=np.float32)


def blobs(per=40, n_out=5, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([c + 0.2 * rng.standard_normal((per, D)) for c in TRUE_CENTRES])
    outliers = 60.0 * rng.standard_normal((n_out, D))  # scattered far away
    X = np.concatenate([X, outliers]).astype(np.float64)
    perm = rng.permutation(len(X))
    X = X[perm]
    planted = set(np.flatnonzero(perm >= 3 * per))
    return X, planted


def test_outliers_removed_centres_found_members_ordered():
    X, planted = blobs()
    ids = np.arange(100, 100 + len(X))
    est = ImagePrototypes(n_prototypes=3, contamination=5 / len(X), n_neighbors=10, n_init=4, random_state=0).fit(X, ids)
    assert set(est.outliers_ - 100) == planted
    assert est.k_ == 3 and est.n_inliers_ == len(X) - 5
    assert est.centers_.dtype == np.float32 and est.centers_.shape == (3, D)
    # every true centre has a found centre close by
    dist = np.linalg.norm(est.centers_[:, None, :] - TRUE_CENTRES[None], axis=2)
    assert np.all(dist.min(axis=0) < 0.3)
    # members: all inliers exactly once, each cluster ordered nearest first
    all_members = np.concatenate(est.members_)
    assert sorted(all_members - 100) == sorted(set(range(len(X))) - planted)
    for c, (m, d) in enumerate(zip(est.members_, est.member_distances_)):
        assert len(m) == 40
        rec = np.linalg.norm(X[m - 100].astype(np.float32) - est.centers_[c], axis=1)
        np.testing.assert_allclose(d, rec, rtol=1e-4, atol=1e-5)
        assert np.all(np.diff(d) >= 0)
        assert np.all(est.labels_[m - 100] == c)
    assert np.all(est.labels_[sorted(planted)] == -1)


def test_member_order_ties_keep_input_order():
    X = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [100, 100]], dtype=np.float32)
    est = ImagePrototypes(n_prototypes=2, contamination=0, n_init=1).fit(X, ids=["a", "b", "c", "d", "far"])
    small = [list(m) for m in est.members_ if len(m) == 4][0]
    # centre (0, .25): a (0.25), d (0.75), then b and c tie at sqrt(1.0625): input order b, c
    assert small == ["a", "d", "b", "c"]


def test_contamination_zero_keeps_everything():
    X, planted = blobs()
    est = ImagePrototypes(n_prototypes=3, contamination=0, n_init=2).fit(X)
    assert len(est.outliers_) == 0 and est.n_inliers_ == len(X)


def test_small_class_uses_n_minus_1_neighbours_without_warning():
    X = np.random.default_rng(1).standard_normal((6, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = lof_inliers(X, contamination=0.2, n_neighbors=10)
        est = ImagePrototypes(n_prototypes=2, contamination=0.2, n_neighbors=6, n_init=2).fit(X)
    assert mask.sum() == 5 and est.n_inliers_ == 5
    assert lof_inliers(X[:1], 0.2, 10).all()


def test_too_few_inliers_names_the_class_and_both_counts():
    X, _ = blobs(per=3, n_out=1)  # 10 samples, 1 outlier -> 9 inliers
    with pytest.raises(TooFewInliersError) as e:
        ImagePrototypes(n_prototypes=12, contamination=0.1, n_init=1).fit(X, name="n01440764")
    msg = str(e.value)
    assert "n01440764" in msg and "9 inliers" in msg and "12 prototypes" in msg
    assert isinstance(e.value, VlcpError)
    assert (e.value.n_inliers, e.value.n_prototypes) == (9, 12)


def test_allow_fewer_lowers_k_and_records_it():
    X, _ = blobs(per=3, n_out=1)
    est = ImagePrototypes(n_prototypes=12, contamination=0.1, n_init=1, allow_fewer=True).fit(X)
    assert est.k_ == 9 and est.centers_.shape == (9, D)
    assert all(len(m) == 1 for m in est.members_)


def test_float32_and_deterministic():
    X, _ = blobs(seed=3)
    a = ImagePrototypes(n_prototypes=3, contamination=0.05, n_init=3, random_state=7).fit(X)
    b = ImagePrototypes(n_prototypes=3, contamination=0.05, n_init=3, random_state=7).fit(X.astype(np.float32))
    np.testing.assert_array_equal(a.centers_, b.centers_)
    assert all(np.array_equal(x, y) for x, y in zip(a.members_, b.members_))
    assert a.member_distances_[0].dtype == np.float32


def test_bad_parameters_raise():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="n_prototypes"):
        ImagePrototypes(n_prototypes=0).fit(X)
    with pytest.raises(ValueError, match="contamination"):
        ImagePrototypes(contamination=0.7).fit(X)
    with pytest.raises(ValueError, match="2-D"):
        ImagePrototypes().fit(np.zeros(5))


def test_duplicate_latents_leave_empty_clusters_not_a_crash():
    X = np.ones((10, 4), dtype=np.float32)
    est = ImagePrototypes(n_prototypes=3, contamination=0, n_init=1).fit(X)
    assert est.k_ == 3 and sorted(len(m) for m in est.members_) == [0, 0, 10]
