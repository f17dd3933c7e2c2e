"""Video decoding: every supported container, sampling by timestamp, and hostile input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _make import synthetic_frame, write_video

from blindmatch.media import MediaError, MediaReadError
from blindmatch.media.video import (
    EmptyVideoError,
    NoVideoStreamError,
    UnsupportedVideoFormatError,
    VideoDecodeError,
    VideoError,
    VideoLimits,
    VideoTimeoutError,
    VideoTooLargeError,
    open_video,
    sniff_video_container,
)

FORMATS = {
    "mp4": dict(codec="libx264"),
    "mov": dict(container="mov", codec="libx264"),
    "webm": dict(codec="libvpx-vp9"),
    "mkv": dict(codec="mpeg4"),
    "avi": dict(codec="mpeg4"),
    "gif": dict(codec="gif", pix_fmt="rgb8"),
}
EXPECTED_CONTAINER = {"mp4": "mp4", "mov": "mp4", "webm": "matroska", "mkv": "matroska", "avi": "avi", "gif": "gif"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s at 10 fps, 64×48, H.264 in MP4."""
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", frames=30, fps=10)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_every_container_decodes_all_frames(tmp_path: Path, ext: str) -> None:
    path = write_video(tmp_path / f"v.{ext}", frames=20, fps=10, **FORMATS[ext])  # type: ignore[arg-type]
    with open_video(path) as reader:
        assert reader.info.container == EXPECTED_CONTAINER[ext]
        assert (reader.info.width, reader.info.height) == (64, 48)
        frames = list(reader.frames())
    assert [f.index for f in frames] == list(range(20))
    assert [round(f.timestamp, 3) for f in frames] == [round(i / 10, 3) for i in range(20)]
    assert all(f.rgb.shape == (48, 64, 3) and f.rgb.dtype == np.uint8 for f in frames)
    assert reader.stats is not None and reader.stats.frames_decoded == 20
    # the pixels are the picture we encoded (lossy codecs and GIF's 256 colours, so approximately)
    for i in (0, 19):
        diff = np.abs(frames[i].rgb.astype(int) - synthetic_frame(i, 64, 48).astype(int)).mean()
        assert diff < 25, (i, diff)


def test_bytes_and_path_give_the_same_frames(clip: Path) -> None:
    with open_video(clip) as a, open_video(clip.read_bytes()) as b:
        fa, fb = list(a.frames()), list(b.frames())
    assert len(fa) == len(fb) == 30
    assert all(np.array_equal(x.rgb, y.rgb) for x, y in zip(fa, fb, strict=True))


@pytest.mark.parametrize(("spf", "expected"), [(1.0, [0, 10, 20]), (0.5, [0, 5, 10, 15, 20, 25]), (0.25, None)])
def test_sampling_by_timestamp(clip: Path, spf: float, expected: list[int] | None) -> None:
    with open_video(clip) as reader:
        idx = [f.index for f in reader.frames(seconds_per_frame=spf)]
    if expected is None:  # 0.25 s at 10 fps: first frame at or after each quarter second
        expected = [0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28]
    assert idx == expected


def test_sampling_slower_than_the_video_takes_the_first_frame(clip: Path) -> None:
    with open_video(clip) as reader:
        assert [f.index for f in reader.frames(seconds_per_frame=100.0)] == [0]


def test_variable_frame_rate_is_sampled_by_time(tmp_path: Path) -> None:
    """Frames at irregular times: one per second must follow timestamps, not frame numbers."""
    import av

    path = tmp_path / "vfr.mkv"
    times_ms = [0, 100, 900, 1000, 1100, 2950, 3100, 3200, 4500]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=1000)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = __import__("fractions").Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, dtype=np.uint8), format="rgb24")
            frame.pts = t
            frame.time_base = stream.codec_context.time_base
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    with open_video(path) as reader:
        got = [(f.index, round(f.timestamp, 2)) for f in reader.frames(seconds_per_frame=1.0)]
    assert got == [(0, 0.0), (3, 1.0), (5, 2.95), (6, 3.1), (8, 4.5)]


def test_max_side_scales_down(clip: Path) -> None:
    with open_video(clip) as reader:
        frame = next(iter(reader.frames(max_side=32)))
    assert frame.rgb.shape == (24, 32, 3)


def test_fast_mode_still_samples_every_second(tmp_path: Path) -> None:
    path = write_video(tmp_path / "b.mp4", frames=60, fps=20)
    with open_video(path) as reader:
        frames = list(reader.frames(seconds_per_frame=1.0, fast=True))
    assert [int(f.timestamp) for f in frames] == [0, 1, 2]
    assert all(abs(f.index - f.timestamp * 20) < 1e-6 for f in frames)


