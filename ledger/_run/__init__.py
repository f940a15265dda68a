"""The write side: a run and its lifetime.

- :mod:`._init`: ``ledger.init`` (new runs: capture and id; resumed runs);
- :mod:`._run`: the :class:`Run` (log, config, files, manifest writes, ending);
- :mod:`._summary`: what the summary keeps of each metric;
- :mod:`._sweep`: how a run started by a sweep agent joins its trial;
- :mod:`._files`: spill folders and the media budget.
"""

from ledger._run._init import init
from ledger._run._run import Config, Run
from ledger._run._summary import Summary

__all__ = ["Config", "Run", "Summary", "init"]
