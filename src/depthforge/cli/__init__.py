"""The ``depthforge`` command line: parses arguments, then calls the stage functions.

One module per stage; importing this package registers every command on ``app``, in the order of
the data flow (which is the order ``depthforge --help`` lists them in).
"""

from importlib import import_module

from depthforge.cli.common import app

for _stage in ("label", "generate", "importing", "finetune", "evaluate", "benchmark", "sim", "pipeline"):
    import_module(f"depthforge.cli.{_stage}")

__all__ = ["app"]
