"""gcfa-dgl: the GCFA graph recommender and its baselines on DGL heterographs."""

import os
import warnings

# DGL prints a notice when no backend is configured; torchdata and DGL emit deprecation
# warnings on import that say nothing actionable to users of this package.
os.environ.setdefault("DGLBACKEND", "pytorch")
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(torchdata|dgl)(\.|$)")
warnings.filterwarnings("ignore", category=UserWarning, module=r"torchdata(\.|$)")
warnings.filterwarnings("ignore", message="Dataloader CPU affinity opt is not enabled")

__version__ = "0.1.0"
