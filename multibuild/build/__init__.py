"""Turning a checkout into a repaired wheel: toolchains, cross Python, incremental builds,
docker mode and its images, macOS, Windows, repair, SBOM, reproducible wheels, glibc and
wheel facts."""
