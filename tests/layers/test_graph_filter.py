"""The Laplacian-polynomial filter reproduces the lecture's worked example."""

import networkx as nx
import numpy as np
import pytest
import torch

from biozoo.layers.graph_filter import (
    LaplacianPolynomialFilter,
    dense_laplacian,
    laplacian_polynomial,
)

# The lecture's 4-node graph: A-B, A-C, B-C, C-D.
A = torch.tensor([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]], dtype=torch.float64)
X = torch.tensor([10.0, 5.0, 3.0, 7.0], dtype=torch.float64)
W = [1.0, 0.1, 0.01]
EDGE_INDEX = A.nonzero().T.flip(0)  # row 0 source, row 1 target


def test_laplacian_is_degree_minus_adjacency():
    L = dense_laplacian(A)
    expected = torch.tensor(
        [[2, -1, -1, 0], [-1, 2, -1, 0], [-1, -1, 3, -1], [0, 0, -1, 1]], dtype=torch.float64
    )
    assert torch.equal(L, expected)
    L2 = torch.tensor(
        [[6, -3, -4, 1], [-3, 6, -4, 1], [-4, -4, 12, -4], [1, 1, -4, 2]], dtype=torch.float64
    )
    assert torch.equal(L @ L, L2)  # the slide's L^2


def test_worked_example_dense_and_edge_index():
    expected = torch.tensor([11.6, 4.65, 1.18, 7.57], dtype=torch.float64)
    y = laplacian_polynomial(X, A, W)
    assert torch.allclose(y, expected, atol=1e-12)
    assert y.sum().item() == pytest.approx(25.0)  # sum(layer 1) == sum(layer 2)
    y_edges = laplacian_polynomial(X, None, W, edge_index=EDGE_INDEX)
    assert torch.allclose(y_edges, expected, atol=1e-12)


def test_single_terms_are_identity_and_one_hop():
    assert torch.equal(laplacian_polynomial(X, A, [1.0]), X)
    Lx = laplacian_polynomial(X, A, [0.0, 1.0])
    assert torch.allclose(Lx, torch.tensor([12.0, -3.0, -13.0, 4.0], dtype=torch.float64))
    # node D (index 3) is 2 hops from A and B: with w = [0, 1] their outputs ignore x_D
    x_d = X.clone()
    x_d[3] = 100.0
    assert torch.allclose(laplacian_polynomial(x_d, A, [0.0, 1.0])[:2], Lx[:2])
    two_hop = laplacian_polynomial(x_d, A, W)[:2]
    assert not torch.allclose(two_hop, laplacian_polynomial(X, A, W)[:2])


def test_normalised_laplacian_matches_networkx():
    g = nx.from_numpy_array(A.numpy())
    reference = nx.normalized_laplacian_matrix(g).toarray()
    assert np.allclose(dense_laplacian(A, normalization="sym").numpy(), reference)
    y_dense = laplacian_polynomial(X, A, W, normalization="sym")
    y_sparse = laplacian_polynomial(X, None, W, edge_index=EDGE_INDEX, normalization="sym")
    ref = X.numpy() + 0.1 * reference @ X.numpy() + 0.01 * reference @ reference @ X.numpy()
    assert np.allclose(y_dense.numpy(), ref) and np.allclose(y_sparse.numpy(), ref)


def test_feature_matrices_filter_column_by_column():
    x2 = torch.stack([X, 2 * X + 1], dim=1)
    y = laplacian_polynomial(x2, A, W)
    assert torch.allclose(y[:, 0], laplacian_polynomial(X, A, W))
    assert torch.allclose(y[:, 1], laplacian_polynomial(2 * X + 1, A, W))


def test_learnable_filter_with_scalar_weights_is_the_slide():
    f = LaplacianPolynomialFilter(1, 1, K=2, bias=False).double()
    with torch.no_grad():
        f.weight.copy_(torch.tensor(W, dtype=torch.float64).view(3, 1, 1))
    assert torch.allclose(f(X[:, None], A)[:, 0], laplacian_polynomial(X, A, W))
    assert torch.allclose(f(X[:, None], edge_index=EDGE_INDEX), f(X[:, None], A))


def test_learnable_filter_gets_gradients_and_resets():
    torch.manual_seed(0)
    f = LaplacianPolynomialFilter(3, 2, K=3)
    out = f(torch.randn(4, 3), A.float())
    assert out.shape == (4, 2)
    out.pow(2).sum().backward()
    assert f.weight.grad is not None and (f.weight.grad.abs().sum((1, 2)) > 0).all()
    torch.manual_seed(1)
    f.reset_parameters()
    first = f.weight.detach().clone()
    torch.manual_seed(1)
    f.reset_parameters()
    assert torch.equal(first, f.weight)
