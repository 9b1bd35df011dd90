#include "board.h"

namespace board {

const char* reset_reason_name(ResetReason reason) {
  switch (reason) {
    case ResetReason::kPowerOn: return "power-on";
    case ResetReason::kPin: return "pin";
    case ResetReason::kSoftware: return "software";
    case ResetReason::kWatchdog: return "watchdog";
    case ResetReason::kBrownOut: return "brown-out";
    case ResetReason::kUnknown: break;
  }
  return "unknown";
}

}  // namespace board
