"""Devex portal: sign-in, REPL metadata, storage and the workload lifecycle."""
