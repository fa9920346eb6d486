"""``python -m router.app`` is the ``switchboard`` command."""

from router.app.cli import main

main()
