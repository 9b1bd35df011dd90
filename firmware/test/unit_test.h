// A minimal unit-test harness for the native build, printing Unity's result-line format
// ("file:line:name:PASS" / "file:line:name:FAIL: message" and the closing summary), which
// PlatformIO's test runner parses. Unity itself needs the PlatformIO registry, unreachable here.
#pragma once

#include <cstdio>
#include <cstring>

namespace unit_test {

struct State {
  int tests = 0;
  int failures = 0;
  bool current_failed = false;
};

inline State& state() {
  static State s;
  return s;
}

inline void fail(const char* file, int line, const char* message) {
  if (!state().current_failed) std::printf("%s:%d:", file, line);
  state().current_failed = true;
  std::printf("FAIL: %s\n", message);
}

inline void run(void (*test)(), const char* name, const char* file, int line) {
  state().current_failed = false;
  ++state().tests;
  std::printf("%s:%d:%s:", file, line, name);
  test();
  if (state().current_failed) {
    ++state().failures;
  } else {
    std::printf("PASS\n");
  }
}

inline int finish() {
  std::printf("\n-----------------------\n%d Tests %d Failures 0 Ignored\n%s\n", state().tests, state().failures,
              state().failures == 0 ? "OK" : "FAIL");
  return state().failures == 0 ? 0 : 1;
}

}  // namespace unit_test

#define RUN_TEST(fn) ::unit_test::run(fn, #fn, __FILE__, __LINE__)

#define EXPECT_TRUE(cond)                                                       \
  do {                                                                          \
    if (!(cond)) {                                                              \
      ::unit_test::fail(__FILE__, __LINE__, "expected true: " #cond);           \
      return;                                                                   \
    }                                                                           \
  } while (0)

#define EXPECT_EQ_U32(expected, actual)                                                          \
  do {                                                                                           \
    const unsigned long e_ = static_cast<unsigned long>(expected);                               \
    const unsigned long a_ = static_cast<unsigned long>(actual);                                 \
    if (e_ != a_) {                                                                              \
      char m_[160];                                                                              \
      std::snprintf(m_, sizeof(m_), "expected %lu (0x%lx) got %lu (0x%lx): " #actual, e_, e_, a_, a_); \
      ::unit_test::fail(__FILE__, __LINE__, m_);                                                 \
      return;                                                                                    \
    }                                                                                            \
  } while (0)

#define EXPECT_STREQ(expected, actual)                                                   \
  do {                                                                                   \
    if (std::strcmp((expected), (actual)) != 0) {                                        \
      char m_[240];                                                                      \
      std::snprintf(m_, sizeof(m_), "expected \"%s\" got \"%s\"", (expected), (actual)); \
      ::unit_test::fail(__FILE__, __LINE__, m_);                                         \
      return;                                                                            \
    }                                                                                    \
  } while (0)
