"""Decode untrusted videos into RGB (or luma) frames with PyAV, within bounds on bytes, pixels, frames and time.

Why this shape: a video is the most expensive thing a user can send. FFmpeg will happily try to demux any of
its hundreds of formats, some of which open other files or URLs (HLS playlists, ``concat`` lists), and a 1 kB
header can announce a 100 000 × 100 000 picture or a ten-hour stream. So we

* sniff the container from its first bytes ourselves and force the matching demuxer (MP4/MOV, Matroska/WebM,
  AVI, GIF) — FFmpeg never guesses and never sees a playlist;
* always hand FFmpeg a Python file object, never a path, so no demuxer can open a second resource;
* check size, dimensions, duration and frame count from the header *before* decoding, and again on every
  decoded frame (headers lie);
* stop with a specific :class:`VideoError` subclass when a limit is exceeded, including wall-clock time.

Sampling is by presentation timestamp (``pts × time_base``, relative to the first frame), not by frame
number, so variable-frame-rate phone videos are sampled evenly in time. Frames without a timestamp, or with
one that goes backwards, get the previous timestamp plus one nominal frame duration.
"""

from __future__ import annotations

import bisect
import io
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, TypeVar, cast

import av
import av.error
import numpy as np
import numpy.typing as npt

from blindmatch.media.errors import MediaError, MediaReadError

__all__ = [
    "DEFAULT_VIDEO_LIMITS",
    "VIDEO_CONTAINERS",
    "EmptyVideoError",
    "LumaFrame",
    "NoVideoStreamError",
    "UnsupportedVideoFormatError",
    "VideoDecodeError",
    "VideoError",
    "VideoFrame",
    "VideoInfo",
    "VideoLimits",
    "VideoReader",
    "VideoStats",
    "VideoTimeoutError",
    "VideoTooLargeError",
    "open_video",
    "sniff_video_container",
]

VideoSource = str | Path | bytes | bytearray | memoryview
VideoContainer = Literal["mp4", "matroska", "avi", "gif"]

#: Containers we decode, mapped to the FFmpeg demuxer we force for them.
VIDEO_CONTAINERS: dict[VideoContainer, str] = {"mp4": "mov", "matroska": "matroska", "avi": "avi", "gif": "gif"}
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
_FALLBACK_FPS = Fraction(30)


# ------------------------------------------------------------------------------------------------------------
# Errors


class VideoError(MediaError):
    """Base class: the video cannot be turned into frames we are willing to hash."""


class UnsupportedVideoFormatError(VideoError):
    """The bytes are not one of the containers we decode (MP4/MOV, Matroska/WebM, AVI, GIF)."""


class VideoDecodeError(VideoError):
    """The container looks supported but cannot be demuxed or decoded: truncated, corrupt, or garbage."""


class NoVideoStreamError(VideoError):
    """The container holds no video stream (for example an audio-only MP4)."""


class EmptyVideoError(VideoError):
    """The video stream decodes to zero frames."""


class VideoTooLargeError(VideoError):
    """More bytes, pixels per frame, seconds or frames than :class:`VideoLimits` allows."""


class VideoTimeoutError(VideoError):
    """Decoding took longer than :attr:`VideoLimits.max_wall_seconds` of wall-clock time."""


