"""The command line's exit codes, the same for every command: 0 done, 1 failed (PBX or call),
2 configuration or credentials wrong."""

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
