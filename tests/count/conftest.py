"""A small rendered pole-camera clip with known counts, shared by the count tests."""

from __future__ import annotations

import pytest

from voirie.edge.count.synth import make_scene, render_video, write_truth


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory):
    """(scene, video path, truth csv) of a 24 s 480x270 12.5 f/s clip: every class, both ways, one stop-and-go car."""
    folder = tmp_path_factory.mktemp("clip")
    scene = make_scene(duration_s=24.0, width=480, height=270, fps=12.5, seed=5, per_class=1)
    video = render_video(scene, folder / "clip.avi")
    return scene, video, write_truth(scene, folder / "truth.csv")
