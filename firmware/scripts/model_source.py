# PlatformIO pre-script: when MCUTRAIN_MODEL_DIR names a folder written by `mcutrain compile`,
# its generated C++ source (the model blob and the arena) is built into the firmware.
# host_tools.firmware_build gives each model its own build folder, so objects never mix.
import os

Import("env")  # noqa: F821  (SCons injects Import)

model_dir = os.environ.get("MCUTRAIN_MODEL_DIR")
if model_dir:
    env.BuildSources(os.path.join("$BUILD_DIR", "model"), model_dir)  # noqa: F821
