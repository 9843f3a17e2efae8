"""Screenshot an SVG with headless Chromium, at the SVG's own size, to look at it as a user would.

Usage: python3 tools/screenshot_svg.py picture.svg picture.png [--scale 1.0]

Needs a ``chromium`` (Debian: ``apt-get install chromium``) on PATH.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def svg_size(path: Path) -> tuple[int, int]:
    """Width and height in CSS pixels (Graphviz writes them in pt)."""
    head = path.read_text(encoding="utf-8")[:4000]
    sizes = []
    for attr in ("width", "height"):
        m = re.search(rf'<svg[^>]*\s{attr}="([\d.]+)(pt|px)?"', head, re.S)
        if m is None:
            raise SystemExit(f"{path}: no {attr} on the <svg> element")
        value = float(m.group(1)) * (4 / 3 if m.group(2) == "pt" else 1)
        sizes.append(int(value) + 16)
    return sizes[0], sizes[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("svg", type=Path)
    parser.add_argument("png", type=Path)
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium is not on PATH", file=sys.stderr)
        return 2
    width, height = svg_size(args.svg)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                f"--screenshot={args.png.resolve()}",
                f"--window-size={width},{height}",
                args.svg.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"{args.png} ({width}x{height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
