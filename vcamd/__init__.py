"""vcamd: a virtual-camera daemon that treats your webcam's background for video calls."""

__version__ = "0.1.0"
