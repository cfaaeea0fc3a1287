import sys

from porchlight.cli import main

sys.exit(main())
