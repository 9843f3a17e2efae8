"""Optimizers with Keras 3's names, defaults and update rules: SGD, RMSprop, Adagrad,
Adam, AdamW, Nadam, Adadelta.

Each optimizer writes its update rule once, as graph-building code
(:meth:`Optimizer.update_rule`); see :mod:`graphad.optim.base` for how it is
compiled and cached.
"""

from __future__ import annotations

from ..core.errors import GraphadError
from .base import Optimizer

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Nadam", "RMSprop"]


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum (``keras.optimizers.SGD``).

    Update for a variable ``w`` with gradient ``g`` (Keras 3's rule):

    - ``momentum == 0``: ``w = w - learning_rate * g``
    - otherwise: ``m = momentum * m - learning_rate * g``, then
      ``w = w + m`` (plain) or ``w = w + momentum * m - learning_rate * g`` (Nesterov),
      with ``m`` starting at 0.

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default 0.01
        The step size, or a schedule of it (``ga.optim.schedules``).
    momentum : float, default 0.0
        Momentum factor (0: none).
    nesterov : bool, default False
        Use Nesterov momentum.
    name : str, default 'SGD'
        The optimizer's name (in configs and saved models).

    Raises
    ------
    GraphadError
        If ``momentum`` is not in [0, 1].

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([1.0]))
    >>> opt = ga.optim.SGD(learning_rate=0.1, momentum=0.9)
    >>> _ = opt.apply_gradients([(np.array([1.0]), w)])
    >>> _ = opt.apply_gradients([(np.array([1.0]), w)])
    >>> w.numpy()   # 1 - 0.1 - (0.9*0.1 + 0.1)
    array([0.71])
    """

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "SGD",
    ):
        if not 0.0 <= float(momentum) <= 1.0:
            raise GraphadError(f"SGD: momentum must be in [0, 1], got {momentum}")
        super().__init__(learning_rate, name)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def slot_specs(self):
        return [("momentum", 0.0)] if self.momentum != 0 else []

    def update_rule(self, w, g, slots, lr, t):
        if self.momentum == 0:
            return w - lr * g, []
        (m,) = slots
        m = m * self.momentum - g * lr
        if self.nesterov:
            return w + (m * self.momentum - g * lr), [m]
        return w + m, [m]

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop (``keras.optimizers.RMSprop``), plain momentum, optionally centered.

    Keras 3's rule, ``v`` (and ``a``, ``mom``) starting at 0::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g                      # centered only
        d = v - a**2 + epsilon   if centered   else   v + epsilon
        inc = learning_rate * g / sqrt(d)
        mom = momentum * mom + inc; w = w - mom          # momentum > 0
        w = w - inc                                      # otherwise

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default 0.001
        The step size, or a schedule of it (``ga.optim.schedules``).
    rho : float, default 0.9
        Decay rate of the running averages.
    momentum : float, default 0.0
        Momentum factor (0: none).
    epsilon : float, default 1e-07
        Small constant for numerical stability (see the rule above).
    centered : bool, default False
        Normalize by the estimated variance of the gradient, not its second moment.
    name : str, default 'rmsprop'
        The optimizer's name (in configs and saved models).

    Examples
    --------
    >>> import graphad as ga
    >>> v = ga.Variable(10.0)
    >>> opt = ga.optim.RMSprop(learning_rate=0.1)
    >>> _ = opt.minimize(lambda: (v ** 2) / 2.0, [v])   # Keras docs: 9.683772
    >>> round(float(v.numpy()), 6)
    9.683772
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        name: str = "rmsprop",
    ):
        super().__init__(learning_rate, name)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def slot_specs(self):
        specs = [("velocity", 0.0)]
        if self.momentum > 0:
            specs.append(("momentum", 0.0))
        if self.centered:
            specs.append(("average_gradient", 0.0))
        return specs

    def update_rule(self, w, g, slots, lr, t):
        from ..ops import sqrt, square

        it = iter(slots)
        v = next(it)
        mom = next(it) if self.momentum > 0 else None
        avg = next(it) if self.centered else None
        rho = self.rho
        v = rho * v + (1 - rho) * square(g)
        new = [v]
        if self.centered:
            avg = rho * avg + (1 - rho) * g
            denominator = v - square(avg) + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = lr * g / sqrt(denominator)
        if mom is not None:
            mom = self.momentum * mom + increment
            new.insert(1, mom)
            w = w - mom
        else:
            w = w - increment
        if self.centered:
            new.append(avg)
        return w, new

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad (``keras.optimizers.Adagrad``).

    Keras 3's rule, the accumulator starting at ``initial_accumulator_value``::

        acc = acc + g**2
        w = w - learning_rate * g / sqrt(acc + epsilon)

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default 0.001
        The step size, or a schedule of it (``ga.optim.schedules``).
    initial_accumulator_value : float, default 0.1
        Starting value of the accumulated squared gradients.
    epsilon : float, default 1e-07
        Small constant for numerical stability (see the rule above).
    name : str, default 'adagrad'
        The optimizer's name (in configs and saved models).

    Raises
    ------
    GraphadError
        If ``initial_accumulator_value`` is negative.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([1.0]))
    >>> opt = ga.optim.Adagrad(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(np.array([0.3]), w)])
    >>> round(float(w.numpy()[0]), 6)   # 1 - 0.1 * 0.3 / sqrt(0.1 + 0.09 + 1e-7)
    0.931175
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        name: str = "adagrad",
    ):
        if initial_accumulator_value < 0:
            raise GraphadError("Adagrad: initial_accumulator_value must be non-negative")
        super().__init__(learning_rate, name)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def slot_specs(self):
        return [("accumulator", self.initial_accumulator_value)]

    def update_rule(self, w, g, slots, lr, t):
        from ..ops import sqrt, square

        (acc,) = slots
        acc = acc + square(g)
        return w - lr * g / sqrt(acc + self.epsilon), [acc]

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adam(Optimizer):
    """Adam, optionally AMSGrad (``keras.optimizers.Adam``).

    Keras 3's rule, with ``t = iterations + 1`` and ``m``, ``v`` (``v_hat``) starting at 0::

        alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        v_hat = maximum(v_hat, v)                        # amsgrad only (then used for v)
        w = w - m * alpha / (sqrt(v) + epsilon)

    ``epsilon`` is the "epsilon hat" of Kingma and Ba (added after the bias
    correction folded into ``alpha``), as in Keras.

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default 0.001
        The step size, or a schedule of it (``ga.optim.schedules``).
    beta_1 : float, default 0.9
        Decay rate of the first-moment estimate ``m``.
    beta_2 : float, default 0.999
        Decay rate of the second-moment estimate ``v``.
    epsilon : float, default 1e-07
        Small constant for numerical stability (see the rule above).
    amsgrad : bool, default False
        Use the AMSGrad variant (the running maximum of ``v``).
    name : str, default 'adam'
        The optimizer's name (in configs and saved models).

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([1.0]))
    >>> opt = ga.optim.Adam(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(np.array([5.0]), w)])
    >>> round(float(w.numpy()[0]), 6)    # the first Adam step moves by about lr
    0.9
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "adam",
    ):
        super().__init__(learning_rate, name)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def slot_specs(self):
        specs = [("m", 0.0), ("v", 0.0)]
        if self.amsgrad:
            specs.append(("v_hat", 0.0))
        return specs

    def update_rule(self, w, g, slots, lr, t):
        from ..ops import maximum, sqrt, square

        m, v = slots[0], slots[1]
        alpha = lr * sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        m = m + (g - m) * (1 - self.beta_1)
        v = v + (square(g) - v) * (1 - self.beta_2)
        new = [m, v]
        denom_v = v
        if self.amsgrad:
            v_hat = maximum(slots[2], v)
            new.append(v_hat)
            denom_v = v_hat
        return w - (m * alpha) / (sqrt(denom_v) + self.epsilon), new

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (``keras.optimizers.AdamW``).

    Keras 3's rule: first ``w = w - w * weight_decay * learning_rate``, then
    Adam's update of that ``w`` (see :class:`Adam`).

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default 0.001
        The step size, or a schedule of it (``ga.optim.schedules``).
    weight_decay : float, default 0.004
        Decoupled weight decay: ``w = w - learning_rate * weight_decay * w`` each step.
    beta_1 : float, default 0.9
        Decay rate of the first-moment estimate ``m``.
    beta_2 : float, default 0.999
        Decay rate of the second-moment estimate ``v``.
    epsilon : float, default 1e-07
        Small constant for numerical stability (see the rule above).
    amsgrad : bool, default False
        Use the AMSGrad variant (the running maximum of ``v``).
    name : str, default 'adamw'
        The optimizer's name (in configs and saved models).

    Raises
    ------
    GraphadError
        If ``weight_decay`` is negative.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([2.0]))
    >>> opt = ga.optim.AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> _ = opt.apply_gradients([(np.array([5.0]), w)])
    >>> round(float(w.numpy()[0]), 6)   # 2 - 2*0.5*0.1, then the first Adam step of -0.1
    1.8
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "adamw",
    ):
        if not float(weight_decay) >= 0:
            raise GraphadError(f"AdamW: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name)
        self.weight_decay = float(weight_decay)

    def update_rule(self, w, g, slots, lr, t):
        return super().update_rule(w - w * (lr * self.weight_decay), g, slots, lr, t)

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay}


