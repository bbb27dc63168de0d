"""Kills a small training run at random moments and checks that it always resumes.

```
python scripts/stress.py --kills 20
```

Trains a tiny MLP on `digits` (offline data) with the `keras-zoo train`
command and `--save-every-steps` (mid-epoch checkpoints), once without
interruption as the reference, then again in a second folder: each restart
is killed with SIGKILL at a random moment (most during training steps, step
checkpoints, epoch ends and checkpoint writes, some during start-up), and the
folder is checked after every kill. Finally the run is allowed to finish and
is compared with the reference: every epoch once in `history.csv`, a complete
folder, and exactly the reference's weights, test metrics and history
(bitwise; `--tolerance` bounds the test accuracy when `--no-exact`). Prints
`kills survived: K/N` and `exact: yes`; exit code 0 when every kill was
survived and the final run matches.

With `--signals kill,term` the kills are SIGKILL and SIGTERM in a random order,
as many of each within one (SIGTERM must end the restart with exit code 143,
after a checkpoint at the step it came at); `--steps-per-epoch N` trains N batches per epoch instead of one
pass over the data:

```
python scripts/stress.py --kills 20 --signals kill,term
```

Each restart pays TensorFlow's start-up (5-10 s on a small CPU).
"""

import argparse
import csv
import functools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_command(output, epochs, seed, steps_per_epoch=None, save_every_steps=None):
    steps = ["--steps-per-epoch", str(steps_per_epoch)] if steps_per_epoch else []
    if save_every_steps:
        steps += ["--save-every-steps", str(save_every_steps)]
    return [sys.executable, "-m", "keras_zoo.cli", "train", "mlp", "--dataset", "digits",
            "--epochs", str(epochs), "--seed", str(seed), "--arg", "hidden_units=(32,)",
            "--output", output] + steps


def start(command):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    proc.epoch_lines = []  # (time, line) of Keras's "Epoch k/E" lines
    proc.stderr_text = []

    def read(stream, sink, stamp):
        for line in stream:
            if not stamp or line.startswith("Epoch "):
                sink.append((time.time(), line) if stamp else line)

    for stream, sink, stamp in ((proc.stdout, proc.epoch_lines, True),
                                (proc.stderr, proc.stderr_text, False)):
        threading.Thread(target=read, args=(stream, sink, stamp), daemon=True).start()
    return proc


def read_history(run):
    path = os.path.join(run, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def check_folder(run):
    """Problems in a run folder left by a kill (empty list: consistent)."""
    problems = []
    for name in ("config.json", "metrics.json", os.path.join("backup", "state.json")):
        path = os.path.join(run, name)
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as f:
                    json.load(f)
            except ValueError as e:
                problems.append(f"{name} is not valid JSON: {e}")
    try:
        epochs = read_history(run)
    except (ValueError, KeyError) as e:
        return problems + [f"history.csv unreadable: {e}"]
    if epochs != list(range(len(epochs))):
        problems.append(f"history.csv epochs {epochs} are not 0..n-1, each once")
    state_path = os.path.join(run, "backup", "state.json")
    if os.path.exists(state_path) and not problems:
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
        committed = sorted(int(e) for e in state["history"])
        if committed != list(range(state["epochs"])):
            problems.append(f"state.json history {committed} != {state['epochs']} epochs")
        if state.get("step") and not 0 < state["step"] < state["epoch_steps"]:
            problems.append(f"state.json step {state['step']} is not inside an epoch of "
                            f"{state['epoch_steps']} steps")
        if not epochs == committed and not epochs == committed[:-1]:
            problems.append(f"history.csv {epochs} does not follow the commit {committed}")
        weights = os.path.join(run, "backup", state["weights"])
        problems += check_h5(weights)
    for name in ("model.keras", os.path.join("checkpoints", "best.keras")):
        path = os.path.join(run, name)
        if os.path.exists(path) and not valid_zip(path):
            problems.append(f"{name} is not a complete .keras file")
    return problems


def check_h5(path):
    import h5py

    try:
        with h5py.File(path, "r") as f:
            f.visit(lambda name: None)
    except OSError as e:
        return [f"{os.path.basename(path)} is not a complete weights file: {e}"]
    return []


def valid_zip(path):
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except zipfile.BadZipFile:
        return False


def test_accuracy(run):
    with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)["accuracy"]


