"""The command line: flags built from the config dataclasses, menus, progress bars, start-up."""
