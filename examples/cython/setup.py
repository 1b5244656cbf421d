"""Build the example consumer of fastbp's C API: python setup.py build_ext --inplace

It needs fastbp installed (for its header and .pxd), Cython and a C compiler; the module
does not link against fastbp: it reaches the network through the view's pointers.
"""
import fastbp
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    name="fastbp-embedding-example",
    ext_modules=cythonize(
        [Extension("simulate", ["simulate.pyx"], include_dirs=[fastbp.get_include()])],
        compiler_directives={"language_level": 3, "boundscheck": False,
                             "wraparound": False},
    ),
)
