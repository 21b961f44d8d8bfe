"""``vcamd process``: the frame engine on image and video files, with no camera and no virtual camera.

Promises:
- Settings come from the config file (``--config``, else the user's, else the defaults); flags override them.
  ``--background`` alone picks the effect: a folder means ``slideshow``, a video ``video``, else ``image``.
- Every input, the output and the effect's files are checked before anything is written. Each problem
  (missing, unreadable or corrupt file, unknown extension, missing or corrupt background, bad colour,
  several inputs without an output folder) is one :class:`VcamdError` line naming the file.
- Images run the model in IMAGE mode; a still's output keeps its format (``transparent``: PNG with the
  matte as alpha). Several stills with ``slideshow`` each get the next picture.
- Videos run in VIDEO mode (temporal smoothing) and keep their size, frame count, frame rate and audio;
  ``transparent`` is refused for videos (their containers here carry no alpha).
- Outputs are written to a temporary file beside the target and renamed when complete; SIGINT, SIGTERM or
  SIGHUP mid-way leave neither the temporary file nor a partial output (cli.main unwinds on them).
- A video that gives fewer frames than it says it has (cut short, damaged) is processed as far as it reads,
  with a warning naming the file and how many frames of how many were readable.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from vcamd import config, effect_kinds, media
from vcamd.config import Config
from vcamd.engine import effects, models
from vcamd.engine.pipeline import Pipeline
from vcamd.errors import VcamdError

log = logging.getLogger(__name__)

_TYPES = "jpg, png, webp, mp4, mov, mkv or webm"


class BatchError(VcamdError):
    """A bad input or output for ``vcamd process``."""


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes."""

    src: Path
    dst: Path
    kind: media.Kind
    frames: int | None = None  # videos: for the progress bar


def settings(args: argparse.Namespace) -> Config:
    """The config file's settings with the command line's flags applied (validated)."""
    cfg = config.load(args.config, missing_ok=args.config is None)
    changes: dict[str, object] = {}
    name = args.effect
    if args.background is not None:
        bg = Path(args.background).expanduser()
        if name is None:
            kind = media.kind_of(bg)
            name = "slideshow" if bg.is_dir() else "video" if kind == "video" else "image"
        if name == "slideshow":
            changes["effect.backgrounds_dir"] = str(bg)
        elif name in ("image", "video"):
            changes["effect.background"] = str(bg)
        else:
            log.warning("--background is not used by the %s effect", name)
    if name is not None:
        changes["effect.name"] = name
    if args.color is not None:
        try:
            config.parse_color(args.color)
        except ValueError as e:
            raise BatchError(f"--color: {e}") from None
        changes["effect.color"] = args.color
    if args.blur_strength is not None:
        changes["effect.blur_strength"] = args.blur_strength
    if args.mirror:
        changes["effect.mirror"] = True
    if args.model is not None:
        changes["segmentation.model"] = args.model
    return config.apply_changes(cfg, changes)


def _check_input(src: Path, effect: str) -> Job:
    """A job skeleton for ``src`` once it is known to be a readable image or video."""
    if not src.exists():
        raise BatchError(f"{src}: no such file")
    if src.is_dir():
        raise BatchError(f"{src}: is a folder; pass the image or video files in it")
    kind = media.kind_of(src)
    if kind is None:
        raise BatchError(f"{src}: unknown extension '{src.suffix}'; use {_TYPES}")
    if not os.access(src, os.R_OK):
        raise BatchError(f"{src}: cannot read it (permission denied)")
    if kind == "image":
        media.read_image(src)
        return Job(src, src, kind)
    if effect == "transparent":
        raise BatchError(f"{src}: --effect transparent is for images (PNG with alpha); pick another effect")
    return Job(src, src, kind, media.probe_video(src).frames)


def _output_name(job: Job, effect: str) -> str:
    return f"{job.src.stem}.png" if effect == "transparent" else job.src.name


