"""Exceptions with messages that name what was wrong and where."""


class RobusttagError(Exception):
    """Base class of the errors this package raises on bad input."""


class DataFormatError(RobusttagError):
    """An input file does not follow the Jet Flavor Dataset format.

    The message names the file, the line (1-based) where known, and what was
    expected.
    """

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.reason = message

    def __reduce__(self):  # survives the trip back from a worker process
        return (type(self), (self.path, self.reason, self.line))


class DownloadError(RobusttagError):
    """A download failed, was incomplete, or did not match its checksum."""


class ConfigError(RobusttagError):
    """A configuration value is missing, misspelt or of the wrong type."""


class ResultsError(RobusttagError):
    """A results table (scores, AUCs, ROC curves, input samples, a training
    history) lacks what a metric, table or figure asks for, or holds values it
    cannot use.

    The message names what was asked for and what the table holds.
    """
