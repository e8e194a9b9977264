"""An independent NumPy reference of the LSTM equations, written out per variant.

It shares no code with jaxlstm: weights are sliced by hand from the contract's
layout (blocks i, f, g, o, absent ones skipped) and each equation is spelled out.
"""

import numpy as np

ACT = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "identity": lambda z: z,
    "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
}
BLOCKS = {
    "vanilla": "ifgo", "peephole_full": "ifgo", "nig": "fgo", "nfg": "igo", "nog": "ifg",
    "niaf": "ifgo", "noaf": "ifgo", "cifg": "fgo", "shared_preact": "x",
}


def np_step(p, h, c, x, spec):
    """One step; p holds NumPy arrays w_x, w_h, b, w_peep, w_proj. Returns h, c, (i, f, g, o)."""
    blocks = BLOCKS[spec.variant]
    H = c.shape[-1]
    col = lambda w, k: w[:, k * H:(k + 1) * H]
    sig = ACT[spec.gate_activation]
    cand = ACT["identity" if spec.variant == "niaf" else spec.candidate_activation]
    cell = ACT["identity" if spec.variant == "noaf" else spec.cell_activation]
    if spec.variant == "shared_preact":
        z = x @ p["w_x"] + h @ p["w_h"] + p["b"]
        i = f = o = sig(z)
        g = cand(z)
        c_new = f * c + i * g
        h_new = o * cell(c_new)
        return _proj(p, h_new), c_new, (i, f, g, o)

    def z(name):
        k = blocks.index(name)
        out = x @ col(p["w_x"], k) + p["b"][k * H:(k + 1) * H]
        if spec.variant == "peephole_full":
            if name != "g":
                out = out + c @ col(p["w_h"], "ifo".index(name))
        else:
            out = out + h @ col(p["w_h"], k)
        return out

    peep_rows = [g for g in "ifo" if g in blocks] if spec.peepholes else []
    peep = lambda name, cc: p["w_peep"][peep_rows.index(name)] * cc if name in peep_rows else 0.0
    f = sig(z("f") + peep("f", c)) if "f" in blocks else np.ones_like(c)
    if spec.variant == "cifg":
        i = 1.0 - f
    else:
        i = sig(z("i") + peep("i", c)) if "i" in blocks else np.ones_like(c)
    g = cand(z("g"))
    c_new = f * c + i * g
    o = sig(z("o") + peep("o", c_new)) if "o" in blocks else np.ones_like(c)
    h_new = o * cell(c_new)
    return _proj(p, h_new), c_new, (i, f, g, o)


def _proj(p, h):
    return h @ p["w_proj"] if p.get("w_proj") is not None else h


def np_lstm(p, xs, h0, c0, spec, length=None, reverse=False):
    """Run np_step over xs (T, X) with the contract's masking; returns (h, c), hs (T, R)."""
    T = xs.shape[0]
    L = T if length is None else int(length)
    order = list(range(L))[::-1] if reverse else list(range(L))
    h, c = h0, c0
    hs = np.zeros((T, h0.shape[-1]))
    for t in order:
        h, c, _ = np_step(p, h, c, xs[t], spec)
        hs[t] = h
    return (h, c), hs


def as_numpy(params):
    return {k: None if v is None else np.asarray(v, np.float64) for k, v in params._asdict().items()}
