"""The paper track (``stylefit bench paper``): the paper's released records, its tables recomputed, every selector judged on its cases."""
