// Assertions shared by the functional tests: a statement throws swapio::Error with an errno and
// a text in its message, or ConfigError with a text.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "swapio/error.hpp"

#define EXPECT_IO_ERROR(stmt, err, text)                                                         \
  do {                                                                                           \
    try {                                                                                        \
      stmt;                                                                                      \
      ADD_FAILURE() << #stmt " did not throw";                                                   \
    } catch (const ::swapio::Error& e) {                                                         \
      EXPECT_EQ(e.errnum(), err) << e.what();                                                    \
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << "message: " << e.what(); \
    }                                                                                            \
  } while (0)

#define EXPECT_CONFIG_ERROR(stmt, text)                                                          \
  do {                                                                                           \
    try {                                                                                        \
      stmt;                                                                                      \
      ADD_FAILURE() << #stmt " did not throw";                                                   \
    } catch (const ::swapio::ConfigError& e) {                                                   \
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << "message: " << e.what(); \
    }                                                                                            \
  } while (0)
