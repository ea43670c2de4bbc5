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
    """Weights in MultiHeadAttention's order (Keras 3.14+): query, key, (gate), value, output."""
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
        # Keras 3.14+ builds (and lists) the gate between key and value; drawn after value, as before.
        gate = [n for n in names if n.startswith("gate_")]
        at = names.index("value_kernel")
        names[:] = [n for n in names[:at] if n not in gate] + gate + [n for n in names[at:] if n not in gate]
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
        # Keras adds (1 - mask) * -1e9 in float32, where a masked score rounds to -1e9 itself (so a
        # query with every key masked attends uniformly); np.where gives that in float64 too.
        scores = np.where(np.broadcast_to(mask, scores.shape) > 0, scores, NEG)
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


# ---------------------------------------------------------------------------
# keras-hub layers.
# ---------------------------------------------------------------------------


def norm_weights(rng, width):
    return 1 + rand(rng, width, scale=0.3), rand(rng, width, scale=0.3)


def dense_weights(rng, inp, out):
    return rand(rng, inp, out), rand(rng, out, scale=0.3)


def flat_mha(w, names):
    return [w[n] for n in names]


def merge_padding_and_attention(padding, attention):
    """transformer_layer_utils.merge_padding_and_attention_mask: (B, 1, S) min (B, T, S)."""
    mask = None if padding is None else np.asarray(padding, dtype=np.float64)[:, None, :]
    if attention is not None:
        attention = np.asarray(attention, dtype=np.float64)
        return attention if mask is None else np.minimum(mask, attention)
    return mask


def mha_auto_masks(query_mask, value_mask):
    """Keras MultiHeadAttention's own masks: query (B, T, 1) and value (B, 1, S)."""
    factors = []
    if query_mask is not None:
        factors.append(np.asarray(query_mask, dtype=np.float64)[:, :, None])
    if value_mask is not None:
        factors.append(np.asarray(value_mask, dtype=np.float64)[:, None, :])
    return factors


def combine(*factors):
    out = None
    for f in factors:
        if f is None:
            continue
        out = f if out is None else out * f
    return out


def sub_block(x, norm, normalize_first, f):
    gamma, beta, eps = norm
    if normalize_first:
        return x + f(layer_norm(x, gamma, beta, eps))
    return layer_norm(x + f(x), gamma, beta, eps)


def feed_forward(x, inner, outer, activation):
    h = ACTIVATIONS[activation](x @ inner[0] + inner[1])
    return h @ outer[0] + outer[1]


def encoder_case(seed, config, batch, length, own_mask=None, padding_mask=None, attention_mask=None):
    """keras_hub TransformerEncoder.call (inference: dropout off)."""
    rng = rng_for(seed)
    width, heads = config["width"], config["numHeads"]
    key_dim = width // heads
    x = rand(rng, batch, length, width, scale=1.0)
    w, names = mha_weights(rng, width, width, width, heads, key_dim, key_dim, width)
    self_norm = norm_weights(rng, width)
    ff_norm = norm_weights(rng, width)
    inner = dense_weights(rng, width, config["intermediateDim"])
    outer = dense_weights(rng, config["intermediateDim"], width)
    eps = config.get("layerNormEpsilon", 1e-5)
    padding = padding_mask if padding_mask is not None else own_mask
    mask = combine(merge_padding_and_attention(padding, attention_mask), *mha_auto_masks(own_mask, own_mask))
    mask4 = None if mask is None else mask[:, None, :, :]
    nf = config.get("normalizeFirst", False)
    h = sub_block(x, (*self_norm, eps), nf, lambda q: mha(w, q, q, None, mask4)[0])
    out = sub_block(h, (*ff_norm, eps), nf, lambda q: feed_forward(q, inner, outer, config.get("activation", "relu")))
    weights = flat_mha(w, names) + [*self_norm, *ff_norm, *inner, *outer]
    case = {"config": config, "inputs": f32(x), "weights": [f32(v) for v in weights], "output": f32(out)}
    for key, value in [("ownMask", own_mask), ("paddingMask", padding_mask), ("attentionMask", attention_mask)]:
        if value is not None:
            case[key] = f32(value)
    return case


