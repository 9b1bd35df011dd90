// The blob's layouts field by field, as quantize/blob.py packs them: every field of every record
// and parameter block the device reads from a blob has its offset asserted here, in the order of
// the host's struct format, so that a field moved, resized or swapped on this side fails the build
// rather than a device. tests/test_param_layout.py reads these lines and checks each offset against
// the host's formats, so a change on the host side fails that test. Compiles to nothing.
//
// The nested designators (conv.act.min) name the leaves a host format packs one by one.
#include <cstddef>

#include "blob_format.h"

namespace model {

// BlobHeader: HEADER
static_assert(offsetof(BlobHeader, magic) == 0, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, version) == 4, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, header_size) == 6, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, total_size) == 8, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, crc32) == 12, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, name) == 16, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, num_tensors) == 32, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, num_ops) == 34, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, tensors_offset) == 36, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, ops_offset) == 40, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, data_offset) == 44, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, data_size) == 48, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, arena_size) == 52, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, input_tensor) == 56, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, output_tensor) == 58, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, trainable_offset) == 60, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, trainable_size) == 64, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, training_offset) == 68, "quantize/blob.py HEADER");
static_assert(offsetof(BlobHeader, training_size) == 72, "quantize/blob.py HEADER");
static_assert(sizeof(BlobHeader) == 76, "quantize/blob.py HEADER");

// TensorRecord: TENSOR
static_assert(offsetof(TensorRecord, dims[0]) == 0, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, dims[1]) == 2, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, dims[2]) == 4, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, dims[3]) == 6, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, type) == 8, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, location) == 9, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, reserved) == 10, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, zero_point) == 12, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, offset) == 16, "quantize/blob.py TENSOR");
static_assert(offsetof(TensorRecord, size) == 20, "quantize/blob.py TENSOR");
static_assert(sizeof(TensorRecord) == 24, "quantize/blob.py TENSOR");

// OpRecord: OP
static_assert(offsetof(OpRecord, opcode) == 0, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, num_inputs) == 1, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, output) == 2, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, inputs[0]) == 4, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, inputs[1]) == 6, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, inputs[2]) == 8, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, inputs[3]) == 10, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, params_offset) == 12, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, params_size) == 16, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, scratch_offset) == 20, "quantize/blob.py OP");
static_assert(offsetof(OpRecord, scratch_size) == 24, "quantize/blob.py OP");
static_assert(sizeof(OpRecord) == 28, "quantize/blob.py OP");

// kernels::ConvParams: the first ten fields of CONV_PARAMS
static_assert(offsetof(kernels::ConvParams, stride_h) == 0, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, stride_w) == 4, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, pad_top) == 8, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, pad_left) == 12, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, dilation_h) == 16, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, dilation_w) == 20, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, input_offset) == 24, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, output_offset) == 28, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, act.min) == 32, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(kernels::ConvParams, act.max) == 36, "quantize/blob.py CONV_PARAMS");
static_assert(sizeof(kernels::ConvParams) == 40, "quantize/blob.py CONV_PARAMS");

// ConvOpParams: CONV_PARAMS
static_assert(offsetof(ConvOpParams, conv.stride_h) == 0, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.stride_w) == 4, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.pad_top) == 8, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.pad_left) == 12, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.dilation_h) == 16, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.dilation_w) == 20, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.input_offset) == 24, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.output_offset) == 28, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.act.min) == 32, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, conv.act.max) == 36, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, multiplier_offset) == 40, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(ConvOpParams, shift_offset) == 44, "quantize/blob.py CONV_PARAMS");
static_assert(sizeof(ConvOpParams) == 48, "quantize/blob.py CONV_PARAMS");

// kernels::FullyConnectedParams: the first five fields of FC_PARAMS
static_assert(offsetof(kernels::FullyConnectedParams, input_offset) == 0, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(kernels::FullyConnectedParams, filter_offset) == 4, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(kernels::FullyConnectedParams, output_offset) == 8, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(kernels::FullyConnectedParams, act.min) == 12, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(kernels::FullyConnectedParams, act.max) == 16, "quantize/blob.py FC_PARAMS");
static_assert(sizeof(kernels::FullyConnectedParams) == 20, "quantize/blob.py FC_PARAMS");

