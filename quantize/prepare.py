"""TFLite Micro's Prepare step under the names it always had: each op's integer parameters,
derived once from the parsed graph, now held by the op's own module (quantize/ops/<op>.py).

TFLite computes these when an op is prepared (per-channel multipliers and shifts, activation
clamps, explicit padding, ADD's rescaling, softmax's input scaling) and the kernels only read
them. Both consumers of a graph take them from the op's module, so that they cannot drift apart:
the golden reference runs its kernels with them, and the lowering writes them into the blob.
Called through this module as before: prepare.conv(graph, op).
"""

from __future__ import annotations

from quantize.ops.add import AddParams  # noqa: F401
from quantize.ops.add import prepare as add  # noqa: F401
from quantize.ops.conv_common import ConvParams  # noqa: F401
from quantize.ops.conv_common import prepare_conv as conv  # noqa: F401
from quantize.ops.fully_connected import FullyConnectedParams  # noqa: F401
from quantize.ops.fully_connected import prepare as fully_connected  # noqa: F401
from quantize.ops.mean import prepare as mean  # noqa: F401
from quantize.ops.pool import PoolParams  # noqa: F401
from quantize.ops.pool import prepare as pool  # noqa: F401
from quantize.ops.requantize import RescaleParams  # noqa: F401
from quantize.ops.requantize import prepare as requantize  # noqa: F401
from quantize.ops.softmax import SoftmaxParams  # noqa: F401
from quantize.ops.softmax import prepare as softmax  # noqa: F401
from quantize.ops.softmax import softmax_scaling  # noqa: F401
from quantize.ops.windows import leading_padding  # noqa: F401
