"""Sub-commands. Each module exposes `register(subparsers)` and sets `handler(args, settings) -> int`."""
