"""The `keras-zoo` command: a thin layer over the public API.

```
keras-zoo list --family cnn
keras-zoo info resnet20
keras-zoo train simple_cnn --dataset digits --epochs 10 --output runs/cnn
keras-zoo train --config runs/cnn/config.json --output runs/cnn-again
keras-zoo evaluate runs/cnn
keras-zoo tune mlp --dataset digits --trials 20 --epochs 5 --output runs/tune-mlp
keras-zoo generate runs/dcgan --num 64 --out samples.png
keras-zoo generate runs/gpt --prompt "def " --length 200
keras-zoo predict runs/cnn seven.png more-digits/ --top 3 --out predictions.csv
keras-zoo datasets
keras-zoo doctor
```

Exit codes: 0 done; 2 bad input, or a loss that became NaN, a full disk or a
folder without write permission (one line on stderr); 1 internal error; 130
interrupted by Ctrl-C, 143 stopped by SIGTERM (rerun to resume); 141 the reader
of the output went away (`keras-zoo generate ... | head`).
"""

import argparse
import ast
import contextlib
import dataclasses
import errno
import functools
import json
import os
import sys
import textwrap
import time
import traceback
import warnings

from keras_zoo._quiet import filtered_stderr, private_matplotlib_dir, quiet_python_logs
from keras_zoo._version import __version__
from keras_zoo.errors import InvalidArgumentError, ZooError


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Reports a usage error as an exception, so `main` prints one line."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _model_arg(text):
    """Parses `--arg key=value`; the value is a Python literal or a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        if value[:1] and (value[0].isdigit() or value[0] in "([{+-."):  # a number or tuple
            raise argparse.ArgumentTypeError(
                f"{key}={value} is not a Python literal (values are read with "
                f"ast.literal_eval, which computes nothing); write numbers out, e.g. "
                f"1000000000 for 10**9. Received: {text!r}") from None
        # a plain string, e.g. classifier_activation=softmax
    return key, value


def build_parser():
    """Returns the `keras-zoo` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show TensorFlow logs and full tracebacks")
    parser = _Parser(prog="keras-zoo", parents=[common],
                     description="Known-good Keras 3 models by name, fitted on datasets.")
    parser.add_argument("--version", action="version", version=f"keras-zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", parents=[common], help="list the models",
                       description="List the registered models.")
    p.add_argument("pattern", nargs="?", help="wildcard on the name, e.g. 'resnet*'")
    p.add_argument("--family", help="dense, cnn, rnn, transformer or gan")
    p.add_argument("--task", help="e.g. image_classification")
    p.add_argument("--params", action="store_true",
                   help="also show each model's parameter count at its defaults")
    p.set_defaults(run=_cmd_list)

    p = sub.add_parser("info", parents=[common], help="describe a model",
                       description="Describe a model: task, reference, arguments.")
    p.add_argument("name")
    p.set_defaults(run=_cmd_info)

    p = sub.add_parser("datasets", parents=[common], help="list the datasets",
                       description="List the datasets and their recipes.")
    p.set_defaults(run=_cmd_datasets)

    p = sub.add_parser("train", parents=[common], help="fit a model on a dataset",
                       description="Fit a model on a dataset, evaluate it on the test split, "
                       "and save the run. Rerun the same command after a crash to resume.")
    p.add_argument("name", nargs="?", help="model name, see `keras-zoo list`")
    p.add_argument("--config", help="repeat the run of RUN/config.json (options given here win)")
    p.add_argument("--dataset",
                   help="a zoo or tfds dataset name, or a folder (default: the model's)")
    p.add_argument("--epochs", type=int, help="default: the dataset recipe's")
    p.add_argument("--batch-size", type=int, help="default: the dataset recipe's")
    p.add_argument("--output", help="run folder (config, history, model, checkpoints); "
                   "without it nothing is saved")
    p.add_argument("--seed", type=int, help="repeatable run (TensorFlow op determinism)")
    p.add_argument("--strategy", help="auto (default), cpu, one_device, mirrored, ...")
    p.add_argument("--precision",
                   help="auto (default), float32, mixed_bfloat16 or mixed_float16")
    p.add_argument("--steps-per-epoch", type=int,
                   help="train this many batches per epoch, the training data repeating "
                        "(default: one pass over the training split)")
    p.add_argument("--save-every-steps", type=int, metavar="N",
                   help="with --output, also save a mid-epoch checkpoint every N steps (one "
                        "is saved at the current step on Ctrl-C or SIGTERM anyway); rerunning "
                        "resumes at that step")
    p.add_argument("--data-dir", help="tfds data folder")
    p.add_argument("--arg", dest="model_args", action="append", type=_model_arg, default=[],
                   metavar="KEY=VALUE", help="model argument, e.g. --arg width=8 (repeatable)")
    p.add_argument("--recipe", dest="recipe_args", action="append", type=_model_arg,
                   default=[], metavar="FIELD=VALUE",
                   help="training-recipe field, e.g. --recipe learning_rate=0.01 "
                   "(repeatable; see `keras-zoo recipe NAME --dataset DS`)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished run")
    p.add_argument("--weights", help="start from weights: a registered name, a file, a run "
                   "folder or a URL (see `keras-zoo weights`)")
    p.add_argument("--freeze", choices=["backbone"], help="train the head alone")
    p.add_argument("--unfreeze-after", type=int, metavar="N",
                   help="with --freeze: unfreeze after N epochs at learning rate 1e-5")
    p.add_argument("--lora-rank", type=int, help="LoRA on a Transformer's attention (rank)")
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("tune", parents=[common], help="search hyper-parameters (keras-tuner)",
                       description="Search hyper-parameters on keras-tuner, scoring each trial "
                       "on the validation split; refit the best with the full recipe and test "
                       "it once. Rerun the same command to resume a killed search.")
    p.add_argument("name", help="model name")
    p.add_argument("--dataset",
                   help="a zoo or tfds dataset name, or a folder (default: the model's)")
    p.add_argument("--trials", type=int, default=10, help="configurations to try (default 10)")
    p.add_argument("--algorithm", default="random", help="random (default), bayesian, hyperband")
    p.add_argument("--objective", default="val_accuracy",
                   help="validation metric, e.g. val_accuracy (default) or val_loss")
    p.add_argument("--epochs", type=int, help="epochs per trial (default: the recipe's)")
    p.add_argument("--space", help="search space, a JSON file or inline JSON {name: [choices] "
                   "| {\"min\": a, \"max\": b, \"sampling\": \"log\"}} (default: from "
                   "the model's knobs and the recipe)")
    p.add_argument("--output", help="tuning folder (trials, scores.png, best_config.json, best/)")
    p.add_argument("--seed", type=int, help="seed of the search and of every trial")
    p.add_argument("--data-dir", help="tfds data folder")
    p.add_argument("--arg", dest="model_args", action="append", type=_model_arg, default=[],
                   metavar="KEY=VALUE", help="model argument for every trial (repeatable)")
    p.add_argument("--recipe", dest="recipe_args", action="append", type=_model_arg,
                   default=[], metavar="FIELD=VALUE",
                   help="recipe field for every trial and the refit (repeatable)")
    p.add_argument("--no-refit", action="store_true", help="search only; do not refit the best")
    p.add_argument("--overwrite", action="store_true", help="start the search again")
    p.set_defaults(run=_cmd_tune)

    p = sub.add_parser("recipe", parents=[common], help="print a training recipe",
                       description="Print the training recipe of a model on a dataset: "
                       "optimizer, schedule, weight decay, augmentation, batch, epochs, "
                       "reference, expected result, and minutes per CPU kind where the "
                       "time depends on the CPU.")
    p.add_argument("name", help="model name")
    p.add_argument("--dataset",
                   help="a zoo or tfds dataset name, or a folder (default: the model's)")
    p.add_argument("--recipe", dest="recipe_args", action="append", type=_model_arg,
                   default=[], metavar="FIELD=VALUE", help="show the recipe with this override")
    p.add_argument("--weights", help="the recipe of a fine-tune from these registered weights")
    p.set_defaults(run=_cmd_recipe)

    p = sub.add_parser("evaluate", parents=[common], help="evaluate a saved model",
                       description="Evaluate a run folder or .keras file on a dataset split.")
    p.add_argument("path", help="run folder or .keras file")
    p.add_argument("--dataset", help="a dataset name or a folder (default: the run's)")
    p.add_argument("--split", default="test", help="train, validation or test")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--data-dir", help="tfds data folder")
    p.add_argument("--unsafe", action="store_true",
                   help="allow a model file carrying Python code (only files you trust)")
    p.set_defaults(run=_cmd_evaluate)

    p = sub.add_parser("generate", parents=[common], help="sample from a GAN or language model",
                       description="Write a PNG grid of GAN samples, or print text from a "
                       "language model run (--prompt).")
    p.add_argument("path", help="run folder (or .keras file); with --weights, a model name")
    p.add_argument("--weights", help="a registered weights name (or file, run, URL) for the "
                   "model named by PATH, e.g. `keras-zoo generate gpt_mini --weights tiny_corpus`")
    p.add_argument("--num", type=int, default=64, help="number of images (GAN)")
    p.add_argument("--out", default="samples.png",
                   help="PNG file to write (GAN; default samples.png)")
    p.add_argument("--prompt", help="text to continue (language model)")
    p.add_argument("--length", type=int, default=200, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="sampling temperature; 0 picks the most likely token (default 0.8)")
    p.add_argument("--top-k", type=int, default=10,
                   help="sample among the k most likely tokens, as keras-io's miniature GPT "
                        "(default 10)")
    p.add_argument("--top-p", type=float,
                   help="sample among the most likely tokens whose probabilities sum to P "
                        "(nucleus sampling; default off)")
    p.add_argument("--seed", type=int)
    p.add_argument("--no-cache", dest="use_cache", action="store_false",
                   help="run the whole window per token instead of the key/value cache (no "
                        "compiling first: quicker for a few tokens from a small model)")
    p.add_argument("--unsafe", action="store_true",
                   help="allow a model file carrying Python code (only files you trust)")
    p.set_defaults(run=_cmd_generate)

    p = sub.add_parser("predict", parents=[common], help="classify new images or texts",
                       description="Classify image files, folders of images, .txt files or "
                       "--text with a classifier run (or .keras file), prepared as in training "
                       "(resized, scaled; the run's vocabulary and text settings). One line "
                       "per input: INPUT<TAB>class (probability), the top K with --top K.")
    p.add_argument("path", help="run folder or .keras file of an image or text classifier")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files or folders (png, jpg, jpeg, gif, bmp, searched "
                        "recursively); .txt files or folders for a text classifier")
    p.add_argument("--text", dest="texts", action="append", default=[], metavar="TEXT",
                   help="a text to classify (text classifier; repeatable)")
    p.add_argument("--top", type=int, default=1, help="classes per input, most likely first "
                   "(default 1)")
    p.add_argument("--out", help="also write the predictions as CSV "
                   "(input, rank, class, probability)")
    p.add_argument("--batch-size", type=int, help="default: the run's")
    p.add_argument("--unsafe", action="store_true",
                   help="allow a model file carrying Python code (only files you trust)")
    p.set_defaults(run=_cmd_predict)

    p = sub.add_parser("weights", parents=[common], help="list pretrained weights",
                       description="List the registered pretrained weights (shipped in the "
                       "package or hosted), and whether each file is here or cached.")
    p.add_argument("name", nargs="?", help="a model name")
    p.set_defaults(run=_cmd_weights)

    p = sub.add_parser("publish", parents=[common], help="write a run's weights and entry",
                       description="Write a finished run's .weights.h5 and its entry (hash, "
                       "metrics, recipe, versions) into OUT_DIR, to register, ship or host.")
    p.add_argument("run_dir")
    p.add_argument("out_dir")
    p.add_argument("--name", help="weights name (default: the run's dataset)")
    p.add_argument("--url", help="where the file will be hosted (recorded in the entry)")
    p.set_defaults(run=_cmd_publish)

    p = sub.add_parser("export", parents=[common], help="export a run for serving",
                       description="Export a run folder or .keras file as a SavedModel, LiteRT "
                       "or ONNX file that takes raw inputs (pixels 0..255, token ids).")
    p.add_argument("path", help="run folder or .keras file")
    p.add_argument("--format", default="savedmodel", help="savedmodel (default), litert or onnx")
    p.add_argument("--out", required=True, help="output folder (savedmodel) or file")
    p.set_defaults(run=_cmd_export)

    p = sub.add_parser("doctor", parents=[common], help="check this machine for training",
                       description="Print the backend, devices, versions, the JAX compilation "
                       "cache and the defaults the zoo picks here; exit 2 with one line per "
                       "problem (e.g. TensorFlow holding the TPU JAX needs).")
    p.set_defaults(run=_cmd_doctor)
    return parser


