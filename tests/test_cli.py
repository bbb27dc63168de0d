"""Tests of the `keras-zoo` command line: `main` in this process, and as a subprocess
like a user would where the process itself matters (the exit code of an argparse
error, a broken pipe). tests/test_quiet.py runs every command once as a subprocess.
"""

import contextlib
import io
import json
import os
import re
import subprocess
import sys

import pytest

from keras_zoo.cli import commands as cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Native TensorFlow start-up lines (absl C++ logging); they ignore
# TF_CPP_MIN_LOG_LEVEL in TF 2.21 and are printed before keras-zoo runs.
NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")


def run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "keras_zoo.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)
    stderr = [line for line in proc.stderr.splitlines() if not NATIVE_LOG.match(line)]
    return proc.returncode, proc.stdout, stderr


def assert_bad_input(code, stderr, match):
    assert code == 2
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith("error: ") and re.search(match, stderr[0]), stderr
    assert "Traceback" not in stderr[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli") / "mlp")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = cli.main(["train", "mlp", "--dataset", "digits", "--epochs", "2",
                         "--arg", "hidden_units=(8,)", "--seed", "0", "--output", out])
    stdout = printed.getvalue()
    assert code == 0, stdout
    assert re.search(r"mlp on digits: test accuracy \d\.\d{4}", stdout)
    assert "Epoch 2/2" in stdout  # Keras progress, one line per epoch (not a TTY)
    return out


def test_list():
    code, stdout, _ = run("list", "--family", "cnn")
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].split() == ["name", "family", "task", "dataset"]
    assert {line.split()[0] for line in lines[1:]} == {"resnet20", "resnet32", "resnet56",
                                                       "simple_cnn"}


def test_train_writes_a_run_and_evaluate_reads_it(run_dir, capsys):
    for name in ("config.json", "history.csv", "metrics.json", "model.keras"):
        assert os.path.isfile(os.path.join(run_dir, name))
    assert cli.main(["evaluate", run_dir]) == 0
    with open(os.path.join(run_dir, "metrics.json")) as f:
        assert json.loads(capsys.readouterr().out) == pytest.approx(json.load(f), rel=1e-5)


def test_generate_gan_samples(tmp_path):
    import keras_zoo as kz

    gan_dir = str(tmp_path / "gan")
    kz.fit("dcgan", "digits", epochs=1, steps_per_epoch=1, output_dir=gan_dir,
           model_args={"filters": 4, "latent_dim": 8}, verbose=0)
    png = str(tmp_path / "samples.png")
    assert cli.main(["generate", gan_dir, "--num", "9", "--out", png]) == 0
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, match", [
    (("train", "nope"), "Unknown model 'nope'"),
    (("train", "mlp", "--epochs", "abc"), "invalid int value"),
])
def test_bad_input_exits_2_with_one_line(args, match):
    code, _, stderr = run(*args)
    assert_bad_input(code, stderr, match)


# In-process: the error paths of `main` (cheap, no TensorFlow start-up).


def test_info_datasets_help(capsys):
    assert cli.main(["info", "resnet20"]) == 0
    out = capsys.readouterr().out
    assert "arXiv:1512.03385" in out and "width=16" in out
    assert cli.main(["datasets"]) == 0
    assert re.search(r"^digits\s+image", capsys.readouterr().out, re.M)
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--batch-size" in out and "--precision" in out


@pytest.mark.parametrize("args, match", [
    (["list", "--task", "classify"], "Unknown task"),
    (["train", "mlp", "--epochs", "0"], "Received: epochs=0"),
    (["train", "gru_classifier", "--dataset", "digits"], "gru_classifier"),
    (["train", "mlp", "--arg", "width"], "expected KEY=VALUE"),
    (["evaluate", "no/such/run"], "No such model file"),
    (["generate", "no/such/run", "--out", "x.png"], "No such model file"),
    (["frobnicate"], "invalid choice"),
])
def test_main_reports_bad_input_in_one_line(capsys, args, match):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and re.search(match, err), err


