"""Presenting results to people: the terminal tables, the verify tables, the HTML report and its figures, the headless browser that renders it."""
