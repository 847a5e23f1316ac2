"""Errors whose message is meant for the user: the CLI prints them on one line and exits 1,
the GUI shows them in the status bar or a message box and keeps working."""


class UserError(Exception):
    """Something the user can act on: a bad file, missing data, an unknown name."""
