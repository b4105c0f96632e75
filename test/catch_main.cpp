// The one Catch2 runner: every test/test_*.cpp links into build/pepsal-tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
