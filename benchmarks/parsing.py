"""Parsing hostile model output costs about as much as parsing ordinary text of the same length.

Times :func:`videoqa.core.parsing.parse_spans` / :func:`parse_choice` on 300 kB texts that used to be
quadratic (``"<answer>"`` or ``"1-"`` repeated; over a minute before the fix) and, as the reference
measured in the same run, on 300 kB of ordinary prose ending with a time range. Only the first
``MAX_PARSE_CHARS`` characters are read in every case.

    python benchmarks/parsing.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from videoqa.core.parsing import MAX_PARSE_CHARS, parse_choice, parse_spans

SIZE = 300_000


def _seconds(fn, text: str, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(text)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    sentence = "The person walks to the table and looks at the window for a while. "
    prose = (sentence * (SIZE // len(sentence) + 1))[:SIZE]
    hostile = {
        "<answer> x 37,500": "<answer>" * (SIZE // 8),
        "1- x 150,000": "1-" * (SIZE // 2),
        "1 - x 75,000": "1 - " * (SIZE // 4),
        '{"start": 1, x 20,000': '{"start": 1, ' * (SIZE // 15),
        "starts at 1 s and ends at 2 s. x 10,000": "starts at 1 s and ends at 2 s. " * (SIZE // 30),
    }
    print(f"text length {SIZE} characters; parsers read the first {MAX_PARSE_CHARS}")
    for name, fn in (("parse_spans", parse_spans), ("parse_choice", parse_choice)):
        reference = _seconds(fn, prose, repeat)
        print(f"{name}: ordinary prose {reference * 1000:.1f} ms (reference)")
        for label, text in hostile.items():
            took = _seconds(fn, text, repeat)
            print(f"  {label:40s} {took * 1000:8.1f} ms  ratio {took / reference:6.1f}x")


if __name__ == "__main__":
    main()
