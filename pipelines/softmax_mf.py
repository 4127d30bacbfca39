"""The softmax training step of dot-product MF as matrix products: the same updates as the generic pair-by-pair
step (train._softmax_epochs), at the cost of the math; and, above a catalog size, a sampled variant whose cost
does not grow with the catalog.

The generic step calls the Keras model on every (user, item) pair of a batch, so it materialises
users x catalog x dim embedding rows: fine at 10k movies, hours per epoch at ml-25m's 59k. Here a step is
`U_batch @ V.T + b`. The update must stay the generic step's, or the tuned defaults would not carry over:
Keras' Adam receives the generic step's embedding gradients as IndexedSlices with one slice per pair, and squares
the slices before summing them, so its second moment is the sum of the per-pair squared gradients, not the
square of their sum. That sum is a matrix product too: (G * G) @ (V * V) for the user rows (G = dLoss/dScores),
(G * G).T @ (U * U) for the item rows. The per-user bias is not trained: its gradient sums to zero in a
softmax over the catalog (the generic step moves it by float noise only).

Even as matrix products the exact step costs users x catalog x dim per epoch (about 5 TFLOP at ml-25m size). The
sampled step keeps the loss, -sum log p(i | u) over the user's positives, but estimates the normaliser
Z_u = sum_j exp(s_uj) by importance sampling from negatives shared by the whole batch, drawn from q ~ popularity^0.75
and weighted 1 / (S q_j) (the log-Q correction), so a step costs users x S x dim (Bengio & Senecal 2008;
Yi et al., RecSys 2019). Same optimiser and per-pair second moments as the exact step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # keras.optimizers.Adam defaults
SAMPLE_POWER = 0.75  # q(j) ~ (count_j + 1)^0.75: popular items dominate Z, the tail keeps support


def is_plain_mf(model) -> bool:
    """True for build_mf's layout (the only model this step knows)."""
    names = {layer.name for layer in model.layers}
    return "mf_item_embedding" in names and "item_content_features" not in names


def _mf_tables(model) -> tuple:
    return tuple(
        model.get_layer(f"mf_{name}").embeddings.value
        for name in ("user_embedding", "item_embedding", "item_bias")
    )


def _adam(params: tuple, learning_rate: float) -> Callable:
    """apply(grads, squares): Keras' Adam on dense tables, with the second moment fed the per-pair squares."""
    import tensorflow as tf

    moments = [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]
    velocities = [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]
    iteration = tf.Variable(0.0, trainable=False, dtype=tf.float32)

    def apply(grads: tuple, squares: tuple) -> None:
        iteration.assign_add(1.0)
        alpha = learning_rate * tf.sqrt(1.0 - BETA_2**iteration) / (1.0 - BETA_1**iteration)
        for param, m, v, g, s in zip(params, moments, velocities, grads, squares, strict=True):
            m.assign_add((g - m) * (1.0 - BETA_1))
            v.assign_add((s - v) * (1.0 - BETA_2))
            param.assign_sub(m * alpha / (tf.sqrt(v) + EPSILON))

    return apply


def matmul_softmax_step(model, learning_rate: float, ranking_l2: float) -> Callable:
    """A compiled step(batch_users int32 (b,), labels float32 (b, n_items)) -> loss, updating the model's user
    table, item table and item bias in place."""
    import tensorflow as tf

    user_t, item_t, item_b = params = _mf_tables(model)
    apply = _adam(params, learning_rate)
    n_items = int(item_t.shape[0])

    @tf.function(reduce_retracing=True)
    def step(batch_users, labels):
        b = tf.cast(tf.shape(batch_users)[0], tf.float32)
        u = tf.gather(user_t, batch_users)
        with tf.GradientTape() as tape:
            tape.watch(u)
            scores = tf.matmul(u, item_t, transpose_b=True) + tf.transpose(item_b)
            loss = -tf.reduce_sum(labels * tf.nn.log_softmax(scores)) / tf.reduce_sum(labels)
            grad_scores = tape.gradient(loss, scores)  # G: (b, n_items)
        g2 = tf.square(grad_scores)
        # the L2 penalty of the generic step: mean squared row norm of the batch's users and of every item
        pen_u, pen_i = 2.0 * ranking_l2 * u / b, 2.0 * ranking_l2 * item_t / n_items
        g_u = tf.matmul(grad_scores, item_t) + pen_u
        s_u = tf.matmul(g2, tf.square(item_t)) + tf.square(pen_u)
        g_i = tf.matmul(grad_scores, u, transpose_a=True) + pen_i
        s_i = tf.matmul(g2, tf.square(u), transpose_a=True) + tf.square(pen_i)
        g_b = tf.transpose(tf.reduce_sum(grad_scores, axis=0, keepdims=True))
        s_b = tf.transpose(tf.reduce_sum(g2, axis=0, keepdims=True))
        rows = tf.expand_dims(batch_users, 1)
        apply(
            (tf.scatter_nd(rows, g_u, tf.shape(user_t)), g_i, g_b),
            (tf.scatter_nd(rows, s_u, tf.shape(user_t)), s_i, s_b),
        )
        return loss

    return step


class SharedNegatives:
    """Draws a step's shared negatives from q ~ (train count + 1)^SAMPLE_POWER, with their log-Q weights."""

    def __init__(self, item_counts: np.ndarray, size: int, seed: int):
        q = (np.asarray(item_counts, dtype=np.float64) + 1.0) ** SAMPLE_POWER
        self.q = q / q.sum()
        self.size = size
        self.rng = np.random.default_rng(seed)

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """(items int32 (S,), log weights float32 (S,) = -log(S q_j)): sum_j exp(s_j + w_j) estimates Z."""
        items = self.rng.choice(len(self.q), size=self.size, p=self.q).astype(np.int32)
        return items, (-np.log(self.size * self.q[items])).astype(np.float32)


