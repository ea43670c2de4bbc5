"""Golden values for the Keras-parity layer tests, computed in plain numpy from the Keras and
keras-hub sources (no tfjs, no Keras: an independent reference).

Usage (Debian's python3 has numpy):
    /usr/bin/python3 scripts/keras_layer_references.py test/fixtures/keras_layers

Writes one small JSON file per case: inputs, weights (in the order of the layer's `weights`, as
Keras lists them), and the expected output, float64 math rounded to float32.

Sources of the math:
- keras/src/layers/attention/multi_head_attention.py (Keras 3): projections
  'abc,cde->abde', scores softmax(q k^T / sqrt(K) + (1 - mask) * -1e9), merge 'abcd,cde->abe';
  masks: query (B,T,1) & value (B,1,S) & key (B,1,S) & causal & attention_mask, the attention
  mask broadcast over the batch and heads axes it lacks; sliding_window (Keras 3.15) the band
  |t - s| < w; use_gate: context * sigmoid(query W_G + b_G) before the output projection.
- keras_hub/src/layers/modeling/{transformer_encoder,transformer_decoder,
  transformer_layer_utils,position_embedding,sine_position_encoding,
  token_and_position_embedding}.py.
"""

import json
import os
import sys

import numpy as np

NEG = -1e9


def rng_for(seed):
    return np.random.default_rng(seed)


def rand(rng, *shape, scale=0.7):
    return rng.uniform(-1, 1, size=shape) * scale


def softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def mha_weights(rng, dq, dk, dv, heads, key_dim, value_dim, out_dim, use_bias=True, use_gate=False):
    """Weights in MultiHeadAttention's order: query, key, value, (gate), output."""
    names = []
    w = {}

    def add(name, *shape):
        w[name] = rand(rng, *shape)
        names.append(name)

    add("query_kernel", dq, heads, key_dim)
    if use_bias:
        add("query_bias", heads, key_dim)
    add("key_kernel", dk, heads, key_dim)
    if use_bias:
        add("key_bias", heads, key_dim)
    add("value_kernel", dv, heads, value_dim)
    if use_bias:
        add("value_bias", heads, value_dim)
    if use_gate:
        add("gate_kernel", dq, heads, value_dim)
        if use_bias:
            add("gate_bias", heads, value_dim)
    add("output_kernel", heads, value_dim, out_dim)
    if use_bias:
        add("output_bias", out_dim)
    return w, names


def mha(w, query, value, key=None, mask=None):
    """Keras MultiHeadAttention.call on numpy arrays. mask: None or broadcastable to (B, H, T, S)."""
    key = value if key is None else key

    def proj(x, name):
        y = np.einsum("abc,cde->abde", x, w[name + "_kernel"])
        return y + w[name + "_bias"] if name + "_bias" in w else y

    q = proj(query, "query")
    k = proj(key, "key")
    v = proj(value, "value")
    key_dim = q.shape[-1]
    scores = np.einsum("aecd,abcd->acbe", k, q * (1.0 / np.sqrt(key_dim)))  # (B, H, T, S)
    if mask is not None:
        scores = scores + (1.0 - mask) * NEG
    probs = softmax(scores)
    context = np.einsum("acbe,aecd->abcd", probs, v)  # (B, T, H, V)
    if "gate_kernel" in w:
        context = context * sigmoid(proj(query, "gate"))
    out = np.einsum("abcd,cde->abe", context, w["output_kernel"])
    if "output_bias" in w:
        out = out + w["output_bias"]
    return out, probs


def to_bhts(mask, batch=None):
    """Keras's broadcast of an attention mask to the scores (B, H, T, S): expand at axis -3."""
    m = np.asarray(mask, dtype=np.float64)
    while m.ndim < 4:
        m = np.expand_dims(m, -3)
    return m


def causal(t, s):
    return (np.arange(t)[:, None] >= np.arange(s)[None, :]).astype(np.float64)


def band(t, s, w):
    return (np.abs(np.arange(t)[:, None] - np.arange(s)[None, :]) < w).astype(np.float64)


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def relu(x):
    return np.maximum(x, 0)


def gelu(x):
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))


ACTIVATIONS = {"relu": relu, "gelu": gelu}


def f32(x):
    return np.asarray(x, dtype=np.float32).tolist()


def write(folder, name, case):
    with open(os.path.join(folder, name + ".json"), "w") as f:
        json.dump(case, f, separators=(",", ":"))
        f.write("\n")


# ---------------------------------------------------------------------------
# MultiHeadAttention cases.
# ---------------------------------------------------------------------------


