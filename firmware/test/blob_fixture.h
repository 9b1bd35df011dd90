// What the case-driven native test programs (test_model_fidelity, test_training_fidelity) share:
// reading a case's files, and loading a blob from word-aligned storage, as it lies in flash.
#pragma once

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "model.h"
#include "unit_test.h"

namespace blob_fixture {

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// A blob copied into aligned storage and loaded against `arena`; `loaded` is false (and the
/// test failed, naming the case) when the firmware refused it.
struct LoadedBlob {
  std::vector<uint32_t> storage;
  model::Model model;
  bool loaded = false;

  LoadedBlob(const std::string& case_name, const std::string& path, uint8_t* arena, uint32_t arena_bytes) {
    const std::vector<uint8_t> bytes = read_file(path);
    storage.resize((bytes.size() + 3) / 4 + 4);
    std::memcpy(storage.data(), bytes.data(), bytes.size());
    uint16_t bad = 0;
    const model::LoadError error = model.load(reinterpret_cast<const uint8_t*>(storage.data()),
                                              static_cast<uint32_t>(bytes.size()), arena, arena_bytes, &bad);
    loaded = error == model::LoadError::kOk;
    if (!loaded) {
      char message[160];
      std::snprintf(message, sizeof(message), "%s: blob refused: %s (index %u)", case_name.c_str(),
                    model::load_error_name(error), bad);
      unit_test::fail(__FILE__, __LINE__, message);
    }
  }
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(storage.data()); }
};

}  // namespace blob_fixture
