"""`mcutrain quantize MODEL --calib DATASET -o model.tflite`: full-integer int8 conversion."""

from __future__ import annotations

from pathlib import Path

from host_tools.commands.arguments import positive_int

DEFAULT_SAMPLES = 200


def register(subparsers) -> None:
    parser = subparsers.add_parser("quantize", help="convert a Keras/SavedModel model to a full-integer int8 .tflite")
    parser.add_argument("model", type=Path, help=".keras, .h5, a SavedModel folder, or an int8 .tflite (validated, passed through)")
    parser.add_argument("--calib", help="calibration dataset (fashion-mnist, mnist5k, digits, npz:PATH, folder:PATH)")
    parser.add_argument("--samples", type=positive_int, default=None,
                        help=f"calibration samples (default {DEFAULT_SAMPLES}, or the whole train split if smaller)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="for images (uint8 data, built-in datasets): model input = pixels in [0,1] * scale + "
                             "offset (default 1); float data is the model's input as it is")
    parser.add_argument("--offset", type=float, default=0.0)
    parser.add_argument("--fit", choices=("resize", "pad"), default="resize",
                        help="how images are fitted to the model input (float data must have its shape)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the int8 .tflite to write")
    parser.set_defaults(func=run)


def run(args) -> int:
    from host_tools.errors import McutrainError
    from mcutrain_datasets.preprocess import ModelInput, to_model_float
    from mcutrain_datasets.registry import load_dataset
    from quantize.importer import model_input_shape, model_kind, quantize_model

    if args.samples is not None and args.samples < 1:
        raise McutrainError(f"--samples must be at least 1, got {args.samples}")
    calibration, drawn = None, ""
    if model_kind(args.model) != "tflite":
        if not args.calib:
            raise McutrainError(f"{args.model}: a float model needs calibration data: pass --calib DATASET")
        shape = model_input_shape(args.model)
        if len(shape) != 3:
            raise McutrainError(f"{args.model}: input shape {shape}, expected [H, W, C] (a time series as [1, T, C])")
        dataset = load_dataset(args.calib, image_shape=shape)
        if not dataset.images and (args.scale, args.offset) != (1.0, 0.0):
            raise McutrainError(f"--scale/--offset scale image pixels, but {args.calib} holds float features, "
                                "which are the model's input as they are: scale them in the file")
        # The default asks for no more than a user's small file holds; an explicit --samples is exact.
        samples = args.samples or min(DEFAULT_SAMPLES, len(dataset.y_train))
        if samples != len(dataset.y_train):
            dataset = dataset.limited(samples)
        calibration = to_model_float(dataset.x_train, ModelInput(shape, args.scale, args.offset), args.fit,
                                     images=dataset.images, where=dataset.source)
        drawn = f", calibrated on {len(dataset.y_train)} samples of {args.calib} ({dataset.split})"
    tflite = quantize_model(args.model, calibration)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_bytes(tflite)
    partial.replace(args.out)  # never leave a half-written model behind
    print(f"wrote {args.out} ({len(tflite)} bytes, int8{drawn})")
    return 0
