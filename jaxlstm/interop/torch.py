"""Convert between `torch.nn.LSTM` state dicts and jaxlstm parameters.

PyTorch stores, per layer k and direction (suffix "_reverse" for backward):
  weight_ih_l{k}: (4H, X)   weight_hh_l{k}: (4H, R)   bias_ih_l{k}, bias_hh_l{k}: (4H,)
  weight_hr_l{k}: (R, H)    (only with proj_size)
with gate blocks in the order i, f, g, o — the order of jaxlstm's vanilla variant. So
w_x = weight_ih.T, w_h = weight_hh.T, b = bias_ih + bias_hh, w_proj = weight_hr.T.

Torch itself is not needed to convert: state dict values may be torch tensors or
NumPy arrays. `to_torch_state_dict` returns tensors only if torch is importable.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np

from jaxlstm.core.params import LSTMParams, hidden_size_of

_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def torch_lstm_layout(state_dict: Mapping[str, Any]) -> dict:
    """Read num_layers, bidirectional, bias and proj_size off a `nn.LSTM` state dict."""
    layers, reverse, names = set(), False, set()
    for key in state_dict:
        match = _KEY.match(key)
        if not match:
            raise ValueError(
                f"state_dict key {key!r} is not an nn.LSTM parameter (expected names like "
                f"'weight_ih_l0', 'bias_hh_l1_reverse', 'weight_hr_l0')"
            )
        names.add(match.group(1))
        layers.add(int(match.group(2)))
        reverse |= match.group(3) is not None
    if not layers or layers != set(range(max(layers) + 1)):
        raise ValueError(f"state_dict must hold layers 0..n-1, got layers {sorted(layers)}")
    proj = None
    if "weight_hr" in names:
        proj = int(_numpy(state_dict["weight_hr_l0"]).shape[0])
    return dict(
        num_layers=max(layers) + 1, bidirectional=reverse, bias="bias_ih" in names,
        proj_size=proj,
    )


def from_torch_lstm(state_dict: Mapping[str, Any], dtype=jnp.float32) -> list:
    """jaxlstm parameters from a `torch.nn.LSTM` state dict (or the module itself).

    Returns one `LSTMParams` per layer, or one (forward, backward) pair per layer
    for a bidirectional LSTM — the input of `lstm_stack`.
    """
    if hasattr(state_dict, "state_dict"):
        state_dict = state_dict.state_dict()
    layout = torch_lstm_layout(state_dict)

    def get(name: str, k: int, suffix: str) -> np.ndarray:
        key = f"{name}_l{k}{suffix}"
        if key not in state_dict:
            raise KeyError(f"state_dict is missing {key!r} (a {layout['num_layers']}-layer"
                           f"{' bidirectional' if layout['bidirectional'] else ''} nn.LSTM "
                           f"has it)")
        return _numpy(state_dict[key])

    def check(key: str, value: np.ndarray, want: tuple) -> None:
        if value.shape != want:
            raise ValueError(f"state_dict[{key!r}] must have shape {want}, got {value.shape}")

    def layer(k: int, suffix: str) -> LSTMParams:
        w_ih, w_hh = get("weight_ih", k, suffix), get("weight_hh", k, suffix)
        if w_ih.ndim != 2 or w_ih.shape[0] % 4:
            raise ValueError(f"state_dict['weight_ih_l{k}{suffix}'] must have shape (4H, X), "
                             f"got {w_ih.shape}")
        gates = w_ih.shape[0]
        out = layout["proj_size"] or gates // 4
        check(f"weight_hh_l{k}{suffix}", w_hh, (gates, out))
        if layout["bias"]:
            b_ih, b_hh = get("bias_ih", k, suffix), get("bias_hh", k, suffix)
            check(f"bias_ih_l{k}{suffix}", b_ih, (gates,))
            check(f"bias_hh_l{k}{suffix}", b_hh, (gates,))
            bias = b_ih + b_hh
        else:
            bias = np.zeros(gates)
        w_proj = None
        if layout["proj_size"]:
            w_proj = get("weight_hr", k, suffix).T
            check(f"weight_hr_l{k}{suffix}", w_proj.T, (out, gates // 4))
        cast = lambda a: None if a is None else jnp.asarray(a, dtype)  # noqa: E731
        return LSTMParams(cast(w_ih.T), cast(w_hh.T), cast(bias), None, cast(w_proj))

    if layout["bidirectional"]:
        return [(layer(k, ""), layer(k, "_reverse")) for k in range(layout["num_layers"])]
    return [layer(k, "") for k in range(layout["num_layers"])]


def to_torch_state_dict(layers, *, as_tensors: bool = True) -> dict:
    """A `torch.nn.LSTM` state dict from `lstm_stack` parameters (vanilla variant).

    The bias goes to `bias_ih`; `bias_hh` is zero (their sum is what PyTorch uses).
    Values are torch tensors when `as_tensors` and torch is importable, else NumPy.
    """
    out = {}
    for k, entry in enumerate(layers):
        directions = entry if isinstance(entry, tuple) and not isinstance(entry, LSTMParams) else (entry,)
        for params, suffix in zip(directions, ("", "_reverse")):
            gates = 4 * hidden_size_of(params)
            if params.w_peep is not None or params.w_x.shape[1] != gates or params.w_h.shape[1] != gates:
                raise ValueError(
                    "to_torch_state_dict: only the vanilla variant without peepholes maps to "
                    "torch.nn.LSTM; got parameters of another variant"
                )
            out[f"weight_ih_l{k}{suffix}"] = np.asarray(params.w_x).T
            out[f"weight_hh_l{k}{suffix}"] = np.asarray(params.w_h).T
            out[f"bias_ih_l{k}{suffix}"] = np.asarray(params.b)
            out[f"bias_hh_l{k}{suffix}"] = np.zeros_like(np.asarray(params.b))
            if params.w_proj is not None:
                out[f"weight_hr_l{k}{suffix}"] = np.asarray(params.w_proj).T
    if as_tensors:
        try:
            import torch
        except ImportError:
            return out
        out = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in out.items()}
    return out
