# PlatformIO builder for bare-metal Cortex-M with the system (Debian) arm-none-eabi toolchain.
#
# The board JSON (firmware/boards/*.json) gives the core (build.cpu, build.fpu), the linker script
# (build.ldscript, which enforces the SRAM budget at link time) and how to upload:
#   upload.protocol = "qemu"             -> `pio run -t upload` boots the image in QEMU (host_tools.emulator)
#   upload.protocol = "openocd" | "pyocd" -> flashes a real board attached over ST-LINK.
import sys
from os.path import join

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

machine_flags = [
    "-mcpu=%s" % board.get("build.cpu"),
    "-mthumb",
    "-mfpu=%s" % board.get("build.fpu"),
    "-mfloat-abi=hard",
]

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-gcc",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="gdb-multiarch",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
    # Flash = code + read-only data + initialised data; RAM = .data + .bss (the arena and the
    # stack are in .bss / the stack section, so this is the static SRAM the budget must hold).
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.rodata|\.ARM\.exidx|\.ARM\.extab|\.init_array|\.data)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)

env.Append(
    ASFLAGS=machine_flags + ["-x", "assembler-with-cpp"],
    CCFLAGS=machine_flags
    + ["-O2", "-g", "-Wall", "-Wextra", "-ffp-contract=off", "-ffunction-sections", "-fdata-sections", "-fno-common"],
    CXXFLAGS=["-std=gnu++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics", "-fno-use-cxa-atexit"],
    CPPDEFINES=[("MCUTRAIN_CORTEX_M", 1)],
    LINKFLAGS=machine_flags
    + [
        "-nostartfiles",
        "--specs=nano.specs",
        "--specs=nosys.specs",
        "-Wl,--gc-sections",
        "-Wl,--print-memory-usage",
        "-Wl,-Map,%s" % join("$BUILD_DIR", "firmware.map"),
        "-L%s" % join("$PROJECT_DIR", "firmware", "ld"),
    ],
    LIBS=["m"],
)

target_elf = env.BuildProgram()
target_bin = env.Command(join("$BUILD_DIR", "${PROGNAME}.bin"), target_elf, "$OBJCOPY -O binary $SOURCE $TARGET")

target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)

protocol = env.subst("$UPLOAD_PROTOCOL") or board.get("upload.protocol", "")
if protocol == "qemu":
    upload_cmd = '"$PYTHONEXE" -m host_tools.emulator --board %s --elf $SOURCE' % board.get("build.emulator_board")
    upload_source = target_elf
elif protocol == "openocd":
    upload_cmd = 'openocd -f %s -c "program {$SOURCE} verify reset exit"' % board.get("debug.openocd_board")
    upload_source = target_elf
elif protocol == "pyocd":
    upload_cmd = "pyocd flash -t %s $SOURCE" % board.get("debug.pyocd_target")
    upload_source = target_elf
else:
    sys.stderr.write("Error: unknown upload_protocol %r (expected qemu, openocd or pyocd)\n" % protocol)
    env.Exit(1)

upload = env.Alias("upload", upload_source, env.VerboseAction(upload_cmd, "Uploading $SOURCE"))
AlwaysBuild(upload)

# PlatformIO adds its own "checkprogsize" step (flash and RAM use against the board's limits).
Default([env.Alias("buildprog", [target_elf, target_bin])])
