"""Benchmarks of strategy selectors, one subpackage per track, and their command line (``stylefit bench``)."""
