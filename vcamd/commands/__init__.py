"""The sub-commands, one module each: run (the daemon with signals and the tray), process, bench, doctor,
config."""
