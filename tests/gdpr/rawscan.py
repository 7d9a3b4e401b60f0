"""Grep raw file bytes from a separate process.

Reading a SQLite file with open() in a process that also holds SQLite connections to it drops that process's
POSIX locks on the file (closing any descriptor does), and another process may then delete the -wal and -shm
under those connections. Scanning from a child process keeps the test from corrupting the database it checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_SCAN = """
import json, sys
from pathlib import Path
root, needle = Path(sys.argv[1]), bytes.fromhex(sys.argv[2])
files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
print(json.dumps([str(p.relative_to(root)) if p != root else p.name for p in files if needle in p.read_bytes()]))
"""


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Files under `root` (or `root` itself) whose bytes contain `needle`, relative to `root`."""
    out = subprocess.run([sys.executable, "-c", _SCAN, str(root), needle.hex()], capture_output=True, text=True,
                         check=True, timeout=120)
    found: list[str] = json.loads(out.stdout)
    return found
