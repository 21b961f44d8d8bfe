"""The one exception type users see: its message is one line naming the thing and the fix."""


class VcamdError(Exception):
    """A problem the user can fix; ``str(err)`` is a complete one-line message."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: raised on the main thread, so files and devices are released on the way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        import signal

        return signal.Signals(self.signum).name
