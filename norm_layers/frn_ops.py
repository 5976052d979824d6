"""FRN and FRN+TLU as single ops with analytic gradients (Singh & Krishnan 2020, Eq. 1-3).

Forward (per sample n and channel c, spatial positions s = 1..M):
  nu2 = mean_s x^2,  r = (nu2 + eps)^-1/2,  y = gamma * x * r + beta,  z = max(y, tau).
Backward, with g = dL/dz and gy = g * [z > tau] (= [y > tau]; ties go to tau, Sec. 3.1):
  dL/dtau = sum g * [z <= tau],  dL/dbeta = sum gy,  dL/dgamma = sum_n r * S,
  dL/dx = gamma * r * (gy - x * r^2 * S / M),  dL/deps = -1/2 sum_{n,c} gamma * r^3 * S,
where S = sum_s gy * x per (n, c). This follows from x_hat = x * r and
d r / d x_s = -r^3 x_s / M: dL/dx = r * (g_xhat - x_hat * mean_s(g_xhat * x_hat)).
Autograd of the plain formula makes about twice the full-size passes (it differentiates the
square, the broadcast mean and the select of max separately); here the forward keeps x, r and
relu(y - tau), and one product gy * x with one reduction serves all four gradients
(benchmarks/norm_act_speed.py measures it against BN+ReLU).
"""
import tensorflow as tf


def frn(x, gamma, beta, eps, tau=None):
    """FRN (and TLU when `tau` is given) on a float32/float64 channels-last tensor.

    x: rank >= 2 (a (batch, channels) tensor is a 1x1 map: nu2 = x^2); gamma, beta, tau:
    (channels,); eps: a scalar tensor (the learned variant passes 1e-6 + |eps_l|).
    Computed on an (N, M, C) view of x (M spatial positions). With TLU the forward keeps
    u = relu(y - tau) (z = u + tau), so the backward mask is one ReluGrad.
    """
    with_tlu = tau is not None
    shape = tf.shape(x)
    view = [shape[0], -1, shape[-1]]

    def forward(x, gamma, beta, eps, *tau):
        x3 = tf.reshape(x, view)
        size = tf.cast(tf.shape(x3)[1], x.dtype)
        nu2 = tf.reduce_mean(tf.square(x3), axis=1, keepdims=True)  # (EuclideanNorm has no XLA kernel)
        r = tf.math.rsqrt(nu2 + eps)
        if with_tlu:
            u = tf.nn.relu(x3 * (gamma * r) + (beta - tau[0]))
            z = u + tau[0]
        else:
            z = x3 * (gamma * r) + beta

        def backward(dz):
            dz = tf.reshape(dz, view)
            gy = tf.raw_ops.ReluGrad(gradients=dz, features=u) if with_tlu else dz
            s = tf.reduce_sum(gy * x3, axis=1, keepdims=True)
            r2_s = tf.square(r) * s
            dx = (gy - x3 * (r2_s / size)) * (gamma * r)
            d_gamma = tf.reduce_sum(r * s, axis=[0, 1])
            d_beta = tf.reduce_sum(gy, axis=[0, 1])
            d_eps = -0.5 * tf.reduce_sum(gamma * r * r2_s)
            grads = [tf.reshape(dx, shape), d_gamma, d_beta, d_eps]
            if with_tlu:
                grads.append(tf.reduce_sum(dz, axis=[0, 1]) - d_beta)
            return grads

        z = tf.reshape(z, shape)
        z.set_shape(x.shape)
        return z, backward

    inputs = [x, gamma, beta, tf.convert_to_tensor(eps, x.dtype)] + ([tau] if with_tlu else [])
    return tf.custom_gradient(forward)(*inputs)