def main(argv=None):
    """Runs the command line; returns the exit code (see the module docstring).

    Every command starts and ends here, the same way (`_command`): quiet
    Python logs and native notices, matplotlib's folder, SIGTERM as Ctrl-C;
    then one line on stderr for anything but success.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    try:
        with _command(verbose):
            args = build_parser().parse_args(argv)
            return args.run(args) or 0
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except (_UsageError, ZooError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # training.callbacks.TrainingInterrupted says how to resume
        if _TERMINATED:  # SIGTERM (a scheduler, Colab pre-emption): 128 + 15, as the shell
            _TERMINATED.clear()
            text = _one_line(e).replace("Training interrupted", "Training stopped by SIGTERM")
            print(f"terminated: {text}" if str(e) else "terminated", file=sys.stderr)
            return 143
        print(f"interrupted: {_one_line(e)}" if str(e) else "interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `keras-zoo generate ... | head`: the reader has gone
        try:  # nothing more reaches it, not even Python's flush at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, as the shell reports a tool that died of it
    except Exception as e:  # noqa: BLE001  an internal error, unless the disk's or a permission
        from keras_zoo.runs.folder import _user_errno, way_out

        number = _user_errno(e)
        if number is not None:
            where = _path_of(e)
            what = (f"Permission denied{f' on {where}' if where else ''}"
                    if number in (errno.EACCES, errno.EPERM)
                    else f"Could not write to the disk: {os.strerror(number)}")
            print(f"error: {what} ({type(e).__name__}: {_one_line(e)[:300]}); "
                  f"{way_out(number)}.", file=sys.stderr)
            return 2
        if verbose:
            traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {_one_line(e)}"
              + ("" if verbose else " (rerun with --verbose for the traceback)"), file=sys.stderr)
        return 1


@contextlib.contextmanager
def _command(verbose):
    """What every command runs in: quiet logs and notices, matplotlib's folder, SIGTERM."""
    import signal
    import threading

    private_matplotlib_dir()  # before anything imports matplotlib
    handler = hook = None
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):  # not when embedded
        handler = signal.signal(signal.SIGTERM, _on_sigterm)
        hook = sys.unraisablehook
        sys.unraisablehook = functools.partial(_signal_again, previous=hook)
    try:
        with warnings.catch_warnings():
            if not verbose:
                quiet_python_logs()
            with filtered_stderr():  # TensorFlow's native notices at first device use
                yield
            sys.stdout.flush()  # a closed pipe fails here, inside the mapping of errors
    finally:
        if handler is not None:
            signal.signal(signal.SIGTERM, handler)
            sys.unraisablehook = hook


