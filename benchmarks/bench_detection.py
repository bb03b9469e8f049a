"""Detection and coverage cost must not grow with the dataset: time them on 1,000 and 1,000,000 rows.

    python benchmarks/bench_detection.py

Both datasets are generated in ASDiv's schema (a body before the question, answers like
"9 (apples)"), saved with save_to_disk and loaded back (memory-mapped), as a user's would be.
Prints the median time of detection, and of the coverage report (map the first 1,000 rows and
score their references), on each, and their ratios.
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
COVERAGE_REPEATS = 5


def make_dataset(rows: int, folder: Path):
    import datasets

    bodies = [f"Tom has {i % 97} apples and buys {i % 13} more." for i in range(rows)]
    questions = ["How many apples does Tom have now?"] * rows
    answers = [f"{i % 97 + i % 13} (apples)" for i in range(rows)]
    formulas = [f"{i % 97}+{i % 13}={i % 97 + i % 13}" for i in range(rows)]
    datasets.Dataset.from_dict(
        {"body": bodies, "question": questions, "answer": answers, "formula": formulas}
    ).save_to_disk(str(folder))
    return dataset_utils.load_any(str(folder), local_only=True)


def median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def coverage_report(dataset) -> None:
    import rewards

    detection = dataset_utils.detect_dataset(dataset)
    sample = dataset.select(range(min(dataset_utils.COVERAGE_SAMPLE, len(dataset)))).to_list()
    rewards_cache_clear = getattr(rewards, "clear_caches", None)
    if rewards_cache_clear:
        rewards_cache_clear()  # a cold cache each time, as at the start of a run
    coverage = dataset_utils.measure_coverage([dataset_utils.map_row(row, detection) for row in sample])
    assert coverage.earns_reward == 1.0, coverage


def main() -> int:
    import datasets

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as tmp:
        small = make_dataset(1_000, Path(tmp) / "1k")
        large = make_dataset(1_000_000, Path(tmp) / "1m")
        t_small = median_seconds(lambda: dataset_utils.detect_dataset(small), REPEATS)
        t_large = median_seconds(lambda: dataset_utils.detect_dataset(large), REPEATS)
        c_small = median_seconds(lambda: coverage_report(small), COVERAGE_REPEATS)
        c_large = median_seconds(lambda: coverage_report(large), COVERAGE_REPEATS)
    print(f"detection, 1,000 rows:     {1000 * t_small:.2f} ms (median of {REPEATS})")
    print(f"detection, 1,000,000 rows: {1000 * t_large:.2f} ms (median of {REPEATS})")
    print(f"ratio 1M / 1k:             {t_large / t_small:.2f}  (must stay at most 2)")
    print(f"coverage, 1,000 rows:      {1000 * c_small:.2f} ms (median of {COVERAGE_REPEATS})")
    print(f"coverage, 1,000,000 rows:  {1000 * c_large:.2f} ms (median of {COVERAGE_REPEATS})")
    print(f"ratio 1M / 1k:             {c_large / c_small:.2f}  (must stay at most 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
