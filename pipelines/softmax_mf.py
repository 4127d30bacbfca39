"""The softmax training step of dot-product MF as matrix products: the same updates as the generic pair-by-pair
step (train._softmax_epochs), at the cost of the math.

The generic step calls the Keras model on every (user, item) pair of a batch, so it materialises
users x catalog x dim embedding rows: fine at 10k movies, hours per epoch at ml-25m's 59k. Here a step is
`U_batch @ V.T + b`. The update must stay the generic step's, or the tuned defaults would not carry over:
Keras' Adam receives the generic step's embedding gradients as IndexedSlices with one slice per pair, and squares
the slices before summing them, so its second moment is the sum of the per-pair squared gradients, not the
square of their sum. That sum is a matrix product too: (G * G) @ (V * V) for the user rows (G = dLoss/dScores),
(G * G).T @ (U * U) for the item rows. The per-user bias is not trained: its gradient sums to zero in a
softmax over the catalog (the generic step moves it by float noise only).
"""

from __future__ import annotations

from collections.abc import Callable

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # keras.optimizers.Adam defaults


def is_plain_mf(model) -> bool:
    """True for build_mf's layout (the only model this step knows)."""
    names = {layer.name for layer in model.layers}
    return "mf_item_embedding" in names and "item_content_features" not in names


def matmul_softmax_step(model, learning_rate: float, ranking_l2: float) -> Callable:
    """A compiled step(batch_users int32 (b,), labels float32 (b, n_items)) -> loss, updating the model's user
    table, item table and item bias in place."""
    import tensorflow as tf

    user_t = model.get_layer("mf_user_embedding").embeddings.value
    item_t = model.get_layer("mf_item_embedding").embeddings.value
    item_b = model.get_layer("mf_item_bias").embeddings.value
    params = (user_t, item_t, item_b)
    moments = [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]
    velocities = [tf.Variable(tf.zeros_like(p), trainable=False) for p in params]
    iteration = tf.Variable(0.0, trainable=False, dtype=tf.float32)
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
        grads = (tf.scatter_nd(rows, g_u, tf.shape(user_t)), g_i, g_b)
        squares = (tf.scatter_nd(rows, s_u, tf.shape(user_t)), s_i, s_b)
        iteration.assign_add(1.0)
        alpha = learning_rate * tf.sqrt(1.0 - BETA_2**iteration) / (1.0 - BETA_1**iteration)
        for param, m, v, g, s in zip(params, moments, velocities, grads, squares, strict=True):
            m.assign_add((g - m) * (1.0 - BETA_1))
            v.assign_add((s - v) * (1.0 - BETA_2))
            param.assign_sub(m * alpha / (tf.sqrt(v) + EPSILON))
        return loss

    return step
