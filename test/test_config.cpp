// Configuration parsing: defaults, file vs command line, and errors that name key, value, source.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "config.hpp"
#include "config_keys.hpp"

using namespace pepsal;

namespace {

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        char tmpl[] = "/tmp/pepsal-test-conf-XXXXXX";
        int fd = mkstemp(tmpl);
        REQUIRE(fd >= 0);
        close(fd);
        path = tmpl;
        std::ofstream(path) << text;
    }
    ~TempFile() { unlink(path.c_str()); }
};

Config parse(std::vector<std::string> args) {
    args.insert(args.begin(), "pepsal");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    Config c;
    REQUIRE(parse_config(int(argv.size()), argv.data(), c) == ParseOutcome::run);
    return c;
}

std::string error_of(std::vector<std::string> args) {
    args.insert(args.begin(), "pepsal");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    Config c;
    try {
        parse_config(int(argv.size()), argv.data(), c);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("defaults, and a named config file must exist", "[config]") {
    Config d = parse({"--config=/dev/null"});
    CHECK(d.port == 5000);
    CHECK(d.queue == 0);
    CHECK(d.mode == InterceptMode::redirect);
    CHECK(d.max_conns == 2048);
    CHECK(d.idle_timeout_ms == 3600u * 1000u);
    std::string e = error_of({"--config=/nonexistent/pepsal.conf"});
    CHECK(e.find("/nonexistent/pepsal.conf") != std::string::npos);
}

TEST_CASE("file values are read and the command line overrides them", "[config]") {
    TempFile f("# comment\nport=6000\nqueue=3\nmode=tproxy\nidle-timeout=10\nclient-sndbuf=8m\nbypass-mark=0x99\n");
    Config c = parse({"--config=" + f.path, "--queue=4"});
    CHECK(c.port == 6000);
    CHECK(c.queue == 4);
    CHECK(c.mode == InterceptMode::tproxy);
    CHECK(c.idle_timeout_ms == 10000);
    CHECK(c.client.sndbuf == 8 << 20);
    CHECK(c.bypass_mark == 0x99);
}

TEST_CASE("every key is a long option and round-trips through --check-config output", "[config]") {
    Config c = parse({"--config=/dev/null"});
    std::string text = describe(c);
    for (const auto& k : config_keys()) {
        INFO(k.name);
        CHECK(text.find(std::string(k.name) + "=") != std::string::npos);
        // Feeding the printed value back as an option yields the same printed value.
        std::string line = text.substr(text.find(std::string(k.name) + "="));
        line = line.substr(0, line.find('\n'));
        std::string value = line.substr(line.find('=') + 1);
        Config again = parse({"--config=/dev/null", std::string("--") + k.name, value});
        CHECK(k.show(again) == k.show(c));
    }
}

TEST_CASE("bad values are rejected with key, value and source", "[config]") {
    TempFile f("port=70000\n");
    std::string e = error_of({"--config=" + f.path});
    CHECK(e.find(f.path) != std::string::npos);
    CHECK(e.find("port=70000") != std::string::npos);

    e = error_of({"--config=/dev/null", "--mode=nat"});
    CHECK(e.find("command line: mode=nat") != std::string::npos);
    CHECK_FALSE(error_of({"--config=/dev/null", "--queue=-1"}).empty());
    CHECK_FALSE(error_of({"--config=/dev/null", "--idle-timeout=abc"}).empty());
    CHECK_FALSE(error_of({"--config=/dev/null", "--client-sndbuf=12q"}).empty());
    CHECK_FALSE(error_of({"--config=/dev/null", "--client-congestion=nosuchcc"}).empty());
    CHECK_FALSE(error_of({"--config=/dev/null", "--sources=10.0.0.0/33"}).empty());
    CHECK_FALSE(error_of({"--config=/dev/null", "--interfaces=eth0;rm"}).empty());
    CHECK_FALSE(error_of({"--config=/dev/null", "--ports=0"}).empty());
    CHECK_FALSE(error_of({"--config=/dev/null", "--pid-file=relative"}).empty());
    CHECK_FALSE(error_of({"--config=/dev/null", "--bypass-mark=0x51"}).empty());  // = tproxy-mark
}

TEST_CASE("unknown keys are rejected, in the file and on the command line", "[config]") {
    TempFile f("port=5000\ninterfaces=\nfrobnicate=1\n");
    std::string e = error_of({"--config=" + f.path});
    CHECK(e.find(f.path) != std::string::npos);
    CHECK(e.find("frobnicate") != std::string::npos);
    e = error_of({"--config=/dev/null", "--frobnicate=1"});
    CHECK(e.find("frobnicate") != std::string::npos);
}

TEST_CASE("-v raises the log level", "[config]") {
    CHECK(parse({"--config=/dev/null"}).log_level == log::Level::notice);
    CHECK(parse({"--config=/dev/null", "-v"}).log_level == log::Level::info);
    CHECK(parse({"--config=/dev/null", "-vv"}).log_level == log::Level::debug);
    CHECK(parse({"--config=/dev/null", "-v", "-v", "-v"}).log_level == log::Level::debug);
}

TEST_CASE("etc/pepsal.conf documents every key with its default", "[config]") {
    std::ifstream in("etc/pepsal.conf");
    REQUIRE(in);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& k : config_keys()) {
        INFO(k.name);
        CHECK(text.find("#" + std::string(k.name) + "=" + k.default_value + "\n") != std::string::npos);
    }
}

TEST_CASE("README lists every key with its default", "[config]") {
    std::ifstream in("README");
    REQUIRE(in);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& k : config_keys()) {
        INFO(k.name);
        std::string def = *k.default_value ? k.default_value : "empty";
        auto at = text.find("\n    " + std::string(k.name) + " ");
        REQUIRE(at != std::string::npos);
        auto line = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
        CHECK(line.find(" " + def + " ") != std::string::npos);
    }
}
