# mutant: part=train
# mistake: train_qat ignores its lr argument and always uses lr=0.1
import reference_solution.train as _train
from reference_solution import *  # noqa: F401,F403


def train_qat(w_bits=4, a_bits=4, epochs=20, seed=0, lr=0.1, batch_size=64, hidden=128):
    lr = 0.1
    return _train.train_qat(w_bits=w_bits, a_bits=a_bits, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size,
                            hidden=hidden)