// FullyConnectedOpParams: FC_PARAMS
static_assert(offsetof(FullyConnectedOpParams, fc.input_offset) == 0, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(FullyConnectedOpParams, fc.filter_offset) == 4, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(FullyConnectedOpParams, fc.output_offset) == 8, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(FullyConnectedOpParams, fc.act.min) == 12, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(FullyConnectedOpParams, fc.act.max) == 16, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(FullyConnectedOpParams, multiplier_offset) == 20, "quantize/blob.py FC_PARAMS");
static_assert(offsetof(FullyConnectedOpParams, shift_offset) == 24, "quantize/blob.py FC_PARAMS");
static_assert(sizeof(FullyConnectedOpParams) == 28, "quantize/blob.py FC_PARAMS");

// AddParams: ADD_PARAMS
static_assert(offsetof(kernels::AddParams, input1_offset) == 0, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, input2_offset) == 4, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, output_offset) == 8, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, left_shift) == 12, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, input1_multiplier) == 16, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, input1_shift) == 20, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, input2_multiplier) == 24, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, input2_shift) == 28, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, output_multiplier) == 32, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, output_shift) == 36, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, act.min) == 40, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(kernels::AddParams, act.max) == 44, "quantize/blob.py ADD_PARAMS");
static_assert(sizeof(kernels::AddParams) == 48, "quantize/blob.py ADD_PARAMS");

// ConcatenationParams: CONCATENATION_PARAMS
static_assert(offsetof(kernels::ConcatenationParams, axis) == 0, "quantize/blob.py CONCATENATION_PARAMS");
static_assert(sizeof(kernels::ConcatenationParams) == 4, "quantize/blob.py CONCATENATION_PARAMS");
// SliceParams: SLICE_PARAMS
static_assert(offsetof(kernels::SliceParams, axis) == 0, "quantize/blob.py SLICE_PARAMS");
static_assert(offsetof(kernels::SliceParams, begin) == 4, "quantize/blob.py SLICE_PARAMS");
static_assert(sizeof(kernels::SliceParams) == 8, "quantize/blob.py SLICE_PARAMS");
// MulParams: MUL_PARAMS
static_assert(offsetof(kernels::MulParams, input1_offset) == 0, "quantize/blob.py MUL_PARAMS");
static_assert(offsetof(kernels::MulParams, input2_offset) == 4, "quantize/blob.py MUL_PARAMS");
static_assert(offsetof(kernels::MulParams, output_offset) == 8, "quantize/blob.py MUL_PARAMS");
static_assert(offsetof(kernels::MulParams, output_multiplier) == 12, "quantize/blob.py MUL_PARAMS");
static_assert(offsetof(kernels::MulParams, output_shift) == 16, "quantize/blob.py MUL_PARAMS");
static_assert(offsetof(kernels::MulParams, act.min) == 20, "quantize/blob.py MUL_PARAMS");
static_assert(offsetof(kernels::MulParams, act.max) == 24, "quantize/blob.py MUL_PARAMS");
static_assert(sizeof(kernels::MulParams) == 28, "quantize/blob.py MUL_PARAMS");

// PoolParams: POOL_PARAMS
static_assert(offsetof(kernels::PoolParams, stride_h) == 0, "quantize/blob.py POOL_PARAMS");
static_assert(offsetof(kernels::PoolParams, stride_w) == 4, "quantize/blob.py POOL_PARAMS");
static_assert(offsetof(kernels::PoolParams, filter_h) == 8, "quantize/blob.py POOL_PARAMS");
static_assert(offsetof(kernels::PoolParams, filter_w) == 12, "quantize/blob.py POOL_PARAMS");
static_assert(offsetof(kernels::PoolParams, pad_top) == 16, "quantize/blob.py POOL_PARAMS");
static_assert(offsetof(kernels::PoolParams, pad_left) == 20, "quantize/blob.py POOL_PARAMS");
static_assert(offsetof(kernels::PoolParams, act.min) == 24, "quantize/blob.py POOL_PARAMS");
static_assert(offsetof(kernels::PoolParams, act.max) == 28, "quantize/blob.py POOL_PARAMS");
static_assert(sizeof(kernels::PoolParams) == 32, "quantize/blob.py POOL_PARAMS");

// MeanParams: MEAN_PARAMS
static_assert(offsetof(kernels::MeanParams, input_zero_point) == 0, "quantize/blob.py MEAN_PARAMS");
static_assert(offsetof(kernels::MeanParams, output_zero_point) == 4, "quantize/blob.py MEAN_PARAMS");
static_assert(offsetof(kernels::MeanParams, multiplier) == 8, "quantize/blob.py MEAN_PARAMS");
static_assert(offsetof(kernels::MeanParams, shift) == 12, "quantize/blob.py MEAN_PARAMS");
static_assert(offsetof(kernels::MeanParams, axes) == 16, "quantize/blob.py MEAN_PARAMS");
static_assert(sizeof(kernels::MeanParams) == 20, "quantize/blob.py MEAN_PARAMS");

