"""Runs deface's own pipeline (its CenterFace class and ``anonymize_frame``) over a clip.

Executed by bench/anonymize.py with the Python of a separate virtual environment where
``deface`` is installed from the registry with all its dependencies (never a voirie
dependency). It mirrors the loop of ``deface.deface.video_detect`` with deface's CLI
defaults (threshold 0.2, mask scale 1.3, blurred ellipses) and prints one JSON line:
frames, seconds of the loop, and the boxes it masked per frame (for recall).
Usage: python anonymize_deface_driver.py IN.mp4 OUT.mp4
"""

import json
import sys
import time

import imageio
from deface.centerface import CenterFace
from deface.deface import anonymize_frame, scale_bb


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    centerface = CenterFace(in_shape=None, backend="auto")
    reader = imageio.get_reader(source)
    fps = reader.get_meta_data()["fps"]
    writer = imageio.get_writer(target, format="FFMPEG", mode="I", fps=fps)
    boxes, frames = [], 0
    started = time.perf_counter()
    for frame in reader.iter_data():
        dets, _ = centerface(frame, threshold=0.2)
        anonymize_frame(dets, frame, mask_scale=1.3, replacewith="blur", ellipse=True, draw_scores=False,
                        replaceimg=None, mosaicsize=20)
        writer.append_data(frame)
        boxes.append([list(map(float, scale_bb(*d[:4], mask_scale=1.3))) for d in dets])
        frames += 1
    writer.close()
    seconds = time.perf_counter() - started
    reader.close()
    print(json.dumps({"frames": frames, "seconds": seconds, "boxes": boxes, "backend": centerface.backend}))


if __name__ == "__main__":
    main()
