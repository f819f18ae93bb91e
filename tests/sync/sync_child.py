"""A survey pipeline and its sync worker in one process, to be killed with SIGKILL.

Puts frames ``--first`` … ``--first + --count - 1`` into the outbox (each with a small JPEG
every ``--evidence-every`` frames) and prints each record id on its own line *after* ``put``
returned: a printed id is one the device accepted. With ``--sync`` a ``SyncWorker`` drains
the outbox meanwhile; when all is put, the process waits for the outbox to empty and prints
``DRAINED``. The device token comes from ``VOIRIE_SYNC_TOKEN`` (never on the command line).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_records import frame_records, jpeg_bytes  # noqa: E402

from voirie.edge.sync.outbox import Outbox  # noqa: E402
from voirie.edge.sync.worker import SyncSettings, SyncWorker  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--server", default="")
    parser.add_argument("--device", default="car-1")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--evidence-every", type=int, default=0)
    parser.add_argument("--sync", action="store_true")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    return parser.parse_args()


def _drain(outbox: Outbox, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = outbox.stats()
        if stats.pending_records == 0 and stats.pending_evidence == 0:
            return True
        time.sleep(0.05)
    return False


def main() -> int:
    """Put, print, drain; exit 0 when drained (or when not syncing)."""
    args = _arguments()
    logging.basicConfig(level=os.environ.get("VOIRIE_SYNC_CHILD_LOG", "WARNING"), stream=sys.stderr,
                        format="%(relativeCreated)8.0f %(threadName)s %(name)s %(message)s")
    # What this process believes the time is (a test may run it under libfaketime).
    print(f"CLOCK {datetime.now(timezone.utc).isoformat()}", flush=True)
    jpeg = jpeg_bytes(2_000)
    with Outbox(args.outbox) as outbox:
        stop, thread = threading.Event(), None
        if args.sync:
            settings = SyncSettings(server_url=args.server, device_id=args.device,
                                    token=os.environ["VOIRIE_SYNC_TOKEN"], batch_records=200, timeout_s=5,
                                    backoff_initial_s=0.05, backoff_max_s=0.5, idle_poll_s=0.05)
            thread = threading.Thread(target=SyncWorker(outbox, settings).run, args=(stop,), daemon=True)
            thread.start()
        for record in frame_records(args.count, device_id=args.device, first=args.first):
            every = args.evidence_every
            outbox.put(record, jpeg if every and record.sequence % every == 0 else None)
            print(record.record_id, flush=True)
        drained = _drain(outbox, args.drain_timeout) if args.sync else True
        stop.set()
        if thread is not None:
            thread.join(timeout=10)
    print("DRAINED" if drained else "NOT DRAINED", flush=True)
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(main())