// PadParams: PAD_PARAMS
static_assert(offsetof(kernels::PadParams, before[0]) == 0, "quantize/blob.py PAD_PARAMS");
static_assert(offsetof(kernels::PadParams, before[1]) == 4, "quantize/blob.py PAD_PARAMS");
static_assert(offsetof(kernels::PadParams, before[2]) == 8, "quantize/blob.py PAD_PARAMS");
static_assert(offsetof(kernels::PadParams, before[3]) == 12, "quantize/blob.py PAD_PARAMS");
static_assert(offsetof(kernels::PadParams, after[0]) == 16, "quantize/blob.py PAD_PARAMS");
static_assert(offsetof(kernels::PadParams, after[1]) == 20, "quantize/blob.py PAD_PARAMS");
static_assert(offsetof(kernels::PadParams, after[2]) == 24, "quantize/blob.py PAD_PARAMS");
static_assert(offsetof(kernels::PadParams, after[3]) == 28, "quantize/blob.py PAD_PARAMS");
static_assert(offsetof(kernels::PadParams, pad_value) == 32, "quantize/blob.py PAD_PARAMS");
static_assert(sizeof(kernels::PadParams) == 36, "quantize/blob.py PAD_PARAMS");

// ActivationParams: ACTIVATION_PARAMS
static_assert(offsetof(kernels::ActivationParams, rescale.input_zero_point) == 0, "quantize/blob.py ACTIVATION_PARAMS");
static_assert(offsetof(kernels::ActivationParams, rescale.output_zero_point) == 4, "quantize/blob.py ACTIVATION_PARAMS");
static_assert(offsetof(kernels::ActivationParams, rescale.multiplier) == 8, "quantize/blob.py ACTIVATION_PARAMS");
static_assert(offsetof(kernels::ActivationParams, rescale.shift) == 12, "quantize/blob.py ACTIVATION_PARAMS");
static_assert(offsetof(kernels::ActivationParams, act.min) == 16, "quantize/blob.py ACTIVATION_PARAMS");
static_assert(offsetof(kernels::ActivationParams, act.max) == 20, "quantize/blob.py ACTIVATION_PARAMS");
static_assert(sizeof(kernels::ActivationParams) == 24, "quantize/blob.py ACTIVATION_PARAMS");

// LeakyReluParams: LEAKY_RELU_PARAMS
static_assert(offsetof(kernels::LeakyReluParams, input_zero_point) == 0, "quantize/blob.py LEAKY_RELU_PARAMS");
static_assert(offsetof(kernels::LeakyReluParams, output_zero_point) == 4, "quantize/blob.py LEAKY_RELU_PARAMS");
static_assert(offsetof(kernels::LeakyReluParams, identity_multiplier) == 8, "quantize/blob.py LEAKY_RELU_PARAMS");
static_assert(offsetof(kernels::LeakyReluParams, identity_shift) == 12, "quantize/blob.py LEAKY_RELU_PARAMS");
static_assert(offsetof(kernels::LeakyReluParams, alpha_multiplier) == 16, "quantize/blob.py LEAKY_RELU_PARAMS");
static_assert(offsetof(kernels::LeakyReluParams, alpha_shift) == 20, "quantize/blob.py LEAKY_RELU_PARAMS");
static_assert(sizeof(kernels::LeakyReluParams) == 24, "quantize/blob.py LEAKY_RELU_PARAMS");

// LutParams: LUT_PARAMS
static_assert(offsetof(kernels::LutParams, table) == 0, "quantize/blob.py LUT_PARAMS");
static_assert(sizeof(kernels::LutParams) == 256, "quantize/blob.py LUT_PARAMS");

// RequantizeParams: REQUANTIZE_PARAMS
static_assert(offsetof(kernels::RequantizeParams, input_zero_point) == 0, "quantize/blob.py REQUANTIZE_PARAMS");
static_assert(offsetof(kernels::RequantizeParams, output_zero_point) == 4, "quantize/blob.py REQUANTIZE_PARAMS");
static_assert(offsetof(kernels::RequantizeParams, multiplier) == 8, "quantize/blob.py REQUANTIZE_PARAMS");
static_assert(offsetof(kernels::RequantizeParams, shift) == 12, "quantize/blob.py REQUANTIZE_PARAMS");
static_assert(sizeof(kernels::RequantizeParams) == 16, "quantize/blob.py REQUANTIZE_PARAMS");