def decoder_case(seed, config, batch, length, enc_length=None, own=None, enc_own=None, dec_padding=None,
                 enc_padding=None, dec_attention=None):
    """keras_hub TransformerDecoder.call (inference: dropout off, no cache)."""
    rng = rng_for(seed)
    width, heads = config["width"], config["numHeads"]
    key_dim = width // heads
    eps = config.get("layerNormEpsilon", 1e-5)
    nf = config.get("normalizeFirst", False)
    x = rand(rng, batch, length, width, scale=1.0)
    enc = None if enc_length is None else rand(rng, batch, enc_length, config["encoderWidth"], scale=1.0)
    w_self, names_self = mha_weights(rng, width, width, width, heads, key_dim, key_dim, width)
    self_norm = norm_weights(rng, width)
    weights = flat_mha(w_self, names_self) + [*self_norm]
    if enc is not None:
        ew = config["encoderWidth"]
        w_cross, names_cross = mha_weights(rng, width, ew, ew, heads, key_dim, key_dim, width)
        cross_norm = norm_weights(rng, width)
        weights += flat_mha(w_cross, names_cross) + [*cross_norm]
    inner = dense_weights(rng, width, config["intermediateDim"])
    outer = dense_weights(rng, config["intermediateDim"], width)
    ff_norm = norm_weights(rng, width)
    weights += [*inner, *outer, *ff_norm]
    # Self-attention mask: merge(decoder padding or own, decoder attention) min causal, and the
    # attention layer's own query/value masks from the decoder sequence's mask.
    dec_mask = merge_padding_and_attention(dec_padding if dec_padding is not None else own, dec_attention)
    if config.get("useCausalMask", True):
        c = causal(length, length)[None]
        dec_mask = c if dec_mask is None else np.minimum(dec_mask, c)
    self_mask = combine(dec_mask, *mha_auto_masks(own, own))
    h = sub_block(x, (*self_norm, eps), nf, lambda q: mha(w_self, q, q, None, None if self_mask is None else self_mask[:, None])[0])
    if enc is not None:
        cross = merge_padding_and_attention(enc_padding if enc_padding is not None else enc_own, None)
        cross_mask = combine(cross, *mha_auto_masks(None, enc_own))
        h = sub_block(h, (*cross_norm, eps), nf,
                      lambda q: mha(w_cross, q, enc, None, None if cross_mask is None else cross_mask[:, None])[0])
    out = sub_block(h, (*ff_norm, eps), nf, lambda q: feed_forward(q, inner, outer, config.get("activation", "relu")))
    case = {"config": config, "inputs": f32(x), "weights": [f32(v) for v in weights], "output": f32(out)}
    if enc is not None:
        case["encoder"] = f32(enc)
    for key, value in [("ownMask", own), ("encoderOwnMask", enc_own), ("decoderPaddingMask", dec_padding),
                       ("encoderPaddingMask", enc_padding), ("decoderAttentionMask", dec_attention)]:
        if value is not None:
            case[key] = f32(value)
    return case


def position_rows(table, length, alpha=0.4):
    """keras_hub PositionEmbedding.call (start_index 0)."""
    rows = table.shape[0]
    if length < rows:
        return table[:length]
    e = (table - alpha * table[:1]) / (1 - alpha)
    ids = np.arange(length)
    return alpha * e[ids // rows] + (1 - alpha) * e[ids % rows]


def sine_encoding(length, width, max_wavelength):
    """keras_hub SinePositionEncoding.call."""
    positions = np.arange(length, dtype=np.float64)
    timescales = np.power(1 / max_wavelength, (2 * (np.arange(width) // 2)) / width)
    angles = positions[:, None] * timescales[None, :]
    cos_mask = np.arange(width) % 2
    return np.sin(angles) * (1 - cos_mask) + np.cos(angles) * cos_mask


def hub_cases(folder):
    lengths = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    write(folder, "hub_encoder_post_ln", encoder_case(300, {"width": 8, "numHeads": 2, "intermediateDim": 12}, 2, 5))
    write(folder, "hub_encoder_pre_ln_gelu", encoder_case(
        301, {"width": 8, "numHeads": 2, "intermediateDim": 6, "normalizeFirst": True, "activation": "gelu",
              "layerNormEpsilon": 1e-3}, 2, 5))
    write(folder, "hub_encoder_own_mask", encoder_case(
        302, {"width": 6, "numHeads": 3, "intermediateDim": 5}, 2, 5, own_mask=lengths))
    attention = (rng_for(9).uniform(size=(2, 5, 5)) > 0.3).astype(np.float64)
    attention[:, np.arange(5), np.arange(5)] = 1
    write(folder, "hub_encoder_padding_and_attention_mask", encoder_case(
        303, {"width": 8, "numHeads": 4, "intermediateDim": 8, "normalizeFirst": True}, 2, 5,
        padding_mask=lengths, attention_mask=attention))
    write(folder, "hub_decoder_only_pre_ln", decoder_case(
        310, {"width": 8, "numHeads": 2, "intermediateDim": 10, "normalizeFirst": True, "activation": "gelu"}, 2, 4))
    write(folder, "hub_decoder_cross_post_ln", decoder_case(
        311, {"width": 8, "numHeads": 2, "intermediateDim": 6, "encoderWidth": 6}, 2, 4, enc_length=5))
    write(folder, "hub_decoder_cross_masks", decoder_case(
        312, {"width": 6, "numHeads": 2, "intermediateDim": 4, "encoderWidth": 6, "normalizeFirst": True},
        2, 4, enc_length=5, own=[[1, 1, 1, 1], [1, 1, 0, 0]], enc_padding=[[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))
    write(folder, "hub_decoder_no_causal", decoder_case(
        313, {"width": 4, "numHeads": 1, "intermediateDim": 4, "useCausalMask": False}, 1, 3))
    rng = rng_for(320)
    table = rand(rng, 4, 6)
    write(folder, "hub_position_embedding", {
        "table": f32(table),
        "short": f32(position_rows(table, 3)),
        "exact": f32(position_rows(table, 4)),
        "long": f32(position_rows(table, 10)),
    })
    write(folder, "hub_sine_position_encoding", {
        "even": f32(sine_encoding(5, 6, 100)),
        "odd": f32(sine_encoding(4, 7, 10000)),
    })
    tokens = rand(rng, 9, 4)
    positions = rand(rng, 6, 4)
    ids = np.array([[1, 2, 3, 0, 0], [4, 8, 1, 7, 0]])
    write(folder, "hub_token_and_position_embedding", {
        "tokens": f32(tokens),
        "positions": f32(positions),
        "ids": ids.tolist(),
        "output": f32(tokens[ids] + position_rows(positions, 5)[None]),
    })


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/keras_layers"
    os.makedirs(folder, exist_ok=True)
    mha_cases(folder)
    hub_cases(folder)


if __name__ == "__main__":
    main()
