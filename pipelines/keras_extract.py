"""Keras model (pipelines.models) -> the NumPy arrays of a FastScorer; the only place that reads layer names.

Runs at bundle-build time (training side); serving loads the saved `.npz` and never imports this module.
"""

from __future__ import annotations

import numpy as np


def _weights(model, name: str) -> list[np.ndarray] | None:
    names = {layer.name for layer in model.layers}
    if name not in names:
        return None
    return [np.asarray(w, dtype=np.float32) for w in model.get_layer(name).get_weights()]


def _table(model, name: str) -> np.ndarray | None:
    w = _weights(model, name)
    return None if w is None else w[0]


def _mlp_arrays(model, n_users: int, n_items: int) -> dict:
    """First dense layer split over [user, item]; its item half + bias precomputed per item."""
    user, item = _table(model, "mlp_user_embedding"), _table(model, "mlp_item_embedding")
    if user is None:
        return {"item_first": np.zeros((n_items, 0), np.float32), "first_user_w": np.zeros((0, 0), np.float32),
                "user_mlp": np.zeros((n_users, 0), np.float32), "hidden": []}  # fmt: skip
    dense = sorted((layer.name for layer in model.layers if layer.name.startswith("mlp_dense_")),
                   key=lambda name: int(name.rsplit("_", 1)[1]))  # fmt: skip
    if not dense:
        raise ValueError("an MLP tower without a hidden layer (mlp_layers of length 1) is not supported")
    w1, b1 = _weights(model, dense[0])
    d = user.shape[1]
    return {
        "item_first": item @ w1[d:] + b1,
        "first_user_w": w1[:d],
        "user_mlp": user,
        "hidden": [tuple(_weights(model, name)) for name in dense[1:]],
    }


def _content_mf_arrays(model, output: str) -> dict:
    """content_mf: item rows = ID embedding + features @ projection (biases likewise), user rows alike; the
    projections ship too, so a movie added after training gets its row from its features alone."""
    features = _table(model, "item_content_features")
    projection, content_bias = _table(model, "item_content_projection"), _table(model, "item_content_bias")
    user = _table(model, "mf_user_embedding")
    user_features = _table(model, "user_content_features")
    if user_features is not None:
        user = user + user_features @ _table(model, "user_content_projection")
    n_users, n_items = len(user), len(features)
    return {"output": output, "item_dot": _table(model, "mf_item_embedding") + features @ projection,
            "user_dot": user, "item_bias": _table(model, "mf_item_bias")[:, 0] + features @ content_bias[:, 0],
            "user_bias": _table(model, "mf_user_bias")[:, 0], **_mlp_arrays(model, n_users, n_items),
            "mlp_out": np.zeros(0, np.float32), "content_w": projection, "content_b": content_bias[:, 0]}  # fmt: skip


def extract_arrays(model) -> dict:
    """Keyword arguments of FastScorer for an MF, GMF, MLP, NeuMF or content MF model, sigmoid or logit output."""
    output = "sigmoid" if any(layer.name == "probability" for layer in model.layers) else "logit"
    if _table(model, "item_content_features") is not None:
        return _content_mf_arrays(model, output)
    mf_item = _table(model, "mf_item_embedding")
    if mf_item is not None:  # dot product + user and item biases, no output layer
        mf_user = _table(model, "mf_user_embedding")
        n_users, n_items = len(mf_user), len(mf_item)
        return {"output": output, "item_dot": mf_item, "user_dot": mf_user,
                "item_bias": _table(model, "mf_item_bias")[:, 0], "user_bias": _table(model, "mf_user_bias")[:, 0],
                **_mlp_arrays(model, n_users, n_items), "mlp_out": np.zeros(0, np.float32)}  # fmt: skip
    w_out, b_out = _weights(model, "prediction")
    gmf_user, gmf_item = _table(model, "gmf_user_embedding"), _table(model, "gmf_item_embedding")
    any_user = gmf_user if gmf_user is not None else _table(model, "mlp_user_embedding")
    any_item = gmf_item if gmf_item is not None else _table(model, "mlp_item_embedding")
    n_users, n_items = len(any_user), len(any_item)
    d_gmf = 0 if gmf_item is None else gmf_item.shape[1]
    bias = _table(model, "item_bias")
    item_bias = (np.zeros(n_items, np.float32) if bias is None else bias[:, 0]) + b_out[0]
    return {
        "output": output,
        # GMF: (u * i) . w == u . (i * w): the output weights fold into the item table
        "item_dot": np.zeros((n_items, 0), np.float32) if gmf_item is None else gmf_item * w_out[:d_gmf, 0],
        "user_dot": np.zeros((n_users, 0), np.float32) if gmf_user is None else gmf_user,
        "item_bias": item_bias.astype(np.float32),
        "user_bias": np.zeros(n_users, np.float32),
        **_mlp_arrays(model, n_users, n_items),
        "mlp_out": w_out[d_gmf:, 0],
    }
