"""Builds the optional C accelerator; all metadata is in pyproject.toml.

``ragbench.core._accel`` is optional: if it cannot be compiled, the install
goes on and ragbench uses its numpy/Arrow code, which gives the same results.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("ragbench.core._accel", ["src/ragbench/core/_accel.c"],
                             optional=True, extra_compile_args=["-O3"])])
