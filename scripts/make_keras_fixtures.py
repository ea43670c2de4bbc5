"""Writes the Keras fixtures of test/fixtures/keras/ with h5py, in the layouts Keras writes, and their NumPy references.

    /usr/bin/python3 scripts/make_keras_fixtures.py

Nobody here can run Keras, so these files are written by this script, not by Keras, following
Keras's saving code: keras/src/saving/saving_lib.py (.keras: config.json, metadata.json,
model.weights.h5 with layers/<snake_case class>[_n]/vars/<i>, Keras 3.9+'s `name` attribute on
each vars group, MultiHeadAttention's query_dense/key_dense/value_dense/output_dense),
keras/src/legacy/saving/legacy_h5_format.py (Keras 3 .h5: model_config in Keras 3 nodes,
model_weights/<layer> with weight_names = variable paths), tf_keras hdf5_format (Keras 2 .h5:
Keras 2 nodes, TFOpLambda, names ending in ':0'), and a tfjs model.json in Keras 3's node format.

One model, four files: token ids (B, 6) with 0 = padding -> Embedding(mask_zero) -> causal
self-attention -> Add -> LayerNormalization -> cross-attention over a float context (B, 5, 6)
with key = Dense(7)(context) != value = context and value_dim 5 != key_dim 3, no biases -> Add
-> GlobalAveragePooling1D (masked) -> Dense(relu) -> x - mean(x) + 1 (operations / TFOpLambdas)
-> Dense(softmax). reference.json holds seeded inputs and the outputs keras_reference.py computes
from each written file, as the Keras version each names computes them (the Keras 3.9 ones agree; in
the Keras 2.11 one the self-attention clears no mask, so the Add after it keeps the padding mask).
"""
import io
import json
import os
import sys
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import keras_reference  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "keras")
rng = np.random.default_rng(14)


def w(*shape, scale=0.5):
    return (rng.normal(size=shape) * scale).astype(np.float32)


WEIGHTS = {
    "embedding": [w(20, 8)],
    "self_attention": [w(8, 2, 4), w(2, 4), w(8, 2, 4), w(2, 4), w(8, 2, 4), w(2, 4), w(2, 4, 8), w(8)],
    "layer_normalization": [1 + w(8, scale=0.1), w(8, scale=0.1)],
    "key_projection": [w(6, 7), w(7)],
    "cross_attention": [w(8, 2, 3), w(7, 2, 3), w(6, 2, 5), w(2, 5, 8)],
    "hidden": [w(8, 4), w(4)],
    "out": [w(4, 3), w(3)],
}
# Keras class of each layer with weights or a Keras 3 group, in layer order.
CLASSES = {
    "tokens": "InputLayer",
    "context": "InputLayer",
    "embedding": "Embedding",
    "self_attention": "MultiHeadAttention",
    "add": "Add",
    "layer_normalization": "LayerNormalization",
    "key_projection": "Dense",
    "cross_attention": "MultiHeadAttention",
    "add_1": "Add",
    "pool": "GlobalAveragePooling1D",
    "hidden": "Dense",
    "out": "Dense",
}
POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def init(name):
    return {"module": "keras.initializers", "class_name": name, "config": {}, "registered_name": None}


def kt(layer, shape, dtype="float32"):
    return {"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": dtype, "keras_history": [layer, 0, 0]}}


def k3_layer(cls, name, config, args, kwargs=None, module="keras.layers"):
    entry = {"module": module, "class_name": cls, "config": {"name": name, **config}, "registered_name": None}
    if cls != "InputLayer":
        entry["config"].setdefault("trainable", True)
        entry["config"].setdefault("dtype", POLICY)
    entry["name"] = name
    entry["inbound_nodes"] = [] if args is None else [{"args": args, "kwargs": kwargs or {}}]
    return entry


def dense_cfg(units, activation="linear"):
    return {
        "units": units,
        "activation": activation,
        "use_bias": True,
        "kernel_initializer": init("GlorotUniform"),
        "bias_initializer": init("Zeros"),
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }


