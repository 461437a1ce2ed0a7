"""Prometheus metrics of the frame checks (docs/design.md §6: what is shed is counted and shown).

Created once, at import, on prometheus_client's default registry. Labels:

- ``strangers_frames_checked_total{verdict}``: one per frame that left the queue for a
  check: ``clean``, ``nudity``, ``no_face``, ``known_abuse`` (see
  :func:`verdict_label`), ``rejected`` (the checker refused the bytes), ``failed``
  (the checker raised anything else).
- ``strangers_frame_check_seconds{stage}``: ``decode``, ``nudity``, ``face``, ``hash``
  (the checker's own stages, as it reports them), ``queue`` (enqueued → a worker took
  it) and ``total`` (enqueued → the result, what the caller waited).
- ``strangers_frames_shed_total{reason}``: frames never checked: ``queue_full`` (the
  new frame was the least urgent), ``displaced`` (a more urgent one took its place),
  ``closed`` (the pool shut down), ``stale`` (not checked within ``max_wait``),
  ``over_share`` (its session, device or network already had its fair share of the
  pool waiting or in a check: issue 15, attack 2).
- ``strangers_frame_queue_depth``: frames waiting for a worker.
- ``strangers_frame_hash_skipped_total``: frames whose PDQ quality was too low to match.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from strangers.core.frames import FrameVerdict

VERDICTS: Final = ("clean", "nudity", "no_face", "known_abuse", "rejected", "failed")
STAGES: Final = ("decode", "nudity", "face", "age", "hash", "queue", "total")
SHED_REASONS: Final = ("queue_full", "displaced", "closed", "stale", "over_share")

FRAMES_CHECKED: Final = Counter(
    "strangers_frames_checked_total",
    "Sampled video frames taken from the queue and checked, by verdict.",
    ["verdict"],
)
FRAME_CHECK_SECONDS: Final = Histogram(
    "strangers_frame_check_seconds",
    "Seconds per frame in each stage of the checks; queue is the wait for a worker, "
    "total is enqueued to result.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.0),
)
FRAMES_SHED: Final = Counter(
    "strangers_frames_shed_total",
    "Sampled video frames dropped unchecked under load or at shutdown, by reason.",
    ["reason"],
)
FRAME_QUEUE_DEPTH: Final = Gauge(
    "strangers_frame_queue_depth",
    "Sampled video frames waiting for a check worker.",
)
FRAME_HASH_SKIPPED: Final = Counter(
    "strangers_frame_hash_skipped_total",
    "Frames not matched against the hash lists because their PDQ quality was too low.",
)

# Every label value exists from the start, so a dashboard shows zeros, not gaps.
for _verdict in VERDICTS:
    FRAMES_CHECKED.labels(verdict=_verdict)
for _stage in STAGES:
    FRAME_CHECK_SECONDS.labels(stage=_stage)
for _reason in SHED_REASONS:
    FRAMES_SHED.labels(reason=_reason)


def verdict_label(verdict: FrameVerdict) -> str:
    """The one label a verdict counts under, the gravest first: ``known_abuse``,
    ``nudity``, ``no_face``, else ``clean``."""
    if verdict.hash_hit is not None:
        return "known_abuse"
    if verdict.nudity:
        return "nudity"
    if not verdict.face:
        return "no_face"
    return "clean"
