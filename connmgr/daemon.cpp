#include "daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "error.hpp"

namespace pepsal::connmgr {

void StartupReport::ready() {
    if (!fd_) return;
    (void)!write(fd_.get(), "", 1);
    fd_.reset();
}

void StartupReport::failed(const std::string& why) {
    if (!fd_) return;
    (void)!write(fd_.get(), why.data(), why.size());
    fd_.reset();
}

namespace {
[[noreturn]] void wait_for_report(UniqueFd rd) {
    std::string msg;
    char buf[512];
    ssize_t n;
    bool got_any = false;
    while ((n = read(rd.get(), buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        got_any = true;
        msg.append(buf, size_t(n));
    }
    // One NUL byte is success; text is the error; nothing at all means the daemon died.
    if (got_any && msg == std::string(1, '\0')) _exit(0);
    fprintf(stderr, "pepsal: %s\n", got_any ? msg.c_str() : "daemon died during start-up");
    _exit(1);
}

void redirect_stdio() {
    UniqueFd null(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) throw_errno("open /dev/null");
    for (int fd = 0; fd <= 2; ++fd)
        if (dup2(null.get(), fd) < 0) throw_errno("dup2 /dev/null");
}
}  // namespace

StartupReport daemonize() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe2");
    UniqueFd rd(p[0]), wr(p[1]);
    pid_t pid = fork();
    if (pid < 0) throw_errno("fork");
    if (pid > 0) {
        wr.reset();
        waitpid(pid, nullptr, 0);  // the intermediate child exits at once
        wait_for_report(std::move(rd));
    }
    rd.reset();
    if (setsid() < 0) throw_errno("setsid");
    pid = fork();  // no longer a session leader: can never acquire a controlling terminal
    if (pid < 0) throw_errno("fork");
    if (pid > 0) _exit(0);
    if (chdir("/") < 0) throw_errno("chdir /");
    umask(022);
    redirect_stdio();
    return StartupReport(std::move(wr));
}

PidFile::PidFile(std::string path) : path_(std::move(path)) {
    std::ifstream old(path_);
    long pid = 0;
    if (old >> pid && pid > 0 && kill(pid_t(pid), 0) == 0 && pid != getpid())
        throw std::runtime_error("pid file " + path_ + " names running process " + std::to_string(pid));
    std::string tmp = path_ + ".tmp";
    std::ofstream out(tmp, std::ios::trunc);
    out << getpid() << "\n";
    out.close();
    if (!out || rename(tmp.c_str(), path_.c_str()) < 0) throw_errno("write pid file " + path_);
}

PidFile::~PidFile() { unlink(path_.c_str()); }

}  // namespace pepsal::connmgr
