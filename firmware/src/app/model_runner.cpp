#include "model_runner.h"

#include <cstdint>
#include <cstring>

#include "board.h"
#include "model.h"
#include "runtime.h"
#include "text_buffer.h"
#include "trainer.h"

// Only this test image has access to the executor and trainer directly (for per-op timing); the
// product firmware goes through runtime:: and the protocol server.
namespace runtime {
model::Model& model_for_selftest();
train::Trainer& trainer_for_selftest();
}

namespace app {

namespace {

uint64_t g_op_ticks[256];
train::StepTicks g_step_ticks;

void record(uint16_t op, uint64_t ticks) {
  if (op < sizeof(g_op_ticks) / sizeof(g_op_ticks[0])) g_op_ticks[op] = ticks;
}

void write_text(mcu::TextBuffer& text) { board::write(reinterpret_cast<const uint8_t*>(text.c_str()), text.size()); }

void read_exactly(uint8_t* data, uint32_t size) {
  uint32_t got = 0;
  while (got < size) got += board::read(data + got, size - got, 1000);
}

}  // namespace

void run_model_runner() {
  char storage[160];
  mcu::TextBuffer line(storage, sizeof(storage));
  const char* why = "";
  if (runtime::init(&why) != runtime::Status::kOk) {
    line.str("model refused: ").str(why).str("\r\n");
    write_text(line);
    board::halt(4);
  }
  model::Model& m = runtime::model_for_selftest();
  const runtime::ModelInfo& info = runtime::model_info();
  line.str("model ok ").kv("name", info.name).kv("input", info.input_bytes).kv("output", info.output_bytes);
  line.kv("arena", info.arena_bytes).kv("ops", m.header().num_ops).str("\r\n");
  write_text(line);
  train::Trainer& trainer = runtime::trainer_for_selftest();
  trainer.set_timing(&g_step_ticks, board::counter);
  for (;;) {
    uint8_t command = 0;
    read_exactly(&command, 1);
    if (command == 'T') {
      uint8_t label = 0;
      read_exactly(&label, 1);
      read_exactly(reinterpret_cast<uint8_t*>(m.input()), m.input_bytes());
      const uint16_t steps = trainer.ready() ? trainer.num_steps() : 0;
      const train::StepOutcome outcome = trainer.ready() ? trainer.step(label) : train::StepOutcome{0, 0, false};
      const uint16_t timed = steps < train::kMaxTimedSteps ? steps : train::kMaxTimedSteps;
      uint8_t head[8] = {};
      std::memcpy(head, &outcome.loss_q16, 4);
      head[4] = outcome.predicted;
      head[5] = outcome.correct ? 1 : 0;
      std::memcpy(head + 6, &timed, 2);
      board::write(head, sizeof(head));
      board::write(reinterpret_cast<const uint8_t*>(&g_step_ticks.forward), 2 * sizeof(uint64_t));
      board::write(reinterpret_cast<const uint8_t*>(g_step_ticks.backward), timed * sizeof(uint64_t));
      board::write(reinterpret_cast<const uint8_t*>(g_step_ticks.update), timed * sizeof(uint64_t));
      continue;
    }
    read_exactly(reinterpret_cast<uint8_t*>(m.input()), m.input_bytes());
    m.invoke(record, board::counter);
    board::write(reinterpret_cast<const uint8_t*>(m.output()), m.output_bytes());
    board::write(reinterpret_cast<const uint8_t*>(g_op_ticks), m.header().num_ops * sizeof(uint64_t));
  }
}

}  // namespace app
