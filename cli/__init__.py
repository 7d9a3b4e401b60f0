"""The `vocaliq` command line (Typer)."""
