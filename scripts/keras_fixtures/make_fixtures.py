"""Writes the Keras fixtures of test/fixtures/keras_written/ with Keras itself, and what Keras predicts.

    .venv/keras3/bin/python scripts/keras_fixtures/make_fixtures.py keras3 OUT_DIR   # Keras 3, JAX backend
    .venv/keras3/bin/python scripts/keras_fixtures/make_fixtures.py tf_keras OUT_DIR # tf-keras 2.21
    .venv/tf2.15/bin/python scripts/keras_fixtures/make_fixtures.py tf2.15 OUT_DIR   # tf.keras 2.15

Run through `npm run fixtures:keras` (scripts/keras_fixtures.ts), which picks the environment of
each group and merges the groups' manifests. Each group builds small models with fixed seeds,
saves each in the formats its Keras writes, predicts fixed inputs with the model in memory (Keras's
own `predict`, before any saving), and writes `<group>.json`: per file, the inputs, Keras's outputs,
the Keras version, and for files that must be refused, the part of the message that says why.

Groups:
- keras3: Keras 3 (JAX backend) `.keras` and `.h5`: MultiHeadAttention with its options and masks
  (and the run order Keras gives the layers, which decides which masks Keras >= 3.8 has cleared);
  keras-hub's layers; slicing (`x[:, -1, :]`, GetItem), Cropping1D, activations (as layers' arguments
  and as operations), constant tensors, Softmax, Normalization (adapted, fixed, inverted), a Conv2D
  patch stem with Reshape/Permute; nested Sequential and functional models (shared, frozen, with
  BatchNormalization, two inputs, nested twice, as an output); the keras.io example classes
  (keras_io_examples.py) loaded with customObjects, a variant of one, and Lambda.
- tf_keras / tf2.15: Keras 2 `.h5` and the Keras 2 `.keras` zip (tf-keras 2.21; tf.keras 2.15, also
  as saved on Windows, with `\\` in its weight group names), and (tf2.15) tensorflowjs_converter's
  model.json of the `.h5`: TFOpLambda (tf.nn activations), SlicingOpLambda, nested models as in
  keras3, Normalization, Cropping1D, MultiHeadAttention, and the padding masks Keras 2 gives it.
"""

import json
import os
import subprocess
import sys

GROUP = sys.argv[1]
OUT = sys.argv[2]
os.makedirs(OUT, exist_ok=True)
if GROUP == "keras3":
    os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

if GROUP == "keras3":
    import keras  # noqa: E402
    from keras import layers, ops  # noqa: E402

    KERAS = f"keras {keras.__version__} (jax backend)"
elif GROUP == "tf_keras":
    import tf_keras as keras  # noqa: E402
    from tf_keras import layers  # noqa: E402
    import tensorflow as tf  # noqa: E402

    KERAS = f"tf-keras {keras.__version__}"
elif GROUP == "tf2.15":
    import tensorflow as tf  # noqa: E402
    from tensorflow import keras  # noqa: E402
    from tensorflow.keras import layers  # noqa: E402

    import keras as keras_package  # noqa: E402

    KERAS = f"tf.keras {keras_package.__version__} (TensorFlow {tf.__version__})"
else:
    raise SystemExit(f"unknown group {GROUP}; expected keras3, tf_keras or tf2.15")

ENTRIES = []


def rng(seed):
    return np.random.default_rng(seed)


