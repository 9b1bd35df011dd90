# PlatformIO builder for the `native` environment: the firmware's portable code built with the
# host's gcc/g++, for unit tests (`pio test -e native`) and host-side runs of the same kernels.
from SCons.Script import Default, DefaultEnvironment

env = DefaultEnvironment()

env.Replace(AR="ar", AS="gcc", CC="gcc", CXX="g++", RANLIB="ranlib", OBJCOPY="objcopy", PROGNAME="firmware", PROGSUFFIX="")
env.Append(
    CCFLAGS=["-O2", "-g", "-Wall", "-Wextra", "-ffp-contract=off"],  # the training step's float32 products
    CXXFLAGS=["-std=gnu++17", "-fno-exceptions", "-fno-rtti"],
    CPPDEFINES=[("MCUTRAIN_HOST", 1)],
)

Default([env.BuildProgram()])