def mha_cfg(heads, key_dim, value_dim, use_bias):
    return {
        "num_heads": heads,
        "key_dim": key_dim,
        "value_dim": value_dim,
        "dropout": 0.0,
        "use_bias": use_bias,
        "output_shape": None,
        "attention_axes": [1],
        "kernel_initializer": init("GlorotUniform"),
        "bias_initializer": init("Zeros"),
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
        "seed": None,
    }


def keras3_config():
    B = None
    e, x, c = kt("embedding", [B, 6, 8]), kt("layer_normalization", [B, 6, 8]), kt("context", [B, 5, 6])
    layers = [
        k3_layer("InputLayer", "tokens", {"batch_shape": [B, 6], "dtype": "int32", "sparse": False, "ragged": False}, None),
        k3_layer("InputLayer", "context", {"batch_shape": [B, 5, 6], "dtype": "float32", "sparse": False, "ragged": False}, None),
        k3_layer(
            "Embedding",
            "embedding",
            {"input_dim": 20, "output_dim": 8, "embeddings_initializer": init("RandomUniform"), "embeddings_regularizer": None,
             "activity_regularizer": None, "embeddings_constraint": None, "mask_zero": True},
            [kt("tokens", [B, 6], "int32")],
        ),
        k3_layer("MultiHeadAttention", "self_attention", mha_cfg(2, 4, 4, True), [e, e],
                 {"use_causal_mask": True, "query_mask": None, "value_mask": None}),
        k3_layer("Add", "add", {}, [[e, kt("self_attention", [B, 6, 8])]]),
        k3_layer("LayerNormalization", "layer_normalization",
                 {"axis": [-1], "epsilon": 0.001, "center": True, "scale": True, "rms_scaling": False,
                  "beta_initializer": init("Zeros"), "gamma_initializer": init("Ones"), "beta_regularizer": None,
                  "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None},
                 [kt("add", [B, 6, 8])]),
        k3_layer("Dense", "key_projection", dense_cfg(7), [c]),
        k3_layer("MultiHeadAttention", "cross_attention", mha_cfg(2, 3, 5, False), [x, c],
                 {"key": kt("key_projection", [B, 5, 7]), "query_mask": None, "value_mask": None}),
        k3_layer("Add", "add_1", {}, [[x, kt("cross_attention", [B, 6, 8])]]),
        k3_layer("GlobalAveragePooling1D", "pool", {"data_format": "channels_last", "keepdims": False},
                 [kt("add_1", [B, 6, 8])], {"mask": None}),
        k3_layer("Dense", "hidden", dense_cfg(4, "relu"), [kt("pool", [B, 8])]),
        k3_layer("Mean", "mean", {"axis": -1, "keepdims": True}, [kt("hidden", [B, 4])], module="keras.src.ops.numpy"),
        k3_layer("Subtract", "subtract", {}, [kt("hidden", [B, 4]), kt("mean", [B, 1])], module="keras.src.ops.numpy"),
        k3_layer("Add", "add_2", {}, [kt("subtract", [B, 4]), 1.0], module="keras.src.ops.numpy"),
        k3_layer("Dense", "out", dense_cfg(3, "softmax"), [kt("add_2", [B, 4])]),
    ]
    for layer in layers:  # operations carry a plain config, no dtype policy or trainable flag
        if layer["module"].startswith("keras.src.ops"):
            layer["config"] = {k: v for k, v in layer["config"].items() if k not in ("dtype", "trainable")}
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {"name": "fixture", "trainable": True, "layers": layers,
                   "input_layers": [["tokens", 0, 0], ["context", 0, 0]], "output_layers": [["out", 0, 0]]},
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
    }


