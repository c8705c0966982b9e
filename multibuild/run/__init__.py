"""Executing a run: the options model, the runner, staging, test results and their reuse,
where tests run, report and summary, and replaying a CI job (a run driven by a CI file)."""
