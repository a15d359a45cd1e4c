"""Cross-cutting leaf modules: errors, settings, progress reporting, files, signals, pinned versions."""
