"""Check what fastbp's sdist and wheel hold: nothing missing, nothing extra.

Usage: python .ci/check_wheel.py WHEEL SDIST   (from the repository root, a git clone)

The sdist holds the files git tracks in the folders and at the top level named below, plus
what setuptools generates; anything else (Cython's generated C, a compiled module, a stray
file) is extra. The wheel holds, for the package's tracked files: every Python module, .pxd,
.pyi, C header and py.typed marker, and a compiled extension for every .pyx, plus the
dist-info; never a .pyx, .pxi or .c source. NAMED lists files that must be in the wheel
whatever git says, so that the check cannot pass on an empty listing. Prints both listings
and exits 1 with what is wrong.
"""
import fnmatch
import subprocess
import sys
import tarfile
import zipfile
from pathlib import PurePosixPath

# ----- the expectation ------------------------------------------------------------------------
# The sdist: these folders as git tracks them (the build's sources, and the tests with the
# example they read), these top-level files, and setuptools' generated metadata.
SDIST_FOLDERS = ("fastbp/", "src_c/", "tests/", "examples/")
SDIST_TOP = ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in")
SDIST_GENERATED = ("PKG-INFO", "setup.cfg", "fastbp.egg-info/*")

# The wheel: the tracked files of the package that ship as they are ...
WHEEL_SHIPPED = ("fastbp/*.py", "fastbp/*.pxd", "fastbp/*.pyi", "fastbp/py.typed",
                 "fastbp/*.h")
# ... one compiled module per .pyx (fastbp/_train.pyx -> fastbp/_train.cpython-311-....so) ...
EXTENSION_SUFFIXES = (".so", ".pyd")
# ... and the dist-info.
WHEEL_METADATA = ("METADATA", "WHEEL", "RECORD", "entry_points.txt", "top_level.txt")
# Sources that must never be in the wheel.
WHEEL_NEVER = ("*.pyx", "*.pxi", "*.c")
# Named here so that an empty git listing cannot pass (the lead adds the embedding API's
# .pxd, headers and extension, and the type stubs' py.typed, as they land).
NAMED = ("fastbp/__init__.py", "fastbp/_kernels.pxd", "fastbp/_optim.pxd", "fastbp/_blas.pxd",
         "fastbp/_inspect/__init__.py", "fastbp/api.py", "fastbp/api.pxd",
         "fastbp/include/fastbp_api.h", "fastbp/py.typed", "fastbp/_train.pyi")
NAMED_EXTENSIONS = ("fastbp/_kernels", "fastbp/_optim", "fastbp/_blas", "fastbp/_train")


def tracked():
    """The files git tracks, as paths relative to the repository root."""
    out = subprocess.run(["git", "ls-files", "-z"], check=True, capture_output=True).stdout
    return sorted(name for name in out.decode().split("\0") if name)


def sdist_names(path):
    with tarfile.open(path) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
    top = members[0].split("/", 1)[0]
    return sorted(name.split("/", 1)[1] for name in members if name.startswith(top + "/"))


def wheel_names(path):
    with zipfile.ZipFile(path) as archive:
        return sorted(name for name in archive.namelist() if not name.endswith("/"))


def check_sdist(names, git_files):
    expected = {f for f in git_files if f.startswith(SDIST_FOLDERS) or f in SDIST_TOP}
    missing = sorted(expected - set(names))
    extra = sorted(n for n in names
                   if n not in expected and not any(fnmatch.fnmatchcase(n, p) for p in SDIST_GENERATED))
    return missing, extra


def check_wheel(names, git_files):
    package = [f for f in git_files if f.startswith("fastbp/")]
    shipped = {f for f in package if matches_in_package(f, WHEEL_SHIPPED)} | set(NAMED)
    extensions = {f[:-len(".pyx")] for f in package if f.endswith(".pyx")} | set(NAMED_EXTENSIONS)
    dist_info = [n for n in names if n.split("/", 1)[0].endswith(".dist-info")]
    compiled = {n.split(".", 1)[0]: n for n in names if n.endswith(EXTENSION_SUFFIXES)}

    missing = sorted(shipped - set(names))
    missing += sorted(f"{stem}.<compiled extension>" for stem in extensions - set(compiled))
    missing += sorted(f"*.dist-info/{m}" for m in WHEEL_METADATA
                      if not any(n.endswith("/" + m) for n in dist_info))
    allowed = shipped | {compiled[s] for s in extensions if s in compiled} | set(dist_info)
    extra = sorted(n for n in names
                   if n not in allowed or any(fnmatch.fnmatchcase(n, p) for p in WHEEL_NEVER))
    return missing, extra


def matches_in_package(name, patterns):
    """Whether a file of the package matches `fastbp/<glob>` for its own folder, so that
    fastbp/*.py covers fastbp/_inspect/units.py too (every subpackage ships alike)."""
    base = PurePosixPath(name).name
    return any(fnmatch.fnmatchcase(base, p.split("/", 1)[1]) for p in patterns)


def report(kind, path, names, missing, extra):
    print(f"--- {kind}: {path} ({len(names)} files)")
    for name in names:
        print(f"    {name}")
    for label, items in (("missing", missing), ("extra", extra)):
        for item in items:
            print(f"  {label} from the {kind}: {item}")
    return not (missing or extra)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    wheel, sdist = argv[1], argv[2]
    git_files = tracked()
    if not git_files:
        sys.exit("check_wheel: git lists no files; run it from the repository's clone")
    ok = report("sdist", sdist, sdist_names(sdist), *check_sdist(sdist_names(sdist), git_files))
    ok &= report("wheel", wheel, wheel_names(wheel), *check_wheel(wheel_names(wheel), git_files))
    print("check_wheel: both archives hold what they should" if ok else "check_wheel: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
