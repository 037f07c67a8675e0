"""Debian's chromium, driven by Playwright for Python (never `playwright install`: the
project's `make browser` installs the browser with apt)."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """The system chromium; its absence is a failure to report, not a reason to skip."""
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium is missing: run `make browser` (apt-get install chromium)")
    return str(found)