// SoftmaxParams: SOFTMAX_PARAMS
static_assert(offsetof(kernels::SoftmaxParams, input_multiplier) == 0, "quantize/blob.py SOFTMAX_PARAMS");
static_assert(offsetof(kernels::SoftmaxParams, input_left_shift) == 4, "quantize/blob.py SOFTMAX_PARAMS");
static_assert(offsetof(kernels::SoftmaxParams, diff_min) == 8, "quantize/blob.py SOFTMAX_PARAMS");
static_assert(sizeof(kernels::SoftmaxParams) == 12, "quantize/blob.py SOFTMAX_PARAMS");

// InvertedResidualParams: three CONV_PARAMS, ADD_PARAMS, then FUSED_TAIL
static_assert(offsetof(InvertedResidualParams, expand.conv.stride_h) == 0, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.stride_w) == 4, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.pad_top) == 8, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.pad_left) == 12, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.dilation_h) == 16, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.dilation_w) == 20, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.input_offset) == 24, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.output_offset) == 28, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.act.min) == 32, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.conv.act.max) == 36, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.multiplier_offset) == 40, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand.shift_offset) == 44, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.stride_h) == 48, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.stride_w) == 52, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.pad_top) == 56, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.pad_left) == 60, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.dilation_h) == 64, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.dilation_w) == 68, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.input_offset) == 72, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.output_offset) == 76, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.act.min) == 80, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.conv.act.max) == 84, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.multiplier_offset) == 88, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, depthwise.shift_offset) == 92, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.stride_h) == 96, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.stride_w) == 100, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.pad_top) == 104, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.pad_left) == 108, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.dilation_h) == 112, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.dilation_w) == 116, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.input_offset) == 120, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.output_offset) == 124, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.act.min) == 128, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.conv.act.max) == 132, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.multiplier_offset) == 136, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, project.shift_offset) == 140, "quantize/blob.py CONV_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.input1_offset) == 144, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.input2_offset) == 148, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.output_offset) == 152, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.left_shift) == 156, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.input1_multiplier) == 160, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.input1_shift) == 164, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.input2_multiplier) == 168, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.input2_shift) == 172, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.output_multiplier) == 176, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.output_shift) == 180, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.act.min) == 184, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, add.act.max) == 188, "quantize/blob.py ADD_PARAMS");
static_assert(offsetof(InvertedResidualParams, expand_filter) == 192, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, expand_bias) == 194, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, depthwise_filter) == 196, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, depthwise_bias) == 198, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, project_filter) == 200, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, project_bias) == 202, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, has_expand) == 204, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, residual) == 206, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, window_offset) == 208, "quantize/blob.py FUSED_TAIL");
static_assert(offsetof(InvertedResidualParams, row_offset) == 212, "quantize/blob.py FUSED_TAIL");
static_assert(sizeof(InvertedResidualParams) == 216, "quantize/blob.py three CONV_PARAMS, ADD_PARAMS and FUSED_TAIL");

// RowChainStage: ROW_CHAIN_STAGE (quantize/row_chain.py)
static_assert(offsetof(RowChainStage, conv.conv.stride_h) == 0, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.stride_w) == 4, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.pad_top) == 8, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.pad_left) == 12, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.dilation_h) == 16, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.dilation_w) == 20, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.input_offset) == 24, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.output_offset) == 28, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.act.min) == 32, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.conv.act.max) == 36, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.multiplier_offset) == 40, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, conv.shift_offset) == 44, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, filter) == 48, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, bias) == 50, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, depthwise) == 52, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, rows) == 54, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, out_h) == 56, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, out_w) == 58, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, out_c) == 60, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, window_rows) == 62, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(offsetof(RowChainStage, window_offset) == 64, "quantize/row_chain.py ROW_CHAIN_STAGE");
static_assert(sizeof(RowChainStage) == 68, "quantize/row_chain.py ROW_CHAIN_STAGE");
// RowChainParams: num_stages, then kMaxChainStages stages
static_assert(offsetof(RowChainParams, num_stages) == 0, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(offsetof(RowChainParams, stages[0]) == 4, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(offsetof(RowChainParams, stages[1]) == 72, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(offsetof(RowChainParams, stages[2]) == 140, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(offsetof(RowChainParams, stages[3]) == 208, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(offsetof(RowChainParams, stages[4]) == 276, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(offsetof(RowChainParams, stages[5]) == 344, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(offsetof(RowChainParams, stages[6]) == 412, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(offsetof(RowChainParams, stages[7]) == 480, "quantize/row_chain.py ROW_CHAIN_PARAMS");
static_assert(sizeof(RowChainParams) == 548, "quantize/row_chain.py ROW_CHAIN_PARAMS");

}  // namespace model