def test_sniffing() -> None:
    assert sniff_video_container(b"\x00\x00\x00\x20ftypisom") == "mp4"
    assert sniff_video_container(b"\x1a\x45\xdf\xa3\x01") == "matroska"
    assert sniff_video_container(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert sniff_video_container(b"GIF89a....") == "gif"
    assert sniff_video_container(b"\x89PNG\r\n\x1a\n") is None
    assert sniff_video_container(b"#EXTM3U\n#EXT-X-VERSION:3\n") is None  # playlists never reach FFmpeg


# ------------------------------------------------------------------------------------------------ hostile input


def _decode_all(source: object, limits: VideoLimits | None = None) -> int:
    with open_video(source, limits or VideoLimits()) as reader:  # type: ignore[arg-type]
        return sum(1 for _ in reader.frames())


@pytest.mark.parametrize("fraction", [0.0005, 0.3, 0.6, 0.9])
def test_truncated_video_is_an_error(tmp_path: Path, fraction: float) -> None:
    data = write_video(tmp_path / "t.mp4", frames=40, fps=10, size=(160, 120)).read_bytes()
    with pytest.raises(VideoError):
        _decode_all(data[: max(16, int(len(data) * fraction))])


def test_corrupted_middle_is_an_error(tmp_path: Path) -> None:
    data = bytearray(write_video(tmp_path / "c.mp4", frames=40, fps=10, size=(160, 120)).read_bytes())
    rng = np.random.default_rng(7)
    start = len(data) // 3
    data[start : start + len(data) // 3] = rng.integers(0, 256, len(data) // 3, dtype=np.uint8).tobytes()
    with pytest.raises(VideoError):
        _decode_all(bytes(data))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", EmptyVideoError),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), UnsupportedVideoFormatError),
        (b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", UnsupportedVideoFormatError),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(1000), VideoDecodeError),
        (b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4, VideoDecodeError),
        (b"RIFF\x00\x10\x00\x00AVI " + b"\xff" * 500, VideoDecodeError),
        (b"GIF89a" + b"\x00" * 3, VideoDecodeError),
    ],
)
def test_garbage_gives_specific_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        _decode_all(data)


def test_audio_only_has_no_video_stream(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", video=False, audio=True)
    with pytest.raises(NoVideoStreamError, match="no video stream"):
        _decode_all(path)


def test_limits(clip: Path) -> None:
    with pytest.raises(VideoTooLargeError, match="bytes"):
        _decode_all(clip, VideoLimits(max_bytes=100))
    with pytest.raises(VideoTooLargeError, match="pixels"):
        _decode_all(clip, VideoLimits(max_pixels=64 * 47))
    with pytest.raises(VideoTooLargeError, match="s"):
        _decode_all(clip, VideoLimits(max_duration=1.5))
    with pytest.raises(VideoTooLargeError, match="frames"):
        _decode_all(clip, VideoLimits(max_frames=10))
    with pytest.raises(VideoTimeoutError):
        _decode_all(clip, VideoLimits(max_wall_seconds=1e-9))
    with pytest.raises(ValueError):
        VideoLimits(max_frames=0)


def test_limits_checked_while_decoding_when_the_header_says_nothing(tmp_path: Path) -> None:
    """WebM carries no frame count: the frame limit must still stop decoding."""
    path = write_video(tmp_path / "n.webm", codec="libvpx-vp9", frames=25, fps=10)
    with open_video(path, VideoLimits(max_frames=10)) as reader:
        assert reader.info.frame_count is None
        with pytest.raises(VideoTooLargeError, match="more than 10 frames"):
            list(reader.frames())


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(MediaReadError):
        _decode_all(tmp_path / "missing.mp4")
    with pytest.raises(MediaReadError):
        _decode_all(tmp_path)


def test_errors_are_media_errors() -> None:
    for cls in (VideoDecodeError, NoVideoStreamError, VideoTooLargeError, EmptyVideoError, VideoTimeoutError):
        assert issubclass(cls, MediaError)


def test_bad_sampling_arguments(clip: Path) -> None:
    with open_video(clip) as reader, pytest.raises(ValueError):
        list(reader.frames(seconds_per_frame=0.0))


def test_video_stream_without_frames_is_empty(tmp_path: Path) -> None:
    """A Matroska file declaring a video stream that holds no packets (only the audio is muxed)."""
    import av

    src = write_video(tmp_path / "src.mkv", codec="mpeg4", audio=True)
    target = tmp_path / "zero.mkv"
    with av.open(str(src)) as inp, av.open(str(target), "w") as out:
        out.add_stream_from_template(inp.streams.video[0])
        audio = out.add_stream_from_template(inp.streams.audio[0])
        for packet in inp.demux(inp.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = audio
                out.mux(packet)
    with open_video(target) as reader:
        assert reader.info.codec == "mpeg4"
        with pytest.raises(EmptyVideoError, match="no frames"):
            list(reader.frames())
