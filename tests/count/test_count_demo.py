from pathlib import Path

from rich.console import Console

from voirie.lab.demo.runner import DemoContext
from voirie.edge.count.demo import count_step
from voirie.edge.count.sources import read_bins


def test_demo_step_writes_bins_and_chart(tmp_path):
    ctx = count_step(DemoContext(workdir=tmp_path, console=Console(quiet=True)))
    chart = Path(ctx.outputs["count: chart"])
    assert chart.stat().st_size > 5000 and chart.read_bytes()[:4] == b"\x89PNG"
    bins = [b for p in ctx.state["count_bins"] for b in read_bins(Path(p))]
    assert len({b.bin_start_utc for b in bins}) == 2  # the demo clip straddles a 15-min boundary
    assert sum(b.count for b in bins) > 5 and all(b.status == "ok" for b in bins)
