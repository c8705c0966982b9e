"""auditwheel for a wheel of another architecture than this machine's (a cross build).

auditwheel repairs a wheel for the architecture in its file name, but its ``--plat`` option
accepts only the policies of the machine it runs on (pypa/auditwheel#244; #512 proposes taking
them from the wheel). Run with ``ARCH`` first, auditwheel sees that architecture as the
machine's; everything else is auditwheel's own. Only multibuild.build.repair calls it.

  python -m multibuild.build.auditwheel_cross ARCH repair --plat manylinux_2_28_ARCH ... WHEEL
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("error: usage: python -m multibuild.build.auditwheel_cross ARCH AUDITWHEEL-ARGS...",
              file=sys.stderr)
        return 2
    from auditwheel import main as auditwheel_main
    from auditwheel.architecture import Architecture

    try:
        wanted = Architecture(args[0])
    except ValueError:
        print(f"error: auditwheel knows no architecture {args[0]!r}", file=sys.stderr)
        return 2

    def detect(*, bits: int | None = None) -> Architecture:
        return wanted

    Architecture.detect = staticmethod(detect)
    sys.argv = ["auditwheel", *args[1:]]
    return int(auditwheel_main.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
