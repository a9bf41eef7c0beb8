# %% [markdown]
# # Vector operations (engine example)
#
# Three small functions. Fill in the solution cells, run `dlgrade check source.ipynb`.

# %% [provided id=imports]
import torch

# %% [markdown]
# ## 1. Add
# Return `a + b`.

# %% [solution id=add]
def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION

# %% [markdown]
# ## 2. Softmax
# Subtract the row maximum before `exp` so large logits do not overflow. `torch.softmax`
# is not allowed.

# %% [solution id=softmax]
def softmax(x, dim=-1):
    ### BEGIN SOLUTION
    shifted = x - x.amax(dim=dim, keepdim=True)
    exps = shifted.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
    ### END SOLUTION

# %% [markdown]
# ## 3. Row sum, fast
# Sum every row; perf is scored against `x.sum(-1)`.

# %% [solution id=rowsum]
def rowsum(x):
    ### BEGIN SOLUTION
    return x.sum(dim=-1)
    ### END SOLUTION

# %%
print(softmax(torch.randn(2, 3)))
