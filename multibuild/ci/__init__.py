"""The CI files as data: reading them, their job matrix, editing BUILD_COMMIT, checking them,
what a CI event means, nightly versions. Executing a CI job is ``multibuild.run``'s."""