def keras2_config():
    def ref(name, kwargs=None):
        return [name, 0, 0, kwargs or {}]

    def layer(cls, name, config, nodes):
        return {"class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32", **config},
                "name": name, "inbound_nodes": nodes}

    k3 = {l["name"]: l for l in keras3_config()["config"]["layers"]}

    def cfg(name):
        return {k: v for k, v in k3[name]["config"].items() if k not in ("name", "trainable", "dtype")}

    def plain(c):  # Keras 2 nested objects have no module / registered_name
        return {k: ({"class_name": v["class_name"], "config": v["config"]} if isinstance(v, dict) else v)
                for k, v in c.items()}

    ln = plain(cfg("layer_normalization"))
    ln.pop("rms_scaling")
    ln["axis"] = [2]
    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6], "dtype": "int32", "sparse": False,
                                                "ragged": False, "name": "tokens"}, "name": "tokens", "inbound_nodes": []},
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 5, 6], "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "context"}, "name": "context", "inbound_nodes": []},
        layer("Embedding", "embedding", {**plain(cfg("embedding")), "input_length": 6}, [[ref("tokens")]]),
        layer("MultiHeadAttention", "self_attention", plain(cfg("self_attention")),
              [[ref("embedding", {"value": ["embedding", 0, 0], "use_causal_mask": True})]]),
        layer("Add", "add", {}, [[ref("embedding"), ref("self_attention")]]),
        layer("LayerNormalization", "layer_normalization", ln, [[ref("add")]]),
        layer("Dense", "key_projection", plain(cfg("key_projection")), [[ref("context")]]),
        layer("MultiHeadAttention", "cross_attention", plain(cfg("cross_attention")),
              [[ref("layer_normalization", {"value": ["context", 0, 0], "key": ["key_projection", 0, 0]})]]),
        layer("Add", "add_1", {}, [[ref("layer_normalization"), ref("cross_attention")]]),
        layer("GlobalAveragePooling1D", "pool", {"data_format": "channels_last", "keepdims": False}, [[ref("add_1")]]),
        layer("Dense", "hidden", plain(cfg("hidden")), [[ref("pool")]]),
        layer("TFOpLambda", "tf.math.reduce_mean", {"function": "math.reduce_mean"},
              [["hidden", 0, 0, {"axis": -1, "keepdims": True}]]),
        layer("TFOpLambda", "tf.math.subtract", {"function": "math.subtract"},
              [["hidden", 0, 0, {"y": ["tf.math.reduce_mean", 0, 0], "name": None}]]),
        layer("TFOpLambda", "tf.__operators__.add", {"function": "__operators__.add"},
              [["tf.math.subtract", 0, 0, {"y": 1.0, "name": None}]]),
        layer("Dense", "out", plain(cfg("out")), [[ref("tf.__operators__.add")]]),
    ]
    return {"class_name": "Functional", "config": {"name": "fixture", "layers": layers,
            "input_layers": [["tokens", 0, 0], ["context", 0, 0]], "output_layers": [["out", 0, 0]]}}


# Keras's variable names of each layer's weights, in layer.weights order.
def weight_names(name):
    cls = CLASSES[name]
    if cls == "Embedding":
        return ["embeddings"]
    if cls == "Dense":
        return ["kernel", "bias"]
    if cls == "LayerNormalization":
        return ["gamma", "beta"]
    if cls == "MultiHeadAttention":
        per = ["kernel", "bias"] if len(WEIGHTS[name]) == 8 else ["kernel"]
        return [f"{p}/{v}" for p in ["query", "key", "value", "attention_output"] for v in per]
    return []


