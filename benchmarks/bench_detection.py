"""Detection cost must not grow with the dataset: time it on 1,000 and 1,000,000 rows on disk.

    python benchmarks/bench_detection.py

Both datasets are generated in GSM8K's schema, saved with save_to_disk and loaded back
(memory-mapped), as a user's would be. Prints the median detection time of each and their ratio.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dataset_utils  # noqa: E402

REPEATS = 20


def make_dataset(rows: int, folder: Path):
    import datasets

    questions = [f"Tom has {i % 97} apples and buys {i % 13} more. How many now?" for i in range(rows)]
    answers = [f"{i % 97} + {i % 13} = {i % 97 + i % 13}\n#### {i % 97 + i % 13}" for i in range(rows)]
    datasets.Dataset.from_dict({"question": questions, "answer": answers}).save_to_disk(str(folder))
    return dataset_utils.load_any(str(folder), local_only=True)


def median_detection_seconds(dataset) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        dataset_utils.detect_dataset(dataset)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    import datasets

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as tmp:
        small = make_dataset(1_000, Path(tmp) / "1k")
        large = make_dataset(1_000_000, Path(tmp) / "1m")
        t_small, t_large = median_detection_seconds(small), median_detection_seconds(large)
    print(f"detection, 1,000 rows:     {1000 * t_small:.2f} ms (median of {REPEATS})")
    print(f"detection, 1,000,000 rows: {1000 * t_large:.2f} ms (median of {REPEATS})")
    print(f"ratio 1M / 1k:             {t_large / t_small:.2f}  (must stay at most 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
