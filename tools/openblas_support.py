#!/usr/bin/env python3
"""OpenBLAS for builds (numpy's tools/openblas_support.py interface).

  python tools/openblas_support.py                      print the unpacked OpenBLAS prefix
  python tools/openblas_support.py --check_version [V]  check the OpenBLAS a package uses
  python tools/openblas_support.py --test [PLATFORM ...|all]
                                                         fetch and verify every artifact

The logic lives in multibuild/deps/openblas.py; see --help for the options and environment.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from multibuild.deps.openblas import main

if __name__ == "__main__":
    sys.exit(main(prog="openblas_support.py"))
