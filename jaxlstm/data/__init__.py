"""Datasets for LSTM experiments, all as NumPy arrays with documented shapes.

Synthetic tasks from the LSTM papers (explicit `rng`, reproducible):
  adding           Hochreiter & Schmidhuber 1997, Exp. 4 (adding problem)
  temporal_order   Hochreiter & Schmidhuber 1997, Exp. 6a (temporal order)
  reber            (embedded) Reber grammar and the continual stream of Gers et al. 2000
  synthetic_tagging  a context-dependent NER-like BIO task

Real data that needs no download:
  text     character-level corpora (stdlib docstrings, any UTF-8 file)
  series   matplotlib sample series (+ statsmodels sunspots/co2 if installed)
  digits   scikit-learn's 8x8 digits as row or pixel sequences (if installed)
  chorales Bach chorales from music21's corpus as 88-key piano rolls (if installed)
  uea      UEA/UCR .ts classification sets shipped with sktime, e.g. JapaneseVowels (if installed)

Loaders for standard formats: imdb (aclImdb folders), conll (CoNLL-2003, CoNLL-U,
conlleval-exact entity F1). Utilities: batching, vocab, and `Batches` (the training
batch of step s: epochs or sampling with replacement, length bucketing).
"""

from jaxlstm.data.adding import AddingData, adding_accuracy, adding_correct, adding_problem
from jaxlstm.data.batches import Batches, bucket_width
from jaxlstm.data.batching import iterate_batches, length_mask, pad_sequences, random_split
from jaxlstm.data.chorales import Chorales, load_chorales, piano_roll, read_chorale, split_indices
from jaxlstm.data.conll import read_conll2003, read_conllu, write_conll
from jaxlstm.data.conlleval import ChunkScores, entity_f1
from jaxlstm.data.digits import DigitsData, load_digits
from jaxlstm.data.imdb import ImdbDataset, load_imdb, load_imdb_split, tokenize, write_toy_imdb
from jaxlstm.data.ragged import pad_frames
from jaxlstm.data.reber import (
    ContinualReberData,
    ReberData,
    continual_reber,
    is_valid,
    legal_next,
    reber_dataset,
    reber_string,
)
from jaxlstm.data.series import (
    Standardizer,
    chronological_split,
    forecasting_data,
    load_series,
    windowed,
)
from jaxlstm.data.synthetic_tagging import SyntheticTagging, synthetic_tagging
from jaxlstm.data.tagged import TaggedArrays, TaggedSentence, build_vocabs, encode_tagged
from jaxlstm.data.temporal_order import TemporalOrderData, temporal_order
from jaxlstm.data.text import (
    CharVocab,
    char_lm_batches,
    contiguous_batches,
    load_text,
    stdlib_corpus,
    train_valid_split,
)
from jaxlstm.data.uea import TimeSeriesSet, load_ts_pair, load_uea, read_ts
from jaxlstm.data.vocab import TagVocab, Vocab

__all__ = [
    "AddingData", "Batches", "CharVocab", "Chorales", "ChunkScores", "ContinualReberData", "DigitsData",
    "ImdbDataset", "ReberData", "Standardizer", "SyntheticTagging", "TagVocab", "TaggedArrays",
    "TaggedSentence", "TemporalOrderData", "TimeSeriesSet", "Vocab", "adding_accuracy",
    "adding_correct", "adding_problem", "bucket_width", "build_vocabs", "char_lm_batches",
    "chronological_split", "contiguous_batches", "continual_reber", "encode_tagged", "entity_f1",
    "forecasting_data",
    "is_valid", "iterate_batches", "legal_next", "length_mask", "load_chorales", "load_digits",
    "load_imdb", "load_imdb_split", "load_series", "load_text", "load_ts_pair", "load_uea",
    "pad_frames", "pad_sequences", "piano_roll", "random_split", "read_chorale", "read_conll2003",
    "read_conllu", "read_ts", "reber_dataset", "reber_string", "split_indices", "stdlib_corpus",
    "synthetic_tagging", "temporal_order", "tokenize", "train_valid_split", "windowed",
    "write_conll", "write_toy_imdb",
]