def put(z, name, data):
    """An entry dated 1980-01-01, as Keras's archives are (and so the fixtures are reproducible)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = z.compression
    z.writestr(info, data)


def write_keras(path):
    """A .keras zip: saving_lib's layout (stored entries, as zipfile writes them by default)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        layers, used = h5.create_group("layers"), {}
        for name, cls in CLASSES.items():
            base = keras_reference.snake(cls)
            used[base] = used.get(base, -1) + 1
            group = layers.create_group(base if used[base] == 0 else f"{base}_{used[base]}")
            arrays = WEIGHTS.get(name, [])
            if cls == "MultiHeadAttention":
                group.create_group("vars").attrs["name"] = name
                per = len(arrays) // 4
                for i, (sub, label) in enumerate(
                    [("query_dense", "query"), ("key_dense", "key"), ("value_dense", "value"),
                     ("output_dense", "attention_output")]
                ):
                    v = group.create_group(sub).create_group("vars")
                    v.attrs["name"] = label
                    for j in range(per):
                        v[str(j)] = arrays[i * per + j]
                for sub in ["_softmax", "_dropout_layer"]:
                    group.create_group(sub).create_group("vars").attrs["name"] = sub.strip("_")
            else:
                v = group.create_group("vars")
                v.attrs["name"] = name
                for j, a in enumerate(arrays):
                    v[str(j)] = a
        h5.create_group("vars").attrs["name"] = "fixture"
    with zipfile.ZipFile(path, "w") as z:
        put(z, "metadata.json", json.dumps({"keras_version": "3.9.2", "date_saved": "2026-12-01@12:00:00"}))
        put(z, "config.json", json.dumps(keras3_config()))
        put(z, "model.weights.h5", buffer.getvalue())


def write_h5(path, config, keras_version, suffix):
    """A full-model .h5: legacy_h5_format's layout (groups sorted by layer name)."""
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = keras_version
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(config)
        mw = h5.create_group("model_weights")
        names = [l["name"] for l in config["config"]["layers"] if not str(l.get("module", "")).startswith("keras.src.ops")]
        mw.attrs["layer_names"] = [n.encode() for n in names]
        mw.attrs["backend"] = "tensorflow"
        mw.attrs["keras_version"] = keras_version
        for name in sorted(names):
            g = mw.create_group(name)
            full = [f"{name}/{n}{suffix}" for n in weight_names(name)] if name in WEIGHTS else []
            g.attrs["weight_names"] = [n.encode() for n in full] if full else np.array([], dtype=np.float64)
            for n, a in zip(full, WEIGHTS.get(name, [])):
                g.create_dataset(n, data=a)
        mw.create_group("top_level_model_weights").attrs["weight_names"] = np.array([], dtype=np.float64)


def write_model_json(folder):
    """A tfjs layers-model folder whose topology is in Keras 3's node format; weights named as tfjs names them."""
    os.makedirs(folder, exist_ok=True)
    specs, chunks = [], []
    for name in CLASSES:
        for n, a in zip(weight_names(name), WEIGHTS.get(name, [])):
            specs.append({"name": f"{name}/{n}", "shape": list(a.shape), "dtype": "float32"})
            chunks.append(a.astype("<f4").tobytes())
    with open(os.path.join(folder, "weights.bin"), "wb") as f:
        f.write(b"".join(chunks))
    topology = {"keras_version": "3.9.2", "backend": "tensorflow", "model_config": keras3_config()}
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump({"format": "layers-model", "generatedBy": "make_keras_fixtures.py", "convertedBy": None,
                   "modelTopology": topology, "weightsManifest": [{"paths": ["weights.bin"], "weights": specs}]}, f)


# A second model: gated cross-attention (use_gate) with an attention_mask given as a model input.
GATE_WEIGHTS = {
    "gated_attention": [w(6, 2, 3), w(2, 3), w(6, 2, 3), w(2, 3), w(6, 2, 3), w(2, 3), w(6, 2, 3), w(2, 3), w(2, 3, 6), w(6)],
    "head": [w(6, 2), w(2)],
}
GATE_CLASSES = {"x": "InputLayer", "context": "InputLayer", "mask": "InputLayer", "gated_attention": "MultiHeadAttention",
                "pool": "GlobalAveragePooling1D", "head": "Dense"}


