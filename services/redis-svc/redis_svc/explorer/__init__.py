"""The Redis explorer: key tree, workbench, streams, bulk delete, analysis and diagnostics."""
