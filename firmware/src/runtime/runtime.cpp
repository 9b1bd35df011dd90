// Model runtime (see include/runtime.h). This first version has no model blob support yet: it
// reports kNoModel for everything. The forward-pass work replaces it with the blob executor.
#include "runtime.h"

namespace runtime {

namespace {
const ModelInfo kNoModelInfo = {"", 0u, 0u, 0u, 0u, 0u};
}  // namespace

const char* status_name(Status status) {
  switch (status) {
    case Status::kOk: return "ok";
    case Status::kNoModel: return "no model";
    case Status::kBadInputSize: return "bad input size";
    case Status::kBadLabel: return "label out of range";
    case Status::kNotInThisBuild: return "not in this build";
    case Status::kInternal: break;
  }
  return "internal error";
}

Status init(const char** why) {
  *why = "no model linked";
  return Status::kNoModel;
}

const ModelInfo& model_info() { return kNoModelInfo; }

Status infer(const int8_t*, size_t, int8_t*, size_t, uint8_t*) { return Status::kNoModel; }

Status train(const int8_t*, size_t, uint8_t, TrainResult*) { return Status::kNotInThisBuild; }

uint8_t* trainable_params() { return nullptr; }

void reset_params() {}

}  // namespace runtime
