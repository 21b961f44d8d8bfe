"""The daemon: its threads and state (camera, worker, monitor), the Control API, stats, the one-per-user lock
and the still cards it sends."""