def nested(a):
    """Values as nested JSON lists; float32 as 9 significant digits, which read back as the same float32."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return a.tolist()
    return np.vectorize(lambda v: float("%.9g" % v), otypes=[object])(a.astype(np.float32)).tolist()


def run_order(model):
    """The layers and operations in the order Keras 3 runs them (keras/src/ops/function.py
    `_run_through_graph`: `_nodes_by_depth`, deepest first), for models without nested models
    (the loader inlines those); None otherwise and for Keras 2."""
    if GROUP != "keras3" or any(isinstance(layer, keras.Model) for layer in model.layers):
        return None
    depths = sorted(model._nodes_by_depth, reverse=True)
    return [n.operation.name for d in depths for n in model._nodes_by_depth[d] if not n.is_input]


def record(files, model, inputs, custom_objects=None, note=""):
    """Keras's prediction for `inputs`, recorded for every file the model was saved as."""
    outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    order = run_order(model)
    for file in files:
        ENTRIES.append(
            {
                "file": file,
                "keras": KERAS,
                "note": note,
                "customObjects": custom_objects or [],
                "inputs": [{"dtype": "int32" if x.dtype.kind in "iu" else "float32", "values": nested(x)} for x in inputs],
                "outputs": [nested(y) for y in outputs],
                **({"runOrder": order} if order is not None else {}),
            }
        )


def refuse(file, because, note=""):
    ENTRIES.append({"file": file, "keras": KERAS, "note": note, "refused": because})


def save(model, name, formats=(".keras", ".h5")):
    files = []
    for ext in formats:
        path = os.path.join(OUT, name + ext)
        if os.path.exists(path):
            os.remove(path)
        model.save(path)
        files.append(name + ext)
    return files


def randomize(model):
    """Every weight drawn at random (variances positive), so that BatchNormalization's statistics matter."""
    generator = rng(99)
    for w in model.weights:
        values = generator.normal(size=tuple(w.shape)).astype("float32") * 0.5
        w.assign(np.abs(values) + 0.5 if "variance" in w.name else values)


def nested_models(seed):
    """Models nested in a model: a Sequential with BatchNormalization called twice (its layers shared),
    a frozen one (every weight non-trainable: another .h5 weight order), a functional model with two
    inputs, a Sequential holding a Sequential, and a Sequential as a model output; with its inputs."""
    keras.utils.set_random_seed(seed)
    first = keras.Input((5, 6), name="first")
    second = keras.Input((5, 6), name="second")
    shared = keras.Sequential(
        [layers.Dense(6, activation="gelu"), layers.BatchNormalization(), layers.Dense(6)], name="shared"
    )
    frozen = keras.Sequential([layers.Dense(6), layers.BatchNormalization()], name="frozen")
    a, b = keras.Input((5, 6)), keras.Input((5, 6))
    pair = keras.Model([a, b], layers.Concatenate()([layers.Dense(4)(a), b * 2.0]), name="pair")
    deep = keras.Sequential(
        [keras.Input((5, 10)), layers.Dense(6), keras.Sequential([layers.Dense(6, activation="tanh")], name="inner")],
        name="deep",
    )
    x = shared(first) + shared(second)
    z = deep(pair([x, frozen(second)]))
    model = keras.Model([first, second], [z, frozen(z)])
    frozen.trainable = False
    randomize(model)
    return model, [floats(seed + 1, 2, 5, 6), floats(seed + 2, 2, 5, 6)]


def tokens(seed, batch, length, vocab, pad=True):
    t = rng(seed).integers(1, vocab, size=(batch, length))
    if pad:
        t[0, length - 2 :] = 0  # row 0 ends in padding
    return t.astype("int32")


def floats(seed, *shape):
    return rng(seed).normal(size=shape).astype("float32")


# ----------------------------------------------------------------------------------------------
# Keras 3
# ----------------------------------------------------------------------------------------------