def _path_of(error):
    """The file named by an `OSError` in `error`'s chain, or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.filename:
            return error.filename
        error = error.__cause__ or error.__context__
    return None


_TERMINATED = []  # the SIGTERM that stopped the command, if one did


class _Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler; `fit` stops as on Ctrl-C (finished epochs kept)."""


def _on_sigterm(signum, frame):
    _TERMINATED.append(signum)
    raise _Terminated()


def _signal_again(unraisable, previous):
    """Sends SIGTERM or SIGINT again when Python dropped its handler's exception.

    An exception raised in a garbage-collector callback or a finalizer is printed
    ("Exception ignored in ...") and dropped. A SIGTERM whose handler ran inside
    JAX's `_xla_gc_callback`, 11 s into `keras-zoo train`'s start-up, was lost so:
    the run trained to its end and exited 0. The signal is sent again from another
    thread, so that its handler runs once the callback has returned (again, should
    it land in another one).
    """
    import signal
    import threading

    if isinstance(unraisable.exc_value, (_Terminated, KeyboardInterrupt)):
        number = signal.SIGINT
        if isinstance(unraisable.exc_value, _Terminated):
            number = signal.SIGTERM
            _TERMINATED.clear()  # the handler records it again
        timer = threading.Timer(0.01, os.kill, (os.getpid(), number))
        timer.daemon = True
        timer.start()
    else:
        previous(unraisable)


