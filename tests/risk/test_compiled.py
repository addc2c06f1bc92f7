"""Compiled kernels: where numba can keep no cache, the Monte Carlo still runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import panacea

SCRIPT = """
import numpy as np
from panacea.risk.draws import bernoulli_words
drawn = bernoulli_words(np.arange(3, dtype=np.uint64), np.array([0.0, 0.5, 1.0]), 2)
assert (drawn[0] == 0).all() and (drawn[2] == np.uint64(2**64 - 1)).all(), drawn
print("drawn")
"""


def test_kernels_compile_without_a_cache_where_none_can_be_written(tmp_path: Path) -> None:
    """The package installed where nothing can be written (its __pycache__ is a file) for a
    user whose home is not a directory either: numba has no place for its cache."""
    package = tmp_path / "site" / "panacea"
    shutil.copytree(
        Path(panacea.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__")
    )
    (package / "risk" / "__pycache__").write_text("not a directory")
    home = tmp_path / "home"
    home.write_text("not a directory")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env |= {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PYTHONPATH": str(package.parent),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "drawn"
    assert "numba cannot cache" in result.stderr
