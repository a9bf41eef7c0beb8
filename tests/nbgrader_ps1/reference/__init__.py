"""The solution of nbgrader's ps1 problem 1, as the trusted run imports it."""


def squares(n):
    """The squares of 1..n; n below 1 is a ValueError."""
    if n < 1:
        raise ValueError("n must be greater than or equal to 1")
    return [i ** 2 for i in range(1, n + 1)]


def sum_of_squares(n):
    return sum(squares(n))


def pyramidal_number(n):
    """The n-th square pyramidal number (the answer the source notebook gives)."""
    return sum_of_squares(n)
