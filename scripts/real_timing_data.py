"""Write stand-ins for the real datasets, big enough for the quick profile's split sizes, to
time real-data cells on a machine without the datasets (docs/real-datasets.md describes
the layout they follow).

    python scripts/real_timing_data.py /tmp/xmd-timing-data

They use the test fixtures' writers (tests/real_fixtures.py, the exact on-disk formats)
with the published datasets' counts where the quick profile reads them all, and fewer
files where it subsamples anyway:

- Sketchy: all 125 classes, 24 photos a class (4 listed as test), 256×256 like the
  release, 1-2 sketches per training photo and 4 per test photo (3,000 photos, 5,750
  sketches; the release has 12,500 and 75,471, of which the quick profile decodes 2,000
  photos and ~2,750 pairs);
- NYU-Depth V2: 1,449 frames with NYU's 894 raw label ids, but 160×120 instead of
  640×480 (the writer holds everything in memory), so file reading is timed on 1/16 of
  the pixels; training happens at `data.image_size` either way;
- AV-MNIST: MNIST's 60,000 + 10,000 images and FSDD's 3,000 recordings (6 speakers × 50
  takes × 10 digits, 0.3 s instead of ~0.5 s each).

Training time depends on the split sizes and the image size, not on what the pixels show,
so a cell on these files costs what it costs on the real ones (file reading aside).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.datasets.real.sketchy import SKETCHY_CLASSES
from tests.real_fixtures import write_fsdd, write_mnist, write_nyuv2, write_sketchy


def sketchy(root: Path) -> None:
    """All 125 classes, written 25 at a time (the writer's class-coding strokes need
    8 pixels a class) into one tree with one test list."""
    listed = []
    for start in range(0, len(SKETCHY_CLASSES), 25):
        part = root / f".part{start}"
        write_sketchy(part, SKETCHY_CLASSES[start : start + 25], photos=24, size=256)
        for kind in ("photo", "sketch"):
            tree = Path("rendered_256x256/256x256", kind, "tx_000000000000")
            (root / "sketchy" / tree).mkdir(parents=True, exist_ok=True)
            for folder in (part / "sketchy" / tree).iterdir():
                folder.rename(root / "sketchy" / tree / folder.name)
        listed.append((part / "sketchy/info/testset.txt").read_text())
        shutil.rmtree(part)
    (root / "sketchy/info").mkdir()
    (root / "sketchy/info/testset.txt").write_text("".join(listed))


def main(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=False)
    for name, write in (
        ("sketchy", lambda: sketchy(root)),
        ("nyuv2", lambda: write_nyuv2(root, n=1449, width=160, height=120)),
        ("mnist", lambda: write_mnist(root, train=60000, test=10000)),
        ("fsdd", lambda: write_fsdd(root, speakers=tuple(f"s{i}" for i in range(6)), takes=50)),
    ):
        start = time.perf_counter()
        write()
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/real_timing_data.py DIR (a new folder)")
    main(Path(sys.argv[1]))
