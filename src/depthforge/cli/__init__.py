"""The ``depthforge`` command line: parses arguments, then calls the stage functions.

One module per stage; importing this package registers every command on ``app``, in the order of
the data flow (which is the order ``depthforge --help`` lists them in).
"""

from importlib import import_module

from depthforge.cli.common import app

STAGES = ("label", "generate", "importing", "finetune", "evaluate", "benchmark", "hub", "sim", "pipeline")
for _stage in STAGES:
    import_module(f"depthforge.cli.{_stage}")

__all__ = ["app"]
