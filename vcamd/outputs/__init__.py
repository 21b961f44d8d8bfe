"""Where treated frames go: the operating system's virtual cameras, one module a backend.

Promises: the package's names are the ones the daemon and the commands use, each from its home:
:class:`Output` (the interface every backend keeps, :mod:`.base`), and ``targets``, ``resolve``,
``open_output``, :class:`Target` and the backend names ``PIPEWIRE``, ``NONE``, ``OBS_NAME`` (which outputs the
settings ask for, and opening them: :mod:`.selection`).

Modules: :mod:`.base` (the interface), :mod:`.selection` (choosing and opening), :mod:`.v4l2loopback` (Linux
devices found by label, and the fix when there is none), :mod:`.virtualcam` (pyvirtualcam's backends:
v4l2loopback, OBS, Unity Capture), :mod:`.pipewire` (the PipeWire camera node) with
:mod:`.pipewire_graph` (what PipeWire has: its daemon, camera nodes and links), :mod:`.fanout` (one frame to
several outputs), :mod:`.none` (no virtual camera).
"""

from vcamd.outputs.base import Output
from vcamd.outputs.selection import NONE, OBS_NAME, PIPEWIRE, Target, open_output, resolve, targets

__all__ = ["NONE", "OBS_NAME", "PIPEWIRE", "Output", "Target", "open_output", "resolve", "targets"]
