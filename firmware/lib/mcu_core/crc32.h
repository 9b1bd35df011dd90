// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): the same value as Python's zlib.crc32, so the
// host and the firmware check model blobs, frames and checkpoints with one algorithm.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mcu {

/// CRC of `size` bytes, continuing from `crc` (pass 0 to start; feed the result back to chain).
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size);

inline uint32_t crc32(const uint8_t* data, size_t size) { return crc32_update(0, data, size); }

}  // namespace mcu
