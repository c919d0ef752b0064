"""The declared benchmarks: one module per benchmark, each defining ``BENCHMARK`` (a
:class:`videoqa.eval.Benchmark`). The registry (:mod:`videoqa.eval._declare`) finds them; nothing
here is imported until a benchmark is asked for."""
