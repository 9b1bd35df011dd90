# PlatformIO's "custom" test runner for the native unit tests. The Unity test library cannot be
# installed without the PlatformIO registry, so each test program prints Unity-style result
# lines itself (firmware/test/unit_test.h) and this runner parses them.
from platformio.public import UnityTestRunner


class CustomTestRunner(UnityTestRunner):
    # Do not ask the registry for the Unity library.
    EXTRA_LIB_DEPS = None
