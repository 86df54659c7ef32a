import io

from depthforge.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_line_every_few_per_cent():
    out = io.StringIO()
    with Progress(200, "finetune", "step", file=out) as progress:
        for step in range(200):
            progress.set_postfix(loss=f"{1 / (step + 1):.3f}")
            progress.update(1)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and 20 <= len(lines) <= 22
    assert lines[-1].startswith("finetune: 200/200 step (100%), ") and lines[-1].endswith("loss 0.005")


def test_resumed_counts_from_initial_and_a_terminal_gets_a_bar():
    out = io.StringIO()
    with Progress(10, "label", "img", initial=8, file=out) as progress:
        progress.update(2)
    assert len(out.getvalue().splitlines()) == 1
    assert out.getvalue().startswith("label: 10/10 img (100%)")
    terminal = Terminal()
    with Progress(10, "label", "img", file=terminal) as progress:
        progress.update(10)
    assert "\r" in terminal.getvalue() and "10/10" in terminal.getvalue()
    silent = io.StringIO()
    with Progress(10, "label", "img", file=silent, disable=True) as progress:
        progress.update(10)
    assert silent.getvalue() == ""
