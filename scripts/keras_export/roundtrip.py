"""Keras's side of the export check: opens the `.keras` files saveKerasModel wrote, predicts, trains.

    .venv/keras3/bin/python scripts/keras_export/roundtrip.py DIR

Run through `npm run check:keras-export` (scripts/keras_export.ts), which writes DIR/manifest.json
and the files, and reads back DIR/keras.json. For each model of the manifest:
1. `keras.saving.load_model(file)`: no custom objects, safe mode on (keras-hub is imported so that
   its registered classes are known, as any keras-hub user has it);
2. `predict` on the manifest's inputs, recorded for the TypeScript side to compare with tfjs's;
3. training steps on those inputs (`fit`, JAX backend, Adam, mean squared error to the manifest's
   targets), each step's loss (the TypeScript side checks that the mean of the last three is below
   the mean of the first three: one step's loss moves with dropout's noise) and `predict`'s before
   and after, then `model.save` to `<name>.trained.keras` and `predict` again: the file and
   predictions that `loadKerasModel` must match;
4. with `decode` in the manifest (the shipped reverse model), before training: greedy decoding of
   its sources, one position at a time with the whole model, as loadSeq2Seq's `generate` does.
Deterministic: Python's, NumPy's and Keras's random generators are seeded (`keras.utils.set_random_seed`)
before each model is loaded, so its dropout draws the same masks on every run of the same file.
"""

import json
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import keras_hub  # noqa: E402,F401  (registers keras-hub's classes)

DIR = sys.argv[1]
TRAIN_STEPS = 10
SEED = 27


def arrays(inputs):
    return [np.asarray(x, dtype=dtype) for x, dtype in zip(inputs["values"], inputs["dtypes"])]


def as_list(outputs):
    return [np.asarray(o).tolist() for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def call(model, xs):
    return model.predict(xs if len(xs) > 1 else xs[0], batch_size=len(xs[0]), verbose=0)


def mse(outputs, targets):
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return float(np.mean([np.mean((np.asarray(o) - t) ** 2) for o, t in zip(outputs, targets)]))


def greedy(model, sources, bos, eos, pad, max_length):
    """
    Greedy decoding: argmax of position t's logits is token t + 1, until EOS or max_length tokens.
    The decoder input is always max_length wide (PAD after the tokens so far: masked, and after
    position t, which a causal decoder does not see), so that one compiled predict serves every step.
    """
    width = max(len(s) for s in sources)
    source = np.array([s + [pad] * (width - len(s)) for s in sources], dtype="int32")
    decoder = np.full((len(sources), max_length), pad, dtype="int32")
    decoder[:, 0] = bos
    done = np.zeros(len(sources), dtype=bool)
    outputs = [[] for _ in sources]
    for t in range(max_length):
        logits = model.predict([source, decoder], batch_size=len(sources), verbose=0)
        token = logits[:, t, :].argmax(-1).astype("int32")
        for b, tok in enumerate(token):
            if not done[b]:
                if tok == eos:
                    done[b] = True
                else:
                    outputs[b].append(int(tok))
        if done.all() or t + 1 == max_length:
            break
        decoder[:, t + 1] = token
    return outputs


def main():
    manifest = json.load(open(os.path.join(DIR, "manifest.json")))
    results = {"keras": f"keras {keras.__version__}, keras-hub {keras_hub.__version__} (jax backend)", "models": []}
    for case in manifest["models"]:
        started = time.time()
        path = os.path.join(DIR, case["file"])
        # Before loading: a Dropout layer draws its generator's seed when it is made.
        keras.utils.set_random_seed(SEED)
        model = keras.saving.load_model(path)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        xs = arrays(case["inputs"])
        outputs = call(model, xs)
        result = {"name": case["name"], "outputs": as_list(outputs)}
        result["classes"] = sorted({type(layer).__name__ for layer in model.layers})
        if "decode" in case:
            d = case["decode"]
            result["decoded"] = greedy(model, d["sources"], d["bos"], d["eos"], d["pad"], d["max_length"])
        # Train: a few Adam steps on the inputs, to the manifest's targets; the loss must fall.
        targets = [np.asarray(t, dtype="float32") for t in case["targets"]]
        x = xs if len(xs) > 1 else xs[0]
        y = targets if len(targets) > 1 else targets[0]
        history = model.fit(x, y, epochs=TRAIN_STEPS, batch_size=len(xs[0]), shuffle=False, verbose=0)
        trained_outputs = call(model, xs)
        trained = case["name"] + ".trained.keras"
        model.save(os.path.join(DIR, trained))
        before, after = mse(outputs, targets), mse(trained_outputs, targets)
        steps = [float(v) for v in history.history["loss"]]
        result["train"] = {"loss_before": before, "loss_after": after, "steps": steps, "file": trained}
        result["trained_outputs"] = as_list(trained_outputs)
        result["seconds"] = round(time.time() - started, 1)
        results["models"].append(result)
        print(f"keras: {case['name']}: loaded, predicted, trained {TRAIN_STEPS} steps "
              f"(loss {before:.4g} -> {after:.4g}) in {result['seconds']} s", flush=True)
    json.dump(results, open(os.path.join(DIR, "keras.json"), "w"))


main()
