"""The type hints: ``mypy`` (pyproject's [tool.mypy]: --strict over fastbp and tests/typing)
passes, and the hints refuse what they should. CI runs ``mypy`` itself; this test runs it
where mypy is installed, from the source tree (it is skipped elsewhere)."""
import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

needs_mypy = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy is not installed")
needs_source = pytest.mark.skipif(not (ROOT / "fastbp" / "network.py").exists(),
                                  reason="needs the source tree (pyproject.toml, fastbp/)")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mypy_cache")  # shared: the second run reuses the first's


def run_mypy(cache, *paths):
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), *paths],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@needs_mypy
@needs_source
def test_mypy_strict_passes(cache):
    result = run_mypy(cache)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_mypy
@needs_source
def test_wrong_use_is_refused(cache, tmp_path):
    # (the check must be able to fail: code that misuses the API gets errors, by name)
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "import fastbp\n"
        "net = fastbp.Network([3, 1])\n"
        "history: fastbp.History = net.fit([[0.0, 0.0, 0.0]], [0.0], epochs='ten')\n"
        "label: str = net.predict([[0.0, 0.0, 0.0]])\n"
        "count: str = net.n_params\n")
    result = run_mypy(cache, str(wrong))
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["3", "4", "5"], result.stdout
    assert "epochs" in errors[0] and '"int"' in errors[0]
