"""The one exception type that means "the user asked for something wrong".

The CLI turns an :class:`AblateError` into a single line on stderr and exit code 2;
any other exception is a bug (or an environment failure) and keeps its traceback
under ``--debug``.
"""


class AblateError(Exception):
    """A problem the user can fix: the message names what is wrong and how to fix it."""


class TrainingDiverged(AblateError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


def refuse_unknown_keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    """One line naming the first key of a file's table that is not ``allowed``, and what is."""
    for key in table:
        if key not in allowed:
            raise AblateError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")
