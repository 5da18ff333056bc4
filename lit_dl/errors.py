"""The exception types every part of lit-dl may raise; `lit-dl` prints a UserError as one line
without a traceback."""


class UserError(Exception):
    """A mistake in the user's config, files or flags. The message names the problem and the fix."""


class TrainingDiverged(UserError):
    """The loss or the weights became NaN or infinite; the run's status becomes `diverged`."""

    status = "diverged"  # what the run's record says when this ends a fit


class RunPruned(Exception):
    """A sweep's pruner stopped the run after `epoch` epochs (lit_dl.training.pruning); the run's
    status becomes `pruned`. Not a mistake: `lit-dl fit` prints the message and exits with 0."""

    status = "pruned"  # what the run's record says when this ends a fit

    def __init__(self, message: str, epoch: int, run_dir: str | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.run_dir = run_dir


class CommandLineError(UserError):
    """A command's arguments did not parse. `lit-dl` explains the parser's message in one line,
    with a did-you-mean among `options`."""

    def __init__(self, message: str, options: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.options = list(options)


def one_line(error: BaseException) -> str:
    """The first line of an exception's message, for a run's recorded `error`."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
