"""Allow ``python -m graphad``, which runs the same entry point as the ``graphad`` command."""

from graphad.cli import main

raise SystemExit(main())
