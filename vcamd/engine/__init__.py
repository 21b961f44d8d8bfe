"""One frame in, one frame out: segmenter, matte, effects, compositor, assembled by the pipeline. No threads,
no devices: what `vcamd process`, `vcamd bench` and the daemon share."""
