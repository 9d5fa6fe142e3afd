"""The one place that knows how this router installs packages: the text of every
"install X" hint (check's fixes, error messages) comes from here.

OpenWrt 25.12 and later install .apk packages with apk-tools (/usr/bin/apk) and carry
the PPTP helper modules in kmod-nf-nathelper-pptp; 23.05 and 24.10 install .ipk
packages with opkg and carry them in kmod-nf-nathelper-extra (the nathelper split of
2026 reached apk releases only). Decided at run time, on the router itself.
"""

import os

APK = "/usr/bin/apk"


def uses_apk(apk=None):
    try:
        os.stat(apk or APK)
        return True
    except OSError:
        return False


def install(*packages):
    """The command a user types to install packages on this router."""
    return ("apk add " if uses_apk() else "opkg install ") + " ".join(packages)


def pptp_kmod():
    """The package that holds nf_conntrack_pptp and nf_nat_pptp on this release."""
    return "kmod-nf-nathelper-pptp" if uses_apk() else "kmod-nf-nathelper-extra"
