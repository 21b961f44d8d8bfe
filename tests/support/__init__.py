"""The tests' harness: real parts to test against, not tests themselves.

- :mod:`.xsession`: a private X desktop (Xvfb, a session D-Bus, a real tray host) and its screenshots.
- :mod:`.pipewire_session`: a private PipeWire session (D-Bus, pipewire, wireplumber, the camera portal).
- :mod:`.pipewire_consumer`: a pipewiresrc client, run as a program, reading a camera node's frames.
- :mod:`.chromium_cdp`: headless Chromium driven over the DevTools protocol (getUserMedia through the portal).
- :mod:`.vcam_recorder`: a pyvirtualcam backend recording what the real ``Camera`` class is sent.
- :mod:`.daemon_process`: ``vcamd run`` in a process of its own, as a user starts it, read back.
- :mod:`.stream_helpers`: waiting for a condition, short clips made from ../shared/data.
- :mod:`.validators`: desktop-file-validate and systemd-analyze.
"""
