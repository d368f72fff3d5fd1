"""A listing piped into `head` ends quietly, not with "unexpected error: BrokenPipeError"."""

import subprocess
import sys

SCRIPT = """
import sys
from mdmtui.cli import run_handler
def handler(args):
    for i in range(200_000):
        print(f"line {i} 営業部の iPhone")
sys.exit(run_handler(handler, None))
"""


def test_closed_pipe_is_not_an_error():
    proc = subprocess.run(f"{sys.executable} -c '{SCRIPT}' | head -n 1", shell=True,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout == "line 0 営業部の iPhone\n"
    assert "BrokenPipe" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr
