"""The live track (``stylefit bench live``): generate, fine-tune, score with every selector and judge, on live models."""
