"""gradlab for Python: train from a run spec, read and write weights files,
list the plugins. The same core as the `gradlab` command line; see
docs/python.md.

    import gradlab
    summary = gradlab.train("examples/specs/sigmoid_deep.yaml", ["training.epochs=3"])
    summary["status"], summary["epochs"][-1]["test_accuracy"]
"""

import json
import os
import warnings

from ._gradlab import (
    InputError,
    OutputError,
    __version__,
    plugin_api_version,
    read_metadata,
    read_weights,
    write_weights,
)
from . import _gradlab

# Shown as gradlab.InputError in tracebacks, where users catch them.
InputError.__module__ = OutputError.__module__ = __name__

__all__ = [
    "InputError",
    "OutputError",
    "RunError",
    "__version__",
    "plugins",
    "read_metadata",
    "read_weights",
    "train",
    "write_weights",
]


class RunError(RuntimeError):
    """A run that failed while training (an exception from a plugin, memory
    running out): `gradlab train` exits with 1 for it. The summary of the
    epochs recorded before is in `.summary`."""

    def __init__(self, message, summary):
        super().__init__(message)
        self.summary = summary


def _warn_problems(problems):
    for line in problems:
        warnings.warn("gradlab: plugin " + line, RuntimeWarning, stacklevel=3)


def _optional_path(value):
    return None if value is None else os.fspath(value)


def plugins(plugin_dirs=None):
    """The loaded components, as `gradlab plugins list --json` lists them:
    one dict per component with kind, name, plugin, version, path,
    description and params (the parameter schema). Libraries that fail to load
    are skipped with a RuntimeWarning each."""
    components, problems = _gradlab._plugins_json([os.fspath(d) for d in plugin_dirs or []])
    _warn_problems(problems)
    return json.loads(components)


def train(
    spec,
    overrides=None,
    *,
    seed=None,
    threads=None,
    plugin_dirs=None,
    load_weights=None,
    save_weights=None,
    max_memory=None,
):
    """Trains one network as `gradlab train` does and returns its summary: the
    dict `gradlab train SPEC --json FILE` writes (docs/run_summary.md).

    spec: a run spec file (YAML or JSON; str or os.PathLike), or a dict of the
        same structure. A dict's errors are placed by line:column of
        json.dumps(spec, indent=2), under the name "<dict>".
    overrides: "key=value" strings, as the CLI's --set.
    seed: the run's seed instead of training.seed.
    threads: the most threads the run may use (a pretraining strategy's
        parallel work); the result does not depend on it.
    plugin_dirs: further plugin folders, searched first (--plugin-dir).
    load_weights: start from this weights file (--load-weights).
    save_weights: write the trained weights here when the run ends with
        status "ok" (--save-weights); read them with read_weights().
    max_memory: the memory the run may plan to use, in bytes (int) or as
        "2G", "512M" (--max-memory).

    Bad input raises InputError (a ValueError) whose message is the CLI's error
    line with the place (file:line:column, or the override). A diverged run
    is a result (summary["status"] == "diverged"); a failed one raises
    RunError. Training releases the GIL; Ctrl-C cancels the run after the
    current epoch and raises KeyboardInterrupt.
    """
    if isinstance(spec, dict):
        spec_path, spec_text = None, json.dumps(spec, indent=2)
    elif isinstance(spec, (str, os.PathLike)):
        spec_path, spec_text = os.fspath(spec), None
    else:
        raise TypeError("train: spec must be a dict or a path, got " + type(spec).__name__)
    if isinstance(overrides, str):
        raise TypeError('train: overrides must be a list of "key=value" strings, not one string')
    if max_memory is not None and not isinstance(max_memory, str):
        max_memory = str(int(max_memory))
    summary, saved, problems = _gradlab._train_json(
        spec_path,
        spec_text,
        "<dict>",
        list(overrides or []),
        seed,
        threads,
        [os.fspath(d) for d in plugin_dirs or []],
        _optional_path(load_weights),
        _optional_path(save_weights),
        max_memory,
    )
    _warn_problems(problems)
    summary = json.loads(summary)
    if summary["status"] == "failed":
        raise RunError("run failed: " + summary.get("message", ""), summary)
    if save_weights is not None and not saved:
        warnings.warn(
            "gradlab: run " + summary["status"] + "; weights not saved", RuntimeWarning, stacklevel=2
        )
    return summary