def keras3():
    import keras_hub

    sys.path.insert(0, os.path.dirname(__file__))
    import keras_io_examples as io

    # Real files built from the examples carry the module of the user's script.
    for cls in vars(io).values():
        if isinstance(cls, type) and issubclass(cls, layers.Layer):
            cls.__module__ = "__main__"

    # 1. Attention with every MultiHeadAttention option Keras 3.15 has, and masks.
    keras.utils.set_random_seed(1)
    ids = keras.Input((6,), dtype="int32", name="tokens")
    context = keras.Input((5, 7), name="context")
    mask = keras.Input((6, 5), name="attention_mask")
    x = layers.Embedding(30, 8, mask_zero=True)(ids)
    a = layers.MultiHeadAttention(2, 4, dropout=0.3, name="causal_self")(x, x, use_causal_mask=True)
    x = layers.LayerNormalization(epsilon=1e-3)(layers.Add()([x, a]))
    key = layers.Dense(6)(context)
    c = layers.MultiHeadAttention(
        3, 3, use_bias=False, output_shape=8, name="cross_no_bias"
    )(x, context, key=key)
    x = layers.Add()([x, c])
    g = layers.MultiHeadAttention(2, 4, use_gate=True, name="gated")(x, context, attention_mask=mask)
    s = layers.MultiHeadAttention(2, 4, sliding_window=2, name="window")(g, g, use_causal_mask=True)
    w = layers.MultiHeadAttention(2, 4, sliding_window=3, name="window_both")(s, s)
    out, scores = layers.MultiHeadAttention(2, 4, name="scores")(w, context, return_attention_scores=True)
    pooled = layers.GlobalAveragePooling1D()(out)
    model = keras.Model([ids, context, mask], [layers.Dense(3, activation="softmax")(pooled), scores])
    m = (rng(2).random((2, 6, 5)) > 0.3).astype("float32")
    m[:, :, 0] = 1
    record(save(model, "k3_attention"), model, [tokens(1, 2, 6, 30), floats(3, 2, 5, 7), m])

    # 2. keras-hub's layers: embeddings, encoder (post-LN, pre-LN gelu, padding and attention masks),
    #    decoder (cross-attention, decoder-only pre-LN), with masks from mask_zero.
    keras.utils.set_random_seed(2)
    src = keras.Input((6,), dtype="int32", name="source")
    tgt = keras.Input((5,), dtype="int32", name="target")
    enc_mask = keras.Input((6, 6), dtype="int32", name="encoder_attention_mask")
    e = keras_hub.layers.TokenAndPositionEmbedding(30, 6, 8, mask_zero=True)(src)
    e = keras_hub.layers.TransformerEncoder(12, 2, dropout=0.2)(e)
    e = keras_hub.layers.TransformerEncoder(12, 2, activation="gelu", normalize_first=True, layer_norm_epsilon=1e-6)(
        e, attention_mask=enc_mask
    )
    d = layers.Embedding(30, 8, mask_zero=True)(tgt)
    d = d + keras_hub.layers.PositionEmbedding(5)(d)
    d = d + keras_hub.layers.SinePositionEncoding()(d)
    d = keras_hub.layers.TransformerDecoder(12, 2)(d, e)
    d = keras_hub.layers.TransformerDecoder(12, 2, normalize_first=True, activation="gelu")(d)
    model = keras.Model([src, tgt, enc_mask], layers.Dense(4)(d))
    am = np.tril(np.ones((6, 6), "int32"))[None].repeat(2, 0)
    record(save(model, "k3_keras_hub"), model, [tokens(4, 2, 6, 30), tokens(5, 2, 5, 30), am])

    # 3. Slicing, nested Sequential and functional models, activations, constant tensors.
    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 8), name="sequence")
    ffn = keras.Sequential([layers.Dense(12, activation="leaky_relu"), layers.Dense(8)], name="ffn")
    inner_in = keras.Input((6, 8))
    inner = keras.Model(inner_in, layers.LayerNormalization()(layers.Dense(8, activation="selu")(inner_in)), name="block")
    x = inp + ffn(inp)
    x = block = inner(x)
    x = x + np.linspace(-1, 1, 48, dtype="float32").reshape(6, 8)  # a constant tensor in the graph
    acts = ["elu", "softplus", "swish", "silu", "gelu", "tanh", "sigmoid", "softsign", "relu6", "leaky_relu", "selu"]
    parts = [layers.Dense(3, activation=a, name=f"dense_{a}")(x) for a in acts]
    parts += [layers.Activation(a, name=f"activation_{a}")(x) for a in ["gelu", "leaky_relu", "selu", "silu"]]
    parts += [ops.gelu(x, approximate=True), ops.gelu(x), ops.gelu(x, approximate=False), ops.relu(x)]
    parts += [ops.sigmoid(x), ops.silu(x), ops.tanh(x), ops.relu6(x), ops.softsign(x)]
    parts += [layers.LeakyReLU(negative_slope=0.1)(x), ops.leaky_relu(x), ops.elu(x), ops.softplus(x), ops.selu(x)]
    parts += [layers.Softmax()(x), layers.Softmax(axis=1)(x), ops.softmax(x, axis=-1)]
    x = layers.Concatenate()(parts)
    last = x[:, -1, :]
    sliced = x[:, 1:5:2, None, 0]
    every = x[..., ::4]
    backwards = layers.Cropping1D((1, 2))(x)[:, ::-2, -3:-50:-7]
    model = keras.Model(inp, [last, sliced, every, block, backwards])
    record(save(model, "k3_graph_ops"), model, [floats(6, 2, 6, 8)])

    # 4. Normalization (adapted: stored mean and variance), a ViT patch stem: Conv2D -> Reshape -> Permute.
    keras.utils.set_random_seed(4)
    image = keras.Input((8, 8, 3), name="image")
    norm = layers.Normalization()
    norm.adapt(floats(7, 16, 8, 8, 3) * 3 + 1)
    x = norm(image)
    x = layers.Conv2D(6, 4, strides=4, padding="valid", name="patches")(x)
    x = layers.Reshape((-1, 6))(x)
    x = x + floats(8, 4, 6) * 0.1
    x = layers.MultiHeadAttention(2, 3)(x, x)
    x = layers.Permute((2, 1))(x)
    x = layers.Conv2D(2, (2, 2), padding="same", dilation_rate=1)(layers.Reshape((6, 4, 1))(x))
    x = layers.Flatten()(x)
    fixed = layers.Normalization(mean=[0.5, -1.0, 2.0], variance=[4.0, 1.0, 0.25])(image)
    whole = layers.Normalization(axis=None)
    whole.adapt(floats(10, 4, 8, 8, 3) * 2 - 1)
    rows = layers.Normalization(axis=(1, 3), mean=[[0.5, 1.0, -1.0]], variance=[[2.0, 1.0, 0.5]], invert=True)
    pooled = layers.GlobalAveragePooling2D()(layers.Concatenate()([fixed, whole(image), rows(image)]))
    model = keras.Model(image, [layers.Dense(3, activation="softmax")(x), pooled])
    record(save(model, "k3_vit_stem"), model, [floats(9, 2, 8, 8, 3)])

    # 4b. Nested models.
    model, inputs = nested_models(41)
    record(save(model, "k3_nested"), model, inputs)

    # 4c. Padding masks into MultiHeadAttention, where Keras 3.15 does what tfjs's executor does not:
    #     - value: the query's and the value's masks differ (two LayerNormalizations of one masked input);
    #     - cleared: Keras >= 3.8's MultiHeadAttention clears the masks of the tensors it is given, so
    #       the residual `x + mha(x, x)` and everything after it carries none;
    #     - explicit: with dropout (or return_attention_scores) Keras's own attention path gives a
    #       fully masked query row all-zero probabilities (the fused path: uniform ones).
    for name, seed in (("value", 42), ("cleared", 43), ("explicit", 44)):
        keras.utils.set_random_seed(seed)
        ids = keras.Input((6,), dtype="int32", name="tokens")
        x = layers.Embedding(30, 8, mask_zero=True)(ids)
        if name == "value":
            y = layers.MultiHeadAttention(2, 4)(layers.LayerNormalization()(x), layers.LayerNormalization()(x))
        elif name == "cleared":
            h = layers.Add()([x, layers.MultiHeadAttention(2, 4)(x, x)])
            y = layers.MultiHeadAttention(2, 4)(h, h)
        else:
            y = layers.MultiHeadAttention(2, 4, dropout=0.3)(x, x)
        model = keras.Model(ids, y)
        randomize(model)
        record(save(model, f"k3_mask_{name}", (".keras",)), model, [tokens(45, 2, 6, 30)])

    # 4d. Where the masks Keras >= 3.8 clears depend on the order Keras runs the layers in
    #     (keras/src/ops/function.py `map_graph`): two attentions at the same depth read one masked
    #     tensor as their value, and the first to run clears its mask for the second; keras-hub's
    #     post-LN TransformerEncoder clears its input's mask (its attention's query is the input);
    #     Concatenate ORs the masks of its inputs along the features.
    keras.utils.set_random_seed(46)
    ids = keras.Input((6,), dtype="int32", name="tokens")
    x = layers.Embedding(30, 8, mask_zero=True)(ids)
    first = layers.MultiHeadAttention(2, 4, name="first")(layers.Dense(8)(x), x)
    second = layers.MultiHeadAttention(2, 4, name="second")(layers.LayerNormalization()(x), x)
    both = layers.Concatenate()([first, second])
    after = layers.MultiHeadAttention(2, 4, name="after")(both, both)
    e = layers.Embedding(30, 8, mask_zero=True)(ids)
    encoded = keras_hub.layers.TransformerEncoder(12, 2, name="encoder")(e)
    over = layers.MultiHeadAttention(2, 4, name="over_encoder")(encoded, e)
    model = keras.Model(ids, [after, over])
    randomize(model)
    record(save(model, "k3_mask_order"), model, [tokens(46, 2, 6, 30)])

    # 4e. keras-hub's transformer layers with dropout on padded inputs, every position an output:
    #     their attention (Keras 3.10+, with dropout: the masked Softmax path) gives a query whose keys
    #     are all masked zero attention: the encoder's padded queries, the decoder's first query where
    #     its sequence starts with padding.
    keras.utils.set_random_seed(47)
    src = keras.Input((6,), dtype="int32", name="source")
    tgt = keras.Input((5,), dtype="int32", name="target")
    e = keras_hub.layers.TransformerEncoder(12, 2, dropout=0.2)(layers.Embedding(30, 8, mask_zero=True)(src))
    d = keras_hub.layers.TransformerDecoder(12, 2, dropout=0.2)(layers.Embedding(30, 8, mask_zero=True)(tgt), e)
    model = keras.Model([src, tgt], [layers.Dense(3)(e), layers.Dense(3)(d)])
    randomize(model)
    target = tokens(48, 2, 5, 30, pad=False)
    target[1, :2] = 0  # row 1 starts with padding
    record(save(model, "k3_mask_hub_dropout"), model, [tokens(47, 2, 6, 30), target])

    # 5. keras.io "Text classification with Transformer", as the example builds it (smaller).
    keras.utils.set_random_seed(5)
    maxlen, vocab_size, embed_dim, num_heads, ff_dim = 6, 40, 8, 2, 12
    inputs = layers.Input(shape=(maxlen,))
    x = io.TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
    x = io.TransformerBlock(embed_dim, num_heads, ff_dim)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    record(
        save(model, "k3_keras_io_text_classification"),
        model,
        [tokens(10, 2, maxlen, vocab_size).astype("float32")],
        ["TransformerBlock", "TokenAndPositionEmbedding"],
    )
    refuse(
        "k3_keras_io_text_classification.keras",
        "customObjects",
        "without customObjects: the file's TransformerBlock is the user's class, not one of this package's",
    )

    # 6. keras.io translation example's encoder side (PositionalEmbedding's padding mask into
    #    TransformerEncoder), pooled.
    keras.utils.set_random_seed(6)
    encoder_inputs = keras.Input(shape=(None,), dtype="int64", name="encoder_inputs")
    x = io.PositionalEmbedding(6, vocab_size, embed_dim)(encoder_inputs)
    x = io.TransformerEncoder(embed_dim, 12, num_heads)(x)
    x = layers.GlobalAveragePooling1D()(x)
    model = keras.Model(encoder_inputs, layers.Dense(3)(x))
    record(
        save(model, "k3_keras_io_translation_encoder"),
        model,
        [tokens(11, 2, 6, vocab_size)],
        ["PositionalEmbedding", "TransformerEncoder"],
    )

    # 7. A variant of TransformerBlock (dropout_rate, an `attention` attribute): refused, not loaded as the example.
    keras.utils.set_random_seed(7)
    io.TransformerBlockWithDropoutRate.__name__ = "TransformerBlock"
    io.TransformerBlockWithDropoutRate.__qualname__ = "TransformerBlock"
    inputs = layers.Input(shape=(maxlen, embed_dim))
    x = io.TransformerBlockWithDropoutRate(embed_dim, num_heads, ff_dim, dropout_rate=0.2)(inputs)
    model = keras.Model(inputs, x)
    save(model, "k3_keras_io_variant", (".keras",))
    refuse("k3_keras_io_variant.keras", "dropout_rate", "a TransformerBlock that is not the example's")

    # 8. Lambda: arbitrary Python, refused with what to do.
    inputs = layers.Input(shape=(4,))
    model = keras.Model(inputs, layers.Lambda(lambda t: t * 2.0)(inputs))
    path = os.path.join(OUT, "k3_lambda.keras")
    if os.path.exists(path):
        os.remove(path)
    model.save(path)
    refuse("k3_lambda.keras", "Lambda")


