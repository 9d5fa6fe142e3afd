"""Compile vpn_passthrough's modules for the Python that runs this, where the package
carries no valid bytecode for it (an .apk built without that Python; a .py changed).

    python3 /usr/share/vpn-passthrough/bytecode.py [DIR]   (default: the installed package)

OpenWrt's Python never writes bytecode on import, and `python3 -m compileall` needs
python3-urllib; py_compile and importlib.util are in python3-light. The .pyc files are
checked-hash (PEP 552), as the ipk's: valid whatever the .py's mtime, never stale.
Prints what it compiled; exit status 1 if a module failed to compile.
"""

import importlib.util
import os
import py_compile
import sys

PACKAGE = "/usr/lib/vpn-passthrough/vpn_passthrough"


def valid(source, cached):
    """The .pyc is this Python's and was made from this source."""
    try:
        with open(cached, "rb") as f:
            head = f.read(16)
        with open(source, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return (head[:4] == importlib.util.MAGIC_NUMBER
            and head[8:16] == importlib.util.source_hash(data))


def main(argv):
    top = argv[1] if len(argv) > 1 else PACKAGE
    failed = 0
    for name in sorted(os.listdir(top)):
        if not name.endswith(".py"):
            continue
        source = os.path.join(top, name)
        cached = importlib.util.cache_from_source(source)
        if valid(source, cached):
            continue
        try:
            py_compile.compile(source, cfile=cached, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
            print("compiled " + cached)
        except (py_compile.PyCompileError, OSError) as e:
            sys.stderr.write("bytecode: %s: %s\n" % (source, e))
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv))
