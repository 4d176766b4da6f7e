"""The one exception type that means "the user asked for something wrong".

The CLI turns an :class:`AblateError` into a single line on stderr and exit code 2;
any other exception is a bug (or an environment failure) and keeps its traceback
under ``--debug``.
"""


class AblateError(Exception):
    """A problem the user can fix: the message names what is wrong and how to fix it."""


class TrainingDiverged(AblateError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""
