"""``python -m nsf`` runs the ``nsf`` command."""

from nsf.cli import main

main()