def gate_config():
    B = None
    cfg = {**mha_cfg(2, 3, 3, True), "use_gate": True}
    layers = [
        k3_layer("InputLayer", "x", {"batch_shape": [B, 4, 6], "dtype": "float32", "sparse": False, "ragged": False}, None),
        k3_layer("InputLayer", "context", {"batch_shape": [B, 5, 6], "dtype": "float32", "sparse": False, "ragged": False},
                 None),
        k3_layer("InputLayer", "mask", {"batch_shape": [B, 4, 5], "dtype": "float32", "sparse": False, "ragged": False},
                 None),
        k3_layer("MultiHeadAttention", "gated_attention", cfg, [kt("x", [B, 4, 6]), kt("context", [B, 5, 6])],
                 {"attention_mask": kt("mask", [B, 4, 5])}),
        k3_layer("GlobalAveragePooling1D", "pool", {"data_format": "channels_last", "keepdims": False},
                 [kt("gated_attention", [B, 4, 6])], {"mask": None}),
        k3_layer("Dense", "head", dense_cfg(2), [kt("pool", [B, 6])]),
    ]
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "gated", "trainable": True, "layers": layers,
                       "input_layers": [["x", 0, 0], ["context", 0, 0], ["mask", 0, 0]],
                       "output_layers": [["head", 0, 0]]}}


def write_gate_keras(path):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        layers, used = h5.create_group("layers"), {}
        for name, cls in GATE_CLASSES.items():
            base = keras_reference.snake(cls)
            used[base] = used.get(base, -1) + 1
            group = layers.create_group(base if used[base] == 0 else f"{base}_{used[base]}")
            arrays = GATE_WEIGHTS.get(name, [])
            group.create_group("vars").attrs["name"] = name
            if cls == "MultiHeadAttention":
                # Public attributes first, then the private _gate_dense (saving_lib walks attributes by name).
                subs = [("query_dense", "query"), ("key_dense", "key"), ("value_dense", "value"),
                        ("_gate_dense", "gate"), ("output_dense", "attention_output")]
                for i, (sub, label) in enumerate(subs):
                    v = group.create_group(sub).create_group("vars")
                    v.attrs["name"] = label
                    v["0"], v["1"] = arrays[2 * i], arrays[2 * i + 1]
            else:
                for j, a in enumerate(arrays):
                    group["vars"][str(j)] = a
        h5.create_group("vars").attrs["name"] = "gated"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:  # deflated, as zipfile can write
        put(z, "metadata.json", json.dumps({"keras_version": "3.14.0", "date_saved": "2026-12-01@12:00:00"}))
        put(z, "config.json", json.dumps(gate_config()))
        put(z, "model.weights.h5", buffer.getvalue())


# Sequential models: token ids -> Embedding(mask_zero) -> GlobalAveragePooling1D (masked) -> Dense(softmax).
SEQ_WEIGHTS = {"embedding": [w(20, 8)], "dense": [w(8, 3), w(3)]}


def sequential_k3_config():
    layers = [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"batch_shape": [None, 6], "dtype": "int32", "sparse": False, "ragged": False, "name": "tokens"}},
        {"module": "keras.layers", "class_name": "Embedding", "registered_name": None, "build_config": {"input_shape": [None, 6]},
         "config": {"name": "embedding", "trainable": True, "dtype": POLICY, "input_dim": 20, "output_dim": 8,
                    "embeddings_initializer": init("RandomUniform"), "embeddings_regularizer": None,
                    "activity_regularizer": None, "embeddings_constraint": None, "mask_zero": True}},
        {"module": "keras.layers", "class_name": "GlobalAveragePooling1D", "registered_name": None,
         "config": {"name": "pool", "trainable": True, "dtype": POLICY, "data_format": "channels_last", "keepdims": False}},
        {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": {"name": "dense", "trainable": True, "dtype": POLICY, **dense_cfg(3, "softmax")}},
    ]
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "trainable": True, "dtype": POLICY, "layers": layers},
            "build_config": {"input_shape": [None, 6]}}


