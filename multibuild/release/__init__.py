"""After the run: upload to the staging or nightly channel, download-wheels, the completeness
gate and wheel-uploader. The highest stage; only the ``./wheels`` front door is above it."""
