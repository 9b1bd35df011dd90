"""`mcutrain baseline`: the fp32 yardstick, fine-tuning a reference model or a user's Keras model in TensorFlow.

The work is done by quantize.finetune.run_baseline; this module only parses and prints.
"""

from __future__ import annotations

import argparse

from host_tools.commands.arguments import positive_int

DESCRIPTION = """\
Fine-tune a model in fp32 (TensorFlow), updating only the chosen parameters, and report test
accuracy and wall time. The model is a reference model or yours: your Keras model (.keras, .h5),
or your int8 .tflite with the Keras model it was quantized from beside it (same name, .keras).
A trailing Softmax is dropped: the loss is cross-entropy on the logits, as on the device.

--update:
  head       a fresh head (replacing the model's, one output per class of the data) only
  bias       all biases plus a fresh head
  last:N     the last N layers with weights plus a fresh head
  full       every parameter, with a fresh head
  plan:PLAN  exactly the parameters (and output channels) a training plan names, as the device
             trains them: PLAN is a plan file, or the name of a plan committed beside the model
             (plan:demo is quantize/models/ref/plans/demo.json)
"""

EPILOG = """\
head, bias, last:N and full train with Adam on mini-batches. plan: is the fp32 twin of the device
running the same plan: the model's pretrained head is kept and trained in place, each planned
TFLite operator's Keras layer updates its kernel and/or bias in the planned output channels only,
with plain SGD, one sample per step (unless --batch-size), at the plan's learning rate and schedule
(--lr replaces the plan's lr), for the plan's epochs (unless --epochs). QAS does not apply in fp32.
The plan format is described in quantize/training_plan.py.
"""


def register(subparsers) -> None:
    from quantize.finetune import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_EPOCHS,
        DEFAULT_LEARNING_RATE,
        DEFAULT_SEED,
        FULL_UPDATE_LEARNING_RATE,
        PLAN_BATCH_SIZE,
    )
    from quantize.models import REFERENCE_MODELS

    parser = subparsers.add_parser(
        "baseline",
        help="fp32 fine-tuning yardstick (TensorFlow)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="ref",
                        help=f"reference model ({', '.join(REFERENCE_MODELS)}) or your my.keras / my.h5 "
                             "(plan: also needs its int8 my.tflite beside it) (default ref)")
    parser.add_argument(
        "--data", default="mnist5k", help="fashion-mnist, mnist5k, digits, npz:PATH or folder:PATH (default mnist5k)"
    )
    parser.add_argument("--update", default="head",
                        help="head, bias, last:N, full, plan:PATH or plan:NAME (default head)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"default {DEFAULT_EPOCHS}, or the plan's epochs for plan:")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use N training samples, drawn stratified by class (seed 0)")
    parser.add_argument("--test-limit", type=positive_int, default=None,
                        help="use N test samples, drawn stratified by class (seed 0)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help=f"default {DEFAULT_BATCH_SIZE}, {PLAN_BATCH_SIZE} for plan:")
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"learning rate (default {DEFAULT_LEARNING_RATE}, {FULL_UPDATE_LEARNING_RATE} for --update full, "
             "the plan's for plan:)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a sentence")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from quantize.finetune import run_baseline

    result = run_baseline(
        args.model,
        args.data,
        args.update,
        epochs=args.epochs,
        limit=args.limit,
        test_limit=args.test_limit,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
    )
    if args.json:
        print(result.to_json())
    else:
        print(
            f"{result.model} on {result.data}, update {result.update}, {result.epochs} epochs: "
            f"test accuracy {result.test_accuracy:.4f}, {result.trainable_params} trained parameters, "
            f"{result.seconds:.1f} s"
        )
    return 0
