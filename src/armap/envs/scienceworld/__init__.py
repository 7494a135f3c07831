"""ScienceWorld (Wang et al., 2022) as an armap environment: the real simulator, run in Java.

Modules: `catalog` (the 30 task types, their step limits, the simulator's variation splits and
task descriptions, read from a file shipped with the package), `process` (simulator processes:
start, timeouts, the pool, cleanup), `env` (`ScienceWorldEnv`). Importing this package starts
no Java process and imports neither ``scienceworld`` nor ``py4j``.
"""
