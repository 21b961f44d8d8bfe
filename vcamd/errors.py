"""The one exception type users see: its message is one line naming the thing and the fix."""


class VcamdError(Exception):
    """A problem the user can fix; ``str(err)`` is a complete one-line message."""
