"""`import gradlab` against the CLI: the same spec and seed give the same
summary, weights files pass between the two bit for bit, the plugin list is
the CLI's, and bad input raises with the CLI's line. Run by ctest (Python.module)
with PYTHONPATH=build/python and GRADLAB_CLI=build/bin/gradlab."""

import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

import gradlab

CLI = os.environ.get("GRADLAB_CLI", "gradlab")

# A small network on the digits data set: two evaluated epochs, probed.
SPEC = {
    "data": {"name": "digits"},
    "model": {
        "layers": [
            {"type": "dense", "units": 24},
            {"type": "sigmoid"},
            {"type": "dense", "units": 16},
            {"type": "tanh"},
            {"type": "dense", "units": 10},
        ]
    },
    "init": {"name": "lecun_normal"},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "training": {"epochs": 2, "batch_size": 64, "seed": 5},
    "probes": {"every": 1, "batch": 128},
}


def cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True)


def without_clock(summary):
    """The summary without its wall-clock fields (seconds, timing)."""
    out = {k: v for k, v in summary.items() if k not in ("seconds", "timing")}
    out["epochs"] = [without_seconds(e) for e in summary["epochs"]]
    out["final"] = without_seconds(summary["final"])
    return out


def without_seconds(record):
    return {k: v for k, v in record.items() if k != "seconds"}


class GradlabTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.spec_file = self.path("spec.json")
        with open(self.spec_file, "w") as f:
            json.dump(SPEC, f, indent=2)

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def cli_train(self, *args):
        out = self.path("cli.json")
        result = cli("train", self.spec_file, "--quiet", "--json", out, *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out) as f:
            return json.load(f)

    def test_train_matches_the_cli(self):
        expected = self.cli_train("--set", "training.seed=3")
        got = gradlab.train(self.spec_file, ["training.seed=3"])
        self.assertEqual(got["status"], "ok")
        self.assertEqual(len(got["epochs"]), 3)
        self.assertTrue(all(e["layers"] for e in got["epochs"]), "every epoch is probed")
        self.assertEqual(without_clock(got), without_clock(expected))
        # The same spec as a dict, and the seed as an argument, train the same run.
        from_dict = gradlab.train(SPEC, seed=3)
        self.assertEqual(from_dict["seed"], 3)
        self.assertEqual(from_dict["epochs"][-1]["layers"], expected["epochs"][-1]["layers"])
        self.assertEqual(
            [e["train_loss"] for e in from_dict["epochs"]], [e["train_loss"] for e in expected["epochs"]]
        )
        other_seed = gradlab.train(SPEC)
        self.assertNotEqual(other_seed["epochs"][-1]["train_loss"], expected["epochs"][-1]["train_loss"])

    def test_saved_weights_are_the_clis_bytes(self):
        cli_file, py_file = self.path("cli.safetensors"), self.path("py.safetensors")
        self.cli_train("--save-weights", cli_file)
        gradlab.train(self.spec_file, save_weights=py_file)
        with open(cli_file, "rb") as a, open(py_file, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_weights_round_trip_with_the_cli(self):
        cli_file = self.path("cli.safetensors")
        self.cli_train("--save-weights", cli_file)
        tensors = gradlab.read_weights(cli_file)
        # Names in the file's order (the layers'), shapes as PyTorch's state_dict.
        self.assertEqual(list(tensors), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        self.assertEqual(tensors["0.weight"].shape, (24, 64))
        self.assertEqual(tensors["4.bias"].shape, (10,))
        self.assertTrue(all(t.dtype == np.float32 for t in tensors.values()))
        self.assertTrue(np.any(tensors["0.weight"] != 0))
        metadata = gradlab.read_metadata(cli_file)
        self.assertEqual(metadata["format"], "pt")
        self.assertEqual(json.loads(metadata["spec"])["training"]["epochs"], 2)

        copy = self.path("copy.safetensors")
        gradlab.write_weights(copy, tensors, metadata)
        with open(cli_file, "rb") as a, open(copy, "rb") as b:
            self.assertEqual(a.read(), b.read())

        # A file written from Python is what the CLI loads: starting from the
        # trained weights, the first evaluation is the trained model's.
        trained_end = self.cli_train()["epochs"][-1]
        start = self.cli_train("--load-weights", copy)["epochs"][0]
        self.assertEqual(start["train_loss"], trained_end["train_loss"])
        from_python = gradlab.train(self.spec_file, load_weights=copy)["epochs"][0]
        self.assertEqual(without_seconds(from_python), without_seconds(start))

        # ... with the CLI's validation: a wrong shape is refused, naming the tensor.
        tensors["2.weight"] = np.zeros((16, 25), dtype=np.float32)
        bad = self.path("bad.safetensors")
        gradlab.write_weights(bad, tensors)
        result = cli("train", self.spec_file, "--quiet", "--load-weights", bad)
        self.assertEqual(result.returncode, 2)
        self.assertIn("tensor '2.weight' has shape [16, 25], the model needs [16, 24]", result.stderr)
        with self.assertRaises(gradlab.InputError) as raised:
            gradlab.train(self.spec_file, load_weights=bad)
        self.assertEqual("gradlab: error: " + str(raised.exception), result.stderr.strip())

    def test_write_weights_converts_to_float32_and_keeps_order(self):
        out = self.path("w.safetensors")
        tensors = {"b": np.arange(6, dtype=np.float64).reshape(2, 3), "a": np.float32([1.5]), "s": np.float32(2)}
        gradlab.write_weights(out, tensors, {"note": "x"})
        back = gradlab.read_weights(out)
        self.assertEqual(list(back), ["b", "a", "s"])
        np.testing.assert_array_equal(back["b"], np.arange(6, dtype=np.float32).reshape(2, 3))
        self.assertEqual(back["s"].shape, ())
        self.assertEqual(gradlab.read_metadata(out)["note"], "x")
        with self.assertRaises(TypeError):
            gradlab.write_weights(out, {"a": np.zeros(2)}, {"n": 1})
        with self.assertRaises(ValueError):
            gradlab.write_weights(out, {"__metadata__": np.zeros(2)})

    def test_plugins_are_the_clis_list(self):
        result = cli("plugins", "list", "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        expected = json.loads(result.stdout)["components"]
        got = gradlab.plugins()
        self.assertEqual(got, expected)
        names = {(c["kind"], c["name"]) for c in got}
        self.assertIn(("layer", "dense"), names)
        self.assertIn(("optimizer", "sgd"), names)

    def test_bad_spec_raises_the_clis_line(self):
        bad = self.path("bad.yaml")
        with open(bad, "w") as f:
            f.write("data: {name: digits}\nmodel:\n  layers:\n    - {type: dense, unitz: 10}\n")
        result = cli("train", bad, "--quiet")
        self.assertEqual(result.returncode, 2)
        with self.assertRaises(gradlab.InputError) as raised:
            gradlab.train(bad)
        message = str(raised.exception)
        self.assertIsInstance(raised.exception, ValueError)
        self.assertTrue(message.startswith(bad + ":4:"), message)
        self.assertIn("unitz", message)
        self.assertEqual("gradlab: error: " + message, result.stderr.strip())

    def test_bad_override_and_dict_name_the_place(self):
        with self.assertRaises(gradlab.InputError) as raised:
            gradlab.train(self.spec_file, ["optimizer.lr=-1"])
        self.assertIn("--set optimizer.lr=-1", str(raised.exception))
        spec = json.loads(json.dumps(SPEC))
        spec["optimizer"]["lrr"] = 0.1
        with self.assertRaises(gradlab.InputError) as raised:
            gradlab.train(spec)
        self.assertRegex(str(raised.exception), r"^<dict>:\d+:\d+: .*'lrr'")
        with self.assertRaises(gradlab.InputError) as raised:
            gradlab.read_weights(self.path("missing.safetensors"))
        self.assertIn("missing.safetensors", str(raised.exception))

    def test_diverged_run_is_a_result(self):
        spec = dict(SPEC, model={"layers": [{"type": "dense", "units": 64}] * 3 + [{"type": "dense", "units": 10}]})
        summary = gradlab.train(spec, ["optimizer.lr=5", "training.batch_size=32"])
        self.assertEqual(summary["status"], "diverged")
        self.assertIsNotNone(summary["diverged_epoch"])

    def test_version(self):
        result = cli("--version")
        self.assertTrue(result.stdout.startswith("gradlab " + gradlab.__version__ + " "), result.stdout)


if __name__ == "__main__":
    unittest.main()