def plan(inputs: list[Path], output: Path, effect: str) -> list[Job]:
    """Check every input and the output; return where each result goes, or raise BatchError."""
    jobs = [_check_input(src, effect) for src in inputs]
    folder = len(jobs) > 1 or output.is_dir() or str(output).endswith(os.sep)
    if folder:
        if output.exists() and not output.is_dir():
            raise BatchError(f"{output}: several inputs need -o to be a folder, and this is a file")
        if not output.exists() and media.kind_of(output) is not None:
            raise BatchError(f"{output}: several inputs need -o to be a folder, not a file name")
        jobs = [Job(j.src, output / _output_name(j, effect), j.kind, j.frames) for j in jobs]
    else:
        job = jobs[0]
        kind = media.kind_of(output)
        if kind is None:
            raise BatchError(f"{output}: unknown output extension '{output.suffix}'; use {_TYPES}")
        if kind != job.kind:
            raise BatchError(f"{output}: the input {job.src} is {'an' if job.kind == 'image' else 'a'} "
                             f"{job.kind}, so the output must be one too")
        if effect == "transparent" and output.suffix.lower() != ".png":
            raise BatchError(f"{output}: --effect transparent writes PNG with alpha; name the output .png")
        if not output.parent.is_dir():
            raise BatchError(f"{output.parent}: no such folder for the output")
        jobs = [Job(job.src, output, job.kind, job.frames)]
    seen: dict[Path, Path] = {}
    for j in jobs:
        dst = j.dst.resolve()
        if dst == j.src.resolve():
            raise BatchError(f"{j.dst}: this is the input itself; write the result somewhere else")
        if dst in seen:
            raise BatchError(f"{j.dst}: both {seen[dst]} and {j.src} would be written here; rename one")
        seen[dst] = j.src
    return jobs


def _check_settings(cfg: Config) -> None:
    """Fail before writing anything if the effect's files or the model are unusable."""
    effects.build(cfg.effect).close()
    models.resolve(cfg.segmentation.model)


def _progress(total: int | None, unit: str, desc: str, hide: bool) -> tqdm:
    # disable=None: shown only when stderr is a terminal.
    return tqdm(total=total, unit=unit, desc=desc, disable=True if hide else None, dynamic_ncols=True,
                leave=False)


def process_images(jobs: list[Job], cfg: Config, hide_progress: bool = False) -> None:
    """Treat stills in IMAGE mode; with ``slideshow`` each still gets the next picture."""
    if not jobs:
        return
    with Pipeline(cfg, video=False) as pipe, _progress(len(jobs), "image", "images", hide_progress) as bar:
        for i, job in enumerate(jobs):
            img = media.read_image(job.src)
            media.write_image(job.dst, pipe.process(img, i * cfg.effect.interval))
            log.info("%s -> %s", job.src, job.dst)
            bar.update()


def process_video(job: Job, cfg: Config, hide_progress: bool = False) -> int:
    """Treat one video in VIDEO mode; returns the number of frames written."""
    bar = _progress(job.frames, "frame", job.src.name, hide_progress)
    with Pipeline(cfg, video=True) as pipe, bar:
        n = media.transcode(job.src, job.dst, pipe.process, on_frame=bar.update)
    log.info("%s -> %s (%d frames)", job.src, job.dst, n)
    if job.frames and n < job.frames - 1 - job.frames // 100:  # the count may be an estimate: some slack
        log.warning("%s: only %d of %d frames could be read (the file is cut short or damaged); %s has "
                    "those %d", job.src, n, job.frames, job.dst, n)
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="images or videos")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output file, or folder for several")
    parser.add_argument("--effect", choices=effect_kinds.NAMES,
                        help="default: from --background, else the config's")
    parser.add_argument("--background", help="image, video or folder for image/video/slideshow")
    parser.add_argument("--color", help="colour for color/mask, #rrggbb")
    parser.add_argument("--blur-strength", type=int, help="1..100")
    parser.add_argument("--mirror", action="store_true", help="flip left-right")
    parser.add_argument("--model",
                        help="auto (by the picture's shape), landscape, general, or a .tflite path")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """``vcamd process``: exit status 0, or a VcamdError for cli.main to report."""
    cfg = settings(args)
    jobs = plan(list(args.inputs), args.output, cfg.effect.name)
    _check_settings(cfg)
    for folder in {j.dst.parent for j in jobs}:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BatchError(f"{folder}: cannot create the output folder ({e.strerror})") from None
    process_images([j for j in jobs if j.kind == "image"], cfg, args.no_progress)
    for job in jobs:
        if job.kind == "video":
            process_video(job, cfg, args.no_progress)
    return 0
