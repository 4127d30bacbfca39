"""Keras 3 recommenders: GMF, MLP, NeuMF (He et al. 2017), dot-product MF (Rendle et al. 2020), MF with content
features (`content_mf`), popularity.

Every model takes two named int32 inputs, `user` and `item` (contiguous indices, shape (batch,)), and
returns one score per pair, higher = better: an interaction probability (sigmoid) when trained with pointwise
binary cross-entropy, the raw logit when trained with a ranking loss (`softmax`, `bpr`), whose scores are
shift-invariant and would saturate a sigmoid into ties.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MODEL_TYPES = ("neumf", "gmf", "mlp", "mf", "content_mf")
CONTENT_MODEL_TYPES = ("content_mf",)
OUTPUTS = ("sigmoid", "logit")


def _inputs():
    import keras

    return keras.Input(shape=(), dtype="int32", name="user"), keras.Input(
        shape=(), dtype="int32", name="item"
    )


def _embedding(n: int, dim: int, name: str, l2: float):
    import keras

    return keras.layers.Embedding(
        n, dim, name=name, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
        embeddings_regularizer=keras.regularizers.L2(l2) if l2 else None,
    )  # fmt: skip


def _gmf_vector(user, item, n_users: int, n_items: int, dim: int, l2: float):
    import keras

    u = _embedding(n_users, dim, "gmf_user_embedding", l2)(user)
    i = _embedding(n_items, dim, "gmf_item_embedding", l2)(item)
    return keras.layers.Multiply(name="gmf_product")([u, i])


def _mlp_vector(user, item, n_users: int, n_items: int, layers: Sequence[int], l2: float):
    import keras

    dim = layers[0] // 2
    u = _embedding(n_users, dim, "mlp_user_embedding", l2)(user)
    i = _embedding(n_items, dim, "mlp_item_embedding", l2)(item)
    x = keras.layers.Concatenate(name="mlp_concat")([u, i])
    for n, width in enumerate(layers[1:], start=1):
        x = keras.layers.Dense(width, activation="relu", name=f"mlp_dense_{n}",
                               kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)(x)  # fmt: skip
    return x


def _score(logit, output: str):
    """(batch, 1) logit -> (batch,) score: sigmoid probability or the logit itself."""
    import keras

    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; choose one of {OUTPUTS}")
    if output == "sigmoid":
        logit = keras.layers.Activation("sigmoid", name="probability")(logit)
    return keras.layers.Reshape((), name="score")(logit)


def _prediction(x, output: str, item=None, n_items: int = 0, name: str = "prediction"):
    """Dense(1) over the feature vector, plus a learned per-item bias when `item` is given."""
    import keras

    logit = keras.layers.Dense(1, kernel_initializer="lecun_uniform", name=name)(x)
    if item is not None:
        bias = keras.layers.Embedding(n_items, 1, embeddings_initializer="zeros", name="item_bias")(item)
        logit = keras.layers.Add(name="logit")([logit, bias])
    return _score(logit, output)


def build_gmf(n_users: int, n_items: int, dim: int = 32, l2: float = 0.0, output: str = "sigmoid",
              item_bias: bool = False):  # fmt: skip
    import keras

    user, item = _inputs()
    x = _gmf_vector(user, item, n_users, n_items, dim, l2)
    return keras.Model([user, item], _prediction(x, output, item if item_bias else None, n_items), name="gmf")


def build_mlp(n_users: int, n_items: int, layers: Sequence[int] = (64, 32, 16), l2: float = 0.0,
              output: str = "sigmoid", item_bias: bool = False):  # fmt: skip
    import keras

    user, item = _inputs()
    x = _mlp_vector(user, item, n_users, n_items, layers, l2)
    return keras.Model([user, item], _prediction(x, output, item if item_bias else None, n_items), name="mlp")


def build_neumf(n_users: int, n_items: int, dim: int = 32, layers: Sequence[int] = (64, 32, 16), l2: float = 0.0,
                output: str = "sigmoid", item_bias: bool = False):  # fmt: skip
    import keras

    user, item = _inputs()
    gmf = _gmf_vector(user, item, n_users, n_items, dim, l2)
    mlp = _mlp_vector(user, item, n_users, n_items, layers, l2)
    x = keras.layers.Concatenate(name="neumf_concat")([gmf, mlp])
    return keras.Model(
        [user, item], _prediction(x, output, item if item_bias else None, n_items), name="neumf"
    )


def build_mf(n_users: int, n_items: int, dim: int = 32, l2: float = 0.0, output: str = "sigmoid"):
    """Dot product of user and item embeddings plus biases (the baseline Rendle et al. found hard to beat)."""
    import keras

    user, item = _inputs()
    u = _embedding(n_users, dim, "mf_user_embedding", l2)(user)
    i = _embedding(n_items, dim, "mf_item_embedding", l2)(item)
    dot = keras.layers.Dot(axes=1, name="mf_dot")([u, i])
    ub = keras.layers.Flatten()(_embedding(n_users, 1, "mf_user_bias", 0.0)(user))
    ib = keras.layers.Flatten()(_embedding(n_items, 1, "mf_item_bias", 0.0)(item))
    logit = keras.layers.Add(name="mf_logit")([dot, ub, ib])
    return keras.Model([user, item], _score(logit, output), name="mf")


def _frozen_table(values: np.ndarray, name: str):
    """A constant per-row input (content features) as a non-trainable embedding: saved with the model."""
    import keras

    return keras.layers.Embedding(
        values.shape[0], values.shape[1], name=name, trainable=False,
        embeddings_initializer=keras.initializers.Constant(np.asarray(values, np.float32)),
    )  # fmt: skip


def build_content_mf(n_users: int, n_items: int, dim: int, l2: float, output: str, item_features: np.ndarray,
                     user_features: np.ndarray | None = None, id_dropout: float = 0.3):  # fmt: skip
    """MF whose item vector is its ID embedding plus a learned projection of its content features (and likewise
    for users), with item and user biases; the content part also has its own bias.

    During training the item's ID part (embedding and bias together) is dropped for a share `id_dropout` of the
    pairs (DropoutNet, Volkovs et al. 2017), so the content path alone must rank well: that is the vector a movie
    added after training gets.
    """
    import keras

    user, item = _inputs()
    u = _embedding(n_users, dim, "mf_user_embedding", l2)(user)
    if user_features is not None and user_features.shape[1]:
        user_content = _frozen_table(user_features, "user_content_features")(user)
        u = keras.layers.Add(name="user_vector")(
            [u, keras.layers.Dense(dim, use_bias=False, name="user_content_projection")(user_content)]
        )
    item_content = _frozen_table(item_features, "item_content_features")(item)
    item_from_content = keras.layers.Dense(dim, use_bias=False, name="item_content_projection")(item_content)
    content_bias = keras.layers.Dense(1, use_bias=False, name="item_content_bias")(item_content)
    # [ID embedding, ID bias] dropped together, dotted with [user vector, 1]
    item_id = keras.layers.Concatenate(name="item_id_part")(
        [
            _embedding(n_items, dim, "mf_item_embedding", l2)(item),
            _embedding(n_items, 1, "mf_item_bias", 0.0)(item),
        ]
    )
    item_id = keras.layers.Dropout(id_dropout, noise_shape=(None, 1), name="item_id_dropout")(item_id)
    one = keras.layers.Embedding(n_users, 1, embeddings_initializer="ones", trainable=False, name="user_one")(
        user
    )
    user_ext = keras.layers.Concatenate(name="user_id_part")([u, one])
    ub = keras.layers.Flatten()(_embedding(n_users, 1, "mf_user_bias", 0.0)(user))
    logit = keras.layers.Add(name="mf_logit")([
        keras.layers.Dot(axes=1, name="id_dot")([user_ext, item_id]),
        keras.layers.Dot(axes=1, name="content_dot")([u, item_from_content]),
        content_bias, ub,
    ])  # fmt: skip
    return keras.Model([user, item], _score(logit, output), name="content_mf")


def build_model(model_type: str, n_users: int, n_items: int, dim: int, layers: Sequence[int], l2: float,
                output: str = "sigmoid", item_bias: bool = False, content=None, id_dropout: float = 0.3):  # fmt: skip
    """One of MODEL_TYPES, uncompiled; `output` "sigmoid" (probability) or "logit" (raw score).

    `item_bias` adds a per-item bias to GMF / MLP / NeuMF (MF always has user and item biases). `content_mf`
    needs `content` (pipelines.content.ContentInputs) for its side inputs.
    """
    if model_type == "content_mf":
        if content is None:
            raise ValueError(
                "model_type content_mf needs content features (pipelines.content.build_content_inputs)"
            )
        return build_content_mf(n_users, n_items, dim, l2, output, content.item_features, content.user_features,
                                id_dropout)  # fmt: skip
    if model_type == "gmf":
        return build_gmf(n_users, n_items, dim, l2, output, item_bias)
    if model_type == "mlp":
        return build_mlp(n_users, n_items, layers, l2, output, item_bias)
    if model_type == "neumf":
        return build_neumf(n_users, n_items, dim, layers, l2, output, item_bias)
    if model_type == "mf":
        return build_mf(n_users, n_items, dim, l2, output)
    raise ValueError(f"unknown model_type {model_type!r}; choose one of {MODEL_TYPES}")


def load_pretrained_neumf(neumf, gmf, mlp, alpha: float = 0.5) -> None:
    """He et al. 2017 pre-training: copy GMF and MLP weights into NeuMF; blend the output layers by alpha."""
    for layer in ("gmf_user_embedding", "gmf_item_embedding"):
        neumf.get_layer(layer).set_weights(gmf.get_layer(layer).get_weights())
    for layer in mlp.layers:
        if layer.name.startswith(("mlp_",)) and layer.get_weights():
            neumf.get_layer(layer.name).set_weights(layer.get_weights())
    gw, gb = gmf.get_layer("prediction").get_weights()
    mw, mb = mlp.get_layer("prediction").get_weights()
    neumf.get_layer("prediction").set_weights(
        [np.concatenate([alpha * gw, (1 - alpha) * mw]), alpha * gb + (1 - alpha) * mb]
    )
    if any(layer.name == "item_bias" for layer in neumf.layers):
        parts = [m.get_layer("item_bias").get_weights()[0] for m in (gmf, mlp)]
        neumf.get_layer("item_bias").set_weights([alpha * parts[0] + (1 - alpha) * parts[1]])


class KerasScorer:
    """Scores (user, item) index pairs with one direct model call (no `model.predict` overhead)."""

    def __init__(self, model):
        self.model = model

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = self.model(
            {"user": np.asarray(users, np.int32), "item": np.asarray(items, np.int32)}, training=False
        )
        return np.array(out, dtype=np.float32).reshape(-1)


class PopularityScorer:
    """Baseline: an item's score is its number of training interactions, whoever the user."""

    def __init__(self, item_counts: np.ndarray):
        self.item_counts = np.asarray(item_counts, dtype=np.float32)

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.item_counts[np.asarray(items)]

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """The same row for every user: the counts (whole-catalog evaluation without a pair per item)."""
        return np.broadcast_to(self.item_counts, (len(users), len(self.item_counts)))
