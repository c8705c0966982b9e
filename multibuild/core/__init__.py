"""What every stage shares: atomic file writes, shell records, git ref rules, printable URLs,
the platform table, interpreter discovery, the step environment, system-package provisioning,
signals and progress. The lowest layer: imports nothing of ``multibuild`` but its errors."""
