import sys

from multibuild.cli import main

sys.exit(main())
