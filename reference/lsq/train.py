"""Quantization-aware training of the MLP on scikit-learn's bundled digits (8x8 images, no
download)."""

import math

import torch
import torch.nn.functional as F
from .layers import MLP


def load_digits_split():
    """(x_train, y_train, x_test, y_test): pixels / 16 as float32 (N, 64), labels int64 (N,).
    Image i is a test image when i % 5 == 0: 360 test, 1437 train, no randomness."""
    from sklearn.datasets import load_digits  # here: importing scikit-learn takes a second

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # (1797, 64) in [0, 1]
    y = torch.tensor(digits.target, dtype=torch.int64)          # (1797,)
    is_test = torch.arange(len(y)) % 5 == 0
    return x[~is_test], y[~is_test], x[is_test], y[is_test]


@torch.no_grad()
def accuracy(model, x, y):
    """Fraction of x the model classifies correctly (in eval mode)."""
    was_training = model.training
    model.eval()
    correct = (model(x).argmax(dim=1) == y).sum().item()
    model.train(was_training)
    return correct / len(y)


def train_qat(w_bits=4, a_bits=4, epochs=20, seed=0, lr=0.1, batch_size=64, hidden=128):
    """Train MLP(hidden, w_bits, a_bits) with SGD (momentum 0.9, cosine decay of lr to 0 over
    every step) on shuffled mini-batches; return (model in eval mode, test accuracy)."""
    ### BEGIN SOLUTION
    x_train, y_train, x_test, y_test = load_digits_split()
    torch.manual_seed(seed)                       # the initial weights
    model = MLP(hidden=hidden, w_bits=w_bits, a_bits=a_bits)
    shuffle = torch.Generator().manual_seed(seed)  # the order of the mini-batches
    # The step sizes are parameters like any other: the same optimizer trains them. The
    # optimizer may be built before the first forward, which initialises them in place.
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    steps = epochs * math.ceil(len(y_train) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y_train), generator=shuffle)
        for start in range(0, len(y_train), batch_size):
            batch = order[start:start + batch_size]
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    return model, accuracy(model, x_test, y_test)
    ### END SOLUTION
