"""The project's source: what a checkout holds, and local mirrors of a release's sdist."""
