#!/usr/bin/python3
"""PyTorch peer of `npm run bench -- --only generate-gpt` (scripts/bench/generate_gpt.ts).

The same model as the tfjs side, written out so that it can keep a key/value cache (PyTorch's
nn.TransformerEncoderLayer has none): token embedding x sqrt(128) + learned positions (65
characters, 128 positions, width 128), 4 pre-LN causal blocks (4 heads of 32, one Linear(128, 384)
for queries, keys and values, an output Linear(128, 128), feed-forward 512 with exact gelu), a
final LayerNorm and a Linear(128, 65) with softmax. Batch 1: an 8-character prompt, then 120
characters by greedy decoding, no stop token.

Cached: the prompt runs once (the prefill), then each step runs only the newest position through
the blocks, its keys and values written in place into per-layer caches preallocated for 128
positions (the loop Hugging Face's and nanoGPT's generate run). Uncached: the whole prefix every
step. Both report milliseconds per generated token.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 scripts/peers/torch_generate_gpt.py --repeats 5
    -> {"name":"generate-gpt","peer":"torch","msPerTokenCached":..,"msPerTokenUncached":..,
        "threads":{"torch":1,"blas":1},"threadsUncached":{..},"threadConfigs":[..],"blas":..,..}

--threads: the thread configurations to try (peer_threads.py), default all four of PyTorch's 1 or 2
intra-op threads by OpenBLAS's 1 or 2. Each figure is its fastest configuration's: "threads" names
the cached figure's, "threadsUncached" the uncached figure's, "threadConfigs" every configuration's
figures.
"""

import argparse
import json
import math
import os
import statistics
import time

VOCAB, LENGTH, WIDTH, HEADS, LAYERS, FF = 65, 128, 128, 4, 4, 512
PROMPT, NEW_TOKENS = 8, 120


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="all", help="'all', N, or TxB[,TxB...]: PyTorch x BLAS threads to try")
    return p.parse_args()


ARGS = parse_args()

import torch  # noqa: E402
from peer_threads import fastest, parse_configs, record, set_threads, threads_of  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(WIDTH)
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.out = nn.Linear(WIDTH, WIDTH)
        self.norm2 = nn.LayerNorm(WIDTH)
        self.inner = nn.Linear(WIDTH, FF)
        self.outer = nn.Linear(FF, WIDTH)

    def forward(self, x, cache, start):
        """x (1, T, D) at positions start..start+T-1; cache (2, H, LENGTH, K) of this layer, or None."""
        t = x.shape[1]
        heads = self.qkv(self.norm1(x)).view(1, t, 3, HEADS, WIDTH // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = heads[0], heads[1], heads[2]  # (1, H, T, K)
        if cache is not None:
            cache[0, :, start:start + t] = k[0]
            cache[1, :, start:start + t] = v[0]
            k, v = cache[0:1, :, :start + t], cache[1:2, :, :start + t]
        scores = q @ k.transpose(-1, -2) / math.sqrt(WIDTH // HEADS)  # (1, H, T, S)
        if t > 1:
            s = k.shape[2]
            future = torch.ones(t, s, dtype=torch.bool).triu(1 + s - t)
            scores = scores.masked_fill(future, float("-inf"))
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(1, t, WIDTH)
        x = x + self.out(context)
        return x + self.outer(F.gelu(self.inner(self.norm2(x))))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, WIDTH)
        self.positions = nn.Embedding(LENGTH, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = nn.LayerNorm(WIDTH)
        self.logits = nn.Linear(WIDTH, VOCAB)

    def forward(self, ids, caches=None, start=0):
        x = self.tokens(ids) * math.sqrt(WIDTH) + self.positions.weight[start:start + ids.shape[1]]
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i], start)
        return self.logits(self.norm(x[:, -1])).softmax(-1)


@torch.no_grad()
def generate(model, prompt, cached):
    ids = prompt.clone()
    if cached:
        caches = torch.zeros(LAYERS, 2, HEADS, LENGTH, WIDTH // HEADS)
        probabilities = model(ids, caches, 0)
        for step in range(NEW_TOKENS):
            token = probabilities.argmax(-1, keepdim=True)
            ids = torch.cat([ids, token], 1)
            if step + 1 < NEW_TOKENS:
                probabilities = model(token, caches, ids.shape[1] - 1)
    else:
        for step in range(NEW_TOKENS):
            token = model(ids).argmax(-1, keepdim=True)
            ids = torch.cat([ids, token], 1)
    return ids[0, PROMPT:]


def main():
    configs = parse_configs(ARGS.threads)
    set_threads(configs[0])
    torch.manual_seed(1)
    model = Gpt().eval()
    prompt = torch.arange(1, PROMPT + 1).view(1, PROMPT)
    # The cache gives the same tokens as the whole model (the check that it is a real cache).
    assert torch.equal(generate(model, prompt, True), generate(model, prompt, False))
    line = {"name": "generate-gpt", "peer": "torch", "torch": torch.__version__,
            "loadAvg1m": round(os.getloadavg()[0], 2), "batch": 1, "prompt": PROMPT, "newTokens": NEW_TOKENS}
    by_config = {}
    for label, cached in (("Cached", True), ("Uncached", False)):
        for _ in range(ARGS.warmup):
            generate(model, prompt, cached)

        def repeat():
            start = time.perf_counter()
            generate(model, prompt, cached)
            return (time.perf_counter() - start) * 1000

        best, times = fastest(configs, ARGS.repeats, repeat, lambda: generate(model, prompt, cached))
        figure = f"msPerToken{label}"
        fields = record(best, times, figure, 1 / NEW_TOKENS)
        for entry in fields.pop("threadConfigs"):
            by_config.setdefault((entry["torch"], entry["blas"]), {}).update(entry)
        line.update(fields if cached else {"threadsUncached": threads_of(best)})
        line[figure] = round(statistics.median(times[best]) / NEW_TOKENS, 4)
        line[f"repeatsMs{label}"] = [round(r / NEW_TOKENS, 4) for r in times[best]]
    line["threadConfigs"] = list(by_config.values())
    line["cacheSpeedup"] = round(line["msPerTokenUncached"] / line["msPerTokenCached"], 3)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