def _one_line(error):
    text = " ".join(str(error).split())
    return text if len(text) <= 2000 else text[:2000] + " ..."


def _table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


def _cmd_list(args):
    import fnmatch

    from keras_zoo.cli import catalog
    from keras_zoo.errors import unknown_name

    families, tasks = catalog.families_and_tasks()
    if args.family is not None and args.family not in families:
        raise unknown_name("family", args.family, families)
    if args.task is not None and args.task not in tasks:
        raise unknown_name("task", args.task, tasks)
    rows = []
    for name, info in sorted(catalog.models().items()):
        if (args.pattern is not None and not fnmatch.fnmatch(name, args.pattern)
                or args.family not in (None, info["family"])
                or args.task not in (None, info["task"])):
            continue
        row = [name, info["family"], info["task"], info["dataset"]]
        if args.params:
            row.insert(3, f"{info['params']:,}")
        rows.append(row)
    header = ["name", "family", "task", "dataset"]
    if args.params:
        header.insert(3, "params")
    _table(rows, header)


def _catalog_model(name):
    from keras_zoo.cli import catalog
    from keras_zoo.errors import unknown_name

    table = catalog.models()
    if name not in table:
        raise unknown_name("model", name, table)
    return table[name]


def _cmd_info(args):
    info = _catalog_model(args.name)
    print(f"{args.name}: {info['description']}")
    print(f"  family     {info['family']}")
    print(f"  task       {info['task']}")
    print(f"  inputs     {', '.join(info['inputs'])}")
    print(f"  outputs    {info['outputs']}")
    print(f"  params     {info['params']:,} (at the defaults below)")
    print(f"  dataset    {info['dataset']}")
    print(f"  reference  {info['reference']}")
    print("  arguments (override with `keras-zoo train --arg KEY=VALUE`):")
    for key, value in info["defaults"].items():
        print(f"    {key}={value!r}")
    for line in info["memory"]:  # the GPTs' training memory, estimated from the arguments
        print(f"  {line}")


