"""The ``pipework`` command line: run, check, proxy, and the worker supervisor."""
