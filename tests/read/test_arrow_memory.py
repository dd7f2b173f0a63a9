"""pyarrow's memory pool is process-wide: the library leaves it alone, the CLI chooses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..conftest import write_csv

PROBE = """
import sys
import pyarrow as pa
before = pa.default_memory_pool().backend_name
from importer.jobs import validate_file
validate_file(sys.argv[1], out_dir=sys.argv[2])
print(before, pa.default_memory_pool().backend_name)
"""


def test_reading_a_file_leaves_the_process_memory_pool_alone(tmp_path: Path) -> None:
    """validate_file (the library) does not switch pyarrow's default pool behind its caller."""
    path = tmp_path / "people.csv"
    write_csv(path, [["1", "2", "3", "User"]])
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == out[1]