# ------------------------------------------------------------------------------------------------------------
# Plain data


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Bounds applied to every video decode.

    Defaults admit a 4K phone video of up to two hours: ``max_pixels`` bounds the memory of one decoded frame
    (a 4096×4096 RGB frame is 50 MB), ``max_frames`` bounds the work whatever the header says, and
    ``max_wall_seconds`` is the last line of defence against a decoder that is slow on purpose-built input.
    """

    max_bytes: int = 1024 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    max_duration: float = 2 * 3600.0
    max_frames: int = 2 * 3600 * 60
    max_wall_seconds: float = 600.0

    def __post_init__(self) -> None:
        values = (self.max_bytes, self.max_pixels, self.max_duration, self.max_frames, self.max_wall_seconds)
        if any(not (v > 0) or (isinstance(v, float) and not math.isfinite(v)) for v in values):
            raise ValueError(f"video limits must be positive and finite, got {self}")


DEFAULT_VIDEO_LIMITS = VideoLimits()


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the container header says (before decoding; :class:`VideoStats` says what decoding found)."""

    container: VideoContainer
    codec: str
    width: int
    height: int
    fps: float | None  # average frame rate, if the header gives one
    duration: float | None  # seconds, if the header gives one
    frame_count: int | None  # frames, if the header gives one (MP4 indexes do)


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One sampled frame: its 0-based position among decoded frames, its timestamp, and RGB pixels."""

    index: int
    timestamp: float
    rgb: npt.NDArray[np.uint8]  # (height, width, 3)


@dataclass(frozen=True, slots=True)
class LumaFrame:
    """One sampled frame as 8-bit luma (Y) samples, straight from the decoder's Y plane when it has one.

    ``black`` and ``white`` are the sample values of black and white: 16 and 235 for the usual limited-range
    ("TV") video, 0 and 255 for full range. ``(luma - black) * 255 / (white - black)`` is then, up to rounding
    and clipping, the ``0.299 R + 0.587 G + 0.114 B`` of the RGB frame a BT.601 conversion would give —
    what PDQ needs — without converting every pixel to RGB and back.
    """

    index: int
    timestamp: float
    luma: npt.NDArray[np.uint8]  # (height, width)
    black: int
    white: int


#: Planar / semi-planar 8-bit YUV layouts whose plane 0 is the picture's Y samples, one byte each.
_Y_PLANE_FORMATS = frozenset(
    {
        "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p",
        "yuv411p", "yuvj411p", "yuv410p", "yuva420p", "yuva422p", "yuva444p", "nv12", "nv21", "nv16", "nv24",
    }
)  # fmt: skip
_AV_COLOR_RANGE_JPEG = 2  # AVCOL_RANGE_JPEG: full range

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class VideoStats:
    """What a finished decode saw: frames decoded, frames sampled, and the span of timestamps."""

    frames_decoded: int
    frames_sampled: int
    duration: float  # last timestamp plus one nominal frame duration


# ------------------------------------------------------------------------------------------------------------
# Sniffing and opening


def sniff_video_container(head: bytes) -> VideoContainer | None:
    """The container of a video from its first bytes, or None. Judged from content, never from a file name."""
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        return "mp4"
    return None


def _open_source(source: VideoSource, limits: VideoLimits) -> IO[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > limits.max_bytes:
            raise VideoTooLargeError(f"video is {len(data)} bytes; the limit is {limits.max_bytes}")
        return io.BytesIO(data)
    path = Path(source)
    try:
        if not path.is_file():
            raise MediaReadError(f"not a regular file: {path}")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise VideoTooLargeError(f"{path} is {size} bytes; the limit is {limits.max_bytes}")
        return path.open("rb")
    except OSError as exc:
        raise MediaReadError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _check_max_side(max_side: int | None) -> None:
    if max_side is not None and max_side < 8:
        raise ValueError(f"max_side must be at least 8, got {max_side}")


@dataclass
class _Wanted:
    """The next sample time, in stream ticks, that :meth:`VideoReader._fast_decode` must reach."""

    next_pts: int | None = None


class VideoReader:
    """An open video: header facts in :attr:`info`, frames from :meth:`frames`. Use as a context manager."""

    def __init__(self, source: VideoSource, limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> None:
        self.limits = limits
        self._started = time.monotonic()
        self._file = _open_source(source, limits)
        try:
            head = self._file.read(16)
            self._file.seek(0)
            if not head:
                raise EmptyVideoError("video is empty (0 bytes)")
            container = sniff_video_container(head)
            if container is None:
                raise UnsupportedVideoFormatError(
                    f"not a supported video container (MP4/MOV, Matroska/WebM, AVI, GIF); starts {head[:8]!r}"
                )
            self._container_kind: VideoContainer = container
            self._av = self._open_av(container)
        except BaseException:
            self._file.close()
            raise
        try:
            self.info = self._read_info()
        except BaseException:
            self.close()
            raise
        self.stats: VideoStats | None = None

    def _open_av(self, container: VideoContainer) -> av.container.InputContainer:
        options = {"probesize": str(5 * 1024 * 1024), "analyzeduration": str(5_000_000)}
        try:
            return av.open(self._file, mode="r", format=VIDEO_CONTAINERS[container], options=options)
        except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
            raise VideoDecodeError(f"cannot open {container} container: {exc}") from exc

    def _read_info(self) -> VideoInfo:
        if not self._av.streams:
            raise VideoDecodeError(f"the {self._container_kind} container holds no streams at all (corrupt?)")
        if not self._av.streams.video:
            kinds = sorted({str(s.type) for s in self._av.streams})
            raise NoVideoStreamError(f"the {self._container_kind} container has no video stream (streams: {kinds})")
        stream = self._av.streams.video[0]
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        self._check_pixels(width, height)
        fps = float(stream.average_rate) if stream.average_rate else None
        duration = _seconds(stream.duration, stream.time_base)
        if duration is None and self._av.duration is not None:
            duration = self._av.duration / 1_000_000
        frames = int(stream.frames) if stream.frames else None
        if duration is not None and duration > self.limits.max_duration:
            raise VideoTooLargeError(
                f"video lasts {duration:.1f} s by its header; the limit is {self.limits.max_duration:.0f} s"
            )
        if frames is not None and frames > self.limits.max_frames:
            raise VideoTooLargeError(f"video has {frames} frames by its header; the limit is {self.limits.max_frames}")
        return VideoInfo(self._container_kind, ctx.name, width, height, fps, duration, frames)

    def _check_pixels(self, width: int, height: int) -> None:
        if width * height > self.limits.max_pixels:
            raise VideoTooLargeError(
                f"video frames are {width}×{height} = {width * height} pixels; the limit is {self.limits.max_pixels}"
            )

    def _check_time(self) -> None:
        elapsed = time.monotonic() - self._started
        if elapsed > self.limits.max_wall_seconds:
            raise VideoTimeoutError(
                f"decoding took over {self.limits.max_wall_seconds:.1f} s of wall time ({elapsed:.1f} s); refused"
            )

    def frames(
        self,
        *,
        seconds_per_frame: float | None = None,
        max_side: int | None = None,
        fast: bool = False,
        threads: int = 1,
        keyframes: bool = False,
    ) -> Iterator[VideoFrame]:
        """RGB frames sampled as :meth:`_sampled` describes (see there for every argument)."""
        _check_max_side(max_side)
        for index, t, rgb in self._sampled(
            lambda f: self._to_rgb(f, max_side), seconds_per_frame, fast=fast, threads=threads, keyframes=keyframes
        ):
            yield VideoFrame(index, t, rgb)

    def luma_frames(
        self,
        *,
        seconds_per_frame: float | None = None,
        max_side: int | None = None,
        fast: bool = False,
        threads: int = 1,
        keyframes: bool = False,
    ) -> Iterator[LumaFrame]:
        """The same frames as :meth:`frames`, as 8-bit luma: the decoder's Y plane, copied, when the pixel
        format has one (every common H.264/HEVC/VP9/AV1 stream), else a luma conversion by swscale (GIF,
        RGB, high bit depth). Why: for PDQ, converting a 720p frame to RGB and computing its luma again costs
        more than decoding it; the Y plane is that luma already, up to the limited-range scaling (see
        :class:`LumaFrame`) and rounding."""
        _check_max_side(max_side)
        for index, t, frame in self._sampled(
            lambda f: self._to_luma(f, max_side), seconds_per_frame, fast=fast, threads=threads, keyframes=keyframes
        ):
            yield LumaFrame(index, t, *frame)

    def _sampled(
        self,
        convert: Callable[[av.VideoFrame], _T],
        seconds_per_frame: float | None,
        *,
        fast: bool,
        threads: int,
        keyframes: bool,
    ) -> Iterator[tuple[int, float, _T]]:
        """Decoded frames in presentation order, as ``(index, timestamp, convert(frame))``; every frame if
        ``seconds_per_frame`` is None, else the first frame at or after each multiple of ``seconds_per_frame``.
        ``convert`` runs inside the decoding guard, so its failures are :class:`VideoDecodeError` too.

        ``max_side`` (of :meth:`frames` and :meth:`luma_frames`) scales frames down (area interpolation) so that
        neither side exceeds it — PDQ reduces to 64×64 anyway, and converting fewer pixels is most of the
        per-frame cost. ``fast`` trades fidelity for speed when sampling: the decoder skips the deblocking
        filter, the frames no other frame refers to before each sample time, and the packets no sample needs;
        the frames sampled are the same as without ``fast``, their pixels differ slightly (no deblocking).
        ``threads`` > 1 lets FFmpeg decode in parallel (less wall time, not less CPU).
        ``keyframes`` decodes only key (intra) frames — an order of magnitude less work, but the sampling rate
        can then be no finer than the keyframe interval (often 2 s or more), so it is a different, sparser
        sampling, not a faster 1 frame/s (docs/video.md).
        """
        if seconds_per_frame is not None and not (seconds_per_frame > 0 and math.isfinite(seconds_per_frame)):
            raise ValueError(f"seconds_per_frame must be positive and finite or None, got {seconds_per_frame}")
        stream = self._av.streams.video[0]
        ctx = stream.codec_context
        if threads > 1:
            ctx.thread_count = threads
            ctx.thread_type = "AUTO"
        else:
            ctx.thread_count = 1
        skipping = (fast and seconds_per_frame is not None) or keyframes
        if keyframes:
            ctx.skip_frame = "NONKEY"
        elif skipping:
            ctx.options = {"skip_loop_filter": "all"}
            ctx.skip_frame = "NONREF"  # _fast_decode narrows this to the frames before each sample time
        # Timestamps are kept as integer ticks of the stream's time base: exact, and cheap per frame (Fraction
        # arithmetic runs only for the frames we keep).
        time_base = Fraction(stream.time_base or Fraction(1, 1_000_000))
        rate = Fraction(stream.average_rate or stream.guessed_rate or _FALLBACK_FPS)
        step = max(1, round(1 / (rate * time_base)))  # nominal frame duration, in ticks
        max_ticks = math.floor(Fraction(self.limits.max_duration) / time_base)
        # 0.1 as a float is slightly above 1/10; without rounding, the frame at exactly 0.1 s would be missed.
        spf = Fraction(seconds_per_frame).limit_denominator(1_000_000) if seconds_per_frame is not None else None
        start: int | None = None
        last: int | None = None
        next_target = 0
        decoded = sampled = 0
        # Fast sampling decodes only what the samples need (see _fast_decode); FFmpeg hands a changed skip_frame
        # to its frame threads with each packet, so this holds with threads too.
        want = _Wanted()
        fast_path = skipping and not keyframes and self._container_kind != "gif"
        source = self._fast_decode(stream, want) if fast_path else self._av.decode(stream)
        try:
            for frame in source:
                self._check_time()
                decoded += 1
                if decoded > self.limits.max_frames:
                    raise VideoTooLargeError(f"video has more than {self.limits.max_frames} frames; refused")
                self._check_pixels(frame.width, frame.height)
                pts = frame.pts
                if pts is not None and start is None:
                    start = pts
                ticks = pts - start if pts is not None and start is not None else None
                if ticks is None or (last is not None and ticks <= last):
                    ticks = 0 if last is None else last + step
                last = ticks
                if ticks > max_ticks:
                    seconds = float(ticks * time_base)
                    raise VideoTooLargeError(
                        f"video runs past {self.limits.max_duration:.0f} s (timestamp {seconds:.1f} s); refused"
                    )
                if spf is not None:
                    if ticks < next_target:
                        continue
                    k = (ticks * time_base) // spf + 1
                    next_target = math.ceil(k * spf / time_base)
                    if start is not None and pts is not None and ticks == pts - start:
                        want.next_pts = start + next_target
                t = ticks * time_base
                # When the decoder skips frames, our count is not the frame number; estimate it from the time.
                index = round(t * rate) if skipping else decoded - 1
                yield index, float(t), convert(frame)
                sampled += 1
        except VideoError:
            raise
        except (av.error.FFmpegError, ValueError, OSError, EOFError, MemoryError) as exc:
            raise VideoDecodeError(f"cannot decode video frame {decoded}: {exc}") from exc
        if decoded == 0:
            raise EmptyVideoError("the video stream decodes to no frames")
        duration = float((last + step) * time_base) if last is not None else 0.0
        self.stats = VideoStats(decoded, sampled, duration)

    def _keyframe_pts(self, stream: av.video.stream.VideoStream) -> list[int] | None:
        """Presentation times of the key packets (a demux pass: no decoding), then back to the start; None when
        the stream cannot be indexed this way (missing timestamps, or seeking back fails)."""
        keys: list[int] = []
        packets = 0
        try:
            for packet in self._av.demux(stream):
                self._check_time()
                if not packet.size:
                    continue
                packets += 1
                if packets > self.limits.max_frames:
                    raise VideoTooLargeError(f"video has more than {self.limits.max_frames} frames; refused")
                if packet.pts is None:
                    keys = []
                    break
                if packet.is_keyframe:
                    keys.append(int(packet.pts))
            self._av.seek(0, backward=True, any_frame=False, stream=stream)
        except VideoError:
            raise
        except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
            raise VideoDecodeError(f"cannot read the video's packets: {exc}") from exc
        return sorted(keys) or None

    def _fast_decode(
        self, stream: av.video.stream.VideoStream, want: _Wanted, *, jump: bool = True
    ) -> Iterator[av.VideoFrame]:
        """Decode like ``container.decode(stream)``, for fast sampling, doing only the work the samples need.

        ``want.next_pts`` (the next sample time, kept up to date by the caller) drives two savings:

        * non-reference frames whose timestamp is before the next sample time are skipped (no other frame needs
          them and none of them can be the sample); from that time on every frame is decoded, so the sample is
          the very frame a full decode takes, not a later reference frame;
        * with ``jump``, the packets between the last sample and the keyframe at or before the next sample time
          are not decoded at all (keyframes restart decoding, so later frames do not change).

        Without timestamps on every packet there is no keyframe index and no jumping; packets without a timestamp
        are decoded in full.
        """
        keys = self._keyframe_pts(stream) if jump else None
        ctx = stream.codec_context
        current_key: int | None = None
        skip = ctx.skip_frame
        for packet in self._av.demux(stream):
            pts = packet.pts
            if keys is not None and pts is not None and want.next_pts is not None:
                i = bisect.bisect_right(keys, want.next_pts) - 1
                jump_to = keys[i] if i >= 0 else None
                ahead = jump_to is not None and current_key is not None and jump_to > current_key
                if ahead and not (packet.is_keyframe and jump_to is not None and pts >= jump_to):
                    continue  # not needed: the next sample is reached from a later keyframe
            if packet.is_keyframe and pts is not None:
                current_key = int(pts)
            before_sample = pts is not None and want.next_pts is not None and pts < want.next_pts
            wanted: Literal["NONREF", "DEFAULT"] = "NONREF" if before_sample else "DEFAULT"
            if wanted != skip:
                ctx.skip_frame = skip = wanted
            yield from ctx.decode(packet)  # demux ends with an empty packet, which flushes the decoder

    @staticmethod
    def _to_rgb(frame: av.VideoFrame, max_side: int | None) -> npt.NDArray[np.uint8]:
        width, height = frame.width, frame.height
        if max_side is not None and max(width, height) > max_side:
            scale = max_side / max(width, height)
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
            arr = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
        else:
            arr = frame.to_ndarray(format="rgb24", interpolation="AREA")  # the reference's swscale flag
        return cast(npt.NDArray[np.uint8], np.ascontiguousarray(arr))

    @staticmethod
    def _to_luma(frame: av.VideoFrame, max_side: int | None) -> tuple[npt.NDArray[np.uint8], int, int]:
        width, height = frame.width, frame.height
        name = frame.format.name
        if name in _Y_PLANE_FORMATS and (max_side is None or max(width, height) <= max_side):
            plane = frame.planes[0]
            rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
            if rows.shape[0] < height or plane.line_size < width:
                raise VideoDecodeError(f"decoder returned a luma plane smaller than the {width}×{height} frame")
            full = name.startswith("yuvj") or frame.color_range == _AV_COLOR_RANGE_JPEG
            luma = np.array(rows[:height, :width])  # a copy: the decoder reuses its buffers
            return luma, (0 if full else 16), (255 if full else 235)
        if max_side is not None and max(width, height) > max_side:
            scale = max_side / max(width, height)
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
        # swscale's grey output is full-range luma, whatever the input (RGB, palette, 10-bit YUV, ...).
        arr = frame.to_ndarray(format="gray", width=width, height=height, interpolation="AREA")
        return np.ascontiguousarray(arr, dtype=np.uint8), 0, 255

    def close(self) -> None:
        try:
            self._av.close()
        finally:
            self._file.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_video(source: VideoSource, limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> VideoReader:
    """Open a video (a path or its bytes) for decoding; raises a :class:`VideoError` subclass or
    :class:`~blindmatch.media.MediaReadError` if it cannot be used."""
    return VideoReader(source, limits)
