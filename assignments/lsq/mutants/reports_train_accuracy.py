# mutant: part=train
# mistake: returns the accuracy on the training images instead of the test images
import reference_solution
from reference_solution import *  # noqa: F401,F403


def train_qat(w_bits=4, a_bits=4, epochs=20, seed=0, lr=0.1, batch_size=64, hidden=128):
    model, _ = reference_solution.train_qat(w_bits, a_bits, epochs, seed, lr, batch_size, hidden)
    x_train, y_train, _, _ = load_digits_split()
    return model, accuracy(model, x_train, y_train)