def _cmd_datasets(args):
    from keras_zoo.cli import catalog

    rows = [[name, d["kind"], d["batch_size"], d["epochs"], d["source"]]
            for name, d in sorted(catalog.datasets().items())]
    _table(rows, ["name", "kind", "batch", "epochs", "source"])
    for paragraph in catalog.open_data():
        print()
        print(textwrap.fill(paragraph, width=100))


def _cmd_doctor(args):
    from keras_zoo.distribute.doctor import diagnose

    diagnosis = diagnose()
    width = max(len(label) for label, _ in diagnosis.findings)
    for label, text in diagnosis.findings:
        print(f"{label:<{width}}  {text}")
    sys.stdout.flush()
    for problem in diagnosis.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 2 if diagnosis.problems else 0


def _cmd_recipe(args):
    import keras_zoo as kz
    from keras_zoo import data, recipes

    dataset = args.dataset or kz.model_info(args.name).dataset
    entry = data.resolve(dataset, data_dir=getattr(args, "data_dir", None))
    found = kz.recipe(args.name, entry.name if entry.curated else None, kind=entry.kind,
                      weights=args.weights, **dict(args.recipe_args))
    print(recipes.describe(found, args.name, entry.name))
    if found.minutes:  # the time depends on the CPU: say which one this is
        from keras_zoo.distribute.defaults import cpu_description

        print(f"This CPU: {cpu_description()} (CPU kinds: docs/performance.md)")


def _cmd_train(args):
    if args.config:
        _fill_from_config(args)
    if args.name is None:
        raise _UsageError("keras-zoo train: give a model name, or --config RUN/config.json "
                          "(see keras-zoo train --help)")
    if args.dataset is None:
        hint = offline_hint(args.name, args.data_dir)
        if hint:
            print(hint, file=sys.stderr, flush=True)
    import keras_zoo as kz

    dataset = args.dataset or kz.model_info(args.name).dataset
    start = time.time()
    result = kz.fit(
        args.name, dataset, epochs=args.epochs, batch_size=args.batch_size,
        strategy=args.strategy or "auto", precision=args.precision or "auto",
        output_dir=args.output, seed=args.seed, steps_per_epoch=args.steps_per_epoch,
        save_every_steps=args.save_every_steps, data_dir=args.data_dir,
        model_args=dict(args.model_args) or None,
        recipe=dict(args.recipe_args) or None, overwrite=args.overwrite, weights=args.weights,
        freeze=args.freeze, unfreeze_after=args.unfreeze_after, lora_rank=args.lora_rank,
    )
    seconds = time.time() - start
    scores = "  ".join(f"{k} {v:.4f}" for k, v in sorted(result.metrics.items()))
    where = "final" if "d_loss" in result.metrics else "test"
    print(f"{args.name} on {dataset}: {where} {scores}  ({seconds:.0f} s)")
    if result.output_dir:
        print(f"run saved in {result.output_dir}")
    elif args.output:  # a worker other than the chief (several processes or workers)
        print(f"run saved by the chief (process 0) in {args.output}")
    else:
        print("nothing saved (no --output); add --output DIR to keep the model and its run")


