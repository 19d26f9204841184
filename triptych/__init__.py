"""triptych's instruments: the flavours, the loopback server, the parity check and the CLI."""
