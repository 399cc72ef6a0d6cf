class DataError(RuntimeError):
    """A data set is missing, incomplete or corrupt. The message names the fix."""