def offline_hint(name, data_dir=None):
    """One line for a first `keras-zoo train NAME` whose default dataset needs a download.

    Returns None when the model is unknown (the error comes later), its
    default dataset needs no download, or that dataset is already in the tfds
    data folder. Reads the static catalog only, so it prints before anything
    else (TensorFlow's start-up, the `Strategy ...` line).
    """
    from keras_zoo.cli import catalog
    from keras_zoo.errors import prepare_command

    info = catalog.models().get(name)
    if info is None or catalog.datasets()[info["dataset"]]["offline"]:
        return None
    dataset = info["dataset"]
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), "tensorflow_datasets")
    if os.path.isdir(os.path.join(root, dataset)):
        return None
    offline = info["offline_dataset"]
    instead = (f"offline, try `keras-zoo train {name} --dataset {offline}`; "
               if offline else "")
    return (f"note: {name}'s reference dataset {dataset} is downloaded by tfds; {instead}"
            f"to prepare {dataset} on a machine with network: "
            f"{prepare_command(dataset)}, then pass --data-dir DIR.")


def _cmd_tune(args):
    import keras_zoo as kz
    from keras_zoo.training import tuning

    space = None
    if args.space is not None:
        text = args.space
        if not text.lstrip().startswith("{"):
            try:
                with open(text) as f:
                    text = f.read()
            except OSError as e:
                raise InvalidArgumentError(f"Cannot read the search space ({e.strerror}). "
                                           f"Received: --space {args.space!r}") from None
        try:
            space = json.loads(text)
        except ValueError as e:
            raise InvalidArgumentError(f"The search space is not valid JSON ({e}). "
                                       f"Received: --space {args.space!r}") from None
    dataset = args.dataset or kz.model_info(args.name).dataset
    result = tuning.tune(
        args.name, dataset, space, trials=args.trials, algorithm=args.algorithm,
        objective=args.objective, epochs=args.epochs, output_dir=args.output, seed=args.seed,
        recipe=dict(args.recipe_args) or None, model_args=dict(args.model_args) or None,
        data_dir=args.data_dir, refit=not args.no_refit, overwrite=args.overwrite)
    if result.best_values is None:
        print("worker finished; the chief reports the search")
        return
    values = "  ".join(f"{k}={v!r}" for k, v in result.best_values.items())
    print(f"best of {len(result.trials)} trials: {args.objective} {result.best_score:.4f}  "
          f"{values}")
    if result.metrics is not None:
        scores = "  ".join(f"{k} {v:.4f}" for k, v in sorted(result.metrics.items()))
        print(f"refitted with the full recipe: test {scores}")
    if result.output_dir:
        print(f"rerun the best: keras-zoo train --config "
              f"{os.path.join(result.output_dir, tuning.BEST_CONFIG)}")


# config.json key -> `train` option it fills when not given on the command line.
_CONFIG_OPTIONS = {"model": "name", "dataset": "dataset", "epochs": "epochs",
                   "batch_size": "batch_size", "seed": "seed", "strategy": "strategy",
                   "precision": "precision", "steps_per_epoch": "steps_per_epoch",
                   "data_dir": "data_dir"}


def _fill_from_config(args):
    """Fills `train` options not given on the command line from a run's config.json.

    The file is read as JSON data only; nothing in it is evaluated.
    """
    from keras_zoo import runs

    path = args.config
    if os.path.isdir(path):
        path = os.path.join(path, runs.CONFIG)
    try:
        config = runs.read_json(path)
    except OSError as e:
        raise InvalidArgumentError(f"Cannot read the run config ({e.strerror}). "
                                   f"Received: --config {args.config!r}") from None
    except ValueError as e:
        raise InvalidArgumentError(f"The run config is not valid JSON ({e}). "
                                   f"Received: --config {args.config!r}") from None
    if not isinstance(config, dict) or not {"model", "dataset"} <= set(config):
        raise InvalidArgumentError(
            "Not a keras-zoo run config (a run folder's config.json has 'model' and "
            f"'dataset'). Received: --config {args.config!r}")
    for key in ("optimizer", "loss", "metrics"):
        if config.get(key, "auto") != "auto":
            raise InvalidArgumentError(
                f"The run used a custom {key} ({config[key]}), which a config file cannot "
                f"rebuild; repeat it from Python with keras_zoo.fit. "
                f"Received: --config {args.config!r}")
    for key, option in _CONFIG_OPTIONS.items():
        if getattr(args, option) is None and config.get(key) is not None:
            setattr(args, option, config[key])
    given = dict(args.model_args)
    args.model_args = [(k, _tuples(v)) for k, v in (config.get("model_args") or {}).items()
                       if k not in given] + list(given.items())
    given = dict(args.recipe_args)
    args.recipe_args = [(k, v) for k, v in (config.get("recipe") or {}).items()
                        if k not in given] + list(given.items())


