"""Build the compiled core: ext/*.pyx -> s3free._native (one module, MagicStack style)."""
from glob import glob

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "s3free._native",
        sources=["ext/native.pyx"],
        extra_compile_args=["-O3", "-fno-strict-aliasing"],
        include_dirs=["ext"],
        depends=sorted(glob("ext/*.h") + glob("ext/*.pxi") + glob("ext/*.pxd") + glob("ext/*.pyx")),
        libraries=["dl", "m", "pthread"],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
        include_path=["ext"],
    )
)
