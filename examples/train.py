#!/usr/bin/env python3
"""A small, real training script for sagequeue's examples (Python 3, no packages).

It fits y = w*x + b to noisy data by minibatch gradient descent, the way a
SageMaker training container runs a script:

* hyperparameters come from /opt/ml/input/config/hyperparameters.json (all
  values are strings, as SageMaker writes them);
* the loss curve goes to stdout, one line per step ("epoch=1 step=5 loss=...");
* the model goes to /opt/ml/model/model.json;
* every few steps, and when SIGTERM arrives (a stop, a timeout, a preemption),
  the state goes to /opt/ml/checkpoints, and a run that finds a checkpoint
  there resumes from it.

The /opt/ml paths are SageMaker's. On sagequeue's local endpoint each job has
a directory of its own that stands for /opt/ml; the script finds it the way
the SageMaker training toolkit does, through SAGEMAKER_BASE_DIR and the SM_*
variables. To keep checkpoints from one attempt to the next, give the job a
CheckpointConfig (sagequeue submit --checkpoint-uri s3://bucket/prefix).

Hyperparameters (all optional): epochs (3), steps (20 per epoch), lr (0.1),
batch-size (16), seed (1), step-seconds (0.1: each step also sleeps this long,
so that jobs take a while and the queue has something to show),
checkpoint-every (5 steps), crash-at-step (0: never; the first run that
reaches this step fails, as a flaky machine would, to show retries resuming).
"""

import json
import os
import random
import signal
import sys
import time

BASE = os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")
CONFIG_DIR = os.environ.get("SM_INPUT_CONFIG_DIR", os.path.join(BASE, "input", "config"))
MODEL_DIR = os.environ.get("SM_MODEL_DIR", os.path.join(BASE, "model"))
OUTPUT_DIR = os.environ.get("SM_OUTPUT_DIR", os.path.join(BASE, "output"))
CHECKPOINT_DIR = os.path.join(BASE, "checkpoints")
CHECKPOINT = os.path.join(CHECKPOINT_DIR, "checkpoint.json")

DEFAULTS = {
    "epochs": 3,
    "steps": 20,
    "lr": 0.1,
    "batch-size": 16,
    "seed": 1,
    "step-seconds": 0.1,
    "checkpoint-every": 5,
    "crash-at-step": 0,
}

stop_requested = False


def on_sigterm(signum, frame):
    # Finish the step in progress, checkpoint, then exit: SageMaker gives a
    # stopped job 120 seconds after SIGTERM, sagequeue serve --stop-grace.
    global stop_requested
    stop_requested = True


def read_hyperparameters():
    path = os.path.join(CONFIG_DIR, "hyperparameters.json")
    given = {}
    if os.path.exists(path):
        with open(path) as f:
            given = json.load(f)
    hps = dict(DEFAULTS)
    for key, value in given.items():
        if key not in DEFAULTS:
            print(f"ignoring unknown hyperparameter {key}={value}", flush=True)
            continue
        try:
            hps[key] = type(DEFAULTS[key])(json.loads(value) if isinstance(value, str) else value)
        except (ValueError, TypeError):
            fail(f"hyperparameter {key}={value!r}: not a {type(DEFAULTS[key]).__name__}")
    return hps


def fail(reason):
    # SageMaker takes a failed job's FailureReason from /opt/ml/output/failure.
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    with open(os.path.join(OUTPUT_DIR, "failure"), "w") as f:
        f.write(reason)
    print(reason, file=sys.stderr, flush=True)
    sys.exit(1)


def dataset(seed, n=1000):
    rng = random.Random(seed)
    xs = [rng.uniform(-1, 1) for _ in range(n)]
    ys = [3.0 * x + 2.0 + rng.gauss(0, 0.1) for x in xs]
    return xs, ys


def loss_of(w, b, xs, ys):
    return sum((w * x + b - y) ** 2 for x, y in zip(xs, ys)) / len(xs)


def save_checkpoint(state):
    os.makedirs(CHECKPOINT_DIR, exist_ok=True)
    tmp = CHECKPOINT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, CHECKPOINT)  # atomic: a stop mid-write keeps the last one


def load_checkpoint():
    try:
        with open(CHECKPOINT) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    hps = read_hyperparameters()
    xs, ys = dataset(hps["seed"])
    total = hps["epochs"] * hps["steps"]

    state = {"step": 0, "w": 0.0, "b": 0.0, "crashed": False}
    resumed = load_checkpoint()
    if resumed:
        state.update(resumed)
        print(f"resuming from checkpoint: step {state['step']} of {total}", flush=True)
    else:
        print(f"starting: {total} steps, lr={hps['lr']}, batch-size={hps['batch-size']}", flush=True)

    while state["step"] < total:
        step = state["step"] + 1
        if step == hps["crash-at-step"] and not state["crashed"]:
            state["crashed"] = True
            save_checkpoint(state)
            fail(f"simulated crash at step {step} (crash-at-step); the next attempt resumes")
        # The minibatch depends only on the seed and the step, so a resumed
        # run takes the same path as one that never stopped.
        rng = random.Random(hps["seed"] * 1_000_003 + step)
        batch = rng.sample(range(len(xs)), hps["batch-size"])
        gw = sum(2 * (state["w"] * xs[i] + state["b"] - ys[i]) * xs[i] for i in batch) / len(batch)
        gb = sum(2 * (state["w"] * xs[i] + state["b"] - ys[i]) for i in batch) / len(batch)
        state["w"] -= hps["lr"] * gw
        state["b"] -= hps["lr"] * gb
        state["step"] = step
        time.sleep(hps["step-seconds"])
        epoch = (step - 1) // hps["steps"] + 1
        print(f"epoch={epoch} step={step} loss={loss_of(state['w'], state['b'], xs, ys):.6f}", flush=True)
        if stop_requested:
            save_checkpoint(state)
            print(f"SIGTERM: checkpoint saved at step {step}; stopping", flush=True)
            sys.exit(143)
        if step % hps["checkpoint-every"] == 0:
            save_checkpoint(state)

    os.makedirs(MODEL_DIR, exist_ok=True)
    model = {"w": state["w"], "b": state["b"], "loss": loss_of(state["w"], state["b"], xs, ys), "steps": total}
    with open(os.path.join(MODEL_DIR, "model.json"), "w") as f:
        json.dump(model, f)
    save_checkpoint(state)
    print(f"done: w={model['w']:.4f} b={model['b']:.4f} loss={model['loss']:.6f}; model in {MODEL_DIR}/model.json", flush=True)


if __name__ == "__main__":
    main()
