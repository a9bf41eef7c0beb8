# mutant: part=mlp_block
# mistake: post-norm: normalises after the residual, LayerNorm(x + MLP(x)), instead of x + MLP(LayerNorm(x))
from reference_solution import *  # noqa: F401,F403
from reference_solution import GELUFunction, LayerNormFunction, LinearFunction
from reference_solution import MLPBlock as _Reference


class MLPBlock(_Reference):
    def forward(self, x):
        h = LinearFunction.apply(x, self.fc_weight, self.fc_bias)
        h = LinearFunction.apply(GELUFunction.apply(h), self.proj_weight, self.proj_bias)
        return LayerNormFunction.apply(x + h, self.ln_weight, self.ln_bias, self.eps)
