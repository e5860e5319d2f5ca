"""The topic stage: how far each paragraph is from its document's topic.

- :mod:`dedup.topic.form`: the shape of one paragraph (cut mid-sentence, a
  CAPS kicker, a photo credit, page chrome);
- :mod:`dedup.topic.features`: the signal matrix of a document, one row per
  paragraph and one column per :class:`Signal` (TF-IDF cosines over hashed
  character shingles, form, length, position);
- :mod:`dedup.topic.model`: :class:`TopicModel`, the scikit-learn estimator
  that turns signals into off-topic probabilities, and its pickle-free file
  format.

See ``docs/topic.md``.
"""

from dedup.topic.features import COSINES, FEATURES, Signal
from dedup.topic.model import TopicModel, default_model_path

__all__ = ["COSINES", "FEATURES", "Signal", "TopicModel", "default_model_path"]
