#!/usr/bin/env python3
"""Check an installed binary distribution's licence text names what it bundles:

  python tools/check_license.py numpy --bundles OpenBLAS

Standard library only (it runs in the test environment); the logic is multibuild/deps/licenses.py.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from multibuild.deps.licenses import main

if __name__ == "__main__":
    sys.exit(main(prog="check_license.py"))
