"""Adam with PyTorch's update rule (the original trainer's `torch.optim.Adam`).

Keras' Adam folds both bias corrections into the step size and adds epsilon to the *uncorrected*
`sqrt(v)`; PyTorch divides by `sqrt(v) / sqrt(1 - beta_2^t) + epsilon`. The two differ when
`|g|` is comparable to `epsilon / sqrt(1 - beta_2^t)` (about 3e-7 on the first step), so
parameters with tiny gradients move differently. This class implements PyTorch's form:

    m = beta_1 m + (1 - beta_1) g;   v = beta_2 v + (1 - beta_2) g^2
    p -= lr / (1 - beta_1^t) * m / (sqrt(v) / sqrt(1 - beta_2^t) + epsilon)

No weight decay, AMSGrad, schedule or clipping (as the original trainer, B43).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bert_tf2")
class TorchAdam(keras.optimizers.Optimizer):
    """Adam matching `torch.optim.Adam(lr, betas=(beta_1, beta_2), eps=epsilon)`.

    Args:
        learning_rate: step size (the config's `learning_rate`, 1e-4 upstream).
        beta_1: first-moment decay.
        beta_2: second-moment decay.
        epsilon: added to the bias-corrected `sqrt(v)` (PyTorch default 1e-8).
        name: optimizer name.
        **kwargs: other `keras.optimizers.Optimizer` arguments.
    """

    def __init__(self, learning_rate=1e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 name="torch_adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        first_correction = 1.0 - ops.power(ops.cast(self.beta_1, dtype), step)
        second_correction = 1.0 - ops.power(ops.cast(self.beta_2, dtype), step)
        index = self._get_variable_index(variable)
        momentum, velocity = self._momentums[index], self._velocities[index]
        self.assign_add(momentum, (gradient - momentum) * (1.0 - self.beta_1))
        self.assign(velocity, velocity * self.beta_2 + ops.square(gradient) * (1.0 - self.beta_2))
        denominator = ops.sqrt(velocity) / ops.sqrt(second_correction) + self.epsilon
        step_size = ops.cast(learning_rate, dtype) / first_correction
        self.assign_sub(variable, step_size * momentum / denominator)

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)
        return config