def test_generate_text_from_a_language_model_run(tmp_path, capsys):
    import keras_zoo as kz

    lm_dir = str(tmp_path / "lm")
    kz.fit("gpt_mini", "tiny_corpus", epochs=1, steps_per_epoch=1, output_dir=lm_dir,
           model_args=dict(embed_dim=8, num_heads=2, ff_dim=8, num_layers=1), verbose=0)
    capsys.readouterr()
    assert cli.main(["generate", lm_dir, "--prompt", "def ", "--length", "12", "--seed", "0"]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("def ") and len(text) > 4
    # Nucleus sampling; the uncached loop draws the same tokens.
    texts = []
    for flags in ([], ["--no-cache"]):
        assert cli.main(["generate", lm_dir, "--prompt", "def ", "--length", "12", "--seed", "0",
                         "--top-p", "0.9"] + flags) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and texts[0].startswith("def ")
    assert cli.main(["generate", lm_dir, "--prompt", "def ", "--top-p", "1.5"]) == 2
    assert "Received: top_p=1.5" in capsys.readouterr().err
    assert cli.main(["generate", lm_dir]) == 2
    assert "--prompt" in capsys.readouterr().err


def test_main_internal_error_exits_1_with_traceback_only_when_verbose(capsys, monkeypatch):
    from keras_zoo.cli import catalog

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(catalog, "models", broken)  # `info` reads the static catalog
    assert cli.main(["info", "mlp"]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "Traceback" not in err
    assert cli.main(["info", "mlp", "--verbose"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_text_encoding_round_trips():
    vocabulary = ["", "[UNK]", "a", "b", "\n"]
    ids = cli.encode("ab\nz", vocabulary, char_level=True)
    assert ids == [2, 3, 4, 1]
    assert cli.decode([0] + ids, vocabulary, char_level=True) == "ab\n[UNK]"


def test_generate_streams_the_text_as_it_is_drawn(monkeypatch):
    """Issue 21: `--length 100000` printed nothing for minutes; now each piece shows at once."""
    import io

    import keras_zoo as kz
    from keras_zoo import weights
    from keras_zoo.models import transformer

    class Terminal(io.StringIO):
        flushed = ""

        def flush(self):
            self.flushed = self.getvalue()

    out = Terminal()
    shown = []  # what the terminal showed when each piece was drawn
    real = transformer.generate

    def spy(model, ids, num_tokens, **kwargs):
        shown.append(out.flushed)
        return real(model, ids, num_tokens, **kwargs)

    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(transformer, "generate", spy)
    length = 2 * cli.STREAM_TOKENS + 5
    assert cli.main(["generate", "gpt_mini", "--weights", "tiny_corpus", "--prompt", "The ",
                     "--length", str(length), "--seed", "0", "--no-cache"]) == 0
    pieces = shown[1:]  # the first call only checks the options
    assert len(pieces) == 3
    assert pieces[0] == "The "  # the prompt, before any token is drawn
    assert all(a < b and b.startswith(a) for a, b in zip(pieces, pieces[1:]))
    assert out.getvalue().startswith(pieces[-1]) and out.getvalue() != pieces[-1] + "\n"
    # The same text as one call with the same seed.
    monkeypatch.setattr(transformer, "generate", real)
    vocabulary = list(weights.resolve("tiny_corpus", "gpt_mini").vocabulary)
    model = kz.create_model("gpt_mini", weights="tiny_corpus")
    ids = real(model, cli.encode("The ", vocabulary, True), length, temperature=0.8, top_k=10,
               seed=0, use_cache=False)
    assert out.getvalue() == cli.decode(ids, vocabulary, True) + "\n"


def test_a_reader_that_goes_away_is_exit_141_without_a_message(monkeypatch, capsys):
    """`keras-zoo generate ... | head -1`: the pipe closes under the command."""
    import io

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main(["list"]) == 141
    assert capsys.readouterr().err == ""