class Nadam(Optimizer):
    """Adam with Nesterov momentum (``keras.optimizers.Nadam``).

    Keras 3's rule, with ``t = iterations + 1``, ``m``, ``v`` starting at 0 and
    the momentum-schedule product ``u_prod`` at 1::

        u_t = beta_1 * (1 - 0.5 * 0.96**t);   u_t1 = beta_1 * (1 - 0.5 * 0.96**(t + 1))
        u_prod = u_prod * u_t
        m = m + (g - m) * (1 - beta_1);   v = v + (g**2 - v) * (1 - beta_2)
        m_hat = u_t1 * m / (1 - u_prod * u_t1) + (1 - u_t) * g / (1 - u_prod)
        v_hat = v / (1 - beta_2**t)
        w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default 0.001
        The step size, or a schedule of it (``ga.optim.schedules``).
    beta_1 : float, default 0.9
        Decay rate of the first-moment estimate ``m``.
    beta_2 : float, default 0.999
        Decay rate of the second-moment estimate ``v``.
    epsilon : float, default 1e-07
        Small constant for numerical stability (see the rule above).
    name : str, default 'nadam'
        The optimizer's name (in configs and saved models).

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([1.0]))
    >>> opt = ga.optim.Nadam(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(np.array([5.0]), w)])
    >>> round(float(w.numpy()[0]), 4)    # 1 - 0.1 * (0.48528 * 0.5 / (1 - 0.468 * 0.48528) + 5) / 5
    0.8937
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        name: str = "nadam",
    ):
        super().__init__(learning_rate, name)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def slot_specs(self):
        return [("m", 0.0), ("v", 0.0), ("u_product", 1.0, ())]

    def update_rule(self, w, g, slots, lr, t):
        from ..ops import sqrt, square

        m, v, u_prod = slots
        b1, b2 = self.beta_1, self.beta_2
        u_t = b1 * (1.0 - 0.5 * 0.96**t)
        u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1.0))
        u_prod = u_prod * u_t
        m = m + (g - m) * (1 - b1)
        v = v + (square(g) - v) * (1 - b2)
        m_hat = u_t1 * m / (1.0 - u_prod * u_t1) + (1.0 - u_t) * g / (1.0 - u_prod)
        v_hat = v / (1.0 - b2**t)
        return w - m_hat * lr / (sqrt(v_hat) + self.epsilon), [m, v, u_prod]

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """Adadelta (``keras.optimizers.Adadelta``).

    Keras 3's rule, both accumulators starting at 0, ``rms(a) = sqrt(a + epsilon)``::

        acc_g = rho * acc_g + (1 - rho) * g**2
        delta = -rms(acc_d) / rms(acc_g) * g
        acc_d = rho * acc_d + (1 - rho) * delta**2
        w = w + learning_rate * delta

    Parameters
    ----------
    learning_rate : float or LearningRateSchedule, default 0.001
        The step size, or a schedule of it (``ga.optim.schedules``).
    rho : float, default 0.95
        Decay rate of the running averages.
    epsilon : float, default 1e-07
        Small constant for numerical stability (see the rule above).
    name : str, default 'adadelta'
        The optimizer's name (in configs and saved models).

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([1.0]))
    >>> opt = ga.optim.Adadelta(learning_rate=1.0, rho=0.5, epsilon=1e-2)
    >>> _ = opt.apply_gradients([(np.array([1.0]), w)])
    >>> round(float(w.numpy()[0]), 6)   # 1 - sqrt(0.01) / sqrt(0.5 + 0.01)
    0.859972
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        name: str = "adadelta",
    ):
        super().__init__(learning_rate, name)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def slot_specs(self):
        return [("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0)]

    def update_rule(self, w, g, slots, lr, t):
        from ..ops import sqrt, square

        acc_g, acc_d = slots
        rho, eps = self.rho, self.epsilon
        acc_g = rho * acc_g + (1 - rho) * square(g)
        delta = -(sqrt(acc_d + eps) / sqrt(acc_g + eps)) * g
        acc_d = rho * acc_d + (1 - rho) * square(delta)
        return w + lr * delta, [acc_g, acc_d]

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
