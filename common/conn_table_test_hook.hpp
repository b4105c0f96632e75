// Test-only: stops a process in the middle of a table update, lock held and the derived
// structures half-updated, so that a test can SIGKILL it exactly there and check that the
// next user of the table recovers. Production code never sets a hook.
#pragma once

namespace pepsal::conn_table::test {

enum class Point {
    published_before_index,  // a slot's state and bitmap bit are set, the index not yet
    freed_before_bitmap,     // a slot's state is free, its bitmap bit and index entry remain
};

using Hook = void (*)(Point);

// Process-wide; nullptr (the default) removes it.
void set_hook(Hook hook);

}  // namespace pepsal::conn_table::test
