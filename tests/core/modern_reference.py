"""Independent NumPy references of the modern cells, written from the papers' equations.

They share no code with jaxlstm. The xLSTM cells are written *unstabilised* (the paper's
eqs. 8-13 and 19-27 with plain exp gates), in float64 with moderate pre-activations, so
they check the library's log-space stabiliser rather than repeat it. The minimal RNNs
are written in linear space (the paper's sequential algorithms 2 and 4), not log space.
Weights are sliced by hand from the documented layouts.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_slstm(w_x, r, b, xs, num_heads, forget_gate="sigmoid", h0=None, c0=None, n0=None):
    """Unstabilised sLSTM over xs (T, X). r (K, d, 4d) per-head recurrent blocks, gate
    blocks i, f, z, o. Returns hs (T, H) and the final (h, c, n) (c, n unscaled)."""
    H = b.shape[0] // 4
    K, d = r.shape[0], r.shape[1]
    R = np.zeros((H, 4 * H))  # the dense block-diagonal recurrent matrix
    for k in range(K):
        for gate in range(4):
            R[k * d:(k + 1) * d, gate * H + k * d:gate * H + (k + 1) * d] = \
                r[k][:, gate * d:(gate + 1) * d]
    h = np.zeros(H) if h0 is None else h0
    c = np.zeros(H) if c0 is None else c0
    n = np.zeros(H) if n0 is None else n0
    hs = []
    for x in xs:
        z = x @ w_x + h @ R + b
        i_pre, f_pre, z_pre, o_pre = (z[j * H:(j + 1) * H] for j in range(4))
        i = np.exp(i_pre)
        f = sigmoid(f_pre) if forget_gate == "sigmoid" else np.exp(f_pre)
        c = f * c + i * np.tanh(z_pre)
        n = f * n + i
        h = sigmoid(o_pre) * c / n
        hs.append(h)
    return np.array(hs), (h, c, n)


def np_mlstm(w_x, b, w_gates, b_gates, xs, num_heads, forget_gate="sigmoid", lengths=None):
    """Unstabilised mLSTM (eps = 0) over xs (T, X), head by head, in the paper's convention
    C = f C + i v kᵀ, h̃ = C q / max(|nᵀq|, 1). Blocks q, k, v, o (H) of w_x, b; ĩ, f̃ (K)
    of w_gates, b_gates. Returns hs (T, H) and per-head final (C (K, d, d) as [value, key],
    n (K, d))."""
    K = num_heads
    w_x, b = np.concatenate([w_x, w_gates], axis=1), np.concatenate([b, b_gates])
    H = (b.shape[0] - 2 * K) // 4
    d = H // K
    T = xs.shape[0]
    L = T if lengths is None else lengths
    pre = xs @ w_x + b
    hs = np.zeros((T, H))
    Cs, ns = np.zeros((K, d, d)), np.zeros((K, d))
    for k in range(K):
        cols = lambda j: slice(j * H + k * d, j * H + (k + 1) * d)
        C, n = np.zeros((d, d)), np.zeros(d)
        for t in range(L):
            q, kk, v, o = (pre[t, cols(j)] for j in range(4))
            kk = kk / np.sqrt(d)
            i = np.exp(pre[t, 4 * H + k])
            f_pre = pre[t, 4 * H + K + k]
            f = sigmoid(f_pre) if forget_gate == "sigmoid" else np.exp(f_pre)
            C = f * C + i * np.outer(v, kk)
            n = f * n + i * kk
            hs[t, k * d:(k + 1) * d] = sigmoid(o) * (C @ q) / max(abs(n @ q), 1.0)
        Cs[k], ns[k] = C, n
    return hs, (Cs, ns)


def g(x):
    return np.where(x >= 0, x + 0.5, sigmoid(x))


def np_minlstm(w_x, b, xs, h0):
    """minLSTM in linear space: blocks f, i, h. Returns hs (T, H)."""
    H = b.shape[0] // 3
    h, hs = h0, []
    for x in xs:
        z = x @ w_x + b
        f, i = sigmoid(z[:H]), sigmoid(z[H:2 * H])
        h = f / (f + i) * h + i / (f + i) * g(z[2 * H:])
        hs.append(h)
    return np.array(hs).reshape(len(xs), H)


def np_mingru(w_x, b, xs, h0):
    """minGRU in linear space: blocks z, h. Returns hs (T, H)."""
    H = b.shape[0] // 2
    h, hs = h0, []
    for x in xs:
        zz = x @ w_x + b
        z = sigmoid(zz[:H])
        h = (1 - z) * h + z * g(zz[H:])
        hs.append(h)
    return np.array(hs).reshape(len(xs), H)


def np_paralstm(w_x, a, p, b, xs, h0, c0):
    """ParaLSTM over xs (T, X) from the ParaRNN equations, unit by unit in plain loops.
    w_x (K, X/K, 3d) per-head blocks f, c, o; a, b (3H,) blocks f, c, o; p (2H,) blocks f, o.
    Returns hs (T, H) and the final (h, c)."""
    K, dx, d3 = w_x.shape
    d = d3 // 3
    H = K * d
    h, c = np.array(h0, float), np.array(c0, float)
    hs = []
    for x in xs:
        u = np.zeros(3 * H)
        for k in range(K):
            for gate in range(3):
                for j in range(d):
                    u[gate * H + k * d + j] = sum(x[k * dx + i] * w_x[k, i, gate * d + j]
                                                  for i in range(dx))
        u = u + b
        h_new, c_new = np.zeros(H), np.zeros(H)
        for j in range(H):
            f = sigmoid(a[j] * h[j] + u[j] + p[j] * c[j])
            c_hat = np.tanh(a[H + j] * h[j] + u[H + j])
            c_new[j] = f * c[j] + (1 - f) * c_hat
            o = sigmoid(a[2 * H + j] * h[j] + u[2 * H + j] + p[H + j] * c_new[j])
            h_new[j] = o * np.tanh(c_new[j])
        h, c = h_new, c_new
        hs.append(h)
    return np.array(hs), (h, c)


def np_paragru(w_x, a, b_x, b_h, xs, h0):
    """ParaGRU over xs (T, X): the GRU with diagonal recurrent weights a (3H,), blocks r, z, n.
    Returns hs (T, H)."""
    H = a.shape[0] // 3
    h = np.array(h0, float)
    hs = []
    for x in xs:
        u = x @ w_x + b_x
        h_new = np.zeros(H)
        for j in range(H):
            r = sigmoid(u[j] + a[j] * h[j] + b_h[j])
            z = sigmoid(u[H + j] + a[H + j] * h[j] + b_h[H + j])
            n = np.tanh(u[2 * H + j] + r * (a[2 * H + j] * h[j] + b_h[2 * H + j]))
            h_new[j] = (1 - z) * n + z * h[j]
        h = h_new
        hs.append(h)
    return np.array(hs)