def mha_case(seed, args, query_shape, value_shape=None, key_shape=None, mask_fn=None, padding=None):
    rng = rng_for(seed)
    heads, key_dim = args["numHeads"], args["keyDim"]
    value_dim = args.get("valueDim") or key_dim
    use_bias = args.get("useBias", True)
    query = rand(rng, *query_shape, scale=1.0)
    value = query if value_shape is None else rand(rng, *value_shape, scale=1.0)
    key = None if key_shape is None else rand(rng, *key_shape, scale=1.0)
    out_dim = args.get("outputDim") or query_shape[-1]
    w, names = mha_weights(
        rng,
        query_shape[-1],
        (key if key is not None else value).shape[-1],
        value.shape[-1],
        heads,
        key_dim,
        value_dim,
        out_dim,
        use_bias,
        args.get("useGate", False),
    )
    b, t, s = query_shape[0], query_shape[1], value.shape[1]
    factors = []
    attention_mask = None
    if mask_fn is not None:
        attention_mask = mask_fn(rng, b, heads, t, s)
        factors.append(to_bhts(attention_mask))
    if padding is not None:
        # Value padding (B, S), 1 = real token, as the value's padding mask.
        factors.append(np.asarray(padding, dtype=np.float64)[:, None, None, :])
    if args.get("causal"):
        factors.append(to_bhts(causal(t, s)))
    if args.get("slidingWindow"):
        factors.append(to_bhts(band(t, s, args["slidingWindow"])))
    mask = None
    for f in factors:
        mask = f if mask is None else mask * f
    out, probs = mha(w, query, value, key, mask)
    case = {
        "args": args,
        "query": f32(query),
        "weights": [f32(w[n]) for n in names],
        "weightNames": names,
        "output": f32(out),
        "scores": f32(probs),
    }
    if value_shape is not None:
        case["value"] = f32(value)
    if key is not None:
        case["key"] = f32(key)
    if attention_mask is not None:
        case["attentionMask"] = f32(attention_mask)
    if padding is not None:
        case["valuePadding"] = padding
    return case


def mha_cases(folder):
    bits = lambda rng, *shape: (rng.uniform(size=shape) > 0.3).astype(np.float64)  # noqa: E731

    def keep_diagonal(m):
        # Every query keeps at least one key, so no row is fully masked.
        m[..., np.arange(min(m.shape[-2], m.shape[-1])), np.arange(min(m.shape[-2], m.shape[-1]))] = 1
        return m

    cases = {
        "mha_gate_self": ({"numHeads": 2, "keyDim": 3, "useGate": True}, [2, 4, 5]),
        "mha_gate_cross_kv": (
            {"numHeads": 2, "keyDim": 4, "valueDim": 4, "useGate": True},
            [2, 3, 6],
            [2, 5, 4],
            [2, 5, 7],
        ),
        "mha_gate_no_bias_value_dim": (
            {"numHeads": 3, "keyDim": 2, "valueDim": 5, "useGate": True, "useBias": False},
            [2, 4, 6],
            [2, 3, 6],
        ),
        "mha_sliding_window": ({"numHeads": 2, "keyDim": 3, "slidingWindow": 2}, [2, 6, 4]),
        "mha_sliding_window_causal": ({"numHeads": 2, "keyDim": 4, "slidingWindow": 3, "causal": True}, [2, 7, 8]),
        "mha_sliding_window_cross": ({"numHeads": 1, "keyDim": 4, "slidingWindow": 2}, [1, 3, 4], [1, 5, 4]),
    }
    for i, (name, spec) in enumerate(cases.items()):
        args, *shapes = spec
        shapes += [None] * (3 - len(shapes))
        write(folder, name, mha_case(100 + i, args, *shapes))

    mask_cases = {
        "mha_mask_ts": lambda rng, b, h, t, s: keep_diagonal(bits(rng, t, s)),
        "mha_mask_bts": lambda rng, b, h, t, s: keep_diagonal(bits(rng, b, t, s)),
        "mha_mask_bhts": lambda rng, b, h, t, s: keep_diagonal(bits(rng, b, h, t, s)),
        "mha_mask_b1ts": lambda rng, b, h, t, s: keep_diagonal(bits(rng, b, 1, t, s)),
    }
    for i, (name, fn) in enumerate(mask_cases.items()):
        # keyDim 4: the fused path where it applies; the (B, H, T, S) mask takes the plain one.
        write(folder, name, mha_case(200 + i, {"numHeads": 2, "keyDim": 4}, [2, 4, 8], [2, 5, 8], None, fn))
    # A (B, H, T, S) mask together with a padding mask and the causal mask.
    write(
        folder,
        "mha_mask_bhts_padding_causal",
        mha_case(
            210,
            {"numHeads": 2, "keyDim": 3, "causal": True},
            [2, 5, 6],
            [2, 6, 6],
            None,
            lambda rng, b, h, t, s: keep_diagonal(bits(rng, b, h, t, s)),
            [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]],
        ),
    )


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/keras_layers"
    os.makedirs(folder, exist_ok=True)
    mha_cases(folder)
    if "hub_cases" in globals():
        hub_cases(folder)  # noqa: F821


if __name__ == "__main__":
    main()