# ----------------------------------------------------------------------------------------------
# Keras 2: tf-keras 2.21 and tf.keras 2.15
# ----------------------------------------------------------------------------------------------


def windows_paths():
    """tf.keras's saving_lib joins weight group names with tf.io.gfile.join, which is os.path.join:
    on Windows the groups are literally named `layers\\dense`. This makes Keras write that here:
    relative (weight) paths joined with `\\`, absolute (file system) paths as usual."""
    from keras.src.saving import saving_lib

    join = tf.io.gfile.join

    class Gfile:
        def __getattr__(self, name):
            return getattr(tf.io.gfile, name)

        @staticmethod
        def join(first, *rest):
            return join(first, *rest) if first.startswith("/") else "\\".join([p for p in (first, *rest) if p])

    class Io:
        gfile = Gfile()

        def __getattr__(self, name):
            return getattr(tf.io, name)

    class Tf:
        io = Io()

        def __getattr__(self, name):
            return getattr(tf, name)

    saving_lib.tf = Tf()
    return lambda: setattr(saving_lib, "tf", tf)


def tfjs_converter(name):
    """tensorflowjs_converter's model.json (and weights) of `name`.h5, in `name`_tfjs/."""
    folder = os.path.join(OUT, f"{name}_tfjs")
    subprocess.run(
        [sys.executable, "-m", "tensorflowjs.converters.converter", "--input_format", "keras",
         os.path.join(OUT, f"{name}.h5"), folder],
        check=True,
    )
    return f"{name}_tfjs/model.json"


