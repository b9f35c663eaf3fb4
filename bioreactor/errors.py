"""How a command words what stopped it: one line, ``error: <what is wrong>``.

A wrong option, a bad broker address, a missing or unusable file and a broker
that cannot be reached are for the user to fix, so a command reports them in
one line on stderr, never with a traceback. :mod:`bioreactor.cli` decides which
errors those are and which exit status they give; ``bioreactor replay``, which
reports its own, words them the same way.

>>> error_line(FileNotFoundError(2, "No such file or directory", "runs/x.csv"))
'error: runs/x.csv: no such file or directory'
>>> error_line(ValueError("the CSV has no column for: ph\\ncolumns found: 'a', 'b'"))
"error: the CSV has no column for: ph; columns found: 'a', 'b'"
"""

from __future__ import annotations


def error_line(problem: BaseException | str) -> str:
    """``problem`` as one ``error:`` line.

    Parameters
    ----------
    problem
        An exception or a message. The lines of a message that explains itself
        over several (a CSV's missing columns, with hints) are joined by ``;``;
        an operating-system error reads ``file: reason``, without its errno.

    Returns
    -------
    str
        The line, without a line break.
    """
    if isinstance(problem, OSError) and problem.strerror:
        reason = problem.strerror.lower()
        text = f"{problem.filename}: {reason}" if problem.filename is not None else reason
    else:
        text = str(problem) or type(problem).__name__
    return "error: " + "; ".join(line.strip() for line in text.splitlines() if line.strip())
