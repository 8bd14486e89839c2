"""Errors the simulator raises for bad input; the CLI turns them into one line and exit 2."""


class WorldError(ValueError):
    """Bad input to the simulator: an unwritable folder, a foreign or corrupt dataset, ..."""
