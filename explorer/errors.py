"""Errors whose message is meant for the user: the CLI prints them on one line and exits 1,
the GUI shows them in the status bar or a message box and keeps working."""


class UserError(Exception):
    """Something the user can act on: a bad file, missing data, an unknown name."""


class ModelError(UserError):
    """A model cannot be built or its weights cannot be loaded; the message is for users."""
