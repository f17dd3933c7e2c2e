"""blindmatch.eval: the evaluation lab — measurements of perceptual matching that anyone can rerun.

Entry points (see ``docs/evaluation.md``): :func:`blindmatch.eval.runner.run_robustness`,
:func:`~blindmatch.eval.runner.run_false_positives`, :func:`~blindmatch.eval.runner.run_policy`,
:func:`~blindmatch.eval.runner.run_all`; the transform registry in :mod:`blindmatch.eval.transforms`; exact
statistics in :mod:`blindmatch.eval.stats`; the matcher extension point in :mod:`blindmatch.eval.matchers`.
Submodules are imported on demand so that ``import blindmatch.eval`` stays cheap (no matplotlib).
"""
