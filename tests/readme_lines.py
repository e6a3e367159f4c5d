"""The README's first screen, read as a newcomer reads it: the lines to paste after `make dev`."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
#: The README's line that sources `make dev`'s env file (in the default work folder, .dev).
SOURCE_LINE = "source .dev/env"


def readme_curl_lines() -> list[str]:
    """The curl lines of the README's first sh block that sources the env file, as written."""
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL):
        lines = block.splitlines()
        if SOURCE_LINE in lines:
            return [line for line in lines[lines.index(SOURCE_LINE) + 1 :] if line.startswith("curl ")]
    raise AssertionError(f"README.md has no sh block with `{SOURCE_LINE}`")
