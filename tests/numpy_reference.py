"""Independent float64 NumPy references for the layers under test (written from the papers)."""
import numpy as np


def frn(x, gamma, beta, eps=1e-6):
    """FRN Eq. 1-2: nu2 = mean of x^2 over spatial axes; y = gamma * x / sqrt(nu2 + eps) + beta."""
    x = np.asarray(x, np.float64)
    axes = tuple(range(1, x.ndim - 1))
    nu2 = np.mean(x * x, axis=axes, keepdims=True) if axes else x * x
    return gamma * x / np.sqrt(nu2 + abs(eps)) + beta


def tlu(y, tau):
    """TLU Eq. 3: z = max(y, tau)."""
    return np.maximum(np.asarray(y, np.float64), tau)


def tlu_grads(y, tau):
    """The paper's derivatives: dz/dy = [y > tau], dz/dtau = [y <= tau]."""
    return (y > tau).astype(np.float64), (y <= tau).astype(np.float64)


def group_norm(x, groups, eps, gamma=1.0, beta=0.0):
    """GN (Wu & He 2018): mean/variance over (spatial, channels in group), per sample."""
    x = np.asarray(x, np.float64)
    n, c = x.shape[0], x.shape[-1]
    g = x.reshape(n, -1, groups, c // groups)
    mean = g.mean(axis=(1, 3), keepdims=True)
    var = g.var(axis=(1, 3), keepdims=True)
    return ((g - mean) / np.sqrt(var + eps)).reshape(x.shape) * gamma + beta


def maxout(x, num_units):
    """Unit i = max over the contiguous channel block i."""
    x = np.asarray(x)
    return x.reshape(x.shape[:-1] + (num_units, x.shape[-1] // num_units)).max(axis=-1)
