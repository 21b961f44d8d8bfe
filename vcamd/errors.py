"""The exception types users see: a message is one line naming the thing and the fix (a few such lines when
several things are missing at once: :class:`Problems`)."""


class VcamdError(Exception):
    """A problem the user can fix; ``str(err)`` is a complete one-line message."""


class Problems(VcamdError):
    """Several problems found at once (what ``vcamd run`` lacks at start), each with its fix, the most useful
    first. ``str(err)`` joins them into one line, as every VcamdError is (a log line, the tray's status);
    :meth:`report` is what the command line prints: a short list, one problem a line, then the hint."""

    def __init__(self, lines: list[str], hint: str = "") -> None:
        super().__init__("; ".join(lines))
        self.lines, self.hint = list(lines), hint

    def report(self) -> str:
        items = self.lines[:1] if len(self.lines) == 1 else [
            "cannot start; what to fix, the most useful first:",
            *(f"  {n}. {line}" for n, line in enumerate(self.lines, 1))]
        return "\n".join([*items, *([self.hint] if self.hint else [])])


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: raised on the main thread, so files and devices are released on the way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        import signal

        return signal.Signals(self.signum).name
