"""Shared by the ps1 tests."""


def outcome(function, *args):
    """What calling `function` did: its value, or the name of the exception it raised."""
    try:
        return {"returned": function(*args)}
    except Exception as error:  # noqa: BLE001 - which exception is what the test records
        return {"raised": type(error).__name__}
