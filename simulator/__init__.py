"""Mechanistic CHO fed-batch simulator, fault injection, datasets, fleet publisher and CSV replay."""