def sampled_softmax_step(model, learning_rate: float, ranking_l2: float) -> Callable:
    """A compiled step(batch_users (b,), pair_rows (p,), pair_items (p,), negatives (S,), log_weights (S,)) -> loss.

    pair_rows index batch_users: the batch's positives as (row, item) pairs. The estimated loss is
    (sum_u n_u log Z_u - sum of positive scores) / sum_u n_u: the exact step's loss with Z_u estimated.
    Item table and bias: Keras' dense Adam, as the exact step. User rows: an epoch touches each user once, and
    dense Adam then keeps moving the row by its decaying momentum for the next steps, in which nothing else
    reads it. That tail is summed in closed form at the touch (geometric, v held constant), so only the batch's
    rows are updated: dense Adam on 162k x 64 user rows every step would cost more than the math.
    """
    import tensorflow as tf

    user_t, item_t, item_b = _mf_tables(model)
    apply_items = _adam((item_t, item_b), learning_rate)
    user_v = tf.Variable(tf.zeros_like(user_t), trainable=False)
    user_last = tf.Variable(tf.zeros(tf.shape(user_t)[:1], tf.float32), trainable=False)
    iteration = tf.Variable(0.0, trainable=False, dtype=tf.float32)
    tail = (1.0 - BETA_1) / (1.0 - BETA_1 / BETA_2**0.5)  # sum_k (1 - b1) b1^k / sqrt(b2^k)
    n_items = int(item_t.shape[0])

    @tf.function(reduce_retracing=True)
    def step(batch_users, pair_rows, pair_items, negatives, log_weights):
        n_batch = tf.shape(batch_users)[0]
        u, v_neg, v_pos = (
            tf.gather(user_t, batch_users),
            tf.gather(item_t, negatives),
            tf.gather(item_t, pair_items),
        )
        u_pos = tf.gather(u, pair_rows)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(pair_rows, tf.float32), pair_rows, n_batch)
        total = tf.reduce_sum(counts)
        logits = tf.matmul(u, v_neg, transpose_b=True) + tf.gather(item_b, negatives)[:, 0] + log_weights
        pos_scores = tf.reduce_sum(u_pos * v_pos, axis=1) + tf.gather(item_b, pair_items)[:, 0]
        loss = (
            tf.reduce_sum(counts * tf.reduce_logsumexp(logits, axis=1)) - tf.reduce_sum(pos_scores)
        ) / total
        g_neg = tf.nn.softmax(logits, axis=1) * tf.expand_dims(counts / total, 1)  # dLoss/ds_uj: (b, S)
        g_pos = -1.0 / total  # dLoss/ds_ui of every positive pair
        g2_neg = tf.square(g_neg)
        pen_u = 2.0 * ranking_l2 * u / tf.cast(n_batch, tf.float32)
        pen_i = 2.0 * ranking_l2 * item_t / n_items
        g_u = (
            tf.matmul(g_neg, v_neg) + g_pos * tf.math.unsorted_segment_sum(v_pos, pair_rows, n_batch) + pen_u
        )
        s_u = (tf.matmul(g2_neg, tf.square(v_neg)) + tf.square(pen_u)
               + g_pos**2 * tf.math.unsorted_segment_sum(tf.square(v_pos), pair_rows, n_batch))  # fmt: skip
        # item rows: negatives' and positives' slices in one scatter each (duplicates add up)
        rows = tf.expand_dims(tf.concat([negatives, pair_items], 0), 1)
        g_i = tf.concat([tf.matmul(g_neg, u, transpose_a=True), g_pos * u_pos], 0)
        s_i = tf.concat([tf.matmul(g2_neg, tf.square(u), transpose_a=True), g_pos**2 * tf.square(u_pos)], 0)
        ones = tf.ones_like(pair_items, tf.float32)
        g_b = tf.expand_dims(tf.concat([tf.reduce_sum(g_neg, axis=0), g_pos * ones], 0), 1)
        s_b = tf.expand_dims(tf.concat([tf.reduce_sum(g2_neg, axis=0), g_pos**2 * ones], 0), 1)
        item_shape, bias_shape = tf.shape(item_t), tf.shape(item_b)
        apply_items(
            (tf.scatter_nd(rows, g_i, item_shape) + pen_i, tf.scatter_nd(rows, g_b, bias_shape)),
            (tf.scatter_nd(rows, s_i, item_shape) + tf.square(pen_i), tf.scatter_nd(rows, s_b, bias_shape)),
        )
        iteration.assign_add(1.0)
        alpha = learning_rate * tf.sqrt(1.0 - BETA_2**iteration) / (1.0 - BETA_1**iteration)
        since = tf.expand_dims(iteration - tf.gather(user_last, batch_users), 1)
        v_u = tf.gather(user_v, batch_users) * BETA_2**since + (1.0 - BETA_2) * s_u
        user_rows = tf.expand_dims(batch_users, 1)
        user_v.scatter_nd_update(user_rows, v_u)
        user_last.scatter_nd_update(user_rows, tf.fill([n_batch], iteration))
        user_t.scatter_nd_sub(user_rows, alpha * tail * g_u / (tf.sqrt(v_u) + EPSILON))
        return loss

    return step
