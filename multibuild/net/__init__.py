"""Untrusted bytes from outside: HTTP fetch (timeouts, retries, redirects, credentials),
package-index listings, archive extraction and wheel/sdist checks. Imports only ``core``."""
