"""The exception types users see: a message is one line naming the thing and the fix (a few such lines when
several things are missing at once: :class:`Problems`)."""


class VcamdError(Exception):
    """A problem the user can fix; ``str(err)`` is a complete one-line message."""


class Problems(VcamdError):
    """Several problems found at once (what ``vcamd run`` lacks at start): one line each, the problem and its
    fix, the most useful first, then an optional hint; ``str(err)`` is that short list."""

    def __init__(self, lines: list[str], hint: str = "") -> None:
        self.lines, self.hint = list(lines), hint
        super().__init__("\n".join([*self.lines, *([hint] if hint else [])]))

    def __str__(self) -> str:
        if len(self.lines) == 1:
            return "\n".join([self.lines[0], *([self.hint] if self.hint else [])])
        items = ["cannot start; what to fix, the most useful first:"]
        items += [f"  {n}. {line}" for n, line in enumerate(self.lines, 1)]
        return "\n".join([*items, *([self.hint] if self.hint else [])])


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: raised on the main thread, so files and devices are released on the way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        import signal

        return signal.Signals(self.signum).name
