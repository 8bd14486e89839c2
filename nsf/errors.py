"""The project's user-facing errors: each message is one line naming what is wrong."""


class NsfError(ValueError):
    """Bad input or state the user can fix (config, files, tracking store). Exit code 2."""


#: Exceptions the CLI reports as one line with exit code 2 (no traceback).
USER_ERRORS: tuple[type[BaseException], ...] = (NsfError,)
