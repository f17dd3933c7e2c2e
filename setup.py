"""Build hook for blindmatch's one C extension; all other metadata lives in pyproject.toml.

The PDQ index's probe loop (``src/blindmatch/index/_mihprobe.c``, docs/decisions.md D12) is compiled by
``pip install [-e] .``; without it the index falls back to NumPy and logs that choice. It is declared here rather
than under ``[tool.setuptools.ext-modules]`` because setuptools still marks that table experimental.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "blindmatch.index._mihprobe",
            sources=["src/blindmatch/index/_mihprobe.c"],
            extra_compile_args=["-O3"],
        )
    ]
)
