"""The one exception type for mistakes a user can fix; `lit-dl` prints it without a traceback."""


class UserError(Exception):
    """A mistake in the user's config, files or flags. The message names the problem and the fix."""
