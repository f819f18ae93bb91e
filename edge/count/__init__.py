"""Pole-camera counting: road users per line, direction and class in 15-minute bins.

Public API (imported from the submodules, kept out of this file so ``voirie --help`` stays
fast)::

    from voirie.edge.count.config import load_config, CountConfig, ConfigError
    from voirie.edge.count.pipeline import Counter, run_counter
    from voirie.edge.count.sources import SourceSpec, open_source, JsonlSink
    from voirie.edge.count.lines import CountLine            # LineZone-like, with hysteresis
    from voirie.edge.count.detectors import BackgroundDetector, OnnxCountDetector  # default: count-default
    from voirie.edge.count.classes import ClassVote, merge_riders  # riders, heavy vehicles, vote per track
    from voirie.edge.count.evaluate import evaluate           # hand counts vs the counter

    counter = Counter(load_config("pole.toml"), frame_rate=25)
    for frame in open_source(SourceSpec("rtsp://…", "north")):
        for count_bin in counter.process(frame):               # CountBin records (sync format)
            ...

Only ``CountBin`` aggregates leave the device; see docs/counting.md.
"""
