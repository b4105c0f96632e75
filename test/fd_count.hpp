// Counts this process's open file descriptors, so a test can assert that a component closed
// everything it opened: compare the count before and after one run.
#pragma once

#include <dirent.h>

#include <cstring>

namespace pepsal::test {

// Entries of /proc/self/fd, not counting the descriptor used to list them; -1 if unreadable.
inline int open_fd_count() {
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    int count = 0;
    while (dirent* e = readdir(dir)) {
        if (e->d_name[0] != '.') ++count;
    }
    closedir(dir);
    return count - 1;
}

}  // namespace pepsal::test
