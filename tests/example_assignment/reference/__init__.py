"""Reference solution of the example assignment."""

import torch


def add(a, b):
    return a + b


def softmax(x, dim=-1):
    shifted = x - x.amax(dim=dim, keepdim=True)  # exp never overflows
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)


def rowsum(x):
    return x.sum(dim=-1)