def save_all_keras2(model, name):
    """`name`.keras and `name`.h5; with tf.keras 2.15 also the `.keras` as saved on Windows and
    tensorflowjs_converter's model.json."""
    files = save(model, name)
    if GROUP == "tf2.15":
        restore = windows_paths()
        files += save(model, f"{name}_windows", (".keras",))
        restore()
        files.append(tfjs_converter(name))
    return files


def keras2(prefix):
    def seed(n):
        tf.keras.utils.set_random_seed(n) if GROUP == "tf2.15" else keras.utils.set_random_seed(n)

    seed(1)
    inp = keras.Input((5, 8), name="sequence")
    a = layers.MultiHeadAttention(2, 3, value_dim=5, name="attention")(inp, inp)
    x = inp + a
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = x + tf.constant(np.linspace(-0.5, 0.5, 40, dtype="float32").reshape(5, 8))
    ffn = keras.Sequential([layers.Dense(12, activation="gelu"), layers.Dense(8, activation="selu")], name="ffn")
    x = x + ffn(x)
    x = tf.nn.gelu(x, approximate=True)
    last = x[:, -1, :]
    pooled = tf.reduce_mean(x[:, 1:4, :], axis=1)
    out = layers.Dense(3, activation="softmax")(layers.Concatenate()([last, pooled]))
    model = keras.Model(inp, out)
    record(save_all_keras2(model, f"{prefix}_graph"), model, [floats(12, 2, 5, 8)])

    # Nested models, as in the Keras 3 group: tf.keras counts their calls from 1.
    model, inputs = nested_models(2)
    record(save_all_keras2(model, f"{prefix}_nested"), model, inputs)

    # tf.nn activations and slicing as TFOpLambda/SlicingOpLambda, Cropping1D, Normalization.
    seed(3)
    inp = keras.Input((6, 4), name="sequence")
    parts = [tf.nn.leaky_relu(inp), tf.nn.leaky_relu(inp, alpha=0.1), tf.nn.silu(inp), tf.nn.elu(inp)]
    parts += [tf.nn.relu(inp), tf.math.sigmoid(inp), tf.nn.softmax(inp, axis=1), tf.nn.gelu(inp), tf.nn.selu(inp)]
    parts += [tf.nn.softplus(inp), tf.math.tanh(inp), tf.nn.relu6(inp), tf.nn.softsign(inp)]
    x = layers.Concatenate()(parts)
    reversed_ = layers.Cropping1D((1, 2))(x)[:, :, ::-3]  # tf.keras 2.15 cannot save an Ellipsis in .keras
    picked = x[:, tf.newaxis, -2, 3:40:5]
    norm = layers.Normalization()
    norm.adapt(floats(23, 8, 6, 4) * 2 + 1)
    fixed = layers.Normalization(axis=None, mean=1.0, variance=4.0, invert=True)
    normalized = layers.Concatenate()([norm(inp), fixed(inp), layers.Dense(3, activation="gelu")(inp)])
    model = keras.Model(inp, [reversed_, picked, normalized])
    record(save(model, f"{prefix}_ops"), model, [floats(24, 2, 6, 4) * 2])

    # Padding masks into MultiHeadAttention as Keras 2 passes them: the query's, value's and key's
    # own masks (here the value is another tensor than the query), ANDed by merge layers, none
    # cleared; with dropout, a fully masked query still attends uniformly (Keras 2's masked softmax).
    seed(4)
    ids = keras.Input((6,), dtype="int32", name="tokens")
    x = layers.Embedding(30, 8, mask_zero=True)(ids)
    a = layers.MultiHeadAttention(2, 4, dropout=0.3, name="attention")(
        layers.LayerNormalization()(x), layers.LayerNormalization()(x)
    )
    h = layers.Add()([x, a])
    model = keras.Model(ids, layers.MultiHeadAttention(2, 4, name="again")(h, h))
    randomize(model)
    record(save_all_keras2(model, f"{prefix}_mask"), model, [tokens(47, 2, 6, 30)])

    # A Sequential model with an Embedding and masked pooling.
    seq = keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            layers.Embedding(30, 8, mask_zero=True),
            layers.GlobalAveragePooling1D(),
            layers.Dense(4, activation="elu"),
            layers.Softmax(),
        ]
    )
    record(save(seq, f"{prefix}_sequential"), seq, [tokens(13, 2, 6, 30)])


if GROUP == "keras3":
    keras3()
elif GROUP == "tf_keras":
    keras2("tfk2.21")
else:
    keras2("k2.15")

with open(os.path.join(OUT, f"{GROUP}.json"), "w") as f:
    json.dump({"group": GROUP, "keras": KERAS, "entries": ENTRIES}, f)
print(f"{GROUP}: {len(ENTRIES)} entries written to {OUT}")
