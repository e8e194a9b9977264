"""Padding ragged real-valued sequences of frames into one batch array."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad_frames(sequences: Sequence[np.ndarray], length: int | None = None,
               dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Stack N sequences of frames (T_i, F) into (N, L, F), zeros after each end.

    Args:
      sequences: N arrays of shape (T_i, F), all with the same F.
      length: L; None uses max T_i. Must be >= max T_i (nothing is cut off).
      dtype: the dtype of the result.

    Returns:
      frames: (N, L, F), sequence i in frames[i, :T_i].
      lengths: (N,) int32, the T_i.
    """
    seqs = [np.asarray(s) for s in sequences]
    if not seqs:
        raise ValueError("sequences must hold at least one sequence, got none")
    for i, s in enumerate(seqs):
        if s.ndim != 2:
            raise ValueError(f"sequences[{i}] must have shape (T, F), got shape {s.shape}")
        if s.shape[1] != seqs[0].shape[1]:
            raise ValueError(f"sequences[{i}] must have F = {seqs[0].shape[1]} features like "
                             f"sequences[0], got shape {s.shape}")
    lengths = np.array([len(s) for s in seqs], np.int32)
    longest = int(lengths.max())
    if length is None:
        length = longest
    elif length < longest:
        raise ValueError(f"length must be >= the longest sequence ({longest} frames), got {length}")
    frames = np.zeros((len(seqs), length, seqs[0].shape[1]), dtype)
    for i, s in enumerate(seqs):
        frames[i, : len(s)] = s
    return frames, lengths
