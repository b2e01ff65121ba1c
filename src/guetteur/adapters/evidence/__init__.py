"""Evidence packages: the server's signing key, the package writer and the standalone verifier."""
