#!/usr/bin/python3
"""PyTorch comparison peer for the tfjs-attention benchmarks (reverse task, reference configuration).

Written from the README's "Toy tasks" (the tasks and the reference configuration):

* Task: reverse, V=10, source length n uniform in [2, 12], symbols uniform over ids 3..12.
  Tokens: PAD=0, BOS=1, EOS=2. source = symbols right-padded with PAD to maxLen=12;
  decoderInput = [BOS, ...target], decoderTarget = [...target, EOS], both right-padded with
  PAD to targetLen = 13. target = source reversed.
* Model: torch.nn.Transformer(d_model=64, nhead=4, dim_feedforward=256, activation="relu",
  2 encoder + 2 decoder layers, dropout=0, batch_first=True). Token embedding * sqrt(64) plus a
  learned position embedding; SEPARATE token and position embeddings for source (12 positions)
  and target (13 positions). A final nn.Linear(64, 13) to the vocabulary.
  Note: nn.Transformer always applies a final LayerNorm after its encoder stack and after its
  decoder stack (encoder.norm / decoder.norm), also in post-LN mode.
* Masks: src_key_padding_mask (source == PAD), memory_key_padding_mask (same),
  tgt_key_padding_mask (decoderInput == PAD), causal tgt_mask. All masks are boolean (True = masked).
* Loss: cross-entropy over non-PAD decoderTarget positions (ignore_index=PAD). Adam, lr 1e-3, batch 64
  (the throughput setting; time-to-accuracy takes its recipe, below).

Benchmarks (each prints JSON lines on stdout; progress goes to stderr):

  --bench train            training-step throughput of the reference configuration
      /usr/bin/python3 scripts/peers/torch_reverse.py --bench train --batches FILE --steps 20 --warmup 5 --repeats 5 --threads 1
      -> {"name":"train-reference","peer":"torch","torch":..,"threads":1,"stepsPerSecond":..,
          "tokensPerSecond":..,"msPerStep":..,"repeatsMs":[..],"spread":..}
      With --batches (what `npm run bench -- --peer torch` passes) the `steps` batches are the
      bench's own (scripts/bench/batch_file.ts: int32, per step source 64x12, decoderInput 64x13,
      decoderTarget 64x13; the size and the reverse layout are checked), so both sides time the same
      tokens; without it they are drawn here before timing. One running index walks the batches
      over warm-up and repeats, as the bench's loop does; the model keeps training throughout.
      tokensPerSecond counts non-PAD decoderTarget entries. stepsPerSecond / tokensPerSecond are the
      median over repeats of the per-repeat rate; msPerStep = 1000 / stepsPerSecond; repeatsMs are the
      wall-clock ms of each repeat; spread = (max - min) / median of repeatsMs.

  --bench decode           greedy decoding, batch 1 and batch 64, always 13 decoder steps
      /usr/bin/python3 scripts/peers/torch_reverse.py --bench decode --sources FILE --threads 1
      -> one line per batch size: {"name":"decode-greedy","batch":1,"msPerSequence":..,..}
      --sources: the bench's sources (int32, the batch-1 source 1x12 then the batch-64 ones 64x12,
      PAD-padded), decoded on every call as the bench does; without it, fresh sources per call.
      The source is encoded once; every step re-runs the decoder over the whole prefix because
      nn.Transformer has no key/value cache ("kvCache": "none (uncached)"): compare it with our
      uncached figure (which also re-runs our encoder every step). Runs under
      torch.inference_mode() in eval mode with an untrained (freshly initialised) model:
      the work does not depend on the weights. There torch 1.13 takes its encoder "fast path"
      (nested tensors), which skips padded source positions: memory is as long as the batch's
      longest source, not 12 (ours pads a batch to its longest source too).

  --bench time-to-accuracy train from scratch until held-out greedy exact match >= 0.99
      /usr/bin/python3 scripts/peers/torch_reverse.py --bench time-to-accuracy --recipe-json JSON \
          --batches FILE --held-out FILE --seed 1 --max-seconds 600 --threads 1
      -> {"name":"time-to-accuracy","steps":..,"seconds":..,"exactMatch":..,..}
      --recipe-json (what the bench passes: the recipe its own run reports, src/train/recipe.ts's
      Recipe plus minLr and Adam's epsilon) trains with our recipe exactly: our layers'
      initialization (init_as_ours), initScale on the weights of rank >= 2, pre- or post-LN, the
      learning rate of each step from scheduled_lr (src/train/schedule.ts term for term: equal to
      the last bit except where libm's cos and V8's Math.cos round differently, by 1 ulp), global-norm
      clipping as clip_grad_norm_ (our clip.ts's rule), AdamW with our betas, epsilon and decoupled
      weight decay on rank >= 2 only, label smoothing, the batch size, an evaluation every evalEvery
      steps and at most `steps` steps. Every field must be present and known (a field we add and
      the peer does not apply stops it). --batches FILE: the bench run's own training batches, the
      recipe's steps of them; --held-out FILE: its 512 held-out sources (int32, 512x12).
      Without those files: 512 held-out samples of our own (seed 1_000_003, never used for training)
      and training batches filtered so that no training source equals a held-out source.
      "seconds" counts training steps only (batch generation and evaluation excluded; ours also
      counts making its batches).
      Without --recipe-json, --recipe picks one of the peer's own earlier recipes (torch's
      initialization and Adam epsilon, no clipping, exact match every 100 steps), default
      "preln-warmup": pre-LN (norm_first=True), Adam betas (0.9, 0.98), peak lr 3e-3, linear warm-up
      over 100 steps, cosine decay to 0.1x peak at step 900, constant after. Tried on 1 thread:
      warm-up 200 / decay 4000 reached 0.99 at 1400 steps (with a dip to 0.51 at 1100); lr 2e-3 /
      decay 1500 at 1200 steps; lr 3e-3 / decay 1200 at 1100 steps; the default at 900 steps.
      "--recipe reference" trains the throughput configuration (post-LN, constant Adam 1e-3) instead.

  --bench attention        one nn.MultiheadAttention (batch_first, dropout 0) forward + backward
      /usr/bin/python3 scripts/peers/torch_reverse.py --bench attention --threads 1
      -> two lines per (B, T, D, H) in ATTENTION_SIZES, "mode" "forward-backward" and "forward":
         {"name":"attention-forward-backward","B":..,"T":..,"D":..,"H":..,"mode":..,"msPerCall":..,..}
      Self-attention (query = key = value = x, x requires grad), no mask, need_weights=False;
      forward-backward: backward of out.sum() to x and all weights; forward: under no_grad.

--threads: the thread configurations to try (peer_threads.py), default all four of PyTorch's 1 or 2
intra-op threads by OpenBLAS's 1 or 2. Each figure (each batch size, attention size and mode) is the
fastest configuration's, with "threads" naming it and "threadConfigs" every configuration's figure.
time-to-accuracy, one training run, first times 10 steps of each configuration on a copy of the
model and trains with the fastest. Run the peer with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
(`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ...`; the bench does).
All seeds are fixed (--seed, default 1).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

PAD, BOS, EOS = 0, 1, 2
V = 10
FIRST_SYMBOL = 3
VOCAB = FIRST_SYMBOL + V  # 13
MIN_LEN, MAX_LEN = 2, 12
TARGET_LEN = MAX_LEN + 1  # 13
D_MODEL, N_HEAD, D_FF, N_ENC, N_DEC = 64, 4, 256, 2, 2
BATCH = 64
HELD_OUT_SEED = 1_000_003
HELD_OUT_SIZE = 512
ATTENTION_SIZES = [(64, 13, 64, 4), (16, 64, 128, 8), (1, 128, 256, 8), (4, 256, 128, 4), (1, 512, 256, 8),
                   (1, 1024, 256, 8)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bench", required=True, choices=["train", "decode", "time-to-accuracy", "attention"])
    p.add_argument("--steps", type=int, default=50, help="train: timed steps per repeat")
    p.add_argument("--batches", default=None,
                   help="train: the bench's batches (int32, --steps x (64x12 + 64x13 + 64x13)) instead of our own; "
                        "time-to-accuracy: the bench's training stream (the recipe's steps x batches)")
    p.add_argument("--held-out", default=None,
                   help="time-to-accuracy: the bench's held-out sources (int32, 512x12) instead of our own")
    p.add_argument("--sources", default=None,
                   help="decode: the bench's sources (int32, 1x12 then 64x12, PAD-padded) instead of our own")
    p.add_argument("--warmup", type=int, default=10, help="untimed warm-up steps / calls")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="all", help="'all', N, or TxB[,TxB...]: PyTorch x BLAS threads to try")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=600.0, help="time-to-accuracy: training-time budget")
    p.add_argument("--target", type=float, default=0.99, help="time-to-accuracy: exact-match goal")
    p.add_argument("--recipe", default="preln-warmup", choices=["preln-warmup", "postln-warmup", "reference"],
                   help="time-to-accuracy recipe: pre-LN (norm_first) or post-LN with linear warm-up then "
                        "cosine decay, or 'reference' (post-LN, constant Adam 1e-3)")
    p.add_argument("--recipe-json", default=None,
                   help="time-to-accuracy: our recipe as JSON (src/train/recipe.ts's Recipe plus minLr and "
                        "epsilon), which replaces --recipe, --lr, --lr-warmup and --lr-decay-steps")
    p.add_argument("--lr", type=float, default=None, help="time-to-accuracy: peak learning rate")
    p.add_argument("--lr-warmup", type=int, default=100, help="time-to-accuracy: linear warm-up steps")
    p.add_argument("--lr-decay-steps", type=int, default=900,
                   help="time-to-accuracy: step at which the cosine decay reaches 0.1x peak")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from batch_file import read_int32_steps  # noqa: E402
from peer_threads import fastest, parse_configs, record, set_threads  # noqa: E402

warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors is in prototype stage")


# --------------------------------------------------------------------------------------------
# Reverse task data
# --------------------------------------------------------------------------------------------

def reverse_samples(rng, count, exclude=None):
    """Returns (source [count,12], decoderInput [count,13], decoderTarget [count,13]) int64 arrays.

    `exclude` is a set of source tuples (symbol ids, no padding) that must not be produced;
    excluded draws are replaced by fresh draws.
    """
    rows = []
    while len(rows) < count:
        need = count - len(rows)
        lengths = rng.integers(MIN_LEN, MAX_LEN + 1, size=need)
        symbols = rng.integers(FIRST_SYMBOL, FIRST_SYMBOL + V, size=(need, MAX_LEN))
        for n, sym in zip(lengths, symbols):
            seq = tuple(int(s) for s in sym[:n])
            if exclude is not None and seq in exclude:
                continue
            rows.append(seq)
    return encode_reverse(rows)


def encode_reverse(rows):
    """The padded arrays of reverse samples given as source tuples (the README's layout)."""
    count = len(rows)
    source = np.full((count, MAX_LEN), PAD, dtype=np.int64)
    dec_in = np.full((count, TARGET_LEN), PAD, dtype=np.int64)
    dec_tgt = np.full((count, TARGET_LEN), PAD, dtype=np.int64)
    for i, seq in enumerate(rows):
        n = len(seq)
        target = seq[::-1]
        source[i, :n] = seq
        dec_in[i, 0] = BOS
        dec_in[i, 1:n + 1] = target
        dec_tgt[i, :n] = target
        dec_tgt[i, n] = EOS
    return source, dec_in, dec_tgt


def unpadded(source):
    return [tuple(int(s) for s in row if s != PAD) for row in source]


def bench_batches(path, steps, batch=BATCH):
    """The bench's `steps` training batches from `path`, each checked to be reverse samples in our layout."""
    batches = read_int32_steps(path, steps, [(batch, MAX_LEN), (batch, TARGET_LEN), (batch, TARGET_LEN)])
    for i, arrays in enumerate(batches):
        # Re-encoding the sources must give back all three arrays: a file with another layout or
        # task (or trailing PAD inside a source) would otherwise train the peer on other work.
        expected = encode_reverse(unpadded(arrays[0]))
        if not all(np.array_equal(a, e) for a, e in zip(arrays, expected)):
            raise SystemExit(f"{path}: batch {i} is not reverse samples as source ({batch}x12), decoderInput "
                             f"({batch}x13), decoderTarget ({batch}x13) with PAD={PAD}, BOS={BOS}, EOS={EOS}")
    return [to_batch(b) for b in batches]


def to_batch(arrays):
    return tuple(torch.from_numpy(a) for a in arrays)


def held_out_set(path=None):
    """Our own held-out set, or the bench's (HELD_OUT_SIZE sources, 12 wide, from `path`)."""
    if path:
        src, din, dtg = encode_reverse(unpadded(read_int32_steps(path, 1, [(HELD_OUT_SIZE, MAX_LEN)])[0][0]))
    else:
        src, din, dtg = reverse_samples(np.random.default_rng(HELD_OUT_SEED), HELD_OUT_SIZE)
    exclude = {tuple(int(s) for s in row if s != PAD) for row in src}
    return to_batch((src, din, dtg)), exclude


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

class ReverseTransformer(nn.Module):
    """nn.Transformer with token * sqrt(d) + learned positions (separate for source and target)."""

    def __init__(self, norm_first=False):
        super().__init__()
        self.src_tok = nn.Embedding(VOCAB, D_MODEL)
        self.tgt_tok = nn.Embedding(VOCAB, D_MODEL)
        self.src_pos = nn.Embedding(MAX_LEN, D_MODEL)
        self.tgt_pos = nn.Embedding(TARGET_LEN, D_MODEL)
        self.transformer = nn.Transformer(
            d_model=D_MODEL, nhead=N_HEAD, num_encoder_layers=N_ENC, num_decoder_layers=N_DEC,
            dim_feedforward=D_FF, dropout=0.0, activation="relu", batch_first=True, norm_first=norm_first)
        self.out = nn.Linear(D_MODEL, VOCAB)
        self.scale = math.sqrt(D_MODEL)
        causal = torch.triu(torch.ones(TARGET_LEN, TARGET_LEN, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)

    def embed_src(self, src):
        pos = torch.arange(src.shape[1], device=src.device)
        return self.src_tok(src) * self.scale + self.src_pos(pos)

    def embed_tgt(self, tgt):
        pos = torch.arange(tgt.shape[1], device=tgt.device)
        return self.tgt_tok(tgt) * self.scale + self.tgt_pos(pos)

    def encode(self, src):
        src_pad = src == PAD
        memory = self.transformer.encoder(self.embed_src(src), src_key_padding_mask=src_pad)
        # In eval mode without autograd, torch 1.13's encoder "fast path" runs on nested tensors
        # and returns memory only up to the batch's longest source; padding is on the right, so
        # cutting the mask to that length keeps it aligned.
        return memory, src_pad[:, :memory.shape[1]]

    def decode(self, tgt, memory, src_pad, tgt_pad=None):
        t = tgt.shape[1]
        h = self.transformer.decoder(
            self.embed_tgt(tgt), memory, tgt_mask=self.causal[:t, :t],
            tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
        return self.out(h)

    def forward(self, src, tgt):
        memory, src_pad = self.encode(src)
        return self.decode(tgt, memory, src_pad, tgt_pad=(tgt == PAD))


def greedy_decode(model, src, steps=TARGET_LEN):
    """Greedy decoding for exactly `steps` steps (no early stop); returns [B, steps] token ids.

    Uncached: each step re-runs the decoder over the whole prefix.
    """
    memory, src_pad = model.encode(src)
    tokens = torch.full((src.shape[0], 1), BOS, dtype=torch.long)
    for _ in range(steps):
        logits = model.decode(tokens, memory, src_pad)
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        tokens = torch.cat([tokens, nxt], dim=1)
    return tokens[:, 1:]


def exact_match(model, batch):
    """Share of samples whose greedy output up to and including the first EOS equals the target."""
    src, _, dec_tgt = batch
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        pred = greedy_decode(model, src)
    model.train(was_training)
    valid = dec_tgt != PAD  # target symbols plus the EOS
    ok = ((pred == dec_tgt) | ~valid).all(dim=1)
    return ok.float().mean().item()


def make_train_step(model, optimizer, scheduler=None):
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)

    def step(batch):
        src, dec_in, dec_tgt = batch
        logits = model(src, dec_in)
        loss = loss_fn(logits.reshape(-1, VOCAB), dec_tgt.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return loss

    return step


# --------------------------------------------------------------------------------------------
# Benchmarks
# --------------------------------------------------------------------------------------------

def base_record(name, args):
    # loadAvg1m: the machine's 1-minute load average when the figure was taken (other work on the
    # 2 cores makes the figures noisy).
    return {"name": name, "peer": "torch", "torch": torch.__version__, "loadAvg1m": round(os.getloadavg()[0], 2)}


def summarize_ms(repeats_ms):
    med = statistics.median(repeats_ms)
    return {"repeatsMs": [round(x, 3) for x in repeats_ms],
            "spread": round((max(repeats_ms) - min(repeats_ms)) / med, 4)}


def emit(record):
    print(json.dumps(record), flush=True)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def bench_train(args):
    if args.batches:
        batches = bench_batches(args.batches, args.steps)
    else:
        rng = np.random.default_rng(args.seed)
        batches = [to_batch(reverse_samples(rng, BATCH)) for _ in range(args.steps)]
    tokens = sum(int((b[2] != PAD).sum()) for b in batches)
    model = ReverseTransformer()
    model.train()
    step = make_train_step(model, torch.optim.Adam(model.parameters(), lr=1e-3))
    # One running index over warm-up and repeats, as the bench's own loop: both sides see the
    # batches in the same order.
    taken = 0

    def next_step():
        nonlocal taken
        loss = step(batches[taken % len(batches)])
        taken += 1
        return loss

    def repeat():
        t0 = time.perf_counter()
        for _ in range(len(batches)):
            loss = next_step()
        secs = time.perf_counter() - t0
        log(f"repeat: {secs:.3f}s, loss {loss.item():.4f}")
        return secs * 1000

    for _ in range(args.warmup):
        next_step()
    best, times = fastest(args.configs, args.repeats, repeat, next_step)
    repeats_ms = times[best]
    step_rates = [args.steps * 1000 / ms for ms in repeats_ms]
    sps = statistics.median(step_rates)
    rec = base_record("train-reference", args)
    rec.update(record(best, times, "msPerStep", 1 / args.steps))
    rec.update({"stepsPerSecond": round(sps, 3),
                "tokensPerSecond": round(statistics.median([tokens * 1000 / ms for ms in repeats_ms]), 1),
                "msPerStep": round(1000 / sps, 3), **summarize_ms(repeats_ms),
                "steps": args.steps, "warmup": args.warmup, "batch": BATCH,
                "targetTokensPerRepeat": tokens, "batches": "the bench's" if args.batches else "own"})
    emit(rec)


def bench_decode(args):
    model = ReverseTransformer()
    model.eval()
    rng = np.random.default_rng(args.seed)
    given = read_int32_steps(args.sources, 1, [(1, MAX_LEN), (BATCH, MAX_LEN)])[0] if args.sources else None
    # Calls per repeat so that each repeat takes a comparable, measurable time.
    for batch, calls in ((1, 20), (BATCH, 4)):
        if given is not None:
            # The bench decodes the same sources every call; so does the peer then.
            srcs = [torch.from_numpy(given[0 if batch == 1 else 1])] * calls
        else:
            srcs = [to_batch(reverse_samples(rng, batch))[0] for _ in range(calls)]
        def repeat():
            t0 = time.perf_counter()
            for s in srcs:
                greedy_decode(model, s)
            return (time.perf_counter() - t0) * 1000

        with torch.inference_mode():
            for i in range(max(1, args.warmup // 4)):
                greedy_decode(model, srcs[i % calls])
            best, times = fastest(args.configs, args.repeats, repeat, lambda: greedy_decode(model, srcs[0]))
        repeats_ms = times[best]
        ms_per_call = statistics.median(repeats_ms) / calls
        rec = base_record("decode-greedy", args)
        rec.update(record(best, times, "msPerSequence", 1 / (calls * batch)))
        rec.update({"batch": batch, "msPerSequence": round(ms_per_call / batch, 4),
                    "msPerBatch": round(ms_per_call, 3), "decodeSteps": TARGET_LEN,
                    "callsPerRepeat": calls, **summarize_ms(repeats_ms),
                    "sources": "the bench's" if given is not None else "own",
                    "kvCache": "none (uncached: decoder re-run over the whole prefix every step)",
                    "encoderFastPath": "torch inference fast path (nested tensors: memory cut to the "
                                       "batch's longest source)"})
        emit(rec)


def lr_lambda_factory(warmup, total):
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return f


# The fields of src/train/recipe.ts's Recipe, plus the two the run derives from it: minLr (the floor as
# a rate, minLrFraction * lr) and epsilon (Adam's, which the recipe leaves at our Adam's default). All
# must be given and no other: a field added to our recipe that the peer does not apply stops the
# peer, instead of training it on something else.
RECIPE_FIELDS = {"steps", "batch", "lr", "warmup", "decay", "decaySteps", "minLrFraction", "minLr", "beta1",
                 "beta2", "epsilon", "clip", "labelSmoothing", "weightDecay", "lengthBalanced",
                 "lengthBalancedSteps", "initScale", "normalizeFirst", "evalEvery"}


def parse_recipe(text):
    recipe = json.loads(text)
    missing, unknown = RECIPE_FIELDS - set(recipe), set(recipe) - RECIPE_FIELDS
    if missing or unknown:
        raise SystemExit(f"--recipe-json: missing {sorted(missing)}, unknown {sorted(unknown)}; "
                         f"expected exactly {sorted(RECIPE_FIELDS)}")
    if recipe["lengthBalanced"] != 0:
        raise SystemExit("--recipe-json: lengthBalanced > 0 is addition's curriculum; reverse's lengths are "
                         "already uniform and the peer does not implement it")
    if recipe["decay"] not in ("cosine", "inverse-sqrt", "constant"):
        raise SystemExit(f"--recipe-json: unknown decay {recipe['decay']!r}")
    return recipe


def scheduled_lr(recipe, step):
    """src/train/schedule.ts's warmupSchedule, term for term: the rate of 1-based step `step`.

    A linear warm-up to the peak over `warmup` steps, then 'constant', 'inverse-sqrt' (peak *
    sqrt(warmup / step)) or 'cosine' from the peak to minLr at step decaySteps, minLr after.
    """
    peak, warmup = recipe["lr"], recipe["warmup"]
    if step <= warmup:
        return peak * max(step, 1) / warmup
    if recipe["decay"] == "constant":
        return peak
    if recipe["decay"] == "inverse-sqrt":
        return peak * math.sqrt(max(warmup, 1) / step)
    floor = recipe["minLr"]
    progress = min(1, (step - warmup) / (recipe["decaySteps"] - warmup))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def init_as_ours(model):
    """Our layers' initialization (src/layers/) in place of PyTorch's.

    Embeddings N(0, 0.02) (TokenAndPositionEmbedding), every kernel Glorot-uniform over the fans of its
    own projection (query, key and value each D x D, as Keras's EinsumDense counts them, not
    nn.MultiheadAttention's joined 3D x D), every bias zero; layer norms 1 and 0 on both sides.
    """
    with torch.no_grad():
        for embedding in (model.src_tok, model.tgt_tok, model.src_pos, model.tgt_pos):
            nn.init.normal_(embedding.weight, 0.0, 0.02)
        for module in model.modules():
            if isinstance(module, nn.MultiheadAttention):
                for kernel in module.in_proj_weight.chunk(3):
                    nn.init.xavier_uniform_(kernel)
                nn.init.zeros_(module.in_proj_bias)
            elif isinstance(module, nn.Linear):  # out_proj, the feed-forward layers, the logits
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)


def recipe_plan(recipe):
    """Model, step and evaluation cadence of our recipe, applied as src/train/trainer.ts applies it.

    Per step: masked cross-entropy (label-smoothed by labelSmoothing), global-norm clipping to `clip`
    (clip_grad_norm_: scale min(1, clip / (norm + 1e-6)), our clip.ts's rule; JSON has no Infinity, so
    no clipping arrives as null), then Adam with our betas and epsilon at scheduled_lr, with AdamW's
    decoupled weight decay on the weights of rank >= 2 only (our Adam's rule, exact also at 0).
    """
    model = ReverseTransformer(norm_first=recipe["normalizeFirst"])
    init_as_ours(model)
    params = list(model.parameters())
    with torch.no_grad():
        for p in params:
            if p.dim() >= 2:
                p.mul_(recipe["initScale"])
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": recipe["weightDecay"]},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=scheduled_lr(recipe, 1), betas=(recipe["beta1"], recipe["beta2"]),
                                  eps=recipe["epsilon"])
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=recipe["labelSmoothing"])
    clip = math.inf if recipe["clip"] is None else recipe["clip"]

    def step(batch, number):
        src, dec_in, dec_tgt = batch
        logits = model(src, dec_in)
        loss = loss_fn(logits.reshape(-1, VOCAB), dec_tgt.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip != math.inf:
            nn.utils.clip_grad_norm_(params, clip)
        for group in optimizer.param_groups:
            group["lr"] = scheduled_lr(recipe, number)
        optimizer.step()
        return loss

    norm = "pre-LN (norm_first)" if recipe["normalizeFirst"] else "post-LN"
    description = (f"ours (--recipe-json): {norm}, our initialization, AdamW betas ({recipe['beta1']}, "
                   f"{recipe['beta2']}) eps {recipe['epsilon']} weight decay {recipe['weightDecay']}, peak lr "
                   f"{recipe['lr']} after {recipe['warmup']} warm-up steps, {recipe['decay']} to "
                   f"{recipe['minLr']} at step {recipe['decaySteps']}, clip {recipe['clip']}, label smoothing "
                   f"{recipe['labelSmoothing']}, batch {recipe['batch']}, evaluating every {recipe['evalEvery']}")
    return {"model": model, "step": step, "evalEvery": recipe["evalEvery"], "maxSteps": recipe["steps"],
            "batch": recipe["batch"], "peakLr": recipe["lr"], "recipe": description, "recipeSettings": recipe}


def preset_plan(args):
    """The peer's own recipes (before it took ours): torch's initialization, Adam's epsilon, no clipping."""
    if args.recipe == "reference":
        model = ReverseTransformer(norm_first=False)
        lr, scheduler_fn, recipe = args.lr or 1e-3, None, "post-LN, Adam constant lr"
    else:
        norm_first = args.recipe == "preln-warmup"
        model = ReverseTransformer(norm_first=norm_first)
        lr = args.lr or 3e-3
        schedule = lr_lambda_factory(args.lr_warmup, args.lr_decay_steps)
        scheduler_fn = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, schedule)  # noqa: E731
        recipe = ("pre-LN (norm_first)" if norm_first else "post-LN") + \
            f", Adam betas (0.9, 0.98), linear warm-up {args.lr_warmup} steps then cosine to 0.1x" \
            f" at step {args.lr_decay_steps}"
    betas = (0.9, 0.999) if args.recipe == "reference" else (0.9, 0.98)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=betas)
    train_step = make_train_step(model, optimizer, scheduler_fn(optimizer) if scheduler_fn else None)
    return {"model": model, "step": lambda batch, _number: train_step(batch), "evalEvery": 100,
            "maxSteps": math.inf, "batch": BATCH, "peakLr": lr, "recipe": recipe}


def fastest_training_threads(args, make_plan, batch, steps=5, rounds=3):
    """The thread configuration that trains fastest, timed on a copy of the model, and set for the run.

    `rounds` repeats of `steps` steps on `batch` per configuration (peer_threads.fastest); the copy is
    made with the random state saved and restored, so the run itself is what it would be without it.
    """
    state = torch.get_rng_state()
    probe = make_plan()
    torch.set_rng_state(state)
    probe["model"].train()

    def repeat():
        t0 = time.perf_counter()
        for number in range(1, steps + 1):
            probe["step"](batch, number)
        return (time.perf_counter() - t0) * 1000

    best, times = fastest(args.configs, rounds, repeat, lambda: probe["step"](batch, 1))
    return record(best, times, "msPerStepBeforeTraining", 1 / steps)


def bench_time_to_accuracy(args):
    torch.manual_seed(args.seed)
    held_out, exclude = held_out_set(args.held_out)
    rng = np.random.default_rng(args.seed)
    make_plan = (lambda: recipe_plan(parse_recipe(args.recipe_json))) if args.recipe_json else (lambda: preset_plan(args))
    plan = make_plan()
    if args.batches and not args.recipe_json:
        raise SystemExit("time-to-accuracy: --batches needs --recipe-json (the recipe's steps say how many)")
    given = bench_batches(args.batches, plan["maxSteps"], plan["batch"]) if args.batches else None
    first_batch = given[0] if given is not None else to_batch(reverse_samples(rng, plan["batch"], exclude))
    threads = fastest_training_threads(args, make_plan, first_batch)
    model, step = plan["model"], plan["step"]
    model.train()
    train_seconds, steps, em = 0.0, 0, 0.0
    history = []
    while steps < plan["maxSteps"]:
        # The batches up to the next evaluation, generated outside the timed region.
        count = min(plan["evalEvery"], plan["maxSteps"] - steps)
        if given is not None:
            batches = given[steps:steps + count]
        else:
            batches = [to_batch(reverse_samples(rng, plan["batch"], exclude)) for _ in range(count)]
        t0 = time.perf_counter()
        for b in batches:
            steps += 1
            loss = step(b, steps)
        train_seconds += time.perf_counter() - t0
        em = exact_match(model, held_out)
        history.append([steps, round(train_seconds, 2), round(em, 4)])
        log(f"step {steps}: {train_seconds:.1f}s loss {loss.item():.4f} exact {em:.4f}")
        if em >= args.target or train_seconds >= args.max_seconds:
            break
    rec = base_record("time-to-accuracy", args)
    rec.update(threads)
    rec.update({"steps": steps, "seconds": round(train_seconds, 3), "exactMatch": round(em, 4),
                "reached": em >= args.target, "target": args.target, "heldOut": HELD_OUT_SIZE,
                "batch": plan["batch"], "evalEvery": plan["evalEvery"], "peakLr": plan["peakLr"],
                "batches": "the bench's" if given is not None else "own",
                "heldOutSet": "the bench's" if args.held_out else "own",
                "recipe": plan["recipe"], **({"recipeSettings": plan["recipeSettings"]} if "recipeSettings" in plan else {}),
                "history": history})
    emit(rec)


def bench_attention(args):
    torch.manual_seed(args.seed)
    for (b, t, d, h) in ATTENTION_SIZES:
        mha = nn.MultiheadAttention(d, h, dropout=0.0, batch_first=True)
        x = torch.randn(b, t, d, requires_grad=True)

        def forward_backward():
            mha.zero_grad(set_to_none=True)
            x.grad = None
            out, _ = mha(x, x, x, need_weights=False)
            out.sum().backward()

        def forward():
            with torch.no_grad():
                mha(x, x, x, need_weights=False)

        for mode, call in (("forward-backward", forward_backward), ("forward", forward)):
            # Calibrate calls per repeat to ~0.3 s (on the first configuration's threads).
            set_threads(args.configs[0])
            for _ in range(max(3, args.warmup)):
                call()
            t0 = time.perf_counter()
            for _ in range(10):
                call()
            per = (time.perf_counter() - t0) / 10
            calls = max(10, int(0.3 / per))

            def repeat():
                t0 = time.perf_counter()
                for _ in range(calls):
                    call()
                return (time.perf_counter() - t0) * 1000

            best, times = fastest(args.configs, args.repeats, repeat, call)
            repeats_ms = times[best]
            rec = base_record("attention-forward-backward", args)
            rec.update(record(best, times, "msPerCall", 1 / calls))
            rec.update({"B": b, "T": t, "D": d, "H": h, "mode": mode,
                        "msPerCall": round(statistics.median(repeats_ms) / calls, 4),
                        "callsPerRepeat": calls, **summarize_ms(repeats_ms)})
            emit(rec)


def main(args):
    torch.manual_seed(args.seed)
    args.configs = parse_configs(args.threads)
    set_threads(args.configs[0])
    {"train": bench_train, "decode": bench_decode, "time-to-accuracy": bench_time_to_accuracy,
     "attention": bench_attention}[args.bench](args)


if __name__ == "__main__":
    main(ARGS)