def sequential_k2_config():
    """tf-keras without an InputLayer entry: the first layer carries batch_input_shape."""
    emb = {k: v for k, v in sequential_k3_config()["config"]["layers"][1]["config"].items()}
    emb.update({"dtype": "float32", "batch_input_shape": [None, 6], "input_length": 6,
                "embeddings_initializer": {"class_name": "RandomUniform", "config": {}}})
    dense = {k: (v if not isinstance(v, dict) else {"class_name": v["class_name"], "config": v["config"]})
             for k, v in dense_cfg(3, "softmax").items()}
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "Embedding", "config": emb},
        {"class_name": "GlobalAveragePooling1D", "config": {"name": "pool", "trainable": True, "dtype": "float32",
                                                             "data_format": "channels_last", "keepdims": False}},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32", **dense}},
    ]}}


def write_sequential(folder_name):
    # .keras: Sequential.layers leaves out the InputLayer, so there is no input_layer group.
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        for group, name in [("embedding", "embedding"), ("global_average_pooling1d", "pool"), ("dense", "dense")]:
            v = h5.create_group(f"layers/{group}/vars")
            v.attrs["name"] = name
            for j, a in enumerate(SEQ_WEIGHTS.get(name, [])):
                v[str(j)] = a
        h5.create_group("vars").attrs["name"] = "sequential"
    with zipfile.ZipFile(os.path.join(OUT, "k3_sequential.keras"), "w") as z:
        put(z, "metadata.json", json.dumps({"keras_version": "3.9.2", "date_saved": "2026-12-01@12:00:00"}))
        put(z, "config.json", json.dumps(sequential_k3_config()))
        put(z, "model.weights.h5", buffer.getvalue())
    with h5py.File(os.path.join(OUT, "k2_sequential.h5"), "w") as h5:
        h5.attrs["keras_version"] = "2.11.0"
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(sequential_k2_config())
        mw = h5.create_group("model_weights")
        mw.attrs["layer_names"] = [b"embedding", b"pool", b"dense"]
        for name, names in [("dense", ["kernel", "bias"]), ("embedding", ["embeddings"]), ("pool", [])]:
            g = mw.create_group(name)
            full = [f"{name}/{n}:0" for n in names]
            g.attrs["weight_names"] = [n.encode() for n in full] if full else np.array([], dtype=np.float64)
            for n, a in zip(full, SEQ_WEIGHTS.get(name, [])):
                g.create_dataset(n, data=a)
    tokens = np.array([[3, 7, 1, 0, 0, 0], [5, 2, 9, 4, 8, 6]])
    e = SEQ_WEIGHTS["embedding"][0].astype(np.float64)[tokens]
    m = (tokens != 0).astype(np.float64)[:, :, None]
    pooled = (e * m).sum(1) / m.sum(1)
    out = keras_reference.softmax(pooled @ SEQ_WEIGHTS["dense"][0] + SEQ_WEIGHTS["dense"][1])
    with open(os.path.join(OUT, "reference_sequential.json"), "w") as f:
        json.dump({"inputs": [tokens.tolist()], "outputs": out.tolist()}, f, indent=1)


