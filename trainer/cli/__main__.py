"""`python -m trainer.cli` is `intent-train`."""

import sys

from trainer.cli.train import main

sys.exit(main())
