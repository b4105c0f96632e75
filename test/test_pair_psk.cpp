// load_psk on real files: the key bytes as written (one trailing newline stripped), and every
// refusal: short keys, files group or others can access, non-regular files, missing files.
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "pair_psk.hpp"

using namespace pepsal::pair;
using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

namespace {

// A private temporary directory, removed with everything in it.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "pepsal-psk-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string write_key(const TempDir& dir, const char* name, const std::string& content,
                      mode_t mode) {
    std::string p = (dir.path / name).string();
    std::ofstream(p, std::ios::binary) << content;
    REQUIRE(::chmod(p.c_str(), mode) == 0);
    return p;
}

Bytes as_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
Bytes as_bytes(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

// The message load_psk throws for `path`, or "" when it does not throw a PskError.
std::string psk_error(const std::string& path) {
    try {
        load_psk(path);
    } catch (const PskError& e) {
        return e.what();
    }
    return "";
}

const std::string HEX_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

}  // namespace

TEST_CASE("pair psk: the key is the file's bytes minus one trailing newline", "[pair]") {
    TempDir dir;
    CHECK(as_bytes(load_psk(write_key(dir, "hex", HEX_KEY + "\n", 0600)).bytes()) ==
          as_bytes(HEX_KEY));
    CHECK(as_bytes(load_psk(write_key(dir, "bare", HEX_KEY, 0600)).bytes()) == as_bytes(HEX_KEY));
    CHECK(as_bytes(load_psk(write_key(dir, "two", HEX_KEY + "\n\n", 0400)).bytes()) ==
          as_bytes(HEX_KEY + "\n"));
    std::string raw(32, '\0');
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = char(255 - i);
    CHECK(as_bytes(load_psk(write_key(dir, "raw", raw, 0600)).bytes()) == as_bytes(raw));
    std::string longest(MAX_PSK_BYTES, 'z');
    CHECK(load_psk(write_key(dir, "long", longest + "\n", 0600)).bytes().size() == MAX_PSK_BYTES);
}

TEST_CASE("pair psk: keys shorter than 32 bytes are refused, naming the path", "[pair]") {
    TempDir dir;
    std::string p31 = write_key(dir, "k31", std::string(31, 'a'), 0600);
    std::string e = psk_error(p31);
    CHECK(e.find(p31) != std::string::npos);
    CHECK(e.find("31 bytes") != std::string::npos);
    // 32 bytes on disk, but one of them is the newline.
    CHECK(psk_error(write_key(dir, "k31nl", std::string(31, 'a') + "\n", 0600)) != "");
    CHECK(psk_error(write_key(dir, "empty", "", 0600)) != "");
    CHECK(psk_error(write_key(dir, "nl", "\n", 0600)) != "");
    CHECK(psk_error(write_key(dir, "huge", std::string(MAX_PSK_BYTES + 1, 'z'), 0600)) != "");
}

TEST_CASE("pair psk: a key file group or others can access is refused", "[pair]") {
    TempDir dir;
    for (mode_t mode : {0640, 0604, 0660, 0644, 0602, 0620, 0601, 0610, 0666, 0700 | 0007}) {
        std::string p = write_key(dir, "key", HEX_KEY, mode);
        char octal[8];
        std::snprintf(octal, sizeof octal, "%04o", unsigned(mode));
        INFO("mode " << octal);
        std::string e = psk_error(p);
        CHECK(e.find(p) != std::string::npos);
        CHECK(e.find(std::string("mode ") + octal) != std::string::npos);
    }
    CHECK(psk_error(write_key(dir, "ok600", HEX_KEY, 0600)) == "");
    CHECK(psk_error(write_key(dir, "ok400", HEX_KEY, 0400)) == "");
    CHECK(psk_error(write_key(dir, "ok700", HEX_KEY, 0700)) == "");
}

TEST_CASE("pair psk: missing files and non-regular files are refused", "[pair]") {
    TempDir dir;
    std::string missing = (dir.path / "missing").string();
    try {
        load_psk(missing);
        FAIL("load_psk accepted a missing file");
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::no_such_file_or_directory);
        CHECK(std::string(e.what()).find("open " + missing) != std::string::npos);
    }
    std::string sub = (dir.path / "sub").string();
    REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
    CHECK(psk_error(sub).find("not a regular file") != std::string::npos);
    // A FIFO must be refused at once, not block startup waiting for a writer.
    std::string fifo = (dir.path / "fifo").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(psk_error(fifo).find("not a regular file") != std::string::npos);
    // A symlink to a good key file is followed (keys are often managed that way).
    std::string target = write_key(dir, "target", HEX_KEY, 0600);
    std::string link = (dir.path / "link").string();
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    CHECK(load_psk(link).bytes().size() == HEX_KEY.size());
}

TEST_CASE("pair psk: a moved key keeps its bytes", "[pair]") {
    Psk a(as_bytes(HEX_KEY));
    Psk b(std::move(a));
    CHECK(as_bytes(b.bytes()) == as_bytes(HEX_KEY));
    Psk c(Bytes(40, 1));
    c = std::move(b);
    CHECK(as_bytes(c.bytes()) == as_bytes(HEX_KEY));
}
