# PlatformIO pre-script: the firmware version is the Python distribution's version, read from
# pyproject.toml, so the device and the host tools can never disagree about which release they are.
import tomllib
from os.path import join

Import("env")  # noqa: F821  (SCons injects Import)

with open(join(env.subst("$PROJECT_DIR"), "pyproject.toml"), "rb") as fp:  # noqa: F821
    version = tomllib.load(fp)["project"]["version"]
env.Append(CPPDEFINES=[("MCUTRAIN_FW_VERSION", '\\"%s\\"' % version)])  # noqa: F821