# keras-hub blocks: an encoder over padded source tokens and a decoder (causal self-attention,
# cross-attention to the encoder) over padded target tokens, then masked pooling and a Dense.
def hub_block_weights(width, inner, cross):
    def mha_w():
        return [w(width, 2, width // 2), w(2, width // 2), w(width, 2, width // 2), w(2, width // 2),
                w(width, 2, width // 2), w(2, width // 2), w(2, width // 2, width), w(width)]

    def norm():
        return [1 + w(width, scale=0.1), w(width, scale=0.1)]

    if not cross:  # encoder: attention, its norm, feed-forward norm, intermediate, output
        return mha_w() + norm() + norm() + [w(width, inner), w(inner), w(inner, width), w(width)]
    return mha_w() + norm() + mha_w() + norm() + [w(width, inner), w(inner), w(inner, width), w(width)] + norm()


HUB_WEIGHTS = {
    "enc_embedding": [w(20, 8)],
    "encoder": hub_block_weights(8, 16, cross=False),
    "dec_embedding": [w(20, 8)],
    "decoder": hub_block_weights(8, 16, cross=True),
    "head": [w(8, 3), w(3)],
}
HUB_GROUP_LAYOUT = {
    "encoder": ["_self_attention_layer", "_self_attention_layer_norm", "_feedforward_layer_norm",
                "_feedforward_intermediate_dense", "_feedforward_output_dense"],
    "decoder": ["_self_attention_layer", "_self_attention_layer_norm", "_cross_attention_layer",
                "_cross_attention_layer_norm", "_feedforward_intermediate_dense", "_feedforward_output_dense",
                "_feedforward_layer_norm"],
}


def hub_layer(cls, name, args):
    module = f"keras_hub.src.layers.modeling.{keras_reference.snake(cls)}"
    config = {"intermediate_dim": 16, "num_heads": 2, "dropout": 0.0, "activation": "relu", "layer_norm_epsilon": 1e-05,
              "kernel_initializer": init("GlorotUniform"), "bias_initializer": init("Zeros"), "normalize_first": False}
    entry = k3_layer(cls, name, config, args, module=module)
    entry["registered_name"] = f"keras_hub>{cls}"
    return entry


def hub_config():
    B = None
    emb = lambda name, src, n: k3_layer(  # noqa: E731
        "Embedding", name, {"input_dim": 20, "output_dim": 8, "embeddings_initializer": init("RandomUniform"),
                            "embeddings_regularizer": None, "activity_regularizer": None,
                            "embeddings_constraint": None, "mask_zero": True}, [kt(src, [B, n], "int32")])
    layers = [
        k3_layer("InputLayer", "source", {"batch_shape": [B, 6], "dtype": "int32", "sparse": False, "ragged": False}, None),
        k3_layer("InputLayer", "target", {"batch_shape": [B, 5], "dtype": "int32", "sparse": False, "ragged": False}, None),
        emb("enc_embedding", "source", 6),
        hub_layer("TransformerEncoder", "encoder", [kt("enc_embedding", [B, 6, 8])]),
        emb("dec_embedding", "target", 5),
        hub_layer("TransformerDecoder", "decoder", [kt("dec_embedding", [B, 5, 8]), kt("encoder", [B, 6, 8])]),
        k3_layer("GlobalAveragePooling1D", "pool", {"data_format": "channels_last", "keepdims": False},
                 [kt("decoder", [B, 5, 8])], {"mask": None}),
        k3_layer("Dense", "head", dense_cfg(3), [kt("pool", [B, 8])]),
    ]
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "seq2seq", "trainable": True, "layers": layers,
                       "input_layers": [["source", 0, 0], ["target", 0, 0]], "output_layers": [["head", 0, 0]]}}


def write_hub_keras(path):
    classes = {"source": "InputLayer", "target": "InputLayer", "enc_embedding": "Embedding",
               "encoder": "TransformerEncoder", "dec_embedding": "Embedding", "decoder": "TransformerDecoder",
               "pool": "GlobalAveragePooling1D", "head": "Dense"}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        used = {}
        for name, cls in classes.items():
            base = keras_reference.snake(cls)
            used[base] = used.get(base, -1) + 1
            group = h5.create_group(f"layers/{base if used[base] == 0 else f'{base}_{used[base]}'}")
            group.create_group("vars").attrs["name"] = name
            arrays = list(HUB_WEIGHTS.get(name, []))
            if name in HUB_GROUP_LAYOUT:
                for sub in HUB_GROUP_LAYOUT[name]:
                    if sub.endswith("attention_layer"):
                        for part in ["query_dense", "key_dense", "value_dense", "output_dense"]:
                            v = group.create_group(f"{sub}/{part}/vars")
                            v["0"], v["1"] = arrays.pop(0), arrays.pop(0)
                    else:
                        v = group.create_group(f"{sub}/vars")
                        v["0"], v["1"] = arrays.pop(0), arrays.pop(0)
                for sub in ["_self_attention_dropout", "_feedforward_dropout"]:
                    group.create_group(f"{sub}/vars")
            else:
                for j, a in enumerate(arrays):
                    group["vars"][str(j)] = a
        h5.create_group("vars").attrs["name"] = "seq2seq"
    with zipfile.ZipFile(path, "w") as z:
        put(z, "metadata.json", json.dumps({"keras_version": "3.9.2", "date_saved": "2026-12-01@12:00:00"}))
        put(z, "config.json", json.dumps(hub_config()))
        put(z, "model.weights.h5", buffer.getvalue())


def main():
    os.makedirs(OUT, exist_ok=True)
    write_hub_keras(os.path.join(OUT, "k3_keras_hub.keras"))
    hub_inputs = [np.array([[3, 7, 1, 4, 0, 0], [5, 2, 9, 4, 8, 6]], dtype=np.int32),
                  np.array([[2, 6, 0, 0, 0], [1, 8, 3, 3, 5]], dtype=np.int32)]
    config, weights = keras_reference.open_model(os.path.join(OUT, "k3_keras_hub.keras"))
    w64 = {k: [a.astype(np.float64) for a in v] for k, v in weights.items()}
    out = keras_reference.run(config, w64, hub_inputs, keras_reference.keras_version(os.path.join(OUT, "k3_keras_hub.keras")))[0]
    with open(os.path.join(OUT, "reference_keras_hub.json"), "w") as f:
        json.dump({"inputs": [x.tolist() for x in hub_inputs], "outputs": out.tolist()}, f, indent=1)
    write_sequential(OUT)
    files = {
        "k3_attention.keras": lambda p: write_keras(p),
        "k3_attention.h5": lambda p: write_h5(p, keras3_config(), "3.9.2", ""),
        "k2_attention.h5": lambda p: write_h5(p, keras2_config(), "2.11.0", ":0"),
    }
    for name, write in files.items():
        write(os.path.join(OUT, name))
    write_model_json(os.path.join(OUT, "k3_nodes"))
    inputs = keras_reference.seeded_inputs(keras3_config(), seed=3)
    reference = {"inputs": [x.tolist() for x in inputs], "outputs": {}}
    for name in files:
        config, weights = keras_reference.open_model(os.path.join(OUT, name))
        w64 = {k: [a.astype(np.float64) for a in v] for k, v in weights.items()}
        feed = [inputs[0], inputs[1].astype(np.float64)]
        version = keras_reference.keras_version(os.path.join(OUT, name))
        reference["outputs"][name] = keras_reference.run(config, w64, feed, version)[0].tolist()
    # The Keras 3 files compute the same; the Keras 2 one differs where Keras 3.8+ clears the embedding's
    # mask after the self-attention (keras_reference.mask_rules).
    first = np.array(reference["outputs"]["k3_attention.keras"])
    for name, out in reference["outputs"].items():
        if name.startswith("k3"):
            assert np.abs(np.array(out) - first).max() < 1e-12, f"{name} computes differently"
    assert np.abs(np.array(reference["outputs"]["k2_attention.h5"]) - first).max() > 1e-3
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
    write_gate_keras(os.path.join(OUT, "k3_gate_mask.keras"))
    gate_inputs = keras_reference.seeded_inputs(gate_config(), seed=5)
    gate_inputs[2] = (np.random.default_rng(6).random((2, 4, 5)) > 0.4).astype(np.float32)
    gate_inputs[2][:, :, 0] = 1  # every query attends somewhere
    config, weights = keras_reference.open_model(os.path.join(OUT, "k3_gate_mask.keras"))
    w64 = {k: [a.astype(np.float64) for a in v] for k, v in weights.items()}
    version = keras_reference.keras_version(os.path.join(OUT, "k3_gate_mask.keras"))
    out = keras_reference.run(config, w64, [x.astype(np.float64) for x in gate_inputs], version)[0]
    with open(os.path.join(OUT, "reference_gate_mask.json"), "w") as f:
        json.dump({"inputs": [x.tolist() for x in gate_inputs], "outputs": out.tolist()}, f, indent=1)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
