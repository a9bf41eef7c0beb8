"""The three ways grading can end other than with a score."""


class PackageError(Exception):
    """An assignment package is wrong: staff must fix it. The message names the file, the key
    and the fix."""


class SubmissionRejected(Exception):
    """The upload cannot be graded; the message tells the student what to do."""


class GradingError(Exception):
    """Grading itself failed (our fault): retried by the worker, then shown to staff."""
