"""Runs every benchmark (bench/bench_*.py), or those named: `python bench/run.py redis pg`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    if not scripts:
        print("no benchmarks match", argv, file=sys.stderr)
        return 2
    failed = 0
    for script in scripts:
        print(f"\n##### {script.name}", flush=True)
        failed += subprocess.run([sys.executable, str(script)], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
