"""One exception family; scripts print its message on one line and exit 1."""


class MusicGenError(Exception):
    """Base class for every error a user can cause and fix."""


class ToolMissingError(MusicGenError):
    """A required external program (lame, sox, dot) is not on PATH."""


class AudioDecodeError(MusicGenError):
    """An audio file could not be decoded into a usable WAV."""


class DatasetError(MusicGenError):
    """Training tensors are missing, empty or inconsistent."""


class WeightsError(MusicGenError):
    """A weight file is missing, corrupt or does not match the request."""


class OutputError(MusicGenError):
    """An output cannot be written: read-only or full file system, no permission, bad path."""


class TrainingError(MusicGenError):
    """Training cannot go on: the loss became NaN or infinite."""
