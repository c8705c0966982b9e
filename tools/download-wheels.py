#!/usr/bin/env python3
"""Download the staged wheels of a release: download-wheels.py VERSION [-w DIR].

See multibuild/release/download.py. Runs with the tool environment (.venv) when it exists.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
if _VENV_PYTHON.is_file() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    os.execv(str(_VENV_PYTHON), [str(_VENV_PYTHON), __file__, *sys.argv[1:]])
sys.path.insert(0, str(ROOT))

from multibuild.release.download import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(root=ROOT))
