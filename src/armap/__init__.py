"""armap: automatic reward modeling and planning for LLM agents (ARMAP, arXiv 2502.12130).

Importing armap loads no model and starts no environment process; registries resolve their
entry points lazily.
"""

from armap.envs import Env, make
from armap.types import Cost, EndReason, Step, Task, Trajectory

__version__ = "0.1.0"

__all__ = ["Cost", "EndReason", "Env", "Step", "Task", "Trajectory", "__version__", "make"]