def _tuples(value):
    """JSON lists back to the tuples the builders take, e.g. input_shape."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _cmd_evaluate(args):
    import keras_zoo as kz
    from keras_zoo import runs

    dataset = args.dataset
    if not os.path.exists(args.path):
        kz.load_model(args.path)  # raises: no such file or folder
    if dataset is None:
        run_dir = runs.run_dir_of(args.path)
        if run_dir is None:
            raise InvalidArgumentError(
                f"--dataset is needed: {args.path!r} is not in a run folder. "
                f"Received: path={args.path!r}"
            )
        dataset = runs.read_config(run_dir, way_out="give --dataset DS to evaluate the model "
                                   "anyway")["dataset"]
    metrics = kz.evaluate(args.path, dataset, split=args.split, batch_size=args.batch_size,
                          data_dir=args.data_dir, safe_mode=not args.unsafe)
    print(json.dumps(metrics, sort_keys=True))


def _cmd_generate(args):
    import keras_zoo as kz
    from keras_zoo import data, errors, runs

    for flag, value in (("--num", args.num), ("--length", args.length)):
        errors.check_positive_int(value, flag)
    if args.prompt is not None:
        try:
            args.prompt.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes in argv arrive as surrogates
            raise InvalidArgumentError(
                "The prompt is not valid UTF-8 text; pass UTF-8 (check the terminal's "
                f"encoding). Received: prompt={ascii(args.prompt)}") from None
    source = None
    if args.weights is not None:
        from keras_zoo import weights

        source = weights.resolve(args.weights, args.path)  # PATH is a model name
        model = kz.create_model(args.path, weights=args.weights)
    else:
        model = kz.load_model(args.path, safe_mode=not args.unsafe)
    if hasattr(model, "generator"):
        from keras_zoo.models import gan
        from keras_zoo.runs import plots

        images = gan.sample_images(model, args.num, seed=args.seed)
        plots.save_image_grid(images, args.out)
        print(f"wrote {args.num} samples to {args.out}")
        return
    task = _task_of_loaded(model)
    if task != "language_modeling":
        raise InvalidArgumentError(
            f"generate samples from a GAN run (images) or a language model run (text); "
            f"model {model.name!r} is a {task.replace('_', ' ')} model, which has nothing to "
            f"generate (use `keras-zoo evaluate`). Received: path={args.path!r}")
    if args.prompt is None:
        raise InvalidArgumentError(
            f"Model {model.name!r} is a language model: give --prompt TEXT to continue. "
            f"Received: path={args.path!r}"
        )
    if source is not None:
        if source.vocabulary is None:
            raise InvalidArgumentError(
                f"Text generation needs the vocabulary; {source.description} has none (a "
                f"published entry or run folder has it). Received: --weights {args.weights!r}")
        vocabulary, dataset = list(source.vocabulary), source.dataset
    else:
        run_dir = runs.run_dir_of(args.path)
        vocabulary = _read_run_vocabulary(run_dir, args.path)
        config = runs.read_config(run_dir, way_out="restore it from the run's command")
        dataset = config.get("dataset")
    from keras_zoo.models import transformer

    recipe = data.DATASETS.get(dataset)
    char_level = recipe.split == "character" if recipe else all(len(t) == 1 for t in vocabulary[2:])
    ids = encode(args.prompt, vocabulary, char_level)
    if not ids:
        raise InvalidArgumentError(f"The prompt has no tokens. Received: prompt={args.prompt!r}")
    import numpy as np

    options = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                   use_cache=args.use_cache)
    rng = np.random.default_rng(args.seed)  # one stream of noise across the pieces below
    transformer.generate(model, ids, 0, seed=rng, **options)  # checks the options: no output yet
    window = model.inputs[0].shape[1]
    text = _TextStream(vocabulary, char_level)
    text.write(ids)
    ids, left = np.asarray(ids, "int32"), args.length
    try:
        while left:  # streamed: each piece printed as it is drawn, so a long text shows progress
            count = min(left, STREAM_TOKENS)
            context = ids if window is None else ids[-window:]
            new = transformer.generate(model, context, count, seed=rng, **options)[len(context):]
            text.write(new)
            ids, left = np.concatenate([context, new]), left - count
    finally:  # also on Ctrl-C: the text ends its line, before "interrupted" on stderr
        text.end()


# Tokens `generate` prints at a time. Generation reads the last `sequence_length` ids
# (the model's window), so a length beyond it is sampled too: each piece continues from
# the window, drawing the sampler's noise from one generator, so the text is the one a
# single `transformer.generate` call returns (exactly without the key/value cache;
# with it, up to the float rounding of a cache rebuilt per piece).
STREAM_TOKENS = 16


class _TextStream:
    """Writes decoded tokens to stdout as they come, flushed; the same text as `decode`."""

    def __init__(self, vocabulary, char_level):
        self.vocabulary, self.separator, self.started = vocabulary, "" if char_level else " ", False

    def write(self, ids):
        parts = []
        for token in (decode([i], self.vocabulary, True) for i in ids):
            if token:
                parts.append((self.separator if self.started else "") + token)
                self.started = True
        sys.stdout.write("".join(parts))
        sys.stdout.flush()

    def end(self):
        sys.stdout.write("\n")
        sys.stdout.flush()


def _cmd_predict(args):
    import pathlib

    import keras_zoo as kz
    from keras_zoo.training import write_csv

    if not args.inputs and not args.texts:
        raise InvalidArgumentError(
            "Give the images or .txt files to classify, or --text TEXT. "
            f"Received: keras-zoo predict {args.path}")
    # Paths as paths and --text as texts, in one call (one model load).
    inputs = [pathlib.Path(p) for p in args.inputs] + list(args.texts)
    predictions = kz.predict(args.path, inputs, top=args.top, batch_size=args.batch_size,
                             safe_mode=not args.unsafe)
    shown = []
    for prediction in predictions:
        label = prediction.input
        if isinstance(prediction.input, int):  # a --text, shown as itself on one line
            prediction = dataclasses.replace(prediction, input=inputs[prediction.input])
            label = " ".join(prediction.input.split())
            label = label if len(label) <= 60 else label[:57] + "..."
        shown.append(prediction)
        classes = "\t".join(f"{name} ({p:.4f})" for name, p in prediction.top)
        print(f"{label}\t{classes}")
    if args.out:
        write_csv(shown, args.out)


def _cmd_weights(args):
    from keras_zoo import weights

    rows = []
    for entry in weights.list_weights(args.name):
        local = entry.local_path()
        where = ("shipped" if local and local.startswith(weights.PRETRAINED_DIR)
                 else "cached" if local and local.startswith(weights.cache_dir())
                 else "here" if local else "url" if entry.url else "missing")
        scores = " ".join(f"{k} {v:.4g}" for k, v in sorted(entry.metrics.items()))
        rows.append([entry.model, entry.name, entry.dataset, where, scores])
    if not rows:
        print(f"no weights registered{' for ' + args.name if args.name else ''}")
        return
    _table(rows, ["model", "weights", "dataset", "file", "metrics (test split)"])
    print(f"cache: {weights.cache_dir()} (set KERAS_ZOO_CACHE to change)")


def _cmd_publish(args):
    from keras_zoo import weights

    entry = weights.publish(args.run_dir, args.out_dir, name=args.name, url=args.url)
    print(f"wrote {os.path.join(args.out_dir, entry.file)} (sha256 {entry.sha256}) and its "
          f"entry {entry.model}-{entry.name}.json")


def _cmd_export(args):
    import keras_zoo as kz

    kz.export(args.path, args.out, format=args.format)
    print(f"exported {args.path} as {args.format} to {args.out}")


def _task_of_loaded(model):
    """The task of a loaded, non-GAN model: the registry's, else from its output rank."""
    from keras_zoo.cli import catalog

    info = catalog.models().get(model.name)
    if info is not None:
        return info["task"]
    return "language_modeling" if len(model.outputs[0].shape) == 3 else "classification"


def _read_run_vocabulary(run_dir, path):
    from keras_zoo import runs

    vocabulary = runs.run_vocabulary(run_dir) if run_dir else None
    if vocabulary is None:
        raise InvalidArgumentError(
            f"Text generation needs the run folder's {runs.VOCABULARY}. Received: path={path!r}"
        )
    return vocabulary


def encode(text, vocabulary, char_level):
    """Token ids of `text` (id = index in `vocabulary`; 1 for unknown tokens)."""
    index = {token: i for i, token in enumerate(vocabulary) if i >= 2}
    tokens = list(text) if char_level else text.lower().split()
    return [index.get(token, 1) for token in tokens]


def decode(ids, vocabulary, char_level):
    """Text of token ids; padding (0) is dropped, unknown ids shown as `vocabulary[1]`."""
    tokens = [vocabulary[i] if 0 < i < len(vocabulary) else "" for i in map(int, ids)]
    return ("" if char_level else " ").join(t for t in tokens if t)