def position(run):
    """`(finished epochs, steps of the next)` of a run's resume state, or None."""
    try:
        with open(os.path.join(run, "backup", "state.json"), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    return state["epochs"], state.get("step", 0)


def exactly_the_same(run, reference):
    """Problems in `run` against the reference: weights, metrics, history, bitwise."""
    problems = []
    for name in ("metrics.json", "history.csv"):
        with open(os.path.join(run, name), "rb") as a, open(os.path.join(reference, name),
                                                              "rb") as b:
            if a.read() != b.read():
                problems.append(f"{name} differs from the reference's")
    if not same_weights(run, reference):
        problems.append("the weights differ from the reference's")
    return problems


def same_weights(run, reference):
    """Whether two finished runs' models hold bitwise the same weights."""
    sys.path.insert(0, ROOT)
    import keras_zoo as kz

    a, b = kz.load_model(run), kz.load_model(reference)
    return all(x.tobytes() == y.tobytes() for x, y in zip(a.get_weights(), b.get_weights()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--epochs", type=int, help="default: 2 * kills + 3")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run and of the kills")
    parser.add_argument("--tolerance", type=float, default=0.03,
                        help="largest accepted test accuracy difference to the reference")
    parser.add_argument("--workdir", help="default: a new temporary folder")
    parser.add_argument("--signals", default="kill",
                        help="comma-separated signals to stop restarts with, drawn at random: "
                             "kill (SIGKILL) and/or term (SIGTERM, which must exit 143)")
    parser.add_argument("--steps-per-epoch", type=int,
                        help="train this many batches per epoch (default: one pass, 40)")
    parser.add_argument("--save-every-steps", type=int, default=10,
                        help="mid-epoch checkpoint interval of both runs (default 10; 0: none, "
                             "then only SIGTERM saves mid-epoch)")
    parser.add_argument("--no-exact", dest="exact", action="store_false",
                        help="accept a final run within --tolerance of the reference's test "
                             "accuracy instead of bitwise equal")
    args = parser.parse_args(argv)
    signals = {"kill": signal.SIGKILL, "term": signal.SIGTERM}
    chosen = [name.strip() for name in args.signals.split(",") if name.strip()]
    if not chosen or set(chosen) - set(signals):
        parser.error(f"--signals takes kill and/or term, got {args.signals!r}")
    epochs = args.epochs or 2 * args.kills + 3  # a restart advances at most ~2 epochs
    if epochs < 3:
        parser.error("--epochs must be at least 3")
    work = args.workdir or tempfile.mkdtemp(prefix="keras_zoo_stress_")
    reference, run = os.path.join(work, "reference"), os.path.join(work, "killed")
    rng = random.Random(args.seed)
    # The signals in turn, shuffled: each as often as the others (within one), decided
    # before the run, so a short run (`--kills 2`) sends each of `kill,term`.
    names = (chosen * args.kills)[:args.kills]
    random.Random(args.seed).shuffle(names)

    began = time.time()
    command = functools.partial(train_command, epochs=epochs, seed=args.seed,
                                steps_per_epoch=args.steps_per_epoch,
                                save_every_steps=args.save_every_steps)
    proc = start(command(reference))
    if proc.wait() != 0:
        sys.exit(f"reference run failed: {''.join(proc.stderr_text)}")
    stamps = [t for t, _ in proc.epoch_lines]  # when each epoch began
    startup = stamps[0] - began
    first = stamps[1] - stamps[0]  # the first epoch also traces the graph
    epoch_time = (stamps[-1] - stamps[1]) / max(1, len(stamps) - 2)
    print(f"reference: {epochs} epochs, start-up {startup:.1f} s, first epoch {first:.2f} s, "
          f"then {epoch_time:.2f} s/epoch, test accuracy {test_accuracy(reference):.4f}",
          flush=True)

    survived, failures, mid_epoch = 0, [], 0
    kill = 0
    while kill < args.kills:
        before = len(read_history(run))
        proc = start(command(run))
        began = time.time()
        if rng.random() < 0.15:  # during start-up: import, data, model building
            deadline, phase = began + rng.uniform(0, startup), "start-up"
        else:  # during training: batches, epoch ends, checkpoint writes
            # Counted in epochs begun, not seconds: timings vary on a shared machine.
            begun = rng.choice((1, 2))
            while len(proc.epoch_lines) < begun and proc.poll() is None:
                time.sleep(0.005)
            slack = (first if begun == 1 else epoch_time) * 1.1  # a little past the epoch end
            deadline, phase = time.time() + rng.uniform(0, slack), "training"
        capped = False
        while time.time() < deadline and proc.poll() is None:
            if phase == "start-up" and proc.epoch_lines:
                break  # start-up ended sooner than the reference's: the kill comes now
            if phase == "training" and not capped and len(proc.epoch_lines) > begun:
                # The epoch ended sooner than the reference's: kill early in the next one.
                capped = True
                deadline = min(deadline, time.time() + rng.uniform(0, 0.5 * epoch_time))
            time.sleep(0.005)
        if proc.poll() is not None:  # finished (or failed) before the kill
            if proc.returncode != 0:
                failures.append(f"restart exited {proc.returncode}: "
                                f"{''.join(proc.stderr_text).strip()}")
                break
            print("the run finished before all kills; use more --epochs", flush=True)
            break
        name = names[kill]
        os.kill(proc.pid, signals[name])
        proc.wait()
        kill += 1
        problems = check_folder(run)
        finished = os.path.exists(os.path.join(run, "metrics.json"))
        if name == "term" and proc.returncode != 143 and not (proc.returncode == 0 and finished):
            # (exit 0 is right when the signal came as the run finished)
            problems.append(f"SIGTERM gave exit code {proc.returncode}, not 143: "
                            f"{''.join(proc.stderr_text).strip()[-300:]}")
        phase += f", SIG{name.upper()}"
        after = len(read_history(run))
        saved = position(run)
        mid_epoch += bool(saved and saved[1])
        if after < before - 1:
            problems.append(f"history went back from {before} to {after} epochs")
        if problems:
            failures.append(f"kill {kill}: {'; '.join(problems)}")
        else:
            survived += 1
        at = f" and {saved[1]} steps" if saved and saved[1] else ""
        print(f"kill {kill}/{args.kills} ({phase}): {after} epochs{at} saved"
              + (f"  PROBLEM: {'; '.join(problems)}" if problems else ""), flush=True)

    proc = start(command(run))
    if proc.wait() != 0:
        failures.append(f"final restart exited {proc.returncode}: "
                        f"{''.join(proc.stderr_text).strip()}")
    else:
        problems = check_folder(run)
        if read_history(run) != list(range(epochs)):
            problems.append(f"history.csv epochs {read_history(run)} != 0..{epochs - 1}")
        for name in ("metrics.json", "model.keras", "config.json"):
            if not os.path.isfile(os.path.join(run, name)):
                problems.append(f"no {name}")
        leftovers = [n for n in os.listdir(run) if n.startswith(".tmp-")]
        if os.path.exists(os.path.join(run, "backup")) or leftovers:
            problems.append(f"left behind: backup/ or {leftovers}")
        if not problems:
            got, want = test_accuracy(run), test_accuracy(reference)
            print(f"final: test accuracy {got:.4f} (reference {want:.4f}); {mid_epoch} of "
                  f"{args.kills} kills left a mid-epoch checkpoint as the newest state",
                  flush=True)
            if abs(got - want) > args.tolerance:
                problems.append(f"accuracy {got:.4f} differs from {want:.4f} by more than "
                                f"{args.tolerance}")
            differences = exactly_the_same(run, reference)
            print(f"exact: {'yes' if not differences else 'NO'} (weights, test metrics and "
                  f"history bitwise equal to the uninterrupted run)", flush=True)
            if args.exact:
                problems += [f"not exact: {d}" for d in differences]
        failures += [f"final run: {p}" for p in problems]

    for failure in failures:
        print(f"FAILED {failure}", flush=True)
    print(f"kills survived: {survived}/{args.kills}", flush=True)
    return 0 if survived == args.kills and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
