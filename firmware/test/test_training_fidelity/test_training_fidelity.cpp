// The firmware's training step on the host build, run over sequences the Python tests generate.
//
// tests/test_training_fidelity.py lowers each model with a training plan, picks samples and labels,
// and lists the cases in MCUTRAIN_TRAINING_DIR/cases.txt as
// "name blob inputs labels steps lr seed gradient_filter results". This program runs the steps with the real
// trainer (train::Trainer over model::Model, as the device does) and writes, per step, the loss
// (int32), the predicted class (uint8), whether it was correct (uint8) and the CRC-32 of the
// trainable region (uint32), then the final trainable region's bytes, into `results`. The Python
// side compares all of it with the golden reference (quantize/training/step.py) and reports the
// first difference; this program only checks that every case loads and runs.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../blob_fixture.h"
#include "../unit_test.h"
#include "crc32.h"
#include "model.h"
#include "trainer.h"

namespace {

alignas(16) uint8_t g_arena[8 * 1024 * 1024];
alignas(16) uint8_t g_trainable[256 * 1024];

struct Case {
  std::string name, blob, inputs, labels, results;
  int steps;
  float lr;
  uint32_t seed;
  int gradient_filter;  // SET_CONFIG's flag, 0 or 1
};

std::vector<Case> g_cases;
size_t g_current = 0;
std::string g_dir;

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void run_case() {
  const Case& c = g_cases[g_current];
  blob_fixture::LoadedBlob blob(c.name, g_dir + "/" + c.blob, g_arena, sizeof(g_arena));
  if (!blob.loaded) return;
  model::Model& m = blob.model;
  const std::vector<uint8_t> inputs = blob_fixture::read_file(g_dir + "/" + c.inputs);
  const std::vector<uint8_t> labels = blob_fixture::read_file(g_dir + "/" + c.labels);
  EXPECT_TRUE(m.trainable_bytes() <= sizeof(g_trainable));
  m.attach_trainable(g_trainable);
  train::Trainer trainer;
  const char* why = "";
  if (!trainer.bind(&m, &why) || !trainer.ready()) {
    unit_test::fail(__FILE__, __LINE__, (c.name + ": training section refused").c_str());
    return;
  }
  trainer.configure(c.lr, c.seed, c.gradient_filter != 0);
  const uint32_t in_bytes = m.input_bytes();
  EXPECT_EQ_U32(in_bytes * static_cast<uint32_t>(c.steps), inputs.size());
  EXPECT_EQ_U32(static_cast<uint32_t>(c.steps), labels.size());
  std::vector<uint8_t> out;
  for (int s = 0; s < c.steps; ++s) {
    std::memcpy(m.input(), inputs.data() + static_cast<size_t>(s) * in_bytes, in_bytes);
    const train::StepOutcome r = trainer.step(labels[s]);
    put_u32(out, static_cast<uint32_t>(r.loss_q16));
    out.push_back(r.predicted);
    out.push_back(r.correct ? 1 : 0);
    put_u32(out, mcu::crc32(m.trainable(), m.trainable_bytes()));
  }
  out.insert(out.end(), m.trainable(), m.trainable() + m.trainable_bytes());
  std::ofstream(g_dir + "/" + c.results, std::ios::binary).write(reinterpret_cast<const char*>(out.data()),
                                                                 static_cast<std::streamsize>(out.size()));
}

}  // namespace

int main() {
  const char* dir = std::getenv("MCUTRAIN_TRAINING_DIR");
  if (dir == nullptr) {
    std::printf("%s:%d:test_training_fidelity:IGNORE: MCUTRAIN_TRAINING_DIR not set (pytest sets it)\n", __FILE__,
                __LINE__);
    return unit_test::finish();
  }
  g_dir = dir;
  std::ifstream list(g_dir + "/cases.txt");
  std::string line;
  while (std::getline(list, line)) {
    std::istringstream fields(line);
    Case c;
    if (fields >> c.name >> c.blob >> c.inputs >> c.labels >> c.steps >> c.lr >> c.seed >> c.gradient_filter >> c.results)
      g_cases.push_back(c);
  }
  for (g_current = 0; g_current < g_cases.size(); ++g_current)
    unit_test::run(run_case, g_cases[g_current].name.c_str(), __FILE__, __LINE__);
  return unit_test::finish();
}
