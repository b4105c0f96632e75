// Private to the connection table: creating, replacing and attaching the POSIX shared-memory
// segment (Boost.Interprocess), and checking that a mapped segment is one of ours.
#pragma once

#include <boost/interprocess/mapped_region.hpp>
#include <cstdint>
#include <string>

#include "conn_table_store.hpp"

namespace pepsal::conn_table {

// One process's mapping. The shm fd is closed once mapped: the mapping alone keeps the
// segment reachable and no descriptor can leak into exec'd children.
struct Segment {
    std::string name;  // without the leading '/'
    boost::interprocess::mapped_region region;
    Store store;
};

// See ConnTable::create / attach for the contracts. Errors name "/NAME".
Segment create_segment(const std::string& name, uint32_t capacity);
Segment attach_segment(const std::string& name);
void remove_segment(const std::string& name);

}  // namespace pepsal::conn_table
