import subprocess


def test_a_test_that_writes_into_the_checkout_fails_the_run(pytester):
    subprocess.run(["git", "init", "-q"], cwd=pytester.path, check=True)
    pytester.makepyfile(
        test_tidy="def test_tidy(tmp_path):\n    (tmp_path / 'x').write_text('ok')\n",
        test_messy="from pathlib import Path\n\ndef test_messy():\n    Path('left.txt').write_text('junk')\n",
    )
    tidy = pytester.runpytest("-p", "tests.checkout_guard", "test_tidy.py")
    assert tidy.ret == 0
    messy = pytester.runpytest("-p", "tests.checkout_guard", "test_messy.py")
    assert messy.ret == 1
    messy.stdout.fnmatch_lines(["*tests left 1 file(s) in the checkout: ?? left.txt*"])
