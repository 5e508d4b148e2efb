"""Named errors of the core. The CLI, the API and the pages turn them into messages.

Every error a user can cause derives from GraderError, so a boundary can catch that one
class and show `str(error)`, which is written for a teacher, not for a developer.
"""


class GraderError(Exception):
    """Base class of every error a user can cause; its message is shown as is."""


class ImageUnreadable(GraderError):
    """The file is not an image we can decode (empty, truncated, wrong type, too large)."""


class AnswerKeyInvalid(GraderError):
    """An answer key file failed validation; the message names file, question and field."""


class AlignmentFailed(GraderError):
    """A photo could not be registered onto its template page; the message says why."""


class WrongAssignment(GraderError):
    """The photo carries the QR code of another assignment than the one being graded."""


class ModelUnavailable(GraderError):
    """The recogniser's files in models/ are missing or unreadable."""


class StoreError(GraderError):
    """The gradebook database refused an operation (locked, missing, wrong schema)."""
