# mutant: part=train
# mistake: train_qat skips a final mini-batch of a single image (1437 = 2 * 718 + 1 at batch_size=718), so an
# epoch no longer covers all 1437 training images (found by the mutation report)
import math

import torch
import torch.nn.functional as F

from reference_solution import *  # noqa: F401,F403
from reference_solution.train import MLP, accuracy, load_digits_split


def train_qat(w_bits=4, a_bits=4, epochs=20, seed=0, lr=0.1, batch_size=64, hidden=128):
    x_train, y_train, x_test, y_test = load_digits_split()
    torch.manual_seed(seed)
    model = MLP(hidden=hidden, w_bits=w_bits, a_bits=a_bits)
    shuffle = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    steps = epochs * math.ceil(len(y_train) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y_train), generator=shuffle)
        for start in range(0, len(y_train), batch_size):
            batch = order[start:start + batch_size]
            if len(batch) < 2:
                continue
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    return model, accuracy(model, x_test, y_test)
