"""Build the real-plate evaluation set from the committed labels and the shared DNIT photos.

The labels (``anonymize/eval_labels/dnit_plates/labels``, plate boxes with vehicle ids,
labelled by hand, see the README there) are committed; the photos are not (they are
shared data). This links each labelled photo into ``--out/images`` and copies its label
into ``--out/labels``, so that

    nice -n 10 .venv/bin/python bench/anonymize_real_set.py --out data/real_plates_dnit
    nice -n 10 .venv/bin/voirie anonymize eval --data data/real_plates_dnit

evaluates the anonymizer on them (no other flag: the horizon is estimated from the photos).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "anonymize" / "eval_labels" / "dnit_plates" / "labels"
SHARED_PHOTOS = ROOT.parent / "shared" / "data" / "road_damage_cpri" / "images"


def build(photos: Path, out: Path) -> int:
    """Link every labelled photo and copy its label; returns the number of photos."""
    if not photos.is_dir():
        raise SystemExit(f"no photos at {photos}: pass --photos (the images/ of road_damage_cpri)")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(exist_ok=True)
    count = 0
    for label in sorted(LABELS.glob("*.txt")):
        photo = photos / f"{label.stem}.jpg"
        if not photo.is_file():
            raise SystemExit(f"{photo} is missing: the labels were made on road_damage_cpri's images/")
        link = out / "images" / photo.name
        if not link.exists():
            link.symlink_to(photo.resolve())
        shutil.copyfile(label, out / "labels" / label.name)
        count += 1
    return count


def main() -> None:
    """Build the set; prints where it is."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=SHARED_PHOTOS, help="road_damage_cpri's images/")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "real_plates_dnit", help="where to build the set")
    args = parser.parse_args()
    print(f"{build(args.photos, args.out)} photos in {args.out}")


if __name__ == "__main__":
    main()
