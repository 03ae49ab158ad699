"""Benchmarks of strategy selectors.

- `selection_quality`: the figures every benchmark reports (Spearman, top-1, regret, ...,
  bootstrap intervals over cases);
- `paper_data`: loader of the paper-bench bundle (arXiv 2502.11779's released records);
- `paper_tables`: exact recomputation of the paper's tables;
- `paper_selectors`, `paper_track`, `paper_report`: the paper track (`stylefit bench paper`).
"""
